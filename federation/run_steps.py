"""What entering, ticking, leaving and closing each kind of step does (used by ``runs``).

    d = Draft(run, now, ctx); advance(d, 0); transition = d.finish()

A ``Draft`` collects the changes one transition makes — step states, history, effects — and
``finish`` freezes them into a new ``PlaybookRun``, raising the token and re-arming the current
step's timer with it. Everything here is internal to ``federation.runs``; the node calls the
transitions there.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from federation.effects import (
    AnyEffect,
    ArmTimer,
    CancelTimer,
    DeclareEmergency,
    EndEmergency,
    Notify,
    ProposeEmergency,
    PublishAdvisory,
    RecordIncident,
    RequestAction,
    SendEscalation,
    SendResolution,
)
from federation.playbook import Step
from federation.run_model import (
    APPLIED,
    CLOSED,
    FAILED,
    PENDING,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    WAITING,
    HistoryEntry,
    PlaybookRun,
    RunContext,
    Transition,
)
from federation.timeutil import format_time

_OK, _FAIL, _WAIT, _CLOSE = "ok", "fail", "wait", "close"
DEFAULT_ADVISORY_TLP = "AMBER"  # members only, never exported: the safe default for a draft
_LAPSED = {"deadline-missed": "quorum not reached by the deadline",
           "declined": "quorum can no longer be reached"}


class Draft:
    """The mutable working copy of one transition."""

    def __init__(self, run: PlaybookRun, now: datetime, ctx: RunContext) -> None:
        self.run, self.now, self.ctx = run, now, ctx
        self.steps = list(run.steps)
        self.history = list(run.history)
        self.effects: list[AnyEffect] = []
        self.step_index, self.state, self.tier, self.facts = (
            run.step_index, run.state, run.tier, run.facts)
        self.closed_at, self.close_reason = run.closed_at, run.close_reason
        self.emergency_id, self.emergency_state = run.emergency_id, run.emergency_state

    def log(self, event: str, by: str, step: str = "", detail: str = "") -> None:
        self.history.append(HistoryEntry(self.now, event, by, step, detail))

    def set_step(self, index: int, **changes: Any) -> None:
        self.steps[index] = replace(self.steps[index], **changes)

    def finish(self, outcome: str = APPLIED, *, bump: bool = True) -> Transition:
        """Freeze into a new run; if ``bump``, raise the token and re-arm the current timer."""
        token = self.run.token + 1 if bump else self.run.token
        effects = list(self.effects)
        current = self.steps[self.step_index]
        if bump and self.state == RUNNING and current.status == WAITING and current.timer_at:
            effects.append(ArmTimer(self.run.id, self.run.job_id(self.step_index),
                                    current.timer_at, token))
        run = replace(self.run, facts=self.facts, state=self.state, step_index=self.step_index,
                      tier=self.tier, token=token, steps=tuple(self.steps),
                      history=tuple(self.history), closed_at=self.closed_at,
                      close_reason=self.close_reason, emergency_id=self.emergency_id,
                      emergency_state=self.emergency_state)
        return Transition(run, tuple(effects), outcome)

    def step(self, index: int) -> Step:
        return self.run.playbook.steps[index]

    def deadline(self, step: Step) -> datetime | None:
        """The step's deadline: scaled, from the step's start or from awareness of the incident."""
        duration = step.deadline_for(self.facts)
        if duration is None:
            return None
        anchor = self.now
        if step.clock == "awareness":  # regulatory clocks start at awareness (DESIGN §7)
            anchor = self.facts.aware_at or self.run.started_at
        return anchor + self.ctx.scaled(duration)

    def reason(self) -> str:
        f = self.facts
        what = f"{f.severity.value if f.severity else f.kind} {f.incident_id}"
        lines = f"; red lines: {', '.join(sorted(f.red_lines))}" if f.red_lines else ""
        return f"{self.run.playbook.title}: {what}{lines}"


def advance(d: Draft, index: int) -> None:
    """Run steps from ``index`` until one waits or the run closes."""
    steps = d.run.playbook.steps
    while True:
        for j in range(d.step_index + 1, min(index, len(steps))):
            if d.steps[j].status == PENDING:
                d.set_step(j, status=SKIPPED)
        if index >= len(steps):
            close_run(d, "completed", "system")
            return
        d.step_index = index
        d.set_step(index, status=WAITING, started_at=d.now)
        step = steps[index]
        result = _ENTER[step.action](d, index, step)
        if result == _WAIT:
            return
        if result == _CLOSE:
            close_run(d, "completed", "system")
            return
        index = (d.run.playbook.success_target(index) if result == _OK
                 else d.run.playbook.failure_target(index))


def complete_step(d: Draft, *, ok: bool, event: str, by: str, status: str | None = None,
                  target: int | None = None) -> None:
    """End the current (waiting) step and advance to its success or failure target."""
    i = d.step_index
    step = d.step(i)
    _leave(d, i, status or (SUCCEEDED if ok else FAILED))
    d.log(event, by, step.id)
    if step.action == "quorum":
        st = d.steps[i]
        if ok:
            d.effects.append(DeclareEmergency(d.run.id, st.request_id, d.facts.incident_id,
                                              st.threshold, st.targets, st.declarations))
            d.emergency_state, d.tier = "active", 3
            d.log("emergency-declared", by, step.id,
                  f"{len(st.declarations)} of {len(st.targets)}: {', '.join(st.declarations)}")
        else:
            _end_emergency(d, _LAPSED.get(event, event), by)
    pb = d.run.playbook
    advance(d, target if target is not None
            else pb.success_target(i) if ok else pb.failure_target(i))


def tick(d: Draft) -> bool:
    """A periodic step's timer fired before its period ended: publish or remind, re-arm."""
    i = d.step_index
    step, st = d.step(i), d.steps[i]
    if step.every is None or st.timer_at is None or (st.deadline and st.timer_at >= st.deadline):
        return False
    seq = st.reports + 1
    if step.action == "status-report":
        d.effects.append(PublishAdvisory(
            d.run.id, step.id, d.facts.incident_id, "status-report", step.tier,
            d.ctx.tier_targets(step.tier, d.facts), step.tlp or DEFAULT_ADVISORY_TLP,
            f"{step.label} #{seq}", seq))
    else:
        due = f"; due by {format_time(st.deadline)}" if st.deadline else ""
        d.effects.append(Notify(d.run.id, step.id, step.role,
                                f"{step.label}: update #{seq} due{due}", st.deadline))
    every = d.ctx.scaled(step.every)
    nxt = st.timer_at + every
    while nxt <= d.now:  # after downtime, skip missed reports rather than send a burst
        nxt += every
    d.set_step(i, reports=seq, timer_at=min(nxt, st.deadline) if st.deadline else nxt)
    d.log("status-report" if step.action == "status-report" else "reminder", "scheduler",
          step.id, f"#{seq}")
    return True


