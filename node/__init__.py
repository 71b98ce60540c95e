"""Beacon's node: the running service and every adapter that does I/O (HTTP, NATS, SQLite,
timers, files, the CLI). The protocol itself lives in ``federation/``."""
