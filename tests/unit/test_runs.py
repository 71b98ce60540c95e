"""The run state machine: parallel branches, escalation tiers, races, stale timers, quorum,
revisions, resolution, and steps people complete."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
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
from federation.playbook import Playbook
from federation.run_model import PlaybookRun, RunError, run_view
from federation.runs import (
    RunContext,
    Transition,
    complete_step,
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
from node.core.playbook_files import load_playbooks
from tests.unit.conftest import NOW
from tests.unit.factories import MINIMAL_REPORT

REPO = Path(__file__).resolve().parents[2]
CTX = RunContext(local_id="gb", members=("gb", "fr", "de", "jp"), international_body="int")
ALL_BUT_GB = ("de", "fr", "int", "jp")
H = timedelta(hours=1)
D = timedelta(days=1)
EVIDENCE = [{"url": "https://example.org/filing/1", "sha256": "ab" * 32}]


def incident(revision: int = 1, **fields: Any) -> dict[str, Any]:
    report = {**MINIMAL_REPORT, "affected_jurisdictions": ["gb", "fr", "de"], **fields}
    return incident_from_report(report, origin="gb", now=NOW, incident_id="gb-0123456789abcdef",
                                revision=revision)


@pytest.fixture(scope="module")
def playbooks() -> dict[str, Playbook]:
    return {pb.id: pb for pb in load_playbooks(REPO / "playbooks")}


def of(t: Transition, kind: type[Effect]) -> list[Any]:
    return [e for e in t.effects if isinstance(e, kind)]


def events(run: PlaybookRun) -> list[str]:
    return [h.event for h in run.history]


def active(run: PlaybookRun) -> list[str]:
    return list(run.active_step_ids())


def armed(t: Transition, step_id: str) -> ArmTimer:
    [timer] = [e for e in t.effects if isinstance(e, ArmTimer)
               and e.job_id == t.run.job_id(step_id)]
    return timer


def timer(t: Transition) -> ArmTimer:
    found = [e for e in t.effects if isinstance(e, ArmTimer)]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def cross_border(playbooks: dict[str, Playbook]) -> Transition:
    return start_run(playbooks["serious-incident-cross-border"], incident(), now=NOW, ctx=CTX)


# --- start: escalation and the regulatory clock side by side ---------------------------------

def test_start_escalates_and_starts_the_art73_clock_at_once(cross_border: Transition) -> None:
    run = cross_border.run
    assert run.id == run_id_for("gb", "serious-incident-cross-border", "gb-0123456789abcdef")
    assert (run.state, run.tier, run.token) == ("running", 1, 1)
    assert active(run) == ["escalate-affected-peers", "art73-report"]  # both open at once
    assert [n.role for n in of(cross_border, Notify)] == ["duty-officer", "incident-responder"]
    (esc,) = of(cross_border, SendEscalation)
    assert (esc.tier, esc.to, esc.deadline, esc.acks) == (1, ("de", "fr"), NOW + 24 * H, "all")
    assert esc.escalation_id == f"{run.id}.escalate-affected-peers"
    tier1 = armed(cross_border, "escalate-affected-peers")
    assert (tier1.job_id, tier1.at, tier1.token) == (
        f"run:{run.id}:step:escalate-affected-peers", NOW + 24 * H, 1)
    report = run.step_state("art73-report")
    assert (report.deadline, report.clock_id) == (NOW + 15 * D, "ai-act-73-2")  # Art. 73(2)
    assert armed(cross_border, "art73-report").at == NOW + 5 * D  # reminder every 5 days
    assert run.next_timer_at == NOW + 24 * H
    assert events(run) == ["started", "notified", "branches-started", "escalated", "report-due"]


def test_unacknowledged_deadline_moves_to_the_next_tier(cross_border: Transition) -> None:
    t = on_deadline(cross_border.run, token=1, now=NOW + 24 * H, ctx=CTX)
    assert t.applied and t.run.tier == 2 and t.run.token == 2
    assert [c.job_id for c in of(t, CancelTimer)] == [
        cross_border.run.job_id("escalate-affected-peers")]
    (esc,) = of(t, SendEscalation)
    assert (esc.tier, esc.to, esc.deadline) == (2, ALL_BUT_GB, NOW + 72 * H)
    assert (timer(t).job_id, timer(t).token) == (t.run.job_id("escalate-all-members"), 2)
    assert t.run.step_state("escalate-affected-peers").status == "failed"
    assert t.run.step_state("art73-report").status == "waiting"  # its clock runs on


def test_acknowledgement_stops_the_chain_not_the_clock(cross_border: Transition) -> None:
    esc_id = of(cross_border, SendEscalation)[0].escalation_id
    t1 = on_ack(cross_border.run, escalation_id=esc_id, by="fr", now=NOW + H, ctx=CTX)
    # acks: all — one of two peers is not enough; its armed timer stays valid.
    assert t1.applied and t1.run.step_state("escalate-affected-peers").acked_by == ("fr",)
    assert not of(t1, ArmTimer) and t1.run.token == 2
    t2 = on_ack(t1.run, escalation_id=esc_id, by="de", now=NOW + 2 * H, ctx=CTX)
    assert active(t2.run) == ["art73-report"]  # the join waits for the report branch
    assert t2.run.step_state("escalate-all-members").status == "skipped"  # tier 2 never needed
    assert t2.run.step_state("respond").branches == ("art73-report",)
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
    # The escalation's own timer (armed with token 1) is stale too: the step is over.
    by_step = on_deadline(acked.run, token=1, now=NOW + 24 * H, ctx=CTX,
                          step_id="escalate-affected-peers")
    assert by_step.outcome == "stale"


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


def test_a_step_timer_armed_before_another_branch_moved_is_still_valid(
        cross_border: Transition) -> None:
    esc_id = of(cross_border, SendEscalation)[0].escalation_id
    report_timer = armed(cross_border, "art73-report")
    moved = on_ack(cross_border.run, escalation_id=esc_id, by="fr", now=NOW + H, ctx=CTX)
    assert moved.run.token == 2  # the run moved on ...
    t = on_deadline(moved.run, token=report_timer.token, now=report_timer.at, ctx=CTX,
                    step_id="art73-report")  # ... but the report's own timer still counts
    assert t.applied and "reminder" in events(t.run)
    assert armed(t, "art73-report").at == NOW + 10 * D


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
    assert t.run.step_state("escalate-affected-peers").declined_by == ("fr",)


# --- quorum ----------------------------------------------------------------------------------

@pytest.fixture
def quorum(playbooks: dict[str, Playbook]) -> Transition:
    start = start_run(playbooks["red-line-crossing"], incident(red_lines=["deception"]),
                      now=NOW, ctx=CTX)
    (esc,) = of(start, SendEscalation)
    assert (esc.tier, esc.to, start.run.tier) == (3, ALL_BUT_GB, 3)  # top tier at once
    (proposal,) = of(start, ProposeEmergency)  # ... and the quorum at the same time
    assert (proposal.threshold, proposal.members) == (3, ("de", "fr", "gb", "jp"))  # majority
    return on_ack(start.run, escalation_id=esc.escalation_id, by="int", now=NOW + H, ctx=CTX)


def eid_of(t: Transition) -> str:
    return t.run.step_state("emergency-quorum").request_id


def test_quorum_k_of_n_counts_each_member_once(quorum: Transition) -> None:
    assert quorum.run.emergency_state == "pending"
    eid, run = eid_of(quorum), quorum.run
    t = on_declaration(run, emergency_id=eid, by="fr", now=NOW + 2 * H, ctx=CTX)
    dup = on_declaration(t.run, emergency_id=eid, by="fr", now=NOW + 2 * H, ctx=CTX)
    assert dup.outcome == "duplicate" and dup.run.steps == t.run.steps
    outsider = on_declaration(dup.run, emergency_id=eid, by="int", now=NOW + 2 * H, ctx=CTX)
    assert outsider.outcome == "refused"  # the international body convenes, it does not declare
    unknown = on_declaration(outsider.run, emergency_id=eid, by="xx", now=NOW + 2 * H, ctx=CTX)
    assert unknown.outcome == "refused"
    assert unknown.run.step_state("emergency-quorum").declarations == ("fr",)
    t = on_declaration(unknown.run, emergency_id=eid, by="de", now=NOW + 3 * H, ctx=CTX)
    assert not of(t, DeclareEmergency) and t.run.emergency_state == "pending"
    t = on_declaration(t.run, emergency_id=eid, by="gb", now=NOW + 4 * H, ctx=CTX)
    (declared,) = of(t, DeclareEmergency)
    assert declared.declarations == ("fr", "de", "gb") and declared.threshold == 3
    assert t.run.emergency_state == "active" and t.run.tier == 3
    assert t.run.state == "closed" and t.run.close_reason == "completed"  # handed over
    assert of(t, SendResolution)[0].outcome == "completed"
    assert not of(t, EndEmergency)  # completing the playbook does not end the emergency


def test_quorum_that_lapses_ends_the_proposal(quorum: Transition) -> None:
    t = on_deadline(quorum.run, token=quorum.run.token, now=NOW + 24 * H, ctx=CTX)
    assert of(t, EndEmergency)[0].reason == "quorum not reached by the deadline"
    assert t.run.emergency_state == "none"
    assert [e.report for e in of(t, PublishAdvisory)] == ["advisory"]  # the join ran
    assert active(t.run) == ["watch"]


def test_quorum_impossible_after_declines(quorum: Transition) -> None:
    eid = eid_of(quorum)
    t = on_decline(quorum.run, ref_id=eid, by="fr", now=NOW + 2 * H, ctx=CTX, reason="no")
    assert active(t.run) == ["emergency-quorum"]  # 3 of the 3 left are still possible
    t = on_decline(t.run, ref_id=eid, by="jp", now=NOW + 2 * H, ctx=CTX, reason="no")
    assert of(t, EndEmergency) and active(t.run) == ["watch"]


def test_the_join_waits_for_every_branch(playbooks: dict[str, Playbook]) -> None:
    start = start_run(playbooks["red-line-crossing"], incident(red_lines=["deception"]),
                      now=NOW, ctx=CTX)
    eid = start.run.step_state("emergency-quorum").request_id
    t = on_decline(start.run, ref_id=eid, by="fr", now=NOW + H, ctx=CTX)
    t = on_decline(t.run, ref_id=eid, by="jp", now=NOW + H, ctx=CTX)  # the quorum branch ends
    assert not of(t, PublishAdvisory) and active(t.run) == ["escalate-global-emergency"]
    t = on_deadline(t.run, token=t.run.token, now=NOW + 6 * H, ctx=CTX)  # the other ends too
    assert [e.report for e in of(t, PublishAdvisory)] == ["advisory"]
    assert active(t.run) == ["watch"] and t.run.step_state("respond").status == "succeeded"


def test_resolution_ends_an_emergency_of_a_closed_run(quorum: Transition) -> None:
    eid = eid_of(quorum)
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
    assert [c.job_id for c in of(t, CancelTimer)] == [
        cross_border.run.job_id("escalate-affected-peers")]
    assert of(t, SendEscalation)[0].tier == 2
    assert t.run.step_state("escalate-affected-peers").status == "cancelled"
    assert "upgraded" in events(t.run) and "art73-report" in active(t.run)
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
    assert (t.run.state, t.run.tier, t.run.token, t.run.steps) == (
        run.state, run.tier, run.token, run.steps)
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
    assert {c.job_id for c in of(t, CancelTimer)} == {
        cross_border.run.job_id("escalate-affected-peers"),
        cross_border.run.job_id("art73-report")}
    (resolution,) = of(t, SendResolution)
    assert (resolution.outcome, resolution.escalation_ids, resolution.to) == (
        "resolved", (esc_id,), ("de", "fr"))
    assert not of(t, ArmTimer)
    assert {s.status for s in t.run.steps if s.action not in ("notify", "parallel")} == {
        "cancelled", "skipped"}
    after = on_ack(t.run, escalation_id=esc_id, by="fr", now=NOW + 2 * H, ctx=CTX)
    assert after.outcome == "late"
    assert on_deadline(t.run, token=t.run.token, now=NOW + 24 * H, ctx=CTX).outcome == "stale"


# --- steps people complete -------------------------------------------------------------------

def test_a_filed_report_records_who_what_when_and_starts_the_authoritys_duties(
        cross_border: Transition) -> None:
    filed_at = NOW + 3 * D
    t = complete_step(cross_border.run, "art73-report", by="alice", note="received via portal",
                      evidence=EVIDENCE, now=filed_at, ctx=CTX)
    st = t.run.step_state("art73-report")
    assert (st.status, st.filed_by, st.filed_at, st.note) == (
        "succeeded", "alice", filed_at, "received via portal")
    assert [dict(e) for e in st.evidence] == EVIDENCE
    assert t.run.job_id("art73-report") in {c.job_id for c in of(t, CancelTimer)}  # clock off
    [entry] = [h for h in t.run.history if h.event == "report-filed"]
    assert (entry.step, entry.by) == ("art73-report", "alice")
    assert "EU AI Act Art. 73(2)" in entry.detail and "on time" in entry.detail
    # The authority's own duties run from the receipt of the notification.
    assert t.run.step_state("market-surveillance-measures").deadline == filed_at + 7 * D
    assert t.run.step_state("notify-commission").deadline == filed_at + 24 * H  # internal target
    view = next(s for s in run_view(t.run)["steps"] if s["id"] == "market-surveillance-measures")
    assert view["clock"]["citation"] == "EU AI Act Art. 73(8)"
    assert view["clock"]["duty"] == "authority" and view["completable"] is True
    filed = next(s for s in run_view(t.run)["steps"] if s["id"] == "art73-report")["filed"]
    assert filed["by"] == "alice" and filed["evidence"] == EVIDENCE


def test_art73_7_applies_only_to_fundamental_rights_incidents(
        playbooks: dict[str, Playbook]) -> None:
    pb = playbooks["serious-incident-cross-border"]
    for harm, expected in ((["physical"], "skipped"), (["human-rights"], "waiting")):
        t = start_run(pb, incident(harm_types=harm), now=NOW, ctx=CTX)
        t = complete_step(t.run, "art73-report", by="alice", now=NOW + D, ctx=CTX)
        st = t.run.step_state("inform-rights-bodies")
        assert st.status == expected, harm
        if expected == "waiting":
            assert (st.clock_id, st.deadline) == ("ai-act-73-7", NOW + D + 24 * H)
        else:
            assert "not-applicable" in events(t.run)


def test_completing_what_people_do_not_complete(cross_border: Transition) -> None:
    refused = complete_step(cross_border.run, "escalate-affected-peers", by="alice", now=NOW,
                            ctx=CTX)
    assert refused.outcome == "refused" and refused.run.steps == cross_border.run.steps
    late = complete_step(cross_border.run, "market-surveillance-measures", by="alice", now=NOW,
                         ctx=CTX)
    assert late.outcome == "late"  # not reached yet
    overdue = cross_border
    for _ in range(3):  # reminders, then the deadline itself
        overdue = on_deadline(overdue.run, token=overdue.run.token, now=NOW + 15 * D, ctx=CTX)
    assert overdue.run.step_state("art73-report").status == "failed"
    late_filing = complete_step(overdue.run, "art73-report", by="alice", note="arrived late",
                                now=NOW + 16 * D, ctx=CTX)
    st = late_filing.run.step_state("art73-report")
    assert (st.status, st.filed_by, st.filed_at) == ("failed", "alice", NOW + 16 * D)
    assert late_filing.run.history[-1].detail.startswith("late, after the deadline")
    assert complete_step(late_filing.run, "art73-report", by="bob", now=NOW + 17 * D,
                         ctx=CTX).outcome == "late"  # recorded once
    with pytest.raises(RunError, match="no step 'nope'"):
        complete_step(cross_border.run, "nope", by="alice", now=NOW, ctx=CTX)
    with pytest.raises(RunError, match=r"evidence\[0\].sha256"):
        complete_step(cross_border.run, "art73-report", by="alice", now=NOW, ctx=CTX,
                      evidence=[{"url": "https://x.example", "sha256": "nothex"}])


# --- clocks, local acks, periodic steps ----------------------------------------------------------

def test_time_scale_shrinks_every_duration(playbooks: dict[str, Playbook]) -> None:
    ctx = RunContext("gb", CTX.members, time_scale=1 / 3600)
    t = start_run(playbooks["serious-incident-cross-border"], incident(), now=NOW, ctx=ctx)
    assert of(t, SendEscalation)[0].deadline == NOW + timedelta(seconds=24)
    assert t.run.step_state("art73-report").deadline == NOW + timedelta(seconds=15 * 24)


def test_death_and_widespread_infringement_shorten_the_report_clock(
        playbooks: dict[str, Playbook]) -> None:
    doc = incident(harm_quantification={"deaths": 2}, aware_at="2026-11-19T12:00:00Z")
    t = start_run(playbooks["serious-incident-cross-border"], doc, now=NOW, ctx=CTX)
    report = t.run.step_state("art73-report")
    assert (report.deadline, report.clock_id) == (
        datetime(2026, 11, 29, 12, tzinfo=UTC), "ai-act-73-4")  # Art. 73(4): 10 days
    doc = incident(harm_types=["human-rights"], affected_jurisdictions=["gb", "fr", "de"])
    t = start_run(playbooks["serious-incident-cross-border"], doc, now=NOW, ctx=CTX)
    assert t.run.step_state("art73-report").clock_id == "ai-act-73-3"  # Art. 3(61): 2 days
    assert t.run.step_state("art73-report").deadline == NOW + 2 * D


def test_critical_infrastructure_runs_every_clock_side_by_side(
        playbooks: dict[str, Playbook]) -> None:
    aware = datetime(2027, 1, 28, 9, tzinfo=UTC)
    doc = incident(critical_infrastructure_sector="energy", irreversible=True,
                   aware_at="2027-01-28T09:00:00Z")
    t = start_run(playbooks["critical-infrastructure-disruption"], doc, now=aware + H, ctx=CTX)
    assert active(t.run) == ["acknowledge-locally", "escalate-affected-peers", "art73-report",
                             "nis2-early-warning", "nis2-notification"]
    deadlines = {s: t.run.step_state(s).deadline for s in active(t.run)}
    assert deadlines == {"acknowledge-locally": aware + 5 * H,
                         "escalate-affected-peers": aware + 25 * H,
                         "art73-report": aware + 2 * D,           # Art. 73(3)
                         "nis2-early-warning": aware + 24 * H,    # NIS2 Art. 23(4)(a)
                         "nis2-notification": aware + 72 * H}     # NIS2 Art. 23(4)(b)
    filed = datetime(2027, 1, 31, 10, tzinfo=UTC)
    t = complete_step(t.run, "nis2-notification", by="csirt", now=filed, ctx=CTX)
    # Art. 23(4)(d): one calendar month after the notification — 31 January + 1 month.
    assert t.run.step_state("nis2-final-report").deadline == datetime(2027, 2, 28, 10,
                                                                       tzinfo=UTC)


def test_gpai_reports_run_until_resolution_and_the_final_report_after_it(
        playbooks: dict[str, Playbook]) -> None:
    doc = incident(severity="serious-incident", aware_at="2026-11-18T12:00:00Z",
                   classifications={"beacon": ["model-weights-exfiltration"]})
    aware = datetime(2026, 11, 18, 12, tzinfo=UTC)
    t = start_run(playbooks["model-weights-exfiltration"], doc, now=NOW, ctx=CTX)
    assert active(t.run) == ["acknowledge-locally", "escalate-all-members", "initial-report"]
    assert armed(t, "acknowledge-locally").at == NOW + 2 * H
    assert t.run.step_state("initial-report").deadline == aware + 5 * D  # Measure 9.3(2)
    t = on_ack(t.run, by="responder-7", now=NOW + H, ctx=CTX)  # a local ack: no escalation id
    assert t.run.step_state("acknowledge-locally").filed_by == "responder-7"
    t = complete_step(t.run, "initial-report", by="alice", now=NOW + D, ctx=CTX)
    inter = t.run.step_state("intermediate-reports")
    assert inter.deadline == NOW + D + timedelta(weeks=4)  # every 4 weeks after the initial
    missed = on_deadline(t.run, token=t.run.token, now=inter.deadline, ctx=CTX)
    assert "overdue" in " ".join(n.message for n in of(missed, Notify))
    st = missed.run.step_state("intermediate-reports")
    assert (st.status, st.missed, st.deadline) == (
        "waiting", 1, NOW + D + timedelta(weeks=8))  # the duty goes on
    t = complete_step(missed.run, "intermediate-reports", by="alice", now=NOW + 40 * D,
                      ctx=CTX)
    assert t.run.step_state("intermediate-reports").deadline == NOW + D + timedelta(weeks=12)
    resolved_at = NOW + 50 * D
    t = on_resolved(t.run, now=resolved_at, ctx=CTX, by="gb")
    assert t.run.state == "running" and active(t.run) == ["final-report"]  # stays open
    assert t.run.step_state("final-report").deadline == resolved_at + 60 * D  # Measure 9.3
    assert of(t, SendResolution)[0].outcome == "resolved"
    done = complete_step(t.run, "final-report", by="alice", now=resolved_at + 30 * D, ctx=CTX)
    assert done.run.state == "closed" and not of(done, SendResolution)  # told once, already


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


def test_an_upgrade_past_a_parallel_step_ends_every_branch(
        playbooks: dict[str, Playbook]) -> None:
    t = start_run(playbooks["incident-review"], incident(severity="incident"), now=NOW, ctx=CTX)
    assert active(t.run) == ["acknowledge-locally", "escalate-affected-peers"]
    up = on_incident_revised(t.run, incident(2, severity="serious-incident"), now=NOW + H,
                             ctx=CTX)
    assert up.run.state == "closed" and len(of(up, CancelTimer)) == 2
    assert of(up, SendResolution)[0].escalation_ids == (f"{t.run.id}.escalate-affected-peers",)


def test_federation_emergency_coordinates_until_resolved(playbooks: dict[str, Playbook],
                                                         schemas: Any) -> None:
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
    assert active(t.run) == ["suspend-deployments", "status-reports"]
    for member in ALL_BUT_GB:
        t = on_ack(t.run, escalation_id=request.escalation_id, by=member, now=NOW + H, ctx=CTX)
    assert active(t.run) == ["status-reports"]
    first = t.run.timers()[0]
    assert first[1:3] == ("status-reports", NOW + 24 * H)
    t = on_deadline(t.run, token=t.run.token, now=first[2], ctx=CTX)
    assert of(t, PublishAdvisory)[0].sequence == 1 and timer(t).at == NOW + 48 * H
    # after three days of downtime: one report, next one in the future — not a burst
    t = on_deadline(t.run, token=t.run.token, now=NOW + 120 * H, ctx=CTX)
    assert len(of(t, PublishAdvisory)) == 1 and timer(t).at == NOW + 144 * H
    closed = on_resolved(t.run, now=NOW + 130 * H, ctx=CTX, by="gb")
    assert closed.run.state == "closed" and of(closed, CancelTimer)


# --- persistence and views -----------------------------------------------------------------------

def test_round_trip_and_view(quorum: Transition) -> None:
    run = quorum.run
    stored = json.loads(json.dumps(run.to_dict()))
    assert PlaybookRun.from_dict(stored) == run
    view = run_view(run)
    assert {"playbook", "state", "tier", "steps", "history", "active_steps"} <= set(view)
    assert view["playbook"] == {"id": "red-line-crossing", "version": 2,
                                "title": "Red line crossed"}
    assert view["current_step"] == "emergency-quorum" and view["tier"] == 3
    quorum_step = next(s for s in view["steps"] if s["id"] == "emergency-quorum")
    assert quorum_step["deadline"] == "2026-11-21T12:00:00Z" and quorum_step["threshold"] == 3
    assert quorum_step["branch"] == "emergency-quorum"
    assert set(view["history"][0]) >= {"at", "event", "by"}
    for effect in quorum.effects:
        assert json.loads(json.dumps(effect.to_dict()))["kind"] == effect.kind


def test_a_stored_run_keeps_its_clocks_without_the_regimes_file(
        cross_border: Transition) -> None:
    stored = json.loads(json.dumps(cross_border.run.to_dict()))
    again = PlaybookRun.from_dict(stored)
    assert again.playbook.clocks()["ai-act-73-8"].period is not None
    assert again == cross_border.run
