"""Escalation response figures (federation/stats_summary.py) and the statistics snapshot they
make (federation/stats_snapshot.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from federation.errors import SchemaError
from federation.schema import SchemaSet
from federation.stats import StatRecord
from federation.stats_snapshot import build_stats_snapshot, same_figures
from federation.stats_summary import (
    Answer,
    Closure,
    EscalationFacts,
    ack_samples,
    ack_times,
    escalation_states,
    escalation_summary,
    top_groups,
    tripwire_counts,
)
from federation.timeutil import format_time

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def escalation(eid: str = "gb-00000001.tier1", *, tier: int = 1, to: tuple[str, ...] = ("fr",),
               deadline_h: float = 1.0, acks: str = "any", at: datetime = T0,
               incident: str = "gb-0000000000000001") -> EscalationFacts:
    return EscalationFacts.from_document({
        "id": eid, "origin": "gb", "incident_id": incident, "tier": tier, "to": list(to),
        "issued_at": format_time(at), "deadline": format_time(at + timedelta(hours=deadline_h)),
        "acks": acks})


def answer(by: str, minutes: float, kind: str = "ack",
           eid: str = "gb-00000001.tier1") -> Answer:
    return Answer.from_document({"escalation_id": eid, "origin": by,
                                 "issued_at": format_time(T0 + timedelta(minutes=minutes))}, kind)


# -- acknowledgement times ---------------------------------------------------------------------
def test_each_recipients_first_ack_is_one_sample_in_the_escalations_tier() -> None:
    e = escalation(tier=2, to=("fr", "jp"))
    samples = ack_samples([e], [answer("fr", 30), answer("fr", 50), answer("jp", 5)])
    assert sorted(samples) == [(2, 300.0), (2, 1800.0)]


def test_declines_acks_by_non_recipients_and_unknown_escalations_are_no_samples() -> None:
    e = escalation(to=("fr",))
    answers = [answer("fr", 10, "decline"), answer("jp", 3),
               answer("fr", 4, eid="gb-00000002.tier1")]
    assert ack_samples([e], answers) == []


def test_an_ack_stamped_before_its_escalation_counts_as_zero() -> None:
    # Two nodes' clocks: within the allowed skew an ack may carry an earlier timestamp.
    assert ack_samples([escalation()], [answer("fr", -0.5)]) == [(1, 0.0)]


def test_ack_times_per_tier_as_published() -> None:
    samples = [(1, 60.0), (1, 120.0), (2, 30.0)]
    assert ack_times(samples) == [
        {"tier": 1, "count": 2, "median_seconds": 90.0, "p90_seconds": 114.0},
        {"tier": 2, "count": 1, "median_seconds": 30.0, "p90_seconds": 30.0}]
    assert ack_times([]) == []


# -- where escalations stand -------------------------------------------------------------------
def states_at(escalations: list[EscalationFacts], answers: list[Answer], hours: float,
              closures: tuple[Closure, ...] = ()) -> list[tuple[str, str, tuple[str, ...]]]:
    now = T0 + timedelta(hours=hours)
    return [(s.facts.id, s.state, s.waiting_on)
            for s in escalation_states(escalations, answers, closures, now=now)]


def test_unanswered_escalation_is_open_then_overdue() -> None:
    e = escalation(to=("fr", "jp"))
    assert states_at([e], [], 0.5) == [(e.id, "open", ("fr", "jp"))]
    assert states_at([e], [], 2) == [(e.id, "overdue", ("fr", "jp"))]
    [state] = escalation_states([e], [], [], now=T0 + timedelta(hours=3))
    assert state.overdue_seconds == 7200


def test_one_ack_answers_an_any_escalation_but_not_an_all_one() -> None:
    anyone = escalation("gb-00000001.any", to=("fr", "jp"))
    everyone = escalation("gb-00000001.all", to=("fr", "jp"), acks="all")
    acks = [answer("fr", 5, eid=anyone.id), answer("fr", 5, eid=everyone.id)]
    assert states_at([anyone, everyone], acks, 2) == [
        (everyone.id, "overdue", ("jp",)), (anyone.id, "answered", ())]


def test_declines_by_every_recipient_answer_it() -> None:
    e = escalation(to=("fr", "jp"))
    assert states_at([e], [answer("fr", 1, "decline")], 2) == [(e.id, "overdue", ("jp",))]
    assert states_at([e], [answer("fr", 1, "decline"), answer("jp", 2, "decline")],
                     2) == [(e.id, "answered", ())]


def test_a_resolution_closes_the_escalations_it_names_or_its_incidents_earlier_ones() -> None:
    named = escalation("gb-00000001.a")
    same_incident = escalation("gb-00000001.b")
    later = escalation("gb-00000001.c", at=T0 + timedelta(hours=2))
    other = escalation("gb-00000001.d", incident="gb-0000000000000002")
    resolution = Closure.from_document({
        "origin": "gb", "incident_id": "gb-0000000000000001",
        "escalation_ids": ["gb-00000001.d"], "issued_at": format_time(T0 + timedelta(hours=1))})
    got = {eid: state for eid, state, _ in
           states_at([named, same_incident, later, other], [], 5, (resolution,))}
    assert got == {named.id: "closed", same_incident.id: "closed", later.id: "overdue",
                   other.id: "closed"}


def test_summary_counts_states_and_lists_the_longest_overdue_first() -> None:
    soon = escalation("gb-00000001.soon", deadline_h=1)
    late = escalation("gb-00000001.late", deadline_h=0.1)
    done = escalation("gb-00000001.done")
    waiting = escalation("gb-00000001.wait", deadline_h=10)
    states = escalation_states([soon, late, done, waiting], [answer("fr", 1, eid=done.id)], [],
                               now=T0 + timedelta(hours=2))
    summary = escalation_summary(states)
    assert {k: summary[k] for k in ("seen", "answered", "closed", "open", "overdue")} == {
        "seen": 4, "answered": 1, "closed": 0, "open": 1, "overdue": 2}
    assert [i["id"] for i in summary["overdue_items"]] == [late.id, soon.id]
    assert summary["overdue_items"][0]["overdue_seconds"] == 6840
    assert summary["overdue_items"][0]["waiting_on"] == ["fr"]
    assert [i["id"] for i in summary["open_items"]] == [waiting.id]


# -- snapshot ----------------------------------------------------------------------------------
def record(origin: str, severity: str, year: int, developer: str | None = "openai",
           red: tuple[str, ...] = ()) -> StatRecord:
    doc: dict[str, Any] = {"type": "incident", "origin": origin, "severity": severity,
                           "harm_types": ["physical"], "red_lines": list(red), "tlp": "CLEAR",
                           "occurred_at": f"{year}-06-01T00:00:00Z",
                           "ai_system": {"name": "X", "role": "r"}}
    if developer:
        doc["ai_system"]["developer"] = developer
    return StatRecord.from_document(doc)


def stub(origin: str = "gb") -> StatRecord:
    return StatRecord.from_document({"type": "stub", "origin": origin, "severity": "disaster",
                                     "harm_types": ["physical"], "red_lines": ["deception"],
                                     "week": "2025-W10", "tlp": "RED"})


def snapshot_body(records: list[StatRecord], *, origin: str, now: datetime,
                  **figures: Any) -> dict[str, Any]:
    return build_stats_snapshot(records, origin=origin, issued_at=now, **figures).to_dict()


def test_snapshot_body_is_a_valid_stats_message(schemas: SchemaSet) -> None:
    records = [record("gb", "incident", 2024), record("fr", "hazard", 2023, None),
               record("fr", "incident", 2024, "meta", ("cyberattacks",)), stub()]
    body = snapshot_body(records, origin="int", now=T0, ack=ack_times([(1, 60.0)]),
                         escalations={"seen": 2, "answered": 1, "open": 0, "overdue": 1,
                                      "closed": 0, "overdue_items": [{"id": "x"}]},
                         tripwires={"tw-1": 2})
    schemas.validate("stats", body)
    assert body["total"] == 4 and body["stubs"] == 1
    assert body["issued_at"] == body["generated_at"] == "2026-11-20T09:00:00.000Z"
    assert body["counts"]["year"] == [{"key": {"year": 2023}, "count": 1},
                                      {"key": {"year": 2024}, "count": 2},
                                      {"key": {"year": 2025}, "count": 1}]
    assert body["counts"]["origin"] == [{"key": {"origin": "fr"}, "count": 2},
                                        {"key": {"origin": "gb"}, "count": 2}]
    # Unknown developers (the stub, the report naming none) are not among the top groups.
    assert body["counts"]["developer"] == [{"key": {"developer": "meta"}, "count": 1},
                                           {"key": {"developer": "openai"}, "count": 1}]
    assert body["red_lines"]["deception"] == 1 and body["red_lines"]["cyberattacks"] == 1
    assert body["escalations"] == {"seen": 2, "answered": 1, "closed": 0, "open": 0,
                                   "overdue": 1}
    assert body["tripwires"] == {"tw-1": 2}
    assert sum(g["count"] for g in body["counts"]["year_severity"]) == body["total"]


def test_a_snapshot_body_outside_the_schema_is_refused(schemas: SchemaSet) -> None:
    body = snapshot_body([], origin="int", now=T0, ack=[], escalations={}, tripwires={})
    schemas.validate("stats", body)
    body["total"] = -1
    assert [p.path for p in schemas.problems("stats", body)] == ["$.total"]


def test_same_figures_ignores_only_the_timestamps() -> None:
    a = snapshot_body([record("gb", "incident", 2024)], origin="int", now=T0, ack=[],
                      escalations={}, tripwires={})
    b = snapshot_body([record("gb", "incident", 2024)], origin="int",
                      now=T0 + timedelta(minutes=5), ack=[], escalations={}, tripwires={})
    c = snapshot_body([record("gb", "hazard", 2024)], origin="int", now=T0, ack=[],
                      escalations={}, tripwires={})
    assert same_figures(a, b)
    assert not same_figures(a, c)
    assert not same_figures(None, a)


def test_top_groups_and_tripwire_counts_order_by_count() -> None:
    result = {"groups": [{"key": {"developer": "a"}, "count": 1},
                         {"key": {"developer": "b"}, "count": 5},
                         {"key": {"developer": None}, "count": 9}]}
    assert top_groups(result, 1) == [{"key": {"developer": "b"}, "count": 5}]
    assert tripwire_counts([("tw-b", "tw-a"), ("tw-b", "tw-b")]) == {"tw-b": 2, "tw-a": 1}


@pytest.mark.parametrize("field", ["issued_at", "deadline"])
def test_escalation_facts_refuse_a_bad_timestamp(field: str) -> None:
    doc = {"id": "gb-00000001.x", "origin": "gb", "incident_id": "gb-0000000000000001",
           "tier": 1, "to": ["fr"], "issued_at": "2026-11-20T09:00:00Z",
           "deadline": "2026-11-20T10:00:00Z", field: "yesterday"}
    with pytest.raises(SchemaError, match="not an RFC 3339 timestamp"):
        EscalationFacts.from_document(doc)
