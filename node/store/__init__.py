"""The SQLite store: schema, migrations and every SQL statement, as named functions per
table. Imports ``node.core`` and ``federation``; never the pipeline or an adapter.
"""
