"""RFC 3339 timestamps: every year formats to four digits and parses back; out of range is a
SchemaError (an HTTP 400), never an OverflowError (a 500)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from federation.errors import SchemaError
from federation.timeutil import format_instant, format_time, parse_time


@pytest.mark.parametrize("year", [1, 102, 999, 2026, 9999])
def test_every_year_round_trips(year: int) -> None:
    t = datetime(year, 7, 22, 9, 38, 21, 123456, tzinfo=UTC)
    text = format_time(t)
    assert text == f"{year:04d}-07-22T09:38:21Z"
    assert parse_time(text) == t.replace(microsecond=0)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_an_offset_that_leaves_the_range_is_a_schema_error(text: str) -> None:
    with pytest.raises(SchemaError, match="out of range"):
        parse_time(text, "$.query.since")


def test_naive_times_are_refused() -> None:
    with pytest.raises(SchemaError, match="UTC offset"):
        parse_time("2026-01-02T03:04:05")
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2026, 1, 2))


def test_signed_instants_have_milliseconds_so_two_acts_a_moment_apart_differ() -> None:
    t = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert format_instant(t) == "2026-01-02T03:04:05.678Z"
    assert format_instant(t) != format_instant(t.replace(microsecond=679901))
    assert format_time(t) == format_time(t.replace(microsecond=679901))  # why: whole seconds
    assert parse_time(format_instant(t)) == t.replace(microsecond=678000)


def test_mixed_precision_orders_by_time_once_parsed_not_as_text() -> None:
    old, new = "2026-01-02T03:04:05Z", "2026-01-02T03:04:05.500Z"  # old whole-second message
    assert old > new  # the trap: as text the earlier instant sorts last
    assert parse_time(old) < parse_time(new)


def test_format_instant_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_instant(datetime(2026, 1, 2, 3, 4, 5))
