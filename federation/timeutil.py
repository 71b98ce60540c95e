"""RFC 3339 timestamps as Beacon writes them: UTC, ``Z`` suffix, no sub-second digits.

    >>> from datetime import datetime, timezone
    >>> format_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    '2026-01-02T03:04:05Z'
    >>> parse_time('2026-01-02T03:04:05Z').year
    2026
"""

from __future__ import annotations

from datetime import UTC, datetime

from federation.errors import Problem, SchemaError


def format_time(t: datetime) -> str:
    if t.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    # isoformat, not strftime("%Y"): strftime does not pad years before 1000 ("102-07-22…"),
    # which is not RFC 3339 and would not parse back.
    return t.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


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
