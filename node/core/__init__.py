"""What every layer of the node may use: configuration, key files, metrics, errors,
the shared schemas and playbooks, logging. Imports only ``federation``.
"""
