"""What entering, ticking, leaving and closing each kind of step does (used by ``runs``).

    d = Draft(run, now, ctx); advance(d, 0); transition = d.finish()

A ``Draft`` (``federation.run_draft``) collects the changes of one transition. Several steps may
wait at once: a ``parallel``
step starts each branch, each branch runs until one of its steps waits, and a branch that
moves past its end "arrives" at the join, which runs once every branch has arrived
(``federation.playbook_graph``). Everything here is internal to ``federation.runs``; the node
calls the transitions there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from federation.effects import (
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
from federation.playbook_graph import Branch
from federation.run_draft import Draft
from federation.run_model import (
    CANCELLED,
    CLOSED,
    FAILED,
    PENDING,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    WAITING,
)
from federation.timeutil import format_time

_OK, _FAIL, _WAIT, _CLOSE = "ok", "fail", "wait", "close"
DEFAULT_ADVISORY_TLP = "AMBER"  # members only, never exported: the safe default for a draft
_LAPSED = {"deadline-missed": "quorum not reached by the deadline",
           "declined": "quorum can no longer be reached"}


def advance(d: Draft, index: int) -> None:
    """Run steps from ``index`` on, in its branch, until one waits, the branch ends or the run
    closes."""
    steps = d.run.playbook.steps
    nxt: int | None = index
    while nxt is not None and d.state == RUNNING:
        index = nxt
        if index >= len(steps):
            close_run(d, "completed", "system")
            return
        if d.steps[index].status != PENDING:
            return  # already entered (a step runs at most once)
        step = steps[index]
        pb = d.run.playbook
        if step.when is not None and not step.when.holds(d.facts):
            d.set_step(index, status=SKIPPED)
            d.log("not-applicable", "system", step.id, "its conditions do not hold")
            nxt = move(d, index, pb.success_target(index))
            continue
        d.set_step(index, status=WAITING, started_at=d.now)
        if step.action == "parallel":
            _fan_out(d, index, step)
            return
        result = _ENTER[step.action](d, index, step)
        if result == _WAIT:
            return
        if result == _CLOSE:
            close_run(d, "completed", "system")
            return
        nxt = move(d, index, pb.success_target(index) if result == _OK
                   else pb.failure_target(index))


def _fan_out(d: Draft, index: int, step: Step) -> None:
    pb = d.run.playbook
    d.set_step(index, branches=step.next_steps)
    d.log("branches-started", "system", step.id, ", ".join(step.next_steps))
    for root in step.next_steps:
        if d.state != RUNNING:
            return
        advance(d, pb.index_of(root))


def move(d: Draft, src: int, target: int) -> int | None:
    """Leave ``src`` for ``target``: the index to enter next, or None when the branch ended at
    a join that still waits for other branches (or the incident is already resolved)."""
    graph = d.run.playbook.graph
    lane = graph.lane(src)
    _skip(d, src, target, lane)
    if lane is None or lane.covers(target):
        return target
    parallel = d.run.playbook.steps[lane.parallel]
    root = d.run.playbook.steps[lane.root].id
    left = tuple(r for r in d.steps[lane.parallel].branches if r != root)
    d.set_step(lane.parallel, branches=left)
    if left or d.steps[lane.parallel].status != WAITING:
        return None
    d.set_step(lane.parallel, status=SUCCEEDED, ended_at=d.now)
    d.log("joined", "system", parallel.id, f"every branch of {parallel.id} ended")
    if d.resolved_at is not None:
        return None  # after resolution only the post-resolution duties run on
    return move(d, lane.parallel, d.run.playbook.success_target(lane.parallel))


def _skip(d: Draft, src: int, target: int, lane: Branch | None) -> None:
    graph = d.run.playbook.graph
    end = min(target, len(d.steps) if lane is None else lane.end)
    for j in range(src + 1, end):
        inner = graph.lane(j)
        passed = inner == lane or (inner is not None
                                   and d.steps[inner.parallel].status in (SKIPPED, CANCELLED))
        if passed and d.steps[j].status == PENDING:
            d.set_step(j, status=SKIPPED)


def end_step(d: Draft, i: int, *, ok: bool, event: str, by: str, status: str | None = None,
             target: int | None = None, detail: str = "") -> None:
    """End waiting step ``i`` and go on in its branch (to ``target`` if given)."""
    step = d.step(i)
    d.set_step(i, status=status or (SUCCEEDED if ok else FAILED), ended_at=d.now, timer_at=None)
    d.log(event, by, step.id, detail)
    if step.action == "quorum":
        st = d.steps[i]
        if ok:
            d.effects.append(DeclareEmergency(d.run.id, st.request_id, d.facts.incident_id,
                                              st.threshold, st.targets, st.declarations))
            d.emergency_state, d.tier = "active", 3
            d.log("emergency-declared", by, step.id,
                  f"{len(st.declarations)} of {len(st.targets)}: {', '.join(st.declarations)}")
        else:
            end_emergency(d, _LAPSED.get(event, event), by)
    if d.state != RUNNING:
        return
    pb = d.run.playbook
    nxt = move(d, i, target if target is not None
               else pb.success_target(i) if ok else pb.failure_target(i))
    if nxt is not None:
        advance(d, nxt)


def tick(d: Draft, i: int) -> bool:
    """A periodic step's timer fired before its period ended: publish or remind, re-arm."""
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


