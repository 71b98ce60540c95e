"""The message pipeline and its reactions: signing, storing, logging, projecting,
playbook runs, witnessing, statistics, timers, and the commands that call it.
Imports ``node.store.db``, ``node.core`` and ``federation``; never an adapter.
"""
