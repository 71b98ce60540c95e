"""Durations as playbooks write them: ISO 8601 (``P5D``, ``PT24H``) or simple (``24h``, ``5d``).

    >>> parse_duration("P1DT12H")
    datetime.timedelta(days=1, seconds=43200)
    >>> parse_duration("90m").total_seconds()
    5400.0
    >>> iso_duration(parse_duration("2w"))
    'P14D'

Years and months are refused: their length varies, and a deadline that depends on the calendar
month is a legal question, not a timer (a regulation's "one month" is written ``P30D`` here).
"""

from __future__ import annotations

import re
from datetime import timedelta

_ISO = re.compile(
    r"^P(?=\d|T\d)(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$")
_SIMPLE = re.compile(r"^(?P<n>\d+) ?(?P<unit>[smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """Parse a positive duration.

    Args:
        text: ``P[nW][nD][T[nH][nM][nS]]`` or ``<n>s|m|h|d|w``.

    Returns:
        The duration.

    Raises:
        ValueError: not a duration, or zero.
    """
    iso = _ISO.match(text)
    if iso:
        parts = {k: int(v) for k, v in iso.groupdict().items() if v}
        value = timedelta(weeks=parts.get("w", 0), days=parts.get("d", 0),
                          hours=parts.get("h", 0), minutes=parts.get("m", 0),
                          seconds=parts.get("s", 0))
    else:
        simple = _SIMPLE.match(text)
        if not simple:
            raise ValueError(f"not a duration: {text!r} (expected e.g. P5D, PT24H, 24h, 5d; "
                             "years and months are not allowed)")
        value = timedelta(**{_UNITS[simple["unit"]]: int(simple["n"])})
    if value <= timedelta(0):
        raise ValueError(f"duration must be positive: {text!r}")
    return value


def iso_duration(value: timedelta) -> str:
    """Format a duration as ISO 8601 days and time (``P1DT2H``); whole seconds only."""
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    out = "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
    return out if out != "P" else "PT0S"
