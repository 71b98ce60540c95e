"""Global statistics: grouping, exploding multi-valued dimensions, date ranges, percentiles."""

from __future__ import annotations

import statistics
from datetime import date
from typing import Any

import pytest

from federation.errors import SchemaError
from federation.severity import RED_LINES, Severity
from federation.stats import (
    DIMENSIONS,
    StatRecord,
    ack_time_summary,
    group_counts,
    matches,
    parse_where,
    percentile,
    red_line_crossings,
    to_csv_rows,
)


def incident(origin: str = "gb", severity: str = "incident", harm: tuple[str, ...] = ("physical",),
             occurred: str | None = "2024-03-05T10:00:00Z", red: tuple[str, ...] = (),
             developer: str | None = "Example AI", tlp: str = "GREEN") -> StatRecord:
    doc: dict[str, Any] = {"type": "incident", "origin": origin, "severity": severity,
                           "harm_types": list(harm), "red_lines": list(red), "tlp": tlp,
                           "ai_system": {"name": "X", "role": "r"}}
    if developer:
        doc["ai_system"]["developer"] = developer
    if occurred:
        doc["occurred_at"] = occurred
    return StatRecord.from_document(doc)


def stub(week: str, origin: str = "fr", severity: str = "serious-incident",
         harm: tuple[str, ...] = ("human-rights",), red: tuple[str, ...] = ()) -> StatRecord:
    doc: dict[str, Any] = {"type": "incident-stub", "origin": origin, "severity": severity,
                           "harm_types": list(harm), "week": week}
    if red:
        doc["red_lines"] = list(red)
    return StatRecord.from_document(doc)


def keyed(result: dict[str, Any]) -> list[tuple[tuple[Any, ...], int]]:
    return [(tuple(g["key"].values()), g["count"]) for g in result["groups"]]


# -- records ---------------------------------------------------------------------------------
def test_a_full_report_becomes_a_record() -> None:
    r = incident(occurred="2024-12-30T23:30:00Z")
    assert r == StatRecord(origin="gb", severity=Severity.INCIDENT, harm_types=("physical",),
                           red_lines=(), developer="Example AI", occurred_at=date(2024, 12, 30),
                           tlp="GREEN", is_stub=False, week="2025-W01", model="X")
    # A report dated 30 December 2024 is in calendar year 2024 but ISO week 2025-W01.
    assert r.values("year") == (2024,)
    assert r.values("month") == ("2024-12",)
    assert r.values("week") == ("2025-W01",)


def test_a_stub_counts_in_its_week_and_the_weeks_iso_year() -> None:
    s = stub("2025-W01")  # Monday 2024-12-30 .. Sunday 2025-01-05; Thursday 2025-01-02
    assert s.is_stub and s.developer is None and s.occurred_at is None and s.tlp == "RED"
    assert s.values("week") == ("2025-W01",)
    assert s.values("year") == (2025,)
    assert s.values("month") == (None,)  # spans December and January: not derivable


@pytest.mark.parametrize(("week", "month"), [
    ("2024-W10", "2024-03"),   # 4..10 March
    ("2024-W09", None),        # 26 February .. 3 March
    ("2020-W53", None),        # 28 December 2020 .. 3 January 2021
    ("2026-W06", "2026-02"),   # 2..8 February
])
def test_a_stub_has_a_month_only_when_its_whole_week_is_in_one(week: str,
                                                               month: str | None) -> None:
    assert stub(week).values("month") == (month,)


@pytest.mark.parametrize("week", ["2024-10", "2024-W54", "2021-W53", "24-W01", "", "2024-w01"])
def test_a_stub_with_a_bad_week_is_refused(week: str) -> None:
    with pytest.raises(SchemaError, match=r"\$\.week: not an ISO week"):
        stub(week)


def test_an_undated_report_has_no_year_month_or_week() -> None:
    r = incident(occurred=None, developer=None)
    assert [r.values(d) for d in ("year", "month", "week", "developer")] == [(None,)] * 4


# -- grouping --------------------------------------------------------------------------------
RECORDS = [
    incident("gb", "incident", ("physical",), "2024-03-05T00:00:00Z"),
    incident("gb", "incident", ("physical", "economic-property"), "2024-07-01T00:00:00Z"),
    incident("fr", "hazard", ("public-interest",), "2023-11-20T00:00:00Z"),
    incident("gb", "serious-incident", ("physical",), "2023-01-01T00:00:00Z",
             red=("cyberattacks", "deception")),
    stub("2024-W10", origin="fr"),
]


def test_counts_by_origin_severity_and_year_by_hand() -> None:
    result = group_counts(RECORDS, ["origin", "severity", "year"])
    assert result["total"] == 5
    assert result["groups"][0] == {"key": {"origin": "fr", "severity": "hazard", "year": 2023},
                                   "count": 1}
    assert keyed(result) == [
        (("fr", "hazard", 2023), 1),
        (("fr", "serious-incident", 2024), 1),
        (("gb", "incident", 2024), 2),
        (("gb", "serious-incident", 2023), 1),
    ]


