"""The playbook run state machine: pure transitions that take ``now`` and return effects.

    ctx = RunContext(local_id="gb", members=("gb", "fr", "de"))
    t = start_run(playbook, incident_doc, now=now, ctx=ctx)
    store(t.run); execute(t.effects)        # e.g. SendEscalation, ArmTimer(token=1)
    t = on_deadline(t.run, token=1, now=later, ctx=ctx)   # the timer fired: next tier
    t = on_ack(t.run, escalation_id=..., by="fr", now=later, ctx=ctx)

Every input is a function ``(run, ..., now, ctx) -> Transition``. A transition that moves the
run raises its ``token`` and re-arms the current step's timer with the new token, so a timer
firing that carries an older token is stale. Inputs that arrive too late (an ack for a step the
deadline already moved past), twice, or from someone not asked are recorded in the history and
change nothing else. So an acknowledgement and a deadline racing each other resolve one way —
whichever transition the node applies first — and the loser is a recorded no-op. The node must
apply transitions to one run one at a time (a row lock or compare-and-swap on ``token``).

Steps move forward only (``federation.playbook``). A revision that raises severity or adds a red
line may jump a run forward (``on_upgrade``); a downgrade never restarts or de-escalates. A
resolution closes the run and tells everyone it escalated to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from federation.effects import EndEmergency, Notify
from federation.playbook import Playbook
from federation.run_model import (
    CANCELLED,
    CLOSED,
    DUPLICATE,
    IGNORED,
    LATE,
    REFUSED,
    RUNNING,
    STALE,
    WAITING,
    PlaybookRun,
    RunContext,
    RunError,
    StepState,
    Transition,
)
from federation.run_steps import Draft, advance, close_run, complete_step, tick
from federation.triggers import IncidentFacts, is_upgrade

__all__ = [
    "PlaybookRun", "RunContext", "Transition", "on_ack", "on_deadline", "on_declaration",
    "on_decline", "on_incident_revised", "on_resolved", "playbooks_to_start", "run_id_for",
    "start_run",
]

_PEER_ACKED = ("escalate", "request-action")
_LOCAL_ACKED = ("acknowledge", "report", "watch")


def run_id_for(local_id: str, playbook_id: str, incident_id: str) -> str:
    """The run id of ``playbook_id`` for ``incident_id`` at node ``local_id``.

    Deterministic, so a duplicate start (a redelivered incident, a restart mid-way) names the
    same run and the node's insert is idempotent: one run per node, playbook and incident.
    """
    h = hashlib.sha256(f"{playbook_id}\n{incident_id}".encode()).hexdigest()[:16]
    return f"{local_id}-{h}"


def start_run(playbook: Playbook, incident_doc: Mapping[str, Any], *, now: datetime,
              ctx: RunContext, by: str = "system") -> Transition:
    """Start ``playbook`` for an incident (or emergency) document and run it to its first wait.

    Args:
        playbook: a playbook whose trigger matched (``federation.playbook.match``).
        incident_doc: the schema-valid document that matched.
        now: the current time.
        ctx: this node's id, the members and the time scale.
        by: who started it (``system`` for automatic matches).

    Returns:
        The new run (token 1) and the effects of every step up to the first that waits.
    """
    facts = IncidentFacts.from_document(incident_doc)
    run = PlaybookRun(
        id=run_id_for(ctx.local_id, playbook.id, facts.incident_id), node=ctx.local_id,
        playbook=playbook, facts=facts, state=RUNNING, step_index=0, tier=0, token=0,
        steps=tuple(StepState(s.id, s.action) for s in playbook.steps), history=(),
        started_at=now)
    d = Draft(run, now, ctx)
    d.log("started", by, detail=f"playbook {playbook.id} v{playbook.version} for "
          f"{facts.kind} {facts.incident_id} revision {facts.revision}")
    advance(d, 0)
    return d.finish()


def on_deadline(run: PlaybookRun, *, token: int, now: datetime, ctx: RunContext) -> Transition:
    """A timer fired. Stale (older token, closed run) or early firings change nothing.

    Args:
        run: the run as stored.
        token: the token the timer was armed with (``ArmTimer.token``).
        now: the current time.
        ctx: this node's context.

    Returns:
        A transition: the step failed (missed deadline → ``on_failure``), completed (a watch or
        a reporting period ended), or published its next periodic report; or a recorded no-op
        with outcome ``stale``.
    """
    current = run.current
    if current is None or token != run.token or current.timer_at is None:
        return _noop(run, now, ctx, "timer-stale", "scheduler", STALE,
                     f"token {token}, run at token {run.token} ({run.state})")
    if now < current.timer_at:
        return _noop(run, now, ctx, "timer-early", "scheduler", STALE,
                     f"due {current.timer_at.isoformat()}")
    d = Draft(run, now, ctx)
    if not tick(d):
        step = run.playbook.steps[run.step_index]
        ok = step.action in ("status-report", "watch")
        if step.action == "watch" and step.role:
            d.effects.append(Notify(run.id, step.id, step.role, f"{step.label}: review due"))
        if step.action == "report":  # a missed regulatory clock always reaches a person
            d.effects.append(Notify(run.id, step.id, step.role, f"{step.label}: overdue"))
        complete_step(d, ok=ok, event="deadline-reached" if ok else "deadline-missed",
                      by="scheduler")
    return d.finish()


def on_ack(run: PlaybookRun, *, by: str, now: datetime, ctx: RunContext,
           escalation_id: str | None = None) -> Transition:
    """An acknowledgement: of an escalation by a recipient, or of a local step by this node.

    Args:
        run: the run as stored.
        by: the acknowledging member (peer acks) or local user/role (local steps).
        now: the current time.
        ctx: this node's context.
        escalation_id: the escalation acknowledged; None for a local step (acknowledge,
            report filed, watch reviewed).

    Returns:
        A transition; ``late`` if the step is no longer current (its deadline won the race),
        ``refused`` from someone not asked, ``duplicate`` for a second ack by the same member.
    """
    current, step = run.current, run.current_step
    if current is None or step is None or current.status != WAITING:
        return _noop(run, now, ctx, "ack-late", by, LATE, escalation_id or "")
    if step.action in _LOCAL_ACKED and escalation_id is None:
        d = Draft(run, now, ctx)
        complete_step(d, ok=True, event="acknowledged", by=by)
        return d.finish()
    if step.action not in _PEER_ACKED or escalation_id != current.request_id:
        return _noop(run, now, ctx, "ack-late", by, LATE, escalation_id or "local ack")
    if by not in current.targets:
        return _noop(run, now, ctx, "ack-refused", by, REFUSED, f"{by} was not asked")
    if by in current.acked_by:
        return _noop(run, now, ctx, "ack-duplicate", by, DUPLICATE, escalation_id)
    d = Draft(run, now, ctx)
    acked = (*current.acked_by, by)
    d.set_step(run.step_index, acked_by=acked)
    if step.acks == "any" or set(acked) >= set(current.targets):
        complete_step(d, ok=True, event="acknowledged", by=by)
    else:
        d.log("acknowledged", by, step.id, f"{len(acked)} of {len(current.targets)}")
    return d.finish()


def on_decline(run: PlaybookRun, *, ref_id: str, by: str, now: datetime, ctx: RunContext,
               reason: str = "") -> Transition:
    """A recipient declines an escalation, or a member declines to co-sign an emergency.

    When the ack policy (``any``: every recipient declined; ``all``: one did) or the quorum can
    no longer be met, the step fails at once instead of waiting for its deadline.

    Args:
        run: the run as stored.
        ref_id: the escalation id or emergency id declined.
        by: the declining member.
        now: the current time.
        ctx: this node's context.
        reason: the decline's reason, for the history.

    Returns:
        A transition, or a recorded no-op (``late``, ``refused``, ``duplicate``).
    """
    current, step = run.current, run.current_step
    if (current is None or step is None or current.status != WAITING
            or step.action not in (*_PEER_ACKED, "quorum") or ref_id != current.request_id):
        return _noop(run, now, ctx, "decline-late", by, LATE, ref_id)
    if by not in current.targets:
        return _noop(run, now, ctx, "decline-refused", by, REFUSED, f"{by} was not asked")
    if by in current.declined_by or by in current.declarations:
        return _noop(run, now, ctx, "decline-duplicate", by, DUPLICATE, ref_id)
    d = Draft(run, now, ctx)
    declined = (*current.declined_by, by)
    d.set_step(run.step_index, declined_by=declined)
    d.log("declined", by, step.id, reason)
    n = len(current.targets)
    if step.action == "quorum":
        impossible = n - len(declined) < current.threshold
    else:
        impossible = len(declined) == n if step.acks == "any" else True
    if impossible:
        complete_step(d, ok=False, event="declined", by=by)
    return d.finish()


def on_declaration(run: PlaybookRun, *, emergency_id: str, by: str, now: datetime,
                   ctx: RunContext) -> Transition:
    """A member's signed declaration toward the current quorum; each member counts once.

    Args:
        run: the run as stored.
        emergency_id: the emergency the declaration names.
        by: the declaring member (the declaration's verified origin).
        now: the current time.
        ctx: this node's context.

    Returns:
        A transition (on reaching k of n: ``DeclareEmergency`` and the next step), or a recorded
        no-op: ``refused`` from a non-member, ``duplicate`` for a member already counted,
        ``late`` if no quorum for that emergency is open.
    """
    current, step = run.current, run.current_step
    if (current is None or step is None or step.action != "quorum"
            or current.status != WAITING or emergency_id != current.request_id):
        return _noop(run, now, ctx, "declaration-late", by, LATE, emergency_id)
    if by not in current.targets:
        return _noop(run, now, ctx, "declaration-refused", by, REFUSED,
                     f"{by} is not among the {len(current.targets)} members who may declare")
    if by in current.declarations:
        return _noop(run, now, ctx, "declaration-duplicate", by, DUPLICATE, emergency_id)
    d = Draft(run, now, ctx)
    declared = (*current.declarations, by)
    d.set_step(run.step_index, declarations=declared,
               declined_by=tuple(m for m in current.declined_by if m != by))
    d.log("declaration", by, step.id, f"{len(declared)} of {current.threshold} needed "
          f"({len(current.targets)} members)")
    if len(declared) >= current.threshold:
        complete_step(d, ok=True, event="quorum-reached", by=by)
    return d.finish()


def on_incident_revised(run: PlaybookRun, incident_doc: Mapping[str, Any], *, now: datetime,
                        ctx: RunContext) -> Transition:
    """A new revision of the run's incident arrived.

    An upgrade (higher severity or a new red line) jumps the run forward to the ``goto`` of the
    first ``on_upgrade`` rule that holds, if that step lies ahead; a downgrade, or an upgrade with
    no rule ahead, only updates the facts and is recorded (outcome ``ignored``). A ``resolved``
    revision closes the run. Older or repeated revisions are ``stale``.

    Raises:
        RunError: the document is about another incident.
    """
    facts = IncidentFacts.from_document(incident_doc)
    if facts.incident_id != run.incident_id:
        raise RunError(f"revision of {facts.incident_id} given to run {run.id} of "
                       f"{run.incident_id}")
    if facts.revision <= run.facts.revision:
        return _noop(run, now, ctx, "revision-stale", facts.origin, STALE,
                     f"revision {facts.revision}, run has {run.facts.revision}")
    if facts.status == "resolved":
        return on_resolved(run, now=now, ctx=ctx, by=facts.origin, facts=facts)
    if run.state == CLOSED:
        return _noop(run, now, ctx, "revision-late", facts.origin, LATE, "run closed")
    d = Draft(run, now, ctx)
    d.facts = facts
    old, new = run.facts.severity, facts.severity
    change = f"revision {facts.revision}: {old.value if old else '-'} → {new.value if new else '-'}"
    if not is_upgrade(run.facts, facts):
        d.log("revised", facts.origin, detail=f"{change}; no change (not an upgrade)")
        return d.finish(IGNORED, bump=False)
    added = sorted(facts.red_lines - run.facts.red_lines)
    d.log("upgraded", facts.origin,
          detail=change + (f"; new red lines: {', '.join(added)}" if added else ""))
    rule = next((r for r in run.playbook.on_upgrade if r.when.holds(facts)), None)
    target = run.playbook.index_of(rule.goto) if rule else -1
    if target <= run.step_index:
        return d.finish(IGNORED, bump=False)
    complete_step(d, ok=False, event="superseded", by=facts.origin, status=CANCELLED,
                  target=target)
    return d.finish()


def on_resolved(run: PlaybookRun, *, now: datetime, ctx: RunContext, by: str = "system",
                facts: IncidentFacts | None = None) -> Transition:
    """The incident was resolved (or the emergency ended): close the run.

    Cancels the current step's timer, tells everyone the run escalated to (``SendResolution``)
    and ends an emergency it declared. A run already closed only ends its still-active
    emergency; otherwise it is a recorded no-op.
    """
    if run.state == CLOSED:
        if run.emergency_state != "active":
            return _noop(run, now, ctx, "resolved-late", by, LATE, "run already closed")
        d = Draft(run, now, ctx)
        d.emergency_state = "none"
        d.effects.append(EndEmergency(run.id, run.emergency_id, run.incident_id, "resolved"))
        d.log("emergency-ended", by, detail="incident resolved")
        return d.finish()
    d = Draft(run, now, ctx)
    if facts is not None:
        d.facts = facts
    close_run(d, "resolved", by)
    return d.finish()


def playbooks_to_start(playbooks: Iterable[Playbook], previous: Mapping[str, Any] | None,
                       revision: Mapping[str, Any], *, existing: Iterable[str], local_id: str,
                       is_local: bool) -> list[Playbook]:
    """Playbooks to start for a new revision: all that match a first revision, and on a later
    revision only if it is an upgrade (a downgrade starts nothing) and no run of that playbook
    exists for the incident yet (``existing``: playbook ids that already ran or run).
    """
    new = IncidentFacts.from_document(revision)
    if previous is not None and not is_upgrade(IncidentFacts.from_document(previous), new):
        return []
    done = set(existing)
    return [p for p in playbooks if p.id not in done
            and p.trigger.matches(new, local_id=local_id, is_local=is_local)]


def _noop(run: PlaybookRun, now: datetime, ctx: RunContext, event: str, by: str, outcome: str,
          detail: str) -> Transition:
    """Record an input that changes nothing: same state, same token, so armed timers stay valid."""
    d = Draft(run, now, ctx)
    d.log(event, by, run.current_step.id if run.current_step else "", detail)
    return d.finish(outcome, bump=False)

