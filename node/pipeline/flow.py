"""The message pipeline: every message a node stores, its own or a peer's, passes through here.

    digests = flow.issue(ctx, [Draft(doc, qualifier="serious-incident")])   # a command
    new = flow.accept(ctx, tx, accepted)       # a verified inbound batch (node.pipeline.ingest)
    outcome = flow.on_deadline(ctx, run_id, token)                 # a timer fired

For each message, in one transaction: store the verbatim envelope, append it to this node's
transparency log, project it (statistics, incidents, inbox) and ask the reactions (playbook runs,
witnessing) what it causes. Reactions *return* drafts; this module signs them and feeds them
through the same steps from a work list, so a filed report, the escalation it starts and the
timer it arms commit together or not at all, and no reaction ever imports the pipeline.
Commands (filing, answering an escalation, a checkpoint, a statistics snapshot) call this
module; nothing here imports a command.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, assert_never

from federation.canonical import digest, encode
from federation.envelope import Envelope, payload_type
from federation.errors import RejectedMessage
from federation.inbound import Verified
from federation.message_types import kind_of
from federation.messages import Draft
from federation.subjects import subject_for
from federation.timeutil import parse_time
from federation.tlp import is_recipient, unseal_incident
from node.pipeline import assurance, deadlines, engine, registry, statistics, witness
from node.pipeline.context import NodeContext
from node.store import records

log = logging.getLogger("beacon.flow")

@dataclass(frozen=True)
class Accepted:
    """An inbound message that passed ``federation.inbound.check_inbound``."""

    verified: Verified
    subject: str
    data: bytes
    received_at: str


# -- commands ----------------------------------------------------------------------------------
def issue(ctx: NodeContext, drafts: Iterable[Draft], *,
          tx: sqlite3.Connection | None = None) -> list[str]:
    """Sign, store, log, project and queue ``drafts`` and everything they cause.

    Pass ``tx`` to issue inside a caller's transaction. An identical message (same body, so
    same digest) is the same message: issuing it again returns its digest and changes nothing.

    Raises:
        SchemaError: a draft breaks its schema (nothing of the transaction is stored).

    Returns:
        The digests of ``drafts``, in order (not of the messages they caused).
    """
    drafts = list(drafts)
    if tx is None:
        with ctx.transaction() as own:
            digests = _drain(ctx, own, drafts)
    else:
        digests = _drain(ctx, tx, drafts)
    if any(d.publish for d in drafts):
        ctx.outbox_wakeup.set()
    return digests


def sign_and_record(ctx: NodeContext, doc: Mapping[str, Any], *, qualifier: str = "",
                    publish: bool = True, tx: sqlite3.Connection | None = None) -> str:
    """``issue`` for one message; returns its digest."""
    return issue(ctx, [Draft(doc, qualifier, publish)], tx=tx)[0]


def on_deadline(ctx: NodeContext, run_id: str, token: int) -> str:
    """A run's timer fired: apply it (or record it as stale) in one transaction."""
    with ctx.transaction() as tx:
        outcome, drafts = engine.on_deadline(ctx, tx, run_id, token)
        _drain(ctx, tx, drafts)
    ctx.outbox_wakeup.set()
    log.info("deadline of run %s (token %d): %s", run_id, token, outcome,
             extra={"run_id": run_id})
    return outcome


# -- inbound -----------------------------------------------------------------------------------
def accept(ctx: NodeContext, tx: sqlite3.Connection, accepted: Iterable[Accepted]) -> int:
    """Store verified inbound messages and everything they cause; return how many were new."""
    new, seen = 0, 0
    runs_before = len(ctx.dirty_runs)
    caused: list[Draft] = []
    for a in accepted:
        seen += 1
        v = a.verified
        if records.insert_envelope(tx, v.digest, v.message_type, v.origin, a.subject,
                                   a.data, a.received_at, local=False):
            caused += _react(ctx, tx, v.message_type, dict(v.document), v.digest,
                             a.received_at, local=False)
            log.debug("stored %s from %s", v.message_type, v.origin,
                      extra={"digest": v.digest, "subject": a.subject})
            new += 1
    if caused:
        _drain(ctx, tx, caused)
        ctx.outbox_wakeup.set()
    if new:  # one line per batch: a line per message or run was a twelfth of the drain's CPU
        log.info("stored %d new of %d inbound messages; %d playbook runs started or moved, "
                 "%d messages signed in reaction", new, seen,
                 len(ctx.dirty_runs) - runs_before, len(caused))
    return new


# -- the work list -----------------------------------------------------------------------------
def _drain(ctx: NodeContext, tx: sqlite3.Connection, drafts: list[Draft]) -> list[str]:
    work = deque(drafts)
    digests: list[str] = []
    while work:
        draft = work.popleft()
        dg, caused = _record_own(ctx, tx, draft)
        if len(digests) < len(drafts):
            digests.append(dg)
        work.extend(caused)
    return digests


