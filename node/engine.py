"""Playbook runs at this node: match what arrives, apply run transitions, execute their effects.

    inside the transaction that stores a message (ingest.project):
    engine.on_message(ctx, tx, "incident", doc, digest, local=True)

Every reaction happens in the transaction that stored its cause: a run started by an incident,
the escalation it signs, the timer deadline it records — all commit together or not at all.
Timers are the one thing outside the database: after the commit, ``ctx.dirty_runs`` tells the
scheduler which runs to follow (``node.timers``), and on start-up it re-arms all of them. A run
may wait on several steps at once (parallel branches), each with its own deadline; the store
keeps the whole run (``runs.document``) and its earliest pending timer (``runs.timer_at``,
``PlaybookRun.next_timer_at``) with its ``token``, which is all the scheduler arms.

The state machine itself is pure (``federation.runs``); this module only loads and saves runs and
turns effects into signed messages and local records. Messages carry stable ids, so executing an
effect twice is harmless.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from federation import runs
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
from federation.errors import Error
from federation.messages import Draft
from federation.run_model import PlaybookRun, Transition
from federation.timeutil import format_time
from node.context import NodeContext
from node.errors import Conflict, NotFound

log = logging.getLogger("beacon.runs")


# -- persistence ------------------------------------------------------------------------------
def load_run(tx: sqlite3.Connection, run_id: str) -> PlaybookRun | None:
    row = tx.execute("SELECT document FROM runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else PlaybookRun.from_dict(json.loads(row["document"]))


def save_run(ctx: NodeContext, tx: sqlite3.Connection, run: PlaybookRun,
             expected_token: int | None) -> None:
    """Insert or update ``run``; an update must start from ``expected_token`` (compare-and-swap),
    so two transitions can never both apply to the same state."""
    nxt = run.next_timer_at
    timer_at = format_time(nxt) if nxt else None
    values = (run.incident_id, run.playbook_id, run.state, run.token, timer_at,
              json.dumps(run.to_dict()), ctx.stamp(), run.id)
    if expected_token is None:
        tx.execute("INSERT INTO runs(incident_id, playbook_id, state, token, timer_at, document, "
                   "updated_at, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", values)
    else:
        cur = tx.execute("UPDATE runs SET incident_id=?, playbook_id=?, state=?, token=?, "
                         "timer_at=?, document=?, updated_at=? WHERE id=? AND token=?",
                         (*values, expected_token))
        if cur.rowcount != 1:
            raise Error(f"run {run.id} changed under a transition (token {expected_token})")
    ctx.dirty_runs.add(run.id)


def apply(ctx: NodeContext, tx: sqlite3.Connection, before: PlaybookRun | None,
          t: Transition) -> list[Draft]:
    """Save the transition's run and carry out its effects inside ``tx``; return the messages
    they cause (the pipeline signs and stores them in the same transaction)."""
    save_run(ctx, tx, t.run, None if before is None else before.token)
    drafts: list[Draft] = []
    for effect in t.effects:
        drafts += _execute(ctx, tx, t.run, effect)
    return drafts


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
    now, rc = ctx.now(), ctx.run_context()
    existing = [load_run(tx, r["id"]) for r in tx.execute(
        "SELECT id FROM runs WHERE incident_id = ?", (doc["id"],))]
    live = [r for r in existing if r is not None]
    if previous is not None and int(previous.get("revision", 0)) >= int(doc["revision"]):
        return []  # an older revision arriving late changes nothing
    drafts: list[Draft] = []
    for run in live:
        if doc.get("status") == "resolved":
            drafts += apply(ctx, tx, run, runs.on_resolved(run, now=now, ctx=rc,
                                                           by=doc["origin"]))
        elif run.state == "running":
            drafts += apply(ctx, tx, run, runs.on_incident_revised(run, doc, now=now, ctx=rc))
    if doc.get("status") == "resolved":
        return drafts
    return drafts + _start_matching(ctx, tx, doc, previous, [r.playbook_id for r in live])


def _start_matching(ctx: NodeContext, tx: sqlite3.Connection, doc: Mapping[str, Any],
                    previous: Mapping[str, Any] | None, existing: list[str]) -> list[Draft]:
    now, rc = ctx.now(), ctx.run_context()
    drafts: list[Draft] = []
    for playbook in runs.playbooks_to_start(ctx.playbooks, previous, doc, existing=existing,
                                            local_id=ctx.node_id,
                                            is_local=doc["origin"] == ctx.node_id):
        t = runs.start_run(playbook, doc, now=now, ctx=rc)
        if load_run(tx, t.run.id) is not None:
            continue  # started before (a redelivery): one run per playbook and incident
        drafts += apply(ctx, tx, None, t)
        log.info("started playbook %s for %s", playbook.id, t.run.incident_id,
                 extra={"run_id": t.run.id, "incident_id": t.run.incident_id})
    return drafts


def _run_of(tx: sqlite3.Connection, ref_id: str) -> PlaybookRun | None:
    """The local run an escalation or emergency id (``<run id>.<step id>``) belongs to."""
    return load_run(tx, ref_id.split(".", 1)[0])


def _on_escalation(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
                   local: bool, previous: Mapping[str, Any] | None) -> list[Draft]:
    if ctx.node_id not in doc["to"]:
        return []
    tx.execute("INSERT INTO escalations(id, origin, incident_id, run_id, tier, deadline, status, "
               "document, received_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?) "
               "ON CONFLICT(id) DO NOTHING",
               (doc["id"], doc["origin"], doc["incident_id"], doc["run_id"], doc["tier"],
                doc["deadline"], json.dumps(doc), ctx.stamp()))
    return []


def _answer(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
            status: str) -> list[Draft]:
    """Record an ack or decline: in the answering node's inbox, and in the asking run."""
    ref = doc.get("escalation_id") or doc.get("emergency_id") or ""
    if doc["origin"] == ctx.node_id:
        tx.execute("UPDATE escalations SET status = ?, answered_at = ?, answered_by = ?, "
                   "answer_digest = ? WHERE id = ? AND status = 'open'",
                   (status, ctx.stamp(), doc.get("responder") or doc["origin"], digest, ref))
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
    tx.execute("INSERT INTO declarations(emergency_id, origin, digest, statement, issued_at) "
               "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
               (doc["emergency_id"], doc["origin"], digest, doc["statement"], doc["issued_at"]))
    run = _run_of(tx, doc["emergency_id"])
    if run is None:
        return []
    return apply(ctx, tx, run, runs.on_declaration(run, emergency_id=doc["emergency_id"],
                                                   by=doc["origin"], now=ctx.now(),
                                                   ctx=ctx.run_context()))