def repeat_due(d: Draft, i: int, *, missed: bool) -> None:
    """A repeating duty (``every``/``until``): the next report is due one period after this
    one's due date, whether it was filed (``missed`` False) or not."""
    clock, st = d.clock_of(i), d.steps[i]
    assert clock is not None and clock.every is not None  # noqa: S101 - callers check
    base = st.deadline or d.now
    nxt = clock.every.add(base, d.ctx.time_scale)
    while nxt <= d.now:
        nxt = clock.every.add(nxt, d.ctx.time_scale)
    d.set_step(i, deadline=nxt, timer_at=nxt, missed=st.missed + int(missed))


def settle(d: Draft) -> None:
    """After the resolution, close the run once its last post-resolution duty is done."""
    if d.state == RUNNING and d.resolved_at and not d.waiting():
        close_run(d, "completed", "system")


def close_run(d: Draft, reason: str, by: str) -> None:
    """Close the run: cancel every wait, skip what is left, resolve its escalations."""
    if d.state == CLOSED:
        return
    for j, st in enumerate(d.steps):
        if st.status == WAITING:
            d.set_step(j, status=CANCELLED, ended_at=d.now, timer_at=None)
        elif st.status == PENDING:
            d.set_step(j, status=SKIPPED)
    if d.run.resolved_at is None:  # a run that outlives its resolution already told everyone
        resolve_requests(d, "resolved" if reason == "resolved" else "completed")
    if d.emergency_state == "pending" or (d.emergency_state == "active" and reason == "resolved"):
        end_emergency(d, reason, by)
    d.state, d.closed_at, d.close_reason = CLOSED, d.now, reason
    d.log("closed", by, detail=reason)


def resolve_requests(d: Draft, outcome: str) -> None:
    """Tell everyone the run escalated to (or asked to act) that it is over."""
    sent = [st for st in d.steps if st.action in ("escalate", "request-action") and st.request_id]
    if sent:
        d.effects.append(SendResolution(
            d.run.id, d.facts.incident_id, outcome, tuple(st.request_id for st in sent),
            tuple(sorted({m for st in sent for m in st.targets}))))


def end_emergency(d: Draft, reason: str, by: str) -> None:
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


def _cites(d: Draft, clock_id: str) -> str:
    clock = d.run.playbook.clocks().get(clock_id)
    return f" ({clock.citation}, {clock.duty}'s duty)" if clock else ""


def _enter_notify(d: Draft, i: int, step: Step) -> str:
    d.effects.append(Notify(d.run.id, step.id, step.role, f"{step.label}: {d.reason()}"))
    return _done(d, i, True, "notified", step.role)


def _enter_record(d: Draft, i: int, step: Step) -> str:
    d.effects.append(RecordIncident(d.run.id, step.id, d.facts.incident_id, step.role))
    return _done(d, i, True, "recorded", step.role)


def _enter_acknowledge(d: Draft, i: int, step: Step) -> str:
    deadline, clock = d.deadline(step)
    d.effects.append(Notify(d.run.id, step.id, step.role,
                            f"{step.label}: acknowledge{_by(deadline)}", deadline))
    return _wait(d, i, "awaiting-ack", step.role + _by(deadline), deadline=deadline,
                 timer_at=deadline, clock_id=clock)


def _enter_escalate(d: Draft, i: int, step: Step) -> str:
    to = d.ctx.tier_targets(step.tier, d.facts)
    deadline, _ = d.deadline(step)
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
    deadline, _ = d.deadline(step)
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
    deadline, _ = d.deadline(step)
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
    deadline, clock = d.deadline(step)
    if step.action == "report":
        when = _by(deadline) if deadline else ": when the incident is resolved"
        d.effects.append(Notify(d.run.id, step.id, step.role,
                                f"{step.label}: due{when}{_cites(d, clock)}", deadline))
    first = d.now + d.ctx.scaled(step.every) if step.every else deadline
    timer = min(t for t in (first, deadline) if t is not None) if first or deadline else None
    event = "reporting" if step.action == "status-report" else "report-due"
    detail = (step.role or f"tier {step.tier}") + (_by(deadline) if deadline
                                                    else " after resolution")
    return _wait(d, i, event, detail + _cites(d, clock), deadline=deadline, timer_at=timer,
                 clock_id=clock)


def _enter_watch(d: Draft, i: int, step: Step) -> str:
    deadline, clock = d.deadline(step)
    until = f"until {format_time(deadline)}" if deadline else ""
    return _wait(d, i, "watching", until, deadline=deadline, timer_at=deadline, clock_id=clock)


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