def _record_own(ctx: NodeContext, tx: sqlite3.Connection, draft: Draft) -> tuple[str, list[Draft]]:
    message_type = draft.message_type
    doc = dict(draft.doc)
    ctx.schemas.validate(message_type, doc)
    body = encode(doc)
    dg = digest(body)
    subject = subject_for(message_type, ctx.node_id, draft.qualifier)
    at = ctx.stamp()
    data = Envelope.sign(payload_type(message_type), body, [ctx.signing_key]).to_json()
    if not records.insert_envelope(tx, dg, message_type, ctx.node_id, subject, data, at,
                                   local=True):
        return dg, []  # said before, word for word: the same message, already done
    if kind_of(message_type).logged:
        records.append_log_leaf(tx, dg)
    caused = _react(ctx, tx, message_type, doc, dg, at, local=True)
    if draft.publish:
        records.enqueue(tx, dg, subject, data, at)
    log.debug("signed %s", message_type, extra={"digest": dg, "subject": subject})
    return dg, caused


def _react(ctx: NodeContext, tx: sqlite3.Connection, message_type: str, doc: dict[str, Any],
           dg: str, received_at: str, *, local: bool) -> list[Draft]:
    """Project one newly stored message and return what it causes.

    The ``match`` is exhaustive over ``MessageType``: mypy rejects a new type with no branch.
    """
    statistics.on_message(ctx, tx, message_type, doc, dg, received_at)
    name = kind_of(message_type).name
    match name:
        case "incident":
            previous = records.current_incident(tx, doc["id"])
            if not records.upsert_incident(tx, doc, dg, received_at):
                return []  # this revision was stored before
            ctx.emit("incident", {k: doc[k] for k in ("id", "revision", "origin", "severity")})
            return engine.on_message(ctx, tx, name, doc, dg, local=local, previous=previous)
        case "escalation" | "ack" | "decline" | "resolution":
            ctx.emit("escalation", {})  # the inbox may have changed
            return engine.on_message(ctx, tx, name, doc, dg, local=local)
        case "declaration" | "emergency" | "advisory" | "step":
            return engine.on_message(ctx, tx, name, doc, dg, local=local)
        case "checkpoint":
            ctx.emit("checkpoint", {"origin": doc["origin"], "size": doc["size"]})
            return [] if local else witness.on_checkpoint(ctx, tx, doc, dg, received_at)
        case "cosignature":
            ctx.emit("checkpoint", {"origin": str(doc["log_origin"]).removeprefix("beacon/"),
                                    "size": doc["size"], "status": "cosigned"})
            if not local:
                witness.on_cosignature(ctx, tx, doc, received_at)
            return []
        case "sealed":
            return [] if local else _open_sealed(ctx, tx, doc, dg, received_at)
        case "stub" | "stats" | "roster":
            return []  # statistics only (projected above); the roster has its own path
        case "link":
            ctx.emit("incident", {"id": doc["incident_id"], "link": doc["relation"]})
            return []  # projected above (statistics count a same-as cluster once)
        case "model":
            if registry.on_model(tx, doc, dg, received_at):
                ctx.emit("model", {"id": doc["id"], "revision": doc["revision"]})
            return []
        case "evaluation":
            return assurance.on_evaluation(ctx, tx, doc, dg, received_at, local=local)
        case "safety-case-review":
            if registry.on_review(tx, doc, dg):
                ctx.emit("model", {"id": doc["model_id"], "review": doc["verdict"]})
            return []
        case "monitoring":
            return assurance.on_monitoring(ctx, tx, doc, dg, received_at, local=local)
        case "training-run":
            deadlines.on_training_run(ctx, tx, doc, dg, received_at)
            return []
        case _:
            assert_never(name)


def _open_sealed(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], dg: str,
                 received_at: str) -> list[Draft]:
    """Every node stores a sealed message as it arrived; a named recipient also opens it and
    stores the incident inside, verified like any inbound incident."""
    if not is_recipient(doc, ctx.node_id):
        return []
    subject = subject_for("incident", str(doc["origin"]))
    try:
        if ctx.encryption_key is None:
            raise RejectedMessage("sealed-no-key", f"{ctx.node_id} has no encryption key file")
        # The sealed message's issued_at already passed the skew check against server time;
        # the inner report was signed in the same moment.
        inner = unseal_incident(doc, ctx.node_id, ctx.encryption_key, ctx.roster, ctx.schemas,
                                received_at=parse_time(doc["issued_at"]), policy=ctx.policy)
    except RejectedMessage as e:
        records.quarantine(tx, received_at, subject, e.reason, e.detail, json.dumps(doc).encode(),
                           dg)
        ctx.emit("quarantine", {"count": 1})
        ctx.metrics.quarantined.labels(reason=e.reason).inc()
        return []
    data = inner.envelope.to_json()
    if records.insert_envelope(tx, inner.digest, "incident", inner.origin, subject, data,
                               received_at, local=False):
        return _react(ctx, tx, "incident", dict(inner.document), inner.digest, received_at,
                      local=False)
    return []