def close_run(d: Draft, reason: str, by: str) -> None:
    """Close the run: cancel its wait, skip what is left, resolve its escalations."""
    if d.state == CLOSED:
        return
    current = d.steps[d.step_index]
    if current.status == WAITING:
        _leave(d, d.step_index, "cancelled")
    for j, st in enumerate(d.steps):
        if st.status == PENDING:
            d.set_step(j, status=SKIPPED)
    sent = [st for st in d.steps if st.action in ("escalate", "request-action") and st.request_id]
    if sent:
        d.effects.append(SendResolution(
            d.run.id, d.facts.incident_id, "resolved" if reason == "resolved" else "completed",
            tuple(st.request_id for st in sent),
            tuple(sorted({m for st in sent for m in st.targets}))))
    if d.emergency_state == "pending" or (d.emergency_state == "active" and reason == "resolved"):
        _end_emergency(d, reason, by)
    d.state, d.closed_at, d.close_reason = CLOSED, d.now, reason
    d.log("closed", by, detail=reason)


def _leave(d: Draft, index: int, status: str) -> None:
    if d.steps[index].timer_at is not None:
        d.effects.append(CancelTimer(d.run.id, d.run.job_id(index)))
    d.set_step(index, status=status, ended_at=d.now, timer_at=None)


def _end_emergency(d: Draft, reason: str, by: str) -> None:
    if d.emergency_state in ("pending", "active"):
        d.effects.append(EndEmergency(d.run.id, d.emergency_id, d.facts.incident_id, reason))
        d.emergency_state = "none"
        d.log("emergency-ended", by, detail=reason)


def _done(d: Draft, index: int, ok: bool, event: str, detail: str = "") -> str:
    d.set_step(index, status=SUCCEEDED if ok else FAILED, ended_at=d.now)
    d.log(event, "system", d.step(index).id, detail)
    return _OK if ok else _FAIL


def _wait(d: Draft, index: int, event: str, detail: str, **state: Any) -> str:
    d.set_step(index, **state)
    d.log(event, "system", d.step(index).id, detail)
    return _WAIT


def _by(t: datetime | None) -> str:
    return f" by {format_time(t)}" if t else ""


def _enter_notify(d: Draft, i: int, step: Step) -> str:
    d.effects.append(Notify(d.run.id, step.id, step.role, f"{step.label}: {d.reason()}"))
    return _done(d, i, True, "notified", step.role)


def _enter_record(d: Draft, i: int, step: Step) -> str:
    d.effects.append(RecordIncident(d.run.id, step.id, d.facts.incident_id, step.role))
    return _done(d, i, True, "recorded", step.role)