def _on_emergency(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
                  local: bool, previous: Mapping[str, Any] | None) -> list[Draft]:
    tx.execute("INSERT INTO emergencies(id, origin, incident_id, run_id, state, document, "
               "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
               "state = excluded.state, document = excluded.document, "
               "updated_at = excluded.updated_at",
               (doc["id"], doc["origin"], doc["incident_id"], doc["run_id"], doc["state"],
                json.dumps(doc), ctx.stamp()))
    existing = [r["playbook_id"] for r in tx.execute(
        "SELECT playbook_id FROM runs WHERE incident_id = ?", (doc["incident_id"],))]
    return _start_matching(ctx, tx, doc, None, existing)


def _on_resolution(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
                   local: bool, previous: Mapping[str, Any] | None) -> list[Draft]:
    tx.execute("UPDATE escalations SET status = 'closed' WHERE incident_id = ? AND "
               "status = 'open'", (doc["incident_id"],))
    return []


def _on_advisory(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
                 local: bool, previous: Mapping[str, Any] | None) -> list[Draft]:
    tx.execute("INSERT INTO advisories(id, origin, incident_id, document, received_at) "
               "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
               (doc["id"], doc["origin"], doc["incident_id"], json.dumps(doc), ctx.stamp()))
    return []


_HANDLERS = {
    "incident": _on_incident, "escalation": _on_escalation, "ack": _on_ack,
    "decline": _on_decline, "declaration": _on_declaration, "emergency": _on_emergency,
    "resolution": _on_resolution, "advisory": _on_advisory,
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
    row = tx.execute("SELECT document FROM incidents WHERE id = ?", (incident_id,)).fetchone()
    if row is None:
        raise NotFound(f"incident {incident_id}")
    playbook = runs.find_playbook(ctx.playbooks, playbook_id)
    t = runs.start_run(playbook, json.loads(row["document"]), now=ctx.now(),
                       ctx=ctx.run_context(), by=by)
    if load_run(tx, t.run.id) is not None:
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
def _incident_digest(tx: sqlite3.Connection, incident_id: str) -> tuple[str, dict[str, Any]]:
    row = tx.execute("SELECT digest, document FROM incidents WHERE id = ?",
                     (incident_id,)).fetchone()
    if row is None:
        return "0" * 64, {}
    return row["digest"], json.loads(row["document"])


def _header(ctx: NodeContext, message_type: str) -> dict[str, Any]:
    return {"type": message_type, "origin": ctx.node_id, "issued_at": ctx.now_text()}


def _qualifier(to: tuple[str, ...], tier: int) -> str:
    # beacon.v1.escalation.<origin>.<recipient> when there is one recipient (DESIGN §4);
    # one message to a whole tier otherwise, so that every recipient sees the same id.
    return to[0] if len(to) == 1 else f"tier{tier}"


def _escalation(ctx: NodeContext, tx: sqlite3.Connection, run: PlaybookRun,
                e: SendEscalation | RequestAction) -> list[Draft]:
    if not e.to:
        return []
    digest, incident = _incident_digest(tx, e.incident_id)
    deadline = e.deadline or ctx.now() + timedelta(days=1) * ctx.config.time_scale
    doc = {**_header(ctx, "escalation"), "id": e.escalation_id, "incident_id": e.incident_id,
           "incident_revision": e.incident_revision, "incident_digest": digest,
           "run_id": run.id, "step_id": e.step_id,
           "playbook": {"id": run.playbook_id, "version": run.playbook_version},
           "tier": e.tier, "to": list(e.to), "deadline": format_time(deadline),
           "reason": e.reason or run.playbook.title}
    if incident.get("severity"):
        doc.update(severity=incident["severity"], red_lines=incident.get("red_lines", []))
    if isinstance(e, SendEscalation):
        doc["acks"] = e.acks
    else:
        doc["request"] = {"action": e.action, "deployments": list(e.deployments)}
    return [Draft(doc, qualifier=_qualifier(e.to, e.tier))]


def _execute(ctx: NodeContext, tx: sqlite3.Connection, run: PlaybookRun,
             e: Effect) -> list[Draft]:
    if isinstance(e, SendEscalation | RequestAction):
        return _escalation(ctx, tx, run, e)
    elif isinstance(e, Notify | RecordIncident):
        message = e.message if isinstance(e, Notify) else f"recorded {e.incident_id}"
        due = format_time(e.due) if isinstance(e, Notify) and e.due else None
        tx.execute("INSERT INTO notifications(run_id, step_id, role, kind, message, due, "
                   "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (run.id, e.step_id, e.role or "operator", e.kind, message, due, ctx.stamp()))
    elif isinstance(e, ProposeEmergency):
        return _emergency(ctx, tx, run, e.emergency_id, "pending", e.threshold, e.members,
                   deadline=format_time(e.deadline))
    elif isinstance(e, DeclareEmergency):
        return _emergency(ctx, tx, run, e.emergency_id, "active", e.threshold, e.members,
                   declarations=e.declarations)
    elif isinstance(e, EndEmergency):
        row = tx.execute("SELECT document FROM emergencies WHERE id = ?",
                         (e.emergency_id,)).fetchone()
        old = json.loads(row["document"]) if row else {"threshold": {"k": 1, "n": 1}}
        return _emergency(ctx, tx, run, e.emergency_id, "none", old["threshold"]["k"],
                   tuple(old.get("members", ())), summary=e.reason)
    elif isinstance(e, PublishAdvisory):
        doc = {**_header(ctx, "advisory"), "id": f"{run.id}.{e.step_id}-{e.sequence}",
               "incident_id": e.incident_id, "run_id": run.id, "report": e.report,
               "sequence": e.sequence, "tier": e.tier, "to": list(e.to), "tlp": e.tlp or "AMBER",
               "title": e.title or run.playbook.title}
        return [Draft(doc)]
    elif isinstance(e, SendResolution):
        doc = {**_header(ctx, "resolution"), "incident_id": e.incident_id, "run_id": run.id,
               "outcome": e.outcome, "escalation_ids": list(e.escalation_ids), "to": list(e.to)}
        return [Draft(doc)]
    elif isinstance(e, ArmTimer | CancelTimer):
        ctx.dirty_runs.add(run.id)
    return []


def _emergency(ctx: NodeContext, tx: sqlite3.Connection, run: PlaybookRun, emergency_id: str,
               state: str, k: int, members: tuple[str, ...], *, deadline: str | None = None,
               declarations: tuple[str, ...] = (), summary: str = "") -> list[Draft]:
    _, incident = _incident_digest(tx, run.incident_id)
    doc: dict[str, Any] = {**_header(ctx, "emergency"), "id": emergency_id,
                           "incident_id": run.incident_id, "run_id": run.id, "state": state,
                           "threshold": {"k": k, "n": max(len(members), k)},
                           "members": list(members)}
    if deadline:
        doc["deadline"] = deadline
    if state == "active":
        rows = {r["origin"]: r for r in tx.execute(
            "SELECT origin, digest, issued_at FROM declarations WHERE emergency_id = ?",
            (emergency_id,))}
        doc["declarations"] = [{"origin": m, **({"digest": rows[m]["digest"],
                                                 "issued_at": rows[m]["issued_at"]}
                                                if m in rows else {})}
                               for m in declarations]
        doc["declared_at"] = ctx.now_text()
    if incident.get("severity"):
        doc.update(severity=incident["severity"], red_lines=incident.get("red_lines", []))
    if summary:
        doc["summary"] = summary[:2000]
    return [Draft(doc)]
