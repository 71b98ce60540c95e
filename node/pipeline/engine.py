"""Playbook runs at this node: match what arrives, apply run transitions, execute their effects.

    inside the transaction that stores a message (ingest.project):
    engine.on_message(ctx, tx, "incident", doc, digest, local=True)

Every reaction happens in the transaction that stored its cause: a run started by an incident,
the escalation it signs, the timer deadline it records — all commit together or not at all.
Timers are the one thing outside the database: after the commit, ``ctx.dirty_runs`` tells the
scheduler which runs to follow (``node.pipeline.timers``), and on start-up it re-arms all of them.
A run
may wait on several steps at once (parallel branches), each with its own deadline; the store
keeps the whole run (``runs.document``) and its earliest pending timer (``runs.timer_at``,
``PlaybookRun.next_timer_at``) with its ``token``, which is all the scheduler arms.

The state machine itself is pure (``federation.runs``); this module only loads and saves runs and
turns effects into signed messages and local records. Messages carry stable ids, so executing an
effect twice is harmless. Every message body comes from a builder in ``federation.run_messages``;
when one refuses (the incident is not held here, the emergency was never recorded), that effect
is skipped and the operator told — a placeholder is never signed.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, assert_never

from federation import runs
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
from federation.errors import Error, MessageError
from federation.messages import Draft
from federation.run_messages import (
    ActionRequest,
    DeclarationRef,
    IncidentRef,
    PlaybookRef,
    Threshold,
    build_advisory,
    build_emergency,
    build_escalation,
    build_resolution,
)
from federation.run_model import PlaybookRun, Transition
from federation.step_messages import step_updates
from federation.timeutil import format_time, parse_time
from federation.triggers import IncidentFacts
from node.core.errors import Conflict, NotFound
from node.pipeline.context import NodeContext
from node.store import runs as stored

log = logging.getLogger("beacon.runs")


# -- persistence ------------------------------------------------------------------------------
def load_run(tx: sqlite3.Connection, run_id: str) -> PlaybookRun | None:
    text = stored.run_document(tx, run_id)
    return None if text is None else PlaybookRun.from_dict(json.loads(text))


def save_run(ctx: NodeContext, tx: sqlite3.Connection, run: PlaybookRun,
             expected_token: int | None, *, at: str | None = None) -> None:
    """Insert or update ``run``; an update must start from ``expected_token`` (compare-and-swap),
    so two transitions can never both apply to the same state. ``at``: ``ctx.stamp()`` if the
    caller has it already."""
    nxt = run.next_timer_at
    row = stored.RunRow(run.id, run.incident_id, run.playbook_id, run.state, run.token,
                        format_time(nxt) if nxt else None, run.to_json(), at or ctx.stamp())
    if expected_token is None:
        stored.insert_run(tx, row)
    elif not stored.update_run(tx, row, expected_token=expected_token):
        raise Error(f"run {run.id} changed under a transition (token {expected_token})")
    ctx.dirty_runs.add(run.id)


def apply(ctx: NodeContext, tx: sqlite3.Connection, before: PlaybookRun | None,
          t: Transition, *, now: datetime | None = None) -> list[Draft]:
    """Save the transition's run and carry out its effects inside ``tx``; return the messages
    they cause (the pipeline signs and stores them in the same transaction). ``now``: the
    instant the transition was computed at, if the caller has it (a clock read fewer; the
    clock was ≈ 1.3 % of the store step when read twice more per started run)."""
    now = ctx.now() if now is None else now
    at = ctx.stamp(now)  # one local time for the run's row and the notifications it records
    save_run(ctx, tx, t.run, None if before is None else before.token, at=at)
    drafts: list[Draft] = []
    skipped = set()
    for effect in t.effects:
        try:
            drafts += _execute(ctx, tx, t.run, effect, at)
        except MessageError as e:
            _refused(ctx, tx, t.run, effect, e)
            skipped.add(str(effect.to_dict().get("step_id", "")))
    # The owner's word on its run: signed, logged, and sent to the peers it asked; not for a
    # step whose message could not be built. Kept here (signed, logged) when no peer was ever
    # asked: a note may be for this node only.
    shared = any(st.targets for st in t.run.steps)
    return drafts + [Draft(m.to_dict(), publish=shared)
                     for m in step_updates(before, t.run, origin=ctx.node_id, now=now)
                     if m.step_id not in skipped]


def _refused(ctx: NodeContext, tx: sqlite3.Connection, run: PlaybookRun, effect: AnyEffect,
             error: MessageError) -> None:
    """A message the run asked for cannot be built truthfully (e.g. the incident is not held
    here, so there is no digest to sign): skip that one effect, keep the run, and tell the
    operator, who can obtain what is missing. Never sign a placeholder."""
    log.warning("run %s: %s skipped: %s", run.id, effect.kind, error,
                extra={"run_id": run.id, "incident_id": run.incident_id})
    step = str(effect.to_dict().get("step_id", ""))
    _notify(ctx, tx, run, step, "operator", "message-refused", f"{effect.kind}: {error}", None)


# -- reacting to messages ---------------------------------------------------------------------
def on_message(ctx: NodeContext, tx: sqlite3.Connection, message_type: str,
               doc: dict[str, Any], digest: str, *, local: bool,
               previous: Mapping[str, Any] | None = None) -> list[Draft]:
    """React to one newly stored message; return the messages the reaction causes."""
    handler = _HANDLERS.get(message_type)
    if handler is None:
        return []
    return handler(ctx, tx, doc, digest, local, previous)


def _on_incident(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
                 local: bool, previous: Mapping[str, Any] | None) -> list[Draft]:
    run_ids = stored.runs_of_incident(tx, doc["id"])
    existing = [load_run(tx, run_id) for run_id in run_ids]
    live = [r for r in existing if r is not None]
    if previous is not None and int(previous.get("revision", 0)) >= int(doc["revision"]):
        return []  # an older revision arriving late changes nothing
    drafts: list[Draft] = []
    now, rc = ctx.now(), ctx.run_context()
    for run in live:
        if doc.get("status") == "resolved":
            drafts += apply(ctx, tx, run, runs.on_resolved(run, now=now, ctx=rc,
                                                           by=doc["origin"]), now=now)
        elif run.state == "running":
            drafts += apply(ctx, tx, run, runs.on_incident_revised(run, doc, now=now, ctx=rc),
                            now=now)
    if doc.get("status") == "resolved":
        return drafts
    return drafts + _start_matching(ctx, tx, doc, previous, [r.playbook_id for r in live],
                                    set(run_ids), now=now, rc=rc)


def _start_matching(ctx: NodeContext, tx: sqlite3.Connection, doc: Mapping[str, Any],
                    previous: Mapping[str, Any] | None, existing: list[str],
                    run_ids: set[str], *, now: datetime, rc: runs.RunContext) -> list[Draft]:
    """Start the playbooks ``doc`` triggers. ``existing``: the playbooks that run (or ran) for
    its incident here; ``run_ids``: the ids of all its runs here (``runs_of_incident``: a
    run's ``incident_id`` is the one its id is derived from, so no lookup per run)."""
    facts = IncidentFacts.from_document(doc)
    drafts: list[Draft] = []
    for playbook in runs.playbooks_to_start(ctx.playbooks, previous, doc, existing=existing,
                                            local_id=ctx.node_id, facts=facts,
                                            is_local=doc["origin"] == ctx.node_id):
        run_id = runs.run_id_for(ctx.node_id, playbook.id, facts.incident_id)
        if run_id in run_ids:
            continue  # started before (a redelivery): one run per playbook and incident
        t = runs.start_run(playbook, doc, now=now, ctx=rc, facts=facts, run_id=run_id)
        drafts += apply(ctx, tx, None, t, now=now)
        # The run's history says "started" (the audit trail); the log has one line per batch
        # (node.pipeline.flow.accept): a line per run was a twelfth of a draining node's CPU.
        log.debug("started playbook %s for %s", playbook.id, t.run.incident_id,
                  extra={"run_id": t.run.id, "incident_id": t.run.incident_id})
    return drafts


def _run_of(tx: sqlite3.Connection, ref_id: str) -> PlaybookRun | None:
    """The local run an escalation or emergency id (``<run id>.<step id>``) belongs to."""
    return load_run(tx, ref_id.split(".", 1)[0])


def _on_escalation(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
                   local: bool, previous: Mapping[str, Any] | None) -> list[Draft]:
    if ctx.node_id not in doc["to"]:
        return []
    stored.record_escalation(tx, doc, at=ctx.stamp())
    return []


def _answer(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
            status: str) -> list[Draft]:
    """Record an ack or decline: in the answering node's inbox, and in the asking run."""
    ref = doc.get("escalation_id") or doc.get("emergency_id") or ""
    if doc["origin"] == ctx.node_id:
        stored.answer_escalation(tx, ref, status=status, at=ctx.stamp(),
                                 by=doc.get("responder") or doc["origin"], digest=digest)
    run = _run_of(tx, ref)
    if run is None:
        return []
    now, rc = ctx.now(), ctx.run_context()
    if status == "acked":
        t = runs.on_ack(run, by=doc["origin"], now=now, ctx=rc, escalation_id=ref)
    else:
        t = runs.on_decline(run, ref_id=ref, by=doc["origin"], now=now, ctx=rc,
                            reason=doc.get("reason", ""))
    return apply(ctx, tx, run, t)


def _on_ack(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
            local: bool, previous: Mapping[str, Any] | None) -> list[Draft]:
    return _answer(ctx, tx, doc, digest, "acked")


def _on_decline(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
                local: bool, previous: Mapping[str, Any] | None) -> list[Draft]:
    return _answer(ctx, tx, doc, digest, "declined")


def _on_declaration(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
                    local: bool, previous: Mapping[str, Any] | None) -> list[Draft]:
    stored.record_declaration(tx, doc, digest)
    run = _run_of(tx, doc["emergency_id"])
    if run is None:
        return []
    return apply(ctx, tx, run, runs.on_declaration(run, emergency_id=doc["emergency_id"],
                                                   by=doc["origin"], now=ctx.now(),
                                                   ctx=ctx.run_context()))


def _on_emergency(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
                  local: bool, previous: Mapping[str, Any] | None) -> list[Draft]:
    stored.upsert_emergency(tx, doc, at=ctx.stamp())
    existing = stored.runs_of_incident(tx, doc["incident_id"])
    return _start_matching(ctx, tx, doc, None, list(existing.values()), set(existing),
                           now=ctx.now(), rc=ctx.run_context())


def _on_resolution(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
                   local: bool, previous: Mapping[str, Any] | None) -> list[Draft]:
    stored.close_escalations(tx, doc["incident_id"])
    return []


def _on_step(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
             local: bool, previous: Mapping[str, Any] | None) -> list[Draft]:
    """The owner says a step of its run moved on: close this node's inbox item if another
    recipient's answer ended it (one truth across nodes)."""
    if not local and doc.get("escalation_id") and doc["status"] == "succeeded":
        stored.answer_escalation(tx, doc["escalation_id"], status="answered", at=ctx.stamp(),
                                 by=doc["by"], digest=digest)
    return []


def _on_advisory(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
                 local: bool, previous: Mapping[str, Any] | None) -> list[Draft]:
    stored.record_advisory(tx, doc, at=ctx.stamp())
    return []


_HANDLERS = {
    "incident": _on_incident, "escalation": _on_escalation, "ack": _on_ack,
    "decline": _on_decline, "declaration": _on_declaration, "emergency": _on_emergency,
    "resolution": _on_resolution, "advisory": _on_advisory, "step": _on_step,
}


# -- commands from people ----------------------------------------------------------------------
# The API calls these inside ``ctx.transaction()`` and issues the drafts they return with
# ``flow.issue(ctx, drafts, tx=tx)``, so the run, its effects and its messages commit together.

def complete_step(ctx: NodeContext, tx: sqlite3.Connection, run_id: str, step_id: str, *,
                  by: str, note: str = "", evidence: Iterable[Mapping[str, str]] = (),
                  ) -> tuple[Transition, list[Draft]]:
    """A person completes a step of a local run (``federation.runs.complete_step``).

    Returns:
        The transition (``outcome``: applied, late, refused) and the messages it causes.

    Raises:
        NotFound: no run ``run_id`` here.
        RunError: no such step, or malformed evidence or note (HTTP 400/422).
    """
    run = load_run(tx, run_id)
    if run is None:
        raise NotFound(f"run {run_id}")
    t = runs.complete_step(run, step_id, by=by, note=note, evidence=evidence, now=ctx.now(),
                           ctx=ctx.run_context())
    return t, apply(ctx, tx, run, t)


def start_by_hand(ctx: NodeContext, tx: sqlite3.Connection, incident_id: str,
                  playbook_id: str, *, by: str) -> tuple[Transition, list[Draft]]:
    """A person starts a chosen playbook on an incident this node holds, its own or a peer's,
    whatever the playbook's trigger says.

    Raises:
        NotFound: no incident ``incident_id`` here.
        RunError: no playbook ``playbook_id`` (the message lists the known ones).
        Conflict: that playbook already runs (or ran) for the incident.
    """
    held = stored.held_incident(tx, incident_id)
    if held is None:
        raise NotFound(f"incident {incident_id}")
    playbook = runs.find_playbook(ctx.playbooks, playbook_id)
    t = runs.start_run(playbook, held.document, now=ctx.now(),
                       ctx=ctx.run_context(), by=by)
    if stored.run_exists(tx, t.run.id):
        raise Conflict(f"playbook {playbook_id} already runs (or ran) for {incident_id}: "
                       f"run {t.run.id}")
    return t, apply(ctx, tx, None, t)


# -- timers -----------------------------------------------------------------------------------
def on_deadline(ctx: NodeContext, tx: sqlite3.Connection, run_id: str,
                token: int) -> tuple[str, list[Draft]]:
    """A timer fired: apply it (or record it as stale); return the outcome and what it causes."""
    run = load_run(tx, run_id)
    if run is None:
        return "missing", []
    t = runs.on_deadline(run, token=token, now=ctx.now(), ctx=ctx.run_context())
    return t.outcome, apply(ctx, tx, run, t)


# -- effects ----------------------------------------------------------------------------------
def _incident_ref(tx: sqlite3.Connection, incident_id: str) -> IncidentRef | None:
    """The signed incident this node holds, or None: a message about it must not be built."""
    held = stored.held_incident(tx, incident_id)
    if held is None:
        return None
    doc = held.document
    return IncidentRef(incident_id, held.digest, doc.get("severity"),
                       tuple(doc.get("red_lines", ())))


def _qualifier(to: tuple[str, ...], tier: int) -> str:
    # beacon.v1.escalation.<origin>.<recipient> when there is one recipient (DESIGN §4);
    # one message to a whole tier otherwise, so that every recipient sees the same id.
    return to[0] if len(to) == 1 else f"tier{tier}"


def _escalation(ctx: NodeContext, tx: sqlite3.Connection, run: PlaybookRun,
                e: SendEscalation | RequestAction) -> list[Draft]:
    if not e.to:
        return []  # nobody in this tier (e.g. no affected peer): nothing to send
    acks, request = ((e.acks, None) if isinstance(e, SendEscalation)
                     else (None, ActionRequest(e.action, e.deployments)))
    # A request-action step may set no deadline; the message needs one: a day, as policy.
    deadline = e.deadline or ctx.now() + timedelta(days=1) * ctx.config.time_scale
    esc = build_escalation(
        origin=ctx.node_id, issued_at=ctx.now(), escalation_id=e.escalation_id,
        incident_id=e.incident_id, incident=_incident_ref(tx, e.incident_id), run_id=run.id,
        playbook=PlaybookRef(run.playbook_id, run.playbook_version), tier=e.tier, to=e.to,
        deadline=deadline, reason=e.reason or run.playbook.title,
        incident_revision=e.incident_revision, step_id=e.step_id, acks=acks, request=request)
    return [Draft(esc.to_dict(), qualifier=_qualifier(e.to, e.tier))]


def _notify(ctx: NodeContext, tx: sqlite3.Connection, run: PlaybookRun, step_id: str,
            role: str, kind: str, message: str, due: datetime | None,
            at: str | None = None) -> None:
    stored.add_notification(tx, run_id=run.id, step_id=step_id, role=role or "operator",
                            kind=kind, message=message, due=format_time(due) if due else None,
                            at=at or ctx.stamp())


def _execute(ctx: NodeContext, tx: sqlite3.Connection, run: PlaybookRun,
             effect: AnyEffect, at: str) -> list[Draft]:
    """Carry out one effect; return the messages it causes.

    Exhaustive over ``AnyEffect``: an effect type without a branch here reaches
    ``assert_never`` with a type that is not ``Never``, and ``make lint`` (mypy) fails.

    Raises:
        MessageError: a builder refused the message (``apply`` records and skips it).
    """
    match effect:
        case SendEscalation() | RequestAction():
            return _escalation(ctx, tx, run, effect)
        case Notify():
            _notify(ctx, tx, run, effect.step_id, effect.role, effect.kind, effect.message,
                    effect.due, at)
        case RecordIncident():
            _notify(ctx, tx, run, effect.step_id, effect.role, effect.kind,
                    f"recorded {effect.incident_id}", None, at)
        case ProposeEmergency() | DeclareEmergency() | EndEmergency():
            return _emergency(ctx, tx, run, effect)
        case PublishAdvisory():
            adv = build_advisory(
                origin=ctx.node_id, issued_at=ctx.now(), run_id=run.id, step_id=effect.step_id,
                sequence=effect.sequence, incident_id=effect.incident_id, report=effect.report,
                tier=effect.tier, to=effect.to, tlp=effect.tlp or "AMBER",
                title=effect.title or run.playbook.title)
            return [Draft(adv.to_dict())]
        case SendResolution():
            res = build_resolution(
                origin=ctx.node_id, issued_at=ctx.now(), incident_id=effect.incident_id,
                run_id=run.id, outcome=effect.outcome, escalation_ids=effect.escalation_ids,
                to=effect.to)
            return [Draft(res.to_dict())]
        case ArmTimer() | CancelTimer():
            ctx.dirty_runs.add(run.id)
        case _:
            assert_never(effect)
    return []


def _declaration_refs(tx: sqlite3.Connection, e: DeclareEmergency) -> tuple[DeclarationRef, ...]:
    """The declarations that met the quorum, with digest and time where this node holds them."""
    rows = stored.declarations_of(tx, e.emergency_id)
    return tuple(DeclarationRef(m, rows[m].digest, parse_time(rows[m].issued_at))
                 if m in rows else DeclarationRef(m) for m in e.declarations)


def _recorded_quorum(tx: sqlite3.Connection,
                     emergency_id: str) -> tuple[Threshold | None, tuple[str, ...]]:
    """The threshold and members of an emergency this node recorded; (None, ()) if never."""
    old = stored.emergency_document(tx, emergency_id)
    if old is None:
        return None, ()
    return Threshold(old["threshold"]["k"], old["threshold"]["n"]), tuple(old.get("members", ()))


def _emergency(ctx: NodeContext, tx: sqlite3.Connection, run: PlaybookRun,
               e: ProposeEmergency | DeclareEmergency | EndEmergency) -> list[Draft]:
    deadline = declared_at = None
    declarations: tuple[DeclarationRef, ...] = ()
    threshold: Threshold | None
    summary = ""
    match e:
        case ProposeEmergency():
            state, threshold, members = "pending", Threshold(e.threshold, len(e.members)), e.members
            deadline = e.deadline
        case DeclareEmergency():
            state, threshold, members = "active", Threshold(e.threshold, len(e.members)), e.members
            declarations, declared_at = _declaration_refs(tx, e), ctx.now()
        case EndEmergency():
            state, summary = "none", e.reason
            threshold, members = _recorded_quorum(tx, e.emergency_id)
    em = build_emergency(
        origin=ctx.node_id, issued_at=ctx.now(), emergency_id=e.emergency_id,
        incident_id=run.incident_id, incident=_incident_ref(tx, run.incident_id), run_id=run.id,
        state=state, threshold=threshold, members=members, deadline=deadline,
        declarations=declarations, declared_at=declared_at, summary=summary)
    return [Draft(em.to_dict())]
