"""Beacon's protocol core: pure functions and models, no I/O.

    >>> from federation.severity import Severity
    >>> Severity("incident") < Severity("disaster")
    True

Everything a peer puts on the wire is defined here; every socket, file and timer lives in
``node/``. Nothing in this package reads the clock: callers pass ``now``.
"""