def _enter_acknowledge(d: Draft, i: int, step: Step) -> str:
    deadline = d.deadline(step)
    d.effects.append(Notify(d.run.id, step.id, step.role,
                            f"{step.label}: acknowledge{_by(deadline)}", deadline))
    return _wait(d, i, "awaiting-ack", step.role + _by(deadline), deadline=deadline,
                 timer_at=deadline)


def _enter_escalate(d: Draft, i: int, step: Step) -> str:
    to = d.ctx.tier_targets(step.tier, d.facts)
    deadline = d.deadline(step)
    if not to or deadline is None:
        return _done(d, i, False, "no-recipients", f"tier {step.tier}")
    rid = f"{d.run.id}.{step.id}"
    d.effects.append(SendEscalation(d.run.id, step.id, rid, d.facts.incident_id,
                                    d.facts.revision, step.tier, to, deadline, step.acks,
                                    d.reason()))
    d.tier = max(d.tier, step.tier)
    return _wait(d, i, "escalated", f"tier {step.tier} to {', '.join(to)}; ack{_by(deadline)}",
                 deadline=deadline, timer_at=deadline, request_id=rid, tier=step.tier,
                 targets=to)


def _enter_request_action(d: Draft, i: int, step: Step) -> str:
    to = d.ctx.tier_targets(step.tier, d.facts)
    deadline = d.deadline(step)
    if not to:
        return _done(d, i, deadline is None, "no-recipients", f"tier {step.tier}")
    rid = f"{d.run.id}.{step.id}"
    d.effects.append(RequestAction(d.run.id, step.id, rid, d.facts.incident_id,
                                   d.facts.revision, step.tier, to, step.request,
                                   d.facts.deployments, deadline, d.reason()))
    detail = f"{step.request} to {', '.join(to)}"
    if deadline is None:
        d.set_step(i, request_id=rid, tier=step.tier, targets=to)
        return _done(d, i, True, "action-requested", detail)
    return _wait(d, i, "action-requested", detail + "; ack" + _by(deadline), deadline=deadline,
                 timer_at=deadline, request_id=rid, tier=step.tier, targets=to)


def _enter_quorum(d: Draft, i: int, step: Step) -> str:
    members = d.ctx.quorum_members()
    deadline = d.deadline(step)
    if not members or deadline is None:
        return _done(d, i, False, "no-members")
    k = d.ctx.threshold(step.threshold, len(members))
    eid = f"{d.run.id}.{step.id}"
    d.effects.append(ProposeEmergency(d.run.id, step.id, eid, d.facts.incident_id, k, members,
                                      deadline))
    d.emergency_id, d.emergency_state = eid, "pending"
    return _wait(d, i, "emergency-proposed", f"{k} of {len(members)} members{_by(deadline)}",
                 deadline=deadline, timer_at=deadline, request_id=eid, targets=members,
                 threshold=k)


def _enter_publish(d: Draft, i: int, step: Step) -> str:
    to = d.ctx.tier_targets(step.tier, d.facts)
    d.effects.append(PublishAdvisory(d.run.id, step.id, d.facts.incident_id, "advisory",
                                     step.tier, to, step.tlp or DEFAULT_ADVISORY_TLP, step.label))
    return _done(d, i, True, "advisory-published", f"tier {step.tier}")


def _enter_periodic(d: Draft, i: int, step: Step) -> str:
    """status-report (publish every interval) and report (remind every interval until filed)."""
    deadline = d.deadline(step)
    if step.action == "report":
        d.effects.append(Notify(d.run.id, step.id, step.role,
                                f"{step.label}: due{_by(deadline)}", deadline))
    first = d.now + d.ctx.scaled(step.every) if step.every else deadline
    timer = min(t for t in (first, deadline) if t is not None) if first or deadline else None
    event = "reporting" if step.action == "status-report" else "report-due"
    return _wait(d, i, event, (step.role or f"tier {step.tier}") + _by(deadline),
                 deadline=deadline, timer_at=timer)


def _enter_watch(d: Draft, i: int, step: Step) -> str:
    deadline = d.deadline(step)
    until = f"until {format_time(deadline)}" if deadline else ""
    return _wait(d, i, "watching", until, deadline=deadline,
                 timer_at=deadline)


def _enter_close(d: Draft, i: int, step: Step) -> str:
    _done(d, i, True, "closing")
    return _CLOSE


_ENTER = {
    "notify": _enter_notify, "record": _enter_record, "acknowledge": _enter_acknowledge,
    "escalate": _enter_escalate, "request-action": _enter_request_action,
    "quorum": _enter_quorum, "publish-advisory": _enter_publish,
    "status-report": _enter_periodic, "report": _enter_periodic, "watch": _enter_watch,
    "close": _enter_close,
}
