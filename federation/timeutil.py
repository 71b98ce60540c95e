"""RFC 3339 timestamps as Beacon writes them: UTC, ``Z`` suffix.

    >>> from datetime import datetime, timezone
    >>> format_time(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc))
    '2026-01-02T03:04:05Z'
    >>> format_instant(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc))
    '2026-01-02T03:04:05.678Z'
    >>> parse_time('2026-01-02T03:04:05Z').year
    2026

Deadlines, windows and dates are whole seconds (``format_time``). The ``issued_at`` of a signed
message is milliseconds (``format_instant``): two deliberate acts of one node (two statistics
snapshots a moment apart) must be two messages, and the body, hence the digest, differs only if
the time does. Old whole-second messages stay valid. Text of mixed precision does not sort as
time ("…:02Z" > "…:02.5Z"), so never compare timestamp strings: parse them, or in SQL compare
``SORTABLE`` forms (``strftime('%Y-%m-%dT%H:%M:%fZ', column)``), which ``format_instant``
writes too.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from federation.errors import Problem, SchemaError


def format_time(t: datetime) -> str:
    if t.tzinfo is UTC:  # the common case (parse_time and clocks give UTC): one call, not three
        return _format_utc(t)
    if t.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    # isoformat, not strftime("%Y"): strftime does not pad years before 1000 ("102-07-22…"),
    # which is not RFC 3339 and would not parse back.
    return t.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@functools.lru_cache(maxsize=1024)
def _format_utc(t: datetime) -> str:
    """``format_time`` of a UTC time, remembered: a run's step states carry the same few
    times (its start, its deadlines), and a fresh run formats them a dozen times when saved.
    Only times whose tzinfo is ``UTC`` come here, so equal keys are the same instant."""
    return t.isoformat(timespec="seconds")[:-6] + "Z"


def format_instant(t: datetime) -> str:
    """Millisecond precision, for the ``issued_at`` of signed messages; sorts as SQLite's
    ``strftime('%Y-%m-%dT%H:%M:%fZ', ...)`` of any RFC 3339 text of the same instant."""
    if t.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str, path: str = "$") -> datetime:
    """Parse an RFC 3339 timestamp with an explicit offset; naive times are refused."""
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError, TypeError) as e:
        raise SchemaError([Problem(path, f"not an RFC 3339 timestamp: {text!r}")]) from e
    if t.tzinfo is None:
        raise SchemaError([Problem(path, f"timestamp needs a UTC offset or Z: {text!r}")])
    try:
        return t.astimezone(UTC)
    except OverflowError as e:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise SchemaError([Problem(path, f"timestamp out of range in UTC: {text!r}")]) from e