def test_multi_valued_dimensions_explode_but_the_total_counts_each_record_once() -> None:
    result = group_counts(RECORDS, ["harm_type"])
    assert result["total"] == 5
    assert keyed(result) == [(("economic-property",), 1), (("human-rights",), 1),
                             (("physical",), 3), (("public-interest",), 1)]
    assert sum(g["count"] for g in result["groups"]) == 6


def test_an_empty_red_line_list_is_a_null_key_sorted_last() -> None:
    result = group_counts(RECORDS, ["red_line"])
    assert keyed(result) == [(("cyberattacks",), 1), (("deception",), 1), ((None,), 4)]


def test_two_exploding_dimensions_give_every_combination() -> None:
    r = incident(harm=("physical", "psychological"), red=("deception", "power-seeking"))
    assert keyed(group_counts([r], ["harm_type", "red_line"])) == [
        (("physical", "deception"), 1), (("physical", "power-seeking"), 1),
        (("psychological", "deception"), 1), (("psychological", "power-seeking"), 1)]


def test_severity_sorts_by_the_scale_not_the_alphabet() -> None:
    records = [incident(severity=s) for s in ("disaster", "hazard", "serious-hazard", "incident")]
    assert [g["key"]["severity"] for g in group_counts(records, ["severity"])["groups"]] == [
        "hazard", "serious-hazard", "incident", "disaster"]


def test_month_week_and_developer() -> None:
    result = group_counts(RECORDS, ["month", "developer"])
    assert keyed(result) == [(("2023-01", "Example AI"), 1), (("2023-11", "Example AI"), 1),
                             (("2024-03", "Example AI"), 1), (("2024-03", None), 1),
                             (("2024-07", "Example AI"), 1)]
    weeks = group_counts(RECORDS, ["week"])
    assert keyed(weeks) == [(("2022-W52",), 1), (("2023-W47",), 1), (("2024-W10",), 2),
                            (("2024-W27",), 1)]


def test_no_dimension_gives_one_group_and_no_record_gives_none() -> None:
    assert group_counts(RECORDS, []) == {"total": 5, "undated": 0, "basis": "all",
                                         "groups": [{"key": {}, "count": 5}]}
    assert group_counts([], ["origin"]) == {"total": 0, "undated": 0, "basis": "all",
                                            "groups": []}


def test_order_of_input_does_not_change_the_result() -> None:
    by = ["year", "harm_type", "origin"]
    assert group_counts(RECORDS, by) == group_counts(list(reversed(RECORDS)), by)


# -- date range ------------------------------------------------------------------------------
def test_since_and_until_are_inclusive_and_filter_the_total() -> None:
    result = group_counts(RECORDS, ["year"], since=date(2023, 11, 20), until=date(2024, 3, 5))
    # 2023-11-20 and 2024-03-05 are on the bounds; the stub's Thursday is 2024-03-07 (out).
    assert result["total"] == 2
    assert keyed(result) == [((2023,), 1), ((2024,), 1)]


def test_a_stub_is_dated_by_its_weeks_thursday() -> None:
    s = stub("2024-W10")  # Thursday 2024-03-07
    assert group_counts([s], [], since=date(2024, 3, 7))["total"] == 1
    assert group_counts([s], [], since=date(2024, 3, 8))["total"] == 0
    assert group_counts([s], [], until=date(2024, 3, 7))["total"] == 1
    assert group_counts([s], [], until=date(2024, 3, 6))["total"] == 0


def test_undated_records_are_left_out_of_a_date_range_only() -> None:
    records = [incident(occurred=None), incident()]
    assert group_counts(records, ["year"])["total"] == 2
    assert group_counts(records, ["year"], since=date(2000, 1, 1))["total"] == 1


def test_since_after_until_is_refused() -> None:
    with pytest.raises(SchemaError, match=r"\$\.query\.since: 2024-02-01 is after until"):
        group_counts(RECORDS, ["year"], since=date(2024, 2, 1), until=date(2024, 1, 1))


# -- bad dimension names ---------------------------------------------------------------------
@pytest.mark.parametrize(("by", "match"), [
    (["origin", "colour"], r"unknown dimension 'colour'; use any of origin, severity"),
    (["harm_types"], r"unknown dimension 'harm_types'"),
    (["year", "year"], r"dimension year is listed more than once"),
])
def test_a_bad_dimension_is_a_problem_at_query_by(by: list[str], match: str) -> None:
    with pytest.raises(SchemaError, match=match) as e:
        group_counts(RECORDS, by)
    assert [p.path for p in e.value.problems] == ["$.query.by"]


def test_every_dimension_is_accepted() -> None:
    result = group_counts(RECORDS, list(DIMENSIONS))
    assert result["total"] == 5
    assert all(list(g["key"]) == list(DIMENSIONS) for g in result["groups"])


