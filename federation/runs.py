"""The playbook run state machine: pure transitions that take ``now`` and return effects.

    ctx = RunContext(local_id="gb", members=("gb", "fr", "de"))
    t = start_run(playbook, incident_doc, now=now, ctx=ctx)   # automatic or a manual start
    store(t.run); execute(t.effects)        # e.g. SendEscalation, Notify, ArmTimer per step
    t = on_deadline(t.run, token=t.run.token, now=later, ctx=ctx)   # the wake-up fired
    t = on_ack(t.run, escalation_id=..., by="fr", now=later, ctx=ctx)
    t = complete_step(t.run, "art73-report", by="alice", note="filed via portal",
                      evidence=[{"url": "https://…", "sha256": "…"}], now=later, ctx=ctx)

**Interface for the node.** Every input is a function ``(run, ..., now, ctx) -> Transition``;
``Transition.outcome`` is ``applied`` or a recorded no-op (``stale``, ``late``, ``duplicate``,
``refused``, ``ignored``) whose history entry says why.

* ``start_run(playbook, doc, now=, ctx=, by=)`` starts any playbook on any incident document
  (the automatic start passes a matching one; a manual start passes the one a person chose,
  ``by`` = the person). ``run_id_for`` names the run, so starting twice names the same run.
* ``complete_step(run, step_id, by=, note=, evidence=, now=, ctx=)``: a person completes an
  ``acknowledge``, ``report`` or ``watch`` step. A report records who filed it, when, the note
  and the evidence (``[{"url", "sha256"}]``) and stops its clock; a repeating report (``every``
  ... ``until: resolved``) stays open, its next report due one period later.
* ``on_ack``/``on_decline``/``on_declaration``: a peer's signed answer to an escalation, request
  or emergency, found by its id among the waiting steps.
* ``on_deadline(run, token=, now=, ctx=, step_id=None)``: a timer fired.
* ``on_incident_revised``/``on_resolved``: a new revision, or the resolution.
* ``run_model.run_view(run)`` / ``step_view``: each step's state, deadline, clock id and the
  regime citation (``clock.citation``, ``quote``, ``duty``), and who filed what, when.

**What the node stores and arms.** It stores ``run.to_json()`` and, in ``runs.timer_at``, the
earliest pending timer ``run.next_timer_at`` with ``run.token``, and wakes each run at that time
(``node.pipeline.timers``: a heap of wake-ups under one scheduler job), which calls
``on_deadline(run, token=<token>)`` without a step id: every step whose timer is due then fires, in
deadline order; an older token is stale. Every applied transition raises the token, so after each
commit the node re-arms from the store. (A node may instead arm one job per step from
``run.timers()`` / the ``ArmTimer`` effects, ``job_id`` = ``run:<run id>:step:<step id>``, and pass
``step_id``; a step's firing is then valid while its ``timer_token`` matches.) Transitions of one
run must be applied one at a time (compare-and-swap on ``token``).

Several steps wait at once (parallel branches, ``federation.playbook_graph``): escalation and
each regulatory clock run side by side from the start. Inputs that arrive too late, twice, or
from someone not asked are recorded and change nothing else, so an acknowledgement and a
deadline racing each other resolve one way. Steps move forward only; a revision that raises the
severity or adds a red line may jump a branch forward (``on_upgrade``); a downgrade never
restarts or de-escalates. A resolution ends every wait, except duties the law anchors on the
resolution (GPAI Code final report, 60 days after it) or ends with it (intermediate reports):
the run stays open for those and closes when they are done.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from federation.effects import EndEmergency, Notify
from federation.playbook import Playbook
from federation.run_draft import Draft, noop
from federation.run_inputs import complete_step, on_ack, on_declaration, on_decline
from federation.run_model import (
    CANCELLED,
    CLOSED,
    IGNORED,
    LATE,
    RUNNING,
    STALE,
    WAITING,
    PlaybookRun,
    RunContext,
    RunError,
    StepState,
    Transition,
    encode_once,
)
from federation.run_steps import (
    advance,
    close_run,
    end_emergency,
    end_step,
    repeat_due,
    resolve_requests,
    settle,
    tick,
)
from federation.severity import Severity
from federation.triggers import Conditions, IncidentFacts, is_upgrade

__all__ = [
    "PlaybookRun", "RunContext", "Transition", "complete_step", "on_ack", "on_deadline",
    "on_declaration", "on_decline", "on_incident_revised", "on_resolved", "playbooks_to_start",
    "find_playbook", "run_id_for", "start_run",
]


def run_id_for(local_id: str, playbook_id: str, incident_id: str) -> str:
    """The run id of ``playbook_id`` for ``incident_id`` at node ``local_id``.

    Deterministic, so a duplicate start (a redelivered incident, a restart mid-way, a manual
    start of a playbook that already runs) names the same run and the node's insert is
    idempotent: one run per node, playbook and incident.
    """
    h = hashlib.sha256(f"{playbook_id}\n{incident_id}".encode()).hexdigest()[:16]
    return f"{local_id}-{h}"


def start_run(playbook: Playbook, incident_doc: Mapping[str, Any], *, now: datetime,
              ctx: RunContext, by: str = "system", facts: IncidentFacts | None = None,
              run_id: str | None = None) -> Transition:
    """Start ``playbook`` for an incident (or emergency) document and run every branch to its
    first wait.

    Args:
        playbook: a playbook whose trigger matched (``federation.playbook.match``), or, for a
            manual start, any playbook a person chose.
        incident_doc: the schema-valid document, this node's own or a peer's.
        now: the current time.
        ctx: this node's id, the members and the time scale.
        by: who started it (``system`` for automatic matches, else the person).
        facts: ``IncidentFacts.from_document(incident_doc)`` if the caller has it already.
        run_id: ``run_id_for(ctx.local_id, playbook.id, facts.incident_id)`` if the caller has
            it already (the node computes it to skip a redelivery; a sha-256 per run).

    Returns:
        The new run (token 1) and the effects of every step up to the first waits.
    """
    facts = facts or IncidentFacts.from_document(incident_doc)
    run = PlaybookRun(
        id=run_id or run_id_for(ctx.local_id, playbook.id, facts.incident_id),
        node=ctx.local_id,
        playbook=playbook, facts=facts, state=RUNNING, tier=0, token=0,
        steps=_pristine_steps(playbook), history=(),
        started_at=now)
    d = Draft(run, now, ctx)
    how = "" if by == "system" else " (started by hand)"
    d.log("started", by, detail=f"playbook {playbook.id} v{playbook.version} for "
          f"{facts.kind} {facts.incident_id} revision {facts.revision}{how}")
    advance(d, 0)
    return d.finish()


_PRISTINE: dict[int, tuple[Playbook, tuple[StepState, ...]]] = {}


def _pristine_steps(playbook: Playbook) -> tuple[StepState, ...]:
    """Every step of ``playbook`` not yet started. Step states are frozen, so all runs of a
    playbook share these (a transition replaces them); building 24-field frozen dataclasses
    for every run was a fifth of starting one."""
    hit = _PRISTINE.get(id(playbook))
    if hit is not None and hit[0] is playbook:
        return hit[1]
    if len(_PRISTINE) > 256:  # tests load many playbooks; a node a handful
        _PRISTINE.clear()
    steps = tuple(StepState(s.id, s.action) for s in playbook.steps)
    encode_once(steps)  # most steps of a fresh run are these, stored unchanged
    _PRISTINE[id(playbook)] = (playbook, steps)  # holds the playbook: its id stays its own
    return steps


def on_deadline(run: PlaybookRun, *, token: int, now: datetime, ctx: RunContext,
                step_id: str | None = None) -> Transition:
    """A timer fired: the run's wake-up (no ``step_id``: every due step fires) or one step's.

    Args:
        run: the run as stored.
        token: the token the timer was armed with (``run.token`` for the wake-up,
            ``ArmTimer.token`` for a step's timer).
        now: the current time.
        ctx: this node's context.
        step_id: the step whose own timer fired, if the node arms one per step.

    Returns:
        A transition: steps failed (missed deadline → ``on_failure``), completed (a watch or a
        reporting period ended), published their next periodic report, or — for a repeating
        duty — were marked missed and moved to the next period; or a recorded no-op with
        outcome ``stale`` (an older token, a closed run, nothing due yet).
    """
    if step_id is None:
        valid = run.state == RUNNING and token == run.token
        due = [i for i in run.active if (t := run.steps[i].timer_at) is not None and t <= now]
    else:
        st = run.step_state(step_id)
        i = run.playbook.index_of(step_id)
        valid = run.state == RUNNING and st.status == WAITING and token == st.timer_token
        due = [i] if st.timer_at is not None and st.timer_at <= now else []
    if not valid:
        return noop(run, now, ctx, "timer-stale", "scheduler", STALE,
                    f"token {token}, run at token {run.token} ({run.state})", step_id or "")
    if not due:
        nxt = run.next_timer_at
        return noop(run, now, ctx, "timer-early", "scheduler", STALE,
                    f"due {nxt.isoformat() if nxt else 'never'}", step_id or "")
    d = Draft(run, now, ctx)
    for i in sorted(due, key=lambda j: (run.steps[j].timer_at, j)):
        if d.state == RUNNING and d.steps[i].status == WAITING:
            _fire(d, i)
    settle(d)
    return d.finish()


def _fire(d: Draft, i: int) -> None:
    step = d.step(i)
    if tick(d, i):
        return
    clock = d.clock_of(i)
    if step.action == "report":  # a missed regulatory clock always reaches a person
        cite = f" ({clock.citation})" if clock else ""
        d.effects.append(Notify(d.run.id, step.id, step.role, f"{step.label}: overdue{cite}"))
    if clock is not None and clock.every is not None and clock.until:
        d.log("deadline-missed", "scheduler", step.id, f"report #{d.steps[i].reports + 1}")
        repeat_due(d, i, missed=True)  # the duty goes on until its end anchor
        return
    ok = step.action in ("status-report", "watch")
    if step.action == "watch" and step.role:
        d.effects.append(Notify(d.run.id, step.id, step.role, f"{step.label}: review due"))
    end_step(d, i, ok=ok, event="deadline-reached" if ok else "deadline-missed",
             by="scheduler")


def on_incident_revised(run: PlaybookRun, incident_doc: Mapping[str, Any], *, now: datetime,
                        ctx: RunContext) -> Transition:
    """A new revision of the run's incident arrived.

    An upgrade (higher severity or a new red line) jumps forward to the ``goto`` of the first
    ``on_upgrade`` rule that holds: the steps waiting before it in its branch are superseded. A
    downgrade, or an upgrade with nothing waiting before the ``goto``, only updates the facts and
    is recorded (outcome ``ignored``). A ``resolved`` revision goes to ``on_resolved``. Older or
    repeated revisions are ``stale``.

    Raises:
        RunError: the document is about another incident.
    """
    facts = IncidentFacts.from_document(incident_doc)
    if facts.incident_id != run.incident_id:
        raise RunError(f"revision of {facts.incident_id} given to run {run.id} of "
                       f"{run.incident_id}")
    if facts.revision <= run.facts.revision:
        return noop(run, now, ctx, "revision-stale", facts.origin, STALE,
                    f"revision {facts.revision}, run has {run.facts.revision}")
    if facts.status == "resolved":
        return on_resolved(run, now=now, ctx=ctx, by=facts.origin, facts=facts)
    if run.state == CLOSED:
        return noop(run, now, ctx, "revision-late", facts.origin, LATE, "run closed")
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
    superseded = _superseded(run, run.playbook.index_of(rule.goto)) if rule else []
    if not superseded:
        return d.finish(IGNORED, bump=False)
    target = run.playbook.index_of(rule.goto) if rule else 0
    *others, last = superseded
    for i in others:  # e.g. a parallel step's branches, ended before the jump
        d.set_step(i, status=CANCELLED, ended_at=now, timer_at=None)
        d.log("superseded", facts.origin, run.steps[i].step_id)
    if run.steps[last].action == "quorum":
        end_emergency(d, "superseded", facts.origin)
    end_step(d, last, ok=False, event="superseded", by=facts.origin, status=CANCELLED,
             target=target)
    return d.finish()


def _superseded(run: PlaybookRun, target: int) -> list[int]:
    """The waiting steps an upgrade to ``target`` ends: those before it in its lane, and
    everything inside a waiting parallel step there; the step to leave from comes last."""
    graph = run.playbook.graph
    lane = graph.lane(target)
    here = [i for i in run.active if i < target and graph.lane(i) == lane]
    if not here:
        return []
    leave = max(here)
    inner = [j for i in here if run.steps[i].action == "parallel"
             for j in graph.inside(i) if run.steps[j].status == WAITING]
    return sorted(set(here + inner) - {leave}) + [leave]


def on_resolved(run: PlaybookRun, *, now: datetime, ctx: RunContext, by: str = "system",
                facts: IncidentFacts | None = None) -> Transition:
    """The incident was resolved (or the emergency ended).

    Ends every waiting step and tells everyone the run escalated to (``SendResolution``),
    ends an emergency it declared — except the duties anchored on the resolution: a repeating
    report that runs ``until: resolved`` succeeds and its branch goes on to, e.g., the final
    report due 60 days later, which keeps the run open until it is filed or missed. A run
    already closed only ends its still-active emergency; otherwise it is a recorded no-op.
    """
    if run.state == CLOSED or run.resolved_at is not None:
        if run.state != CLOSED or run.emergency_state != "active":
            return noop(run, now, ctx, "resolved-late", by, LATE, "already resolved")
        d = Draft(run, now, ctx)
        d.emergency_state = "none"
        d.effects.append(EndEmergency(run.id, run.emergency_id, run.incident_id, "resolved"))
        d.log("emergency-ended", by, detail="incident resolved")
        return d.finish()
    d = Draft(run, now, ctx)
    if facts is not None:
        d.facts = facts
    d.resolved_at = now
    for i in d.waiting():
        clock = d.clock_of(i)
        if clock is not None and clock.until == "resolved":
            end_step(d, i, ok=True, event="ended-by-resolution", by=by)
        elif clock is not None and clock.anchor == "resolved" and d.steps[i].deadline is None:
            due = clock.due(now, ctx.time_scale)
            d.set_step(i, deadline=due, timer_at=due)
            d.log("clock-started", by, d.steps[i].step_id, f"due {due.isoformat()}")
    after = [i for i in d.waiting() if (c := d.clock_of(i)) is not None and c.anchor == "resolved"]
    if not after:
        d.resolved_at = None  # close as an ordinary resolution (and tell everyone there)
        close_run(d, "resolved", by)
        d.resolved_at = now
        return d.finish()
    for i in d.waiting():
        if i not in after:
            d.set_step(i, status=CANCELLED, ended_at=now, timer_at=None)
    resolve_requests(d, "resolved")
    end_emergency(d, "resolved", by)
    d.log("resolved", by, detail="open until: " + ", ".join(d.steps[i].step_id for i in after))
    return d.finish()


def playbooks_to_start(playbooks: Iterable[Playbook], previous: Mapping[str, Any] | None,
                       revision: Mapping[str, Any], *, existing: Iterable[str], local_id: str,
                       is_local: bool, facts: IncidentFacts | None = None) -> list[Playbook]:
    """Playbooks to start for a new revision: all that match a first revision, and on a later
    revision only if it is an upgrade (a downgrade starts nothing) and no run of that playbook
    exists for the incident yet (``existing``: playbook ids that already ran or run).

    ``facts``: ``IncidentFacts.from_document(revision)`` if the caller has it already.
    """
    new = facts or IncidentFacts.from_document(revision)
    if previous is not None and not is_upgrade(IncidentFacts.from_document(previous), new):
        return []
    done = set(existing)
    return [p for p in PlaybookIndex.of(playbooks).candidates(new, is_local=is_local)
            if p.id not in done and p.trigger.matches(new, local_id=local_id, is_local=is_local)]


class PlaybookIndex:
    """The playbooks a revision can start, looked up by its kind, severity and whether it is
    this node's own instead of asking every trigger: built once per set of loaded playbooks
    (``of`` keeps the last few).

    Only the trigger's top-level event, severity and scope are indexed; ``Trigger.matches``
    still decides, so the index can only skip playbooks that could not match (a peer's report
    skips every ``scope: own`` playbook: most of the shipped ones).
    """

    _built: ClassVar[dict[tuple[int, ...], tuple[tuple[Playbook, ...], PlaybookIndex]]] = {}

    def __init__(self, playbooks: Sequence[Playbook]) -> None:
        self._by: dict[tuple[str, Severity | None, bool], tuple[Playbook, ...]] = {}
        for kind in {p.trigger.event for p in playbooks}:
            for severity in (None, *Severity):
                for is_local in (False, True):
                    self._by[(kind, severity, is_local)] = tuple(
                        p for p in playbooks if p.trigger.event == kind
                        and _severity_may_hold(p.trigger.conditions, severity)
                        and _scope_may_hold(p.trigger.scope, is_local))

    def candidates(self, facts: IncidentFacts, *, is_local: bool) -> tuple[Playbook, ...]:
        return self._by.get((facts.kind, facts.severity, is_local), ())

    @classmethod
    def of(cls, playbooks: Iterable[Playbook]) -> PlaybookIndex:
        """The index of ``playbooks`` (built on first use; a node loads its playbooks once)."""
        items = tuple(playbooks)
        key = tuple(id(p) for p in items)
        hit = cls._built.get(key)
        if hit is not None and all(a is b for a, b in zip(hit[0], items, strict=True)):
            return hit[1]
        if len(cls._built) > 8:  # tests load many sets; a node one
            cls._built.clear()
        index = cls(items)
        cls._built[key] = (items, index)  # holds the playbooks: their ids stay theirs
        return index


def _scope_may_hold(scope: str, is_local: bool) -> bool:
    """``Trigger.matches``'s scope test, less the receiving node (``affected`` needs a peer's
    report that names this node)."""
    if scope == "own":
        return is_local
    if scope in ("peer", "affected"):
        return not is_local
    return True  # "any" (and a scope Trigger.matches refuses: it still decides)


def _severity_may_hold(c: Conditions, severity: Severity | None) -> bool:
    """``Conditions._severity_holds`` for a revision of ``severity``, whatever else it says."""
    if c.severity_at_least is None and c.severity_exactly is None:
        return True
    if severity is None:
        return False
    if c.severity_exactly is not None and severity != c.severity_exactly:
        return False
    return c.severity_at_least is None or severity >= c.severity_at_least


def find_playbook(playbooks: Sequence[Playbook], playbook_id: str) -> Playbook:
    """The playbook ``playbook_id`` (for a manual start).

    Raises:
        RunError: no such playbook; the message lists the known ones.
    """
    for p in playbooks:
        if p.id == playbook_id:
            return p
    raise RunError(f"no playbook {playbook_id!r} (known: "
                   f"{', '.join(sorted(p.id for p in playbooks)) or 'none loaded'})")

