"""The run state machine: escalation tiers, races, stale timers, quorum, revisions, resolution."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from federation.effects import (
    ArmTimer,
    CancelTimer,
    DeclareEmergency,
    Effect,
    EndEmergency,
    Notify,
    ProposeEmergency,
    PublishAdvisory,
    RecordIncident,
    RequestAction,
    SendEscalation,
    SendResolution,
)
from federation.messages import incident_from_report
from federation.playbook import Playbook, parse_playbook_yaml
from federation.run_model import PlaybookRun, RunError, run_view
from federation.runs import (
    RunContext,
    Transition,
    on_ack,
    on_deadline,
    on_declaration,
    on_decline,
    on_incident_revised,
    on_resolved,
    playbooks_to_start,
    run_id_for,
    start_run,
)
from federation.schema import SchemaSet
from tests.unit.conftest import NOW
from tests.unit.factories import MINIMAL_REPORT

REPO = Path(__file__).resolve().parents[2]
CTX = RunContext(local_id="gb", members=("gb", "fr", "de", "jp"), international_body="int")
ALL_BUT_GB = ("de", "fr", "int", "jp")
H = timedelta(hours=1)


def incident(revision: int = 1, **fields: Any) -> dict[str, Any]:
    report = {**MINIMAL_REPORT, "affected_jurisdictions": ["gb", "fr", "de"], **fields}
    return incident_from_report(report, origin="gb", now=NOW, incident_id="gb-0123456789abcdef",
                                revision=revision)


@pytest.fixture
def playbooks(schemas: SchemaSet) -> dict[str, Playbook]:
    out = {}
    for path in sorted((REPO / "playbooks").glob("*.yaml")):
        pb = parse_playbook_yaml(path.read_text(encoding="utf-8"), str(path), schemas=schemas)
        out[pb.id] = pb
    return out


def of(t: Transition, kind: type[Effect]) -> list[Any]:
    return [e for e in t.effects if isinstance(e, kind)]


def events(run: PlaybookRun) -> list[str]:
    return [h.event for h in run.history]


def timer(t: Transition) -> ArmTimer:
    armed = [e for e in t.effects if isinstance(e, ArmTimer)]
    assert len(armed) == 1
    return armed[0]


@pytest.fixture
def cross_border(playbooks: dict[str, Playbook]) -> Transition:
    return start_run(playbooks["serious-incident-cross-border"], incident(), now=NOW, ctx=CTX)


# --- start and the escalation chain ----------------------------------------------------------

def test_start_notifies_and_escalates_to_affected_peers(cross_border: Transition) -> None:
    run = cross_border.run
    assert run.id == run_id_for("gb", "serious-incident-cross-border", "gb-0123456789abcdef")
    assert (run.state, run.tier, run.token, run.current_step and run.current_step.id) == (
        "running", 1, 1, "escalate-affected-peers")
    assert [n.role for n in of(cross_border, Notify)] == ["duty-officer"]
    (esc,) = of(cross_border, SendEscalation)
    assert (esc.tier, esc.to, esc.deadline, esc.acks) == (1, ("de", "fr"), NOW + 24 * H, "all")
    assert esc.escalation_id == f"{run.id}.escalate-affected-peers"
    armed = timer(cross_border)
    assert (armed.job_id, armed.at, armed.token) == (f"run:{run.id}:step:1", NOW + 24 * H, 1)
    assert events(run) == ["started", "notified", "escalated"]
    assert run.steps[0].status == "succeeded" and run.steps[1].deadline == NOW + 24 * H


def test_unacknowledged_deadline_moves_to_the_next_tier(cross_border: Transition) -> None:
    t = on_deadline(cross_border.run, token=1, now=NOW + 24 * H, ctx=CTX)
    assert t.applied and t.run.tier == 2 and t.run.token == 2
    assert of(t, CancelTimer)[0].job_id == cross_border.run.job_id(1)
    (esc,) = of(t, SendEscalation)
    assert (esc.tier, esc.to, esc.deadline) == (2, ALL_BUT_GB, NOW + 72 * H)
    assert (timer(t).job_id, timer(t).token) == (t.run.job_id(2), 2)
    assert t.run.steps[1].status == "failed"


def test_acknowledgement_stops_the_chain(cross_border: Transition) -> None:
    esc_id = of(cross_border, SendEscalation)[0].escalation_id
    t1 = on_ack(cross_border.run, escalation_id=esc_id, by="fr", now=NOW + H, ctx=CTX)
    # acks: all — one of two peers is not enough; the timer is re-armed with the new token.
    assert t1.applied and t1.run.step_index == 1 and t1.run.steps[1].acked_by == ("fr",)
    assert (timer(t1).at, timer(t1).token) == (NOW + 24 * H, 2)
    t2 = on_ack(t1.run, escalation_id=esc_id, by="de", now=NOW + 2 * H, ctx=CTX)
    assert t2.run.current_step and t2.run.current_step.id == "art73-report"
    assert t2.run.steps[2].status == "skipped"  # tier 2 never needed
    assert not of(t2, SendEscalation) and t2.run.tier == 1


# --- races, stale and duplicate firings -------------------------------------------------------

def test_ack_then_deadline_resolves_once(cross_border: Transition) -> None:
    run = cross_border.run
    esc_id = of(cross_border, SendEscalation)[0].escalation_id
    acked = on_ack(run, escalation_id=esc_id, by="fr", now=NOW + 23 * H, ctx=CTX)
    acked = on_ack(acked.run, escalation_id=esc_id, by="de", now=NOW + 23 * H, ctx=CTX)
    late_timer = on_deadline(acked.run, token=1, now=NOW + 24 * H, ctx=CTX)
    assert late_timer.outcome == "stale" and not late_timer.effects
    assert late_timer.run.steps == acked.run.steps and late_timer.run.token == acked.run.token
    assert late_timer.run.tier == 1
    assert events(late_timer.run).count("acknowledged") == 2
    assert events(late_timer.run)[-1] == "timer-stale" and "deadline-missed" not in events(
        late_timer.run)


def test_deadline_then_ack_resolves_once(cross_border: Transition) -> None:
    esc_id = of(cross_border, SendEscalation)[0].escalation_id
    timed_out = on_deadline(cross_border.run, token=1, now=NOW + 24 * H, ctx=CTX)
    late_ack = on_ack(timed_out.run, escalation_id=esc_id, by="fr", now=NOW + 24 * H, ctx=CTX)
    assert late_ack.outcome == "late" and not late_ack.effects
    assert late_ack.run.steps == timed_out.run.steps and late_ack.run.token == timed_out.run.token
    assert late_ack.run.tier == 2
    assert events(late_ack.run).count("deadline-missed") == 1
    assert "acknowledged" not in events(late_ack.run) and events(late_ack.run)[-1] == "ack-late"


def test_duplicate_and_early_firings_are_no_ops(cross_border: Transition) -> None:
    first = on_deadline(cross_border.run, token=1, now=NOW + 24 * H, ctx=CTX)
    again = on_deadline(first.run, token=1, now=NOW + 24 * H, ctx=CTX)
    assert again.outcome == "stale" and again.run.steps == first.run.steps
    early = on_deadline(cross_border.run, token=1, now=NOW + H, ctx=CTX)
    assert early.outcome == "stale" and early.run.token == 1
    assert early.run.history[-1].event == "timer-early"


def test_acks_from_strangers_and_twice(cross_border: Transition) -> None:
    esc_id = of(cross_border, SendEscalation)[0].escalation_id
    stranger = on_ack(cross_border.run, escalation_id=esc_id, by="jp", now=NOW, ctx=CTX)
    assert stranger.outcome == "refused" and stranger.run.steps == cross_border.run.steps
    once = on_ack(cross_border.run, escalation_id=esc_id, by="fr", now=NOW, ctx=CTX)
    twice = on_ack(once.run, escalation_id=esc_id, by="fr", now=NOW, ctx=CTX)
    assert twice.outcome == "duplicate" and twice.run.token == once.run.token


def test_declines_fail_over_at_once(cross_border: Transition) -> None:
    esc_id = of(cross_border, SendEscalation)[0].escalation_id
    t = on_decline(cross_border.run, ref_id=esc_id, by="fr", now=NOW + H, ctx=CTX,
                   reason="not our deployment")
    # acks: all — one decline makes the tier impossible: tier 2 now, not in 23 hours.
    assert t.run.tier == 2 and of(t, SendEscalation)[0].tier == 2
    assert t.run.steps[1].declined_by == ("fr",)


# --- quorum ----------------------------------------------------------------------------------

@pytest.fixture
def quorum(playbooks: dict[str, Playbook]) -> Transition:
    start = start_run(playbooks["red-line-crossing"], incident(red_lines=["deception"]),
                      now=NOW, ctx=CTX)
    (esc,) = of(start, SendEscalation)
    assert (esc.tier, esc.to, start.run.tier) == (3, ALL_BUT_GB, 3)  # top tier at once
    return on_ack(start.run, escalation_id=esc.escalation_id, by="int", now=NOW + H, ctx=CTX)


def test_quorum_k_of_n_counts_each_member_once(quorum: Transition) -> None:
    (proposal,) = of(quorum, ProposeEmergency)
    assert (proposal.threshold, proposal.members) == (3, ("de", "fr", "gb", "jp"))  # majority
    assert quorum.run.emergency_state == "pending"
    eid, run = proposal.emergency_id, quorum.run
    t = on_declaration(run, emergency_id=eid, by="fr", now=NOW + 2 * H, ctx=CTX)
    dup = on_declaration(t.run, emergency_id=eid, by="fr", now=NOW + 2 * H, ctx=CTX)
    assert dup.outcome == "duplicate" and dup.run.steps == t.run.steps
    outsider = on_declaration(dup.run, emergency_id=eid, by="int", now=NOW + 2 * H, ctx=CTX)
    assert outsider.outcome == "refused"  # the international body convenes, it does not declare
    unknown = on_declaration(outsider.run, emergency_id=eid, by="xx", now=NOW + 2 * H, ctx=CTX)
    assert unknown.outcome == "refused" and unknown.run.current
    assert unknown.run.current.declarations == ("fr",)
    t = on_declaration(unknown.run, emergency_id=eid, by="de", now=NOW + 3 * H, ctx=CTX)
    assert not of(t, DeclareEmergency) and t.run.emergency_state == "pending"
    t = on_declaration(t.run, emergency_id=eid, by="gb", now=NOW + 4 * H, ctx=CTX)
    (declared,) = of(t, DeclareEmergency)
    assert declared.declarations == ("fr", "de", "gb") and declared.threshold == 3
    assert t.run.emergency_state == "active" and t.run.tier == 3
    assert t.run.state == "closed" and t.run.close_reason == "completed"  # on_success: close
    assert of(t, SendResolution)[0].outcome == "completed"
    assert not of(t, EndEmergency)  # completing the playbook does not end the emergency


def test_quorum_that_lapses_ends_the_proposal(quorum: Transition) -> None:
    armed = timer(quorum)
    t = on_deadline(quorum.run, token=armed.token, now=armed.at, ctx=CTX)
    assert of(t, EndEmergency)[0].reason == "quorum not reached by the deadline"
    assert t.run.emergency_state == "none"
    assert [e.report for e in of(t, PublishAdvisory)] == ["advisory"]
    assert t.run.current_step and t.run.current_step.id == "watch"


def test_quorum_impossible_after_declines(quorum: Transition) -> None:
    eid = of(quorum, ProposeEmergency)[0].emergency_id
    t = on_decline(quorum.run, ref_id=eid, by="fr", now=NOW + 2 * H, ctx=CTX, reason="no")
    assert t.run.current_step and t.run.current_step.id == "emergency-quorum"  # 3 of 3 left
    t = on_decline(t.run, ref_id=eid, by="jp", now=NOW + 2 * H, ctx=CTX, reason="no")
    assert of(t, EndEmergency) and t.run.current_step and t.run.current_step.id == "watch"


def test_resolution_ends_an_emergency_of_a_closed_run(quorum: Transition) -> None:
    eid = of(quorum, ProposeEmergency)[0].emergency_id
    run = quorum.run
    for member in ("fr", "de", "jp"):
        run = on_declaration(run, emergency_id=eid, by=member, now=NOW + 2 * H, ctx=CTX).run
    assert run.state == "closed" and run.emergency_state == "active"
    t = on_resolved(run, now=NOW + 48 * H, ctx=CTX, by="gb")
    assert of(t, EndEmergency) and t.run.emergency_state == "none"
    assert on_resolved(t.run, now=NOW + 49 * H, ctx=CTX).outcome == "late"


# --- revisions and resolution -----------------------------------------------------------------

def test_upgrade_escalates_a_running_run(cross_border: Transition,
                                         playbooks: dict[str, Playbook]) -> None:
    t = on_incident_revised(cross_border.run, incident(2, severity="disaster"), now=NOW + H,
                            ctx=CTX)
    assert t.applied and t.run.tier == 2 and t.run.facts.revision == 2
    assert of(t, CancelTimer)[0].job_id == cross_border.run.job_id(1)
    assert of(t, SendEscalation)[0].tier == 2
    assert t.run.steps[1].status == "cancelled" and "upgraded" in events(t.run)
    red = incident(2, red_lines=["deception"])
    started = playbooks_to_start(playbooks.values(), incident(), red,
                                 existing={"serious-incident-cross-border"}, local_id="gb",
                                 is_local=True)
    assert [p.id for p in started] == ["red-line-crossing"]


def test_downgrade_changes_nothing(cross_border: Transition,
                                   playbooks: dict[str, Playbook]) -> None:
    run = cross_border.run
    t = on_incident_revised(run, incident(2, severity="incident"), now=NOW + H, ctx=CTX)
    assert t.outcome == "ignored" and not t.effects
    assert (t.run.state, t.run.step_index, t.run.tier, t.run.token, t.run.steps) == (
        run.state, run.step_index, run.tier, run.token, run.steps)
    assert t.run.history[-1].event == "revised"
    assert playbooks_to_start(playbooks.values(), incident(), incident(2, severity="hazard"),
                              existing=set(), local_id="gb", is_local=True) == []
    stale = on_incident_revised(t.run, incident(2, severity="disaster"), now=NOW, ctx=CTX)
    assert stale.outcome == "stale"
    with pytest.raises(RunError, match="revision of"):
        on_incident_revised(run, {**incident(2), "id": "gb-ffffffffffffffff"}, now=NOW, ctx=CTX)


def test_resolution_closes_the_run(cross_border: Transition) -> None:
    esc_id = of(cross_border, SendEscalation)[0].escalation_id
    t = on_incident_revised(cross_border.run, incident(2, status="resolved"), now=NOW + H,
                            ctx=CTX)
    assert t.run.state == "closed" and t.run.close_reason == "resolved"
    assert of(t, CancelTimer)[0].job_id == cross_border.run.job_id(1)
    (resolution,) = of(t, SendResolution)
    assert (resolution.outcome, resolution.escalation_ids, resolution.to) == (
        "resolved", (esc_id,), ("de", "fr"))
    assert not of(t, ArmTimer)
    assert {s.status for s in t.run.steps[2:]} == {"skipped"}
    after = on_ack(t.run, escalation_id=esc_id, by="fr", now=NOW + 2 * H, ctx=CTX)
    assert after.outcome == "late"
    assert on_deadline(t.run, token=t.run.token, now=NOW + 24 * H, ctx=CTX).outcome == "stale"


# --- clocks, local acks, periodic steps ----------------------------------------------------------

def test_time_scale_shrinks_every_duration(playbooks: dict[str, Playbook]) -> None:
    ctx = RunContext("gb", CTX.members, time_scale=1 / 3600)
    t = start_run(playbooks["serious-incident-cross-border"], incident(), now=NOW, ctx=ctx)
    assert of(t, SendEscalation)[0].deadline == NOW + timedelta(seconds=24)


def test_awareness_clock_and_local_acknowledgement(playbooks: dict[str, Playbook]) -> None:
    doc = incident(severity="serious-incident", classifications={"ATLAS": ["AML.T0025"]},
                   aware_at="2026-11-18T12:00:00Z")
    aware = datetime(2026, 11, 18, 12, tzinfo=NOW.tzinfo)
    t = start_run(playbooks["model-weights-exfiltration"], doc, now=NOW, ctx=CTX)
    assert t.run.current_step and t.run.current_step.id == "acknowledge-locally"
    assert timer(t).at == NOW + 2 * H
    t = on_ack(t.run, by="responder-7", now=NOW + H, ctx=CTX)  # a local ack: no escalation id
    assert of(t, SendEscalation)[0].tier == 2
    esc = of(t, SendEscalation)[0]
    t = on_ack(t.run, escalation_id=esc.escalation_id, by="jp", now=NOW + 2 * H, ctx=CTX)
    assert t.run.current and t.run.current.deadline == aware + timedelta(days=5)
    overdue = on_deadline(t.run, token=t.run.token, now=aware + timedelta(days=5), ctx=CTX)
    assert "overdue" in of(overdue, Notify)[0].message
    final = overdue.run.current
    assert final and final.deadline == aware + timedelta(days=60)
    assert final.timer_at == aware + timedelta(days=5) + timedelta(weeks=4)  # update reminder


def test_death_shortens_the_report_clock(playbooks: dict[str, Playbook]) -> None:
    doc = incident(harm_quantification={"deaths": 2}, aware_at="2026-11-19T12:00:00Z")
    t = start_run(playbooks["serious-incident-cross-border"], doc, now=NOW, ctx=CTX)
    esc = of(t, SendEscalation)[0]
    for member in esc.to:
        t = on_ack(t.run, escalation_id=esc.escalation_id, by=member, now=NOW, ctx=CTX)
    assert t.run.current and t.run.current.deadline == datetime(
        2026, 11, 29, 12, tzinfo=NOW.tzinfo)


def test_tier_one_without_member_peers_fails_over(playbooks: dict[str, Playbook]) -> None:
    doc = incident(affected_jurisdictions=["gb", "us"])  # us is not a member
    t = start_run(playbooks["serious-incident-cross-border"], doc, now=NOW, ctx=CTX)
    assert [e.tier for e in of(t, SendEscalation)] == [2]
    assert "no-recipients" in events(t.run)


def test_hazard_watch_records_watches_and_yields_to_upgrades(
        playbooks: dict[str, Playbook]) -> None:
    t = start_run(playbooks["hazard-watch"], incident(severity="hazard"), now=NOW, ctx=CTX)
    assert of(t, RecordIncident) and not of(t, SendEscalation)
    assert timer(t).at == NOW + timedelta(days=30)
    done = on_deadline(t.run, token=t.run.token, now=NOW + timedelta(days=30), ctx=CTX)
    assert of(done, Notify)[0].role == "incident-responder" and done.run.state == "closed"
    up = on_incident_revised(t.run, incident(2, severity="incident"), now=NOW + H, ctx=CTX)
    assert up.run.state == "closed" and of(up, CancelTimer)


def test_federation_emergency_coordinates_until_resolved(playbooks: dict[str, Playbook],
                                                         schemas: SchemaSet) -> None:
    emergency = {"type": "emergency", "origin": "gb", "issued_at": "2026-11-20T12:00:00Z",
                 "id": "gb-0011223344556677.emergency-quorum",
                 "incident_id": "gb-0123456789abcdef", "run_id": "gb-0011223344556677",
                 "state": "active", "threshold": {"k": 3, "n": 4},
                 "declarations": [{"origin": m} for m in ("gb", "fr", "de")],
                 "declared_at": "2026-11-20T12:00:00Z", "deployments": ["ExampleLM 2.1"]}
    schemas.validate("emergency", emergency)
    t = start_run(playbooks["federation-emergency"], emergency, now=NOW, ctx=CTX)
    assert [(a.report, a.tier, a.to) for a in of(t, PublishAdvisory)] == [
        ("advisory", 3, ALL_BUT_GB)]
    (request,) = of(t, RequestAction)
    assert (request.action, request.deployments, request.to) == (
        "suspend-deployment", ("ExampleLM 2.1",), ALL_BUT_GB)
    for member in ALL_BUT_GB:
        t = on_ack(t.run, escalation_id=request.escalation_id, by=member, now=NOW + H, ctx=CTX)
    assert t.run.current_step and t.run.current_step.id == "status-reports"
    first = timer(t)
    assert first.at == NOW + 25 * H
    t = on_deadline(t.run, token=first.token, now=first.at, ctx=CTX)
    assert of(t, PublishAdvisory)[0].sequence == 1 and timer(t).at == NOW + 49 * H
    # after three days of downtime: one report, next one in the future — not a burst
    t = on_deadline(t.run, token=t.run.token, now=NOW + 120 * H, ctx=CTX)
    assert len(of(t, PublishAdvisory)) == 1 and timer(t).at == NOW + 121 * H
    closed = on_resolved(t.run, now=NOW + 130 * H, ctx=CTX, by="gb")
    assert closed.run.state == "closed" and of(closed, CancelTimer)


# --- persistence and views -----------------------------------------------------------------------

def test_round_trip_and_view(quorum: Transition) -> None:
    run = quorum.run
    stored = json.loads(json.dumps(run.to_dict()))
    assert PlaybookRun.from_dict(stored) == run
    view = run_view(run)
    assert {"playbook", "state", "tier", "steps", "history"} <= set(view)
    assert view["playbook"] == {"id": "red-line-crossing", "version": 1,
                                "title": "Red line crossed"}
    assert view["current_step"] == "emergency-quorum" and view["tier"] == 3
    quorum_step = next(s for s in view["steps"] if s["id"] == "emergency-quorum")
    assert quorum_step["deadline"] == "2026-11-21T13:00:00Z" and quorum_step["threshold"] == 3
    assert set(view["history"][0]) >= {"at", "event", "by"}
    for effect in quorum.effects:
        assert json.loads(json.dumps(effect.to_dict()))["kind"] == effect.kind