# -- CSV, red lines ----------------------------------------------------------------------------
def test_csv_rows_have_a_header_and_empty_cells_for_null() -> None:
    result = group_counts(RECORDS, ["origin", "red_line"])
    assert to_csv_rows(result, ["origin", "red_line"]) == [
        ["origin", "red_line", "count"],
        ["fr", "", "2"],
        ["gb", "cyberattacks", "1"],
        ["gb", "deception", "1"],
        ["gb", "", "2"],
    ]


def test_red_line_crossings_lists_every_red_line() -> None:
    crossings = red_line_crossings([*RECORDS, stub("2024-W01", red=("deception",))])
    assert list(crossings) == list(RED_LINES)
    assert crossings == {"autonomous-replication-or-improvement": 0, "power-seeking": 0,
                         "assisting-weapon-development": 0, "cyberattacks": 1, "deception": 2}


# -- percentiles -----------------------------------------------------------------------------
@pytest.mark.parametrize(("values", "q", "expected"), [
    ([1, 2, 3, 4], 50, 2.5),
    ([1, 2, 3, 4], 90, 3.7),        # rank 0.9 * 3 = 2.7 → 3 + 0.7 * (4 - 3)
    ([1, 2, 3, 4], 0, 1),
    ([1, 2, 3, 4], 100, 4),
    ([4, 1, 3, 2], 25, 1.75),       # unsorted input
    ([7], 90, 7),
    ([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 90, 91.0),  # rank 8.1
])
def test_percentile_interpolates_between_closest_ranks(values: list[float], q: float,
                                                        expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


@pytest.mark.parametrize("values", [[3.0], [5.0, 1.0], [1.0, 9.0, 2.0], [4.0, 4.0, 1.0, 8.0, 2.5]])
def test_the_50th_percentile_is_the_median(values: list[float]) -> None:
    assert percentile(values, 50) == pytest.approx(statistics.median(values))


def test_percentile_of_nothing_or_out_of_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="percentile of no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="within 0..100"):
        percentile([1.0], 101)


def test_ack_time_summary_per_tier_by_hand() -> None:
    samples = [(2, 300.0), (1, 60.0), (1, 120.0), (1, 30.0), (1, 600.0), (3, 10.0)]
    assert ack_time_summary(samples) == {
        # tier 1 sorted: 30, 60, 120, 600 → median 90; p90 at rank 2.7: 120 + 0.7 * 480 = 456
        1: {"count": 4, "median": 90.0, "p90": pytest.approx(456.0)},
        2: {"count": 1, "median": 300.0, "p90": 300.0},
        3: {"count": 1, "median": 10.0, "p90": 10.0},
    }
    assert list(ack_time_summary(samples)) == [1, 2, 3]
    assert ack_time_summary([]) == {}


def test_a_negative_ack_time_is_an_error() -> None:
    with pytest.raises(ValueError, match="before notification"):
        ack_time_summary([(1, -5.0)])


# -- provenance, countries, chart filters ------------------------------------------------------
def _imported(**provenance: str) -> StatRecord:
    return StatRecord.from_incident({
        "type": "incident", "id": "int-1", "origin": "int", "severity": "incident",
        "harm_types": ["public-interest"], "tlp": "CLEAR", "countries": ["IN"],
        "occurred_at": "2020-02-01T00:00:00Z", "sector": "politics",
        "ai_system": {"name": "Unidentified AI system", "role": "r"},
        "provenance": provenance})


def test_basis_turns_values_it_does_not_admit_into_unknown() -> None:
    r = _imported(severity="defaulted", harm_types="defaulted", countries="derived",
                  occurred_at="observed", sector="observed")
    assert r.values("country", "all") == ("IN",)
    assert r.values("country", "derived") == ("IN",)
    assert r.values("country", "observed") == (None,)
    assert r.values("severity", "derived") == (None,)
    assert r.values("year", "observed") == (2020,)
    assert r.values("sector", "observed") == ("politics",)
    # A hand-filed report states everything itself: observed.
    assert incident().values("severity", "observed") == ("incident",)
    totals = {b: group_counts([r], ["country"], basis=b) for b in ("observed", "all")}
    assert totals["observed"]["total"] == totals["all"]["total"] == 1   # the total never moves
    with pytest.raises(SchemaError, match="observed"):
        group_counts([r], ["country"], basis="guessed")


def test_a_date_range_counts_what_it_leaves_undated() -> None:
    undated = incident(occurred=None)
    result = group_counts([undated, incident()], ["year"], since=date(2000, 1, 1))
    assert (result["total"], result["undated"]) == (1, 1)


def test_a_chart_group_selects_the_records_it_counts() -> None:
    r = _imported(countries="derived")
    assert parse_where(["year:2020", "country:IN"]) == {"year": 2020, "country": "IN"}
    assert matches(r, parse_where(["year:2020", "country:IN"]))
    assert not matches(r, parse_where(["country:IN"]), "observed")
    assert matches(r, parse_where(["country:"]), "observed")   # the unknown group
    with pytest.raises(SchemaError, match="dimension:value"):
        parse_where(["year"])
    with pytest.raises(SchemaError, match="unknown dimension") as bad:
        parse_where(["planet:mars"])
    assert [p.path for p in bad.value.problems] == ["$.query.where"]
