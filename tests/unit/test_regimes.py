"""Regulatory clocks as data: every value and citation of playbooks/regimes.yaml, held here
against the texts (EU AI Act Art. 73 and 52(1), NIS2 Art. 23(4), GPAI Code of Practice
Measure 9.3), and calendar-month arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from federation.regimes import Period, RegimeError, Regimes, add_months
from federation.schema import SchemaSet
from node.core.playbook_files import load_regimes

REPO = Path(__file__).resolve().parents[2]
T = datetime(2027, 1, 31, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def regimes() -> Regimes:
    found, problems = load_regimes(REPO / "playbooks")
    assert problems == []
    return found


# (id, citation, anchor, period, duty, words the quote must contain)
EXPECTED = [
    ("ai-act-73-2", "EU AI Act Art. 73(2)", "awareness", "P15D", "provider",
     "not later than 15 days after the provider"),
    ("ai-act-73-3", "EU AI Act Art. 73(3)", "awareness", "P2D", "provider",
     "widespread infringement"),
    ("ai-act-73-4", "EU AI Act Art. 73(4)", "awareness", "P10D", "provider",
     "death of a person"),
    ("ai-act-73-7", "EU AI Act Art. 73(7)", "notification-submitted", None, "authority",
     "Article 77(1)"),
    ("ai-act-73-8", "EU AI Act Art. 73(8)", "notification-submitted", "P7D", "authority",
     "within seven days from the date it received the notification"),
    ("ai-act-73-11", "EU AI Act Art. 73(11)", "notification-submitted", None, "authority",
     "immediately notify the Commission"),
    ("ai-act-52-1", "EU AI Act Art. 52(1)", "crossed-threshold", "P2W", "provider",
     "within two weeks after that requirement is met or it becomes known that it will be"),
    ("gpai-cop-9.3-infrastructure", "GPAI Code of Practice (Safety and Security) Measure 9.3(1)",
     "awareness", "P2D", "provider", "serious and\nirreversible disruption"),
    ("gpai-cop-9.3-cybersecurity", "GPAI Code of Practice (Safety and Security) Measure 9.3(2)",
     "awareness", "P5D", "provider", "(self-)exfiltration of model\nweights"),
    ("gpai-cop-9.3-death", "GPAI Code of Practice (Safety and Security) Measure 9.3(3)",
     "awareness", "P10D", "provider", "death of a person"),
    ("gpai-cop-9.3-other", "GPAI Code of Practice (Safety and Security) Measure 9.3(4)",
     "awareness", "P15D", "provider", "fundamental rights"),
    ("gpai-cop-9.3-intermediate", "GPAI Code of Practice (Safety and Security) Measure 9.3",
     "notification-submitted", None, "provider", "at least every four weeks after the initial"),
    ("gpai-cop-9.3-final", "GPAI Code of Practice (Safety and Security) Measure 9.3",
     "resolved", "P60D", "provider", "not later than 60 days after the serious incident has "
     "been resolved"),
    ("nis2-23-4-a", "NIS2 Directive Art. 23(4)(a)", "awareness", "PT24H", "entity",
     "within 24 hours of becoming aware"),
    ("nis2-23-4-b", "NIS2 Directive Art. 23(4)(b)", "awareness", "PT72H", "entity",
     "within 72 hours of becoming aware"),
    ("nis2-23-4-c", "NIS2 Directive Art. 23(4)(c)", "request", None, "entity",
     "upon the request of a CSIRT"),
    ("nis2-23-4-d", "NIS2 Directive Art. 23(4)(d)", "notification-submitted", "P1M", "entity",
     "not later than one month after the submission of the incident\nnotification under "
     "point (b)"),
    ("nis2-23-4-e-progress", "NIS2 Directive Art. 23(4)(e)", "notification-submitted", "P1M",
     "entity", "progress report at that time"),
    ("nis2-23-4-e-final", "NIS2 Directive Art. 23(4)(e)", "resolved", "P1M", "entity",
     "within one month of their handling of the incident"),
]


@pytest.mark.parametrize("row", EXPECTED, ids=lambda r: r[0])
def test_each_clock_holds_its_value_and_citation(regimes: Regimes, row: tuple[str, ...]) -> None:
    clock_id, citation, anchor, period, duty, words = row
    clock = regimes.clock(clock_id)
    assert clock.citation == citation
    assert (clock.anchor, clock.duty) == (anchor, duty)
    assert (clock.period.iso() if clock.period else None) == period
    assert " ".join(words.split()) in " ".join(clock.quote.split())


def test_every_clock_is_held_by_a_test(regimes: Regimes) -> None:
    assert set(regimes.clocks) == {r[0] for r in EXPECTED}


def test_repetition_anchors_and_immediate_duties(regimes: Regimes) -> None:
    inter = regimes.clock("gpai-cop-9.3-intermediate")
    assert (inter.every and inter.every.iso(), inter.until) == ("P4W", "resolved")
    assert inter.due(T) == T + timedelta(weeks=4)
    assert regimes.clock("nis2-23-4-d").after == ("nis2-23-4-b",)
    assert set(regimes.clock("ai-act-73-8").after) == {"ai-act-73-2", "ai-act-73-3",
                                                       "ai-act-73-4"}
    assert regimes.clock("ai-act-73-11").immediately and regimes.clock("ai-act-73-11").due(T) == T
    assert regimes.clock("ai-act-73-11").to == "European Commission"


@pytest.mark.parametrize(("start", "months", "expected"), [
    (datetime(2027, 1, 31, 10, tzinfo=UTC), 1, datetime(2027, 2, 28, 10, tzinfo=UTC)),
    (datetime(2028, 1, 31, 10, tzinfo=UTC), 1, datetime(2028, 2, 29, 10, tzinfo=UTC)),  # leap
    (datetime(2027, 3, 31, tzinfo=UTC), 1, datetime(2027, 4, 30, tzinfo=UTC)),
    (datetime(2027, 12, 15, tzinfo=UTC), 1, datetime(2028, 1, 15, tzinfo=UTC)),
    (datetime(2027, 8, 31, tzinfo=UTC), 6, datetime(2028, 2, 29, tzinfo=UTC)),
    (datetime(2027, 5, 20, tzinfo=UTC), 12, datetime(2028, 5, 20, tzinfo=UTC)),
])
def test_calendar_months(start: datetime, months: int, expected: datetime) -> None:
    assert add_months(start, months) == expected


def test_periods_parse_and_scale() -> None:
    assert Period.parse("P1M").add(T) == datetime(2027, 2, 28, 10, tzinfo=UTC)
    assert Period.parse("P1Y").months == 12
    assert Period.parse("P1DT12H").fixed == timedelta(days=1, hours=12)
    # A demonstration clock shrinks the real span (28 days here) proportionally.
    assert Period.parse("P1M").add(T, 0.5) == T + timedelta(days=14)
    for bad in ("P", "P0D", "1 month", "PT"):
        with pytest.raises(ValueError, match="period"):
            Period.parse(bad)


def test_the_schema_and_the_loader_refuse_bad_regimes(schemas: SchemaSet) -> None:
    clock = {"id": "x-1", "title": "A clock", "article": "Art. 1", "quote": "a quote of the law",
             "anchor": "notification-submitted", "duty": "provider", "to": "someone",
             "period": "P1M"}
    doc = {"version": 1, "regimes": [{"id": "x-act", "title": "X Act", "clocks": [clock]}]}
    assert any("after" in p.message for p in schemas.problems("regimes", doc))
    clock["after"] = ["missing"]
    assert schemas.problems("regimes", doc) == []
    with pytest.raises(RegimeError, match="unknown clock"):
        Regimes.from_dict(doc)
    clock["after"] = ["x-1"]
    with pytest.raises(RegimeError, match="known: x-1"):
        Regimes.from_dict(doc).clock("nope")
    twice = {"version": 1, "regimes": [doc["regimes"][0], doc["regimes"][0]]}
    with pytest.raises(RegimeError, match="defined twice"):
        Regimes.from_dict(twice)
