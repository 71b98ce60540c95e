"""Witnessing peers' logs: verify each checkpoint against the last one seen, cosign it, and turn
an inconsistency into a signed verification-failure incident.

    drafts = on_checkpoint(ctx, tx, doc, digest, received_at)   # node.pipeline.flow signs them

A peer's checkpoint message carries its C2SP note and an RFC 9162 consistency proof from the
peer's previous checkpoint. This node accepts it when the note verifies with the peer's roster key
and the proof links it to the last checkpoint this node saw from that peer (the first one is
trusted on first sight). Then it cosigns (C2SP tlog-cosignature) and publishes the cosignature.
Two checkpoints of one origin that cannot both be true — the same size with different roots, a
``previous`` root that differs from the one seen, or a consistency proof that fails — are proof of
equivocation: the evidence is stored and an incident is filed, which every node then receives.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping
from typing import Any

from federation.checkpoint import Checkpoint, NoteError, cosign, open_note
from federation.errors import Error, SignatureError
from federation.keys import PublicKey
from federation.log_messages import (
    CheckpointMessage,
    Cosignature,
    Equivocation,
    build_cosignature,
    equivocation_incident,
    log_name,
)
from federation.merkle import ProofError, verify_consistency
from federation.messages import Draft
from federation.timeutil import format_instant
from node.pipeline.context import NodeContext
from node.store import witness as checkpoints

log = logging.getLogger("beacon.witness")


def _log_keys(ctx: NodeContext, origin: str, name: str) -> list[tuple[str, PublicKey]]:
    member = ctx.roster.member(origin)
    if member is None or member.log_origin != name:
        return []
    return [(name, k) for k in ctx.roster.signing_keys(origin, ctx.now())]


def on_checkpoint(ctx: NodeContext, tx: sqlite3.Connection, doc: Mapping[str, Any], digest: str,
                  received_at: str) -> list[Draft]:
    """Witness a peer's checkpoint; return the cosignature, or the equivocation incident."""
    msg = CheckpointMessage.from_dict(doc)
    origin = msg.origin
    try:
        cp = open_note(msg.note, _log_keys(ctx, origin, msg.log_origin)).checkpoint
        if cp.size != msg.size or cp.root_hash != msg.root or cp.origin != msg.log_origin:
            raise NoteError("the note does not match the message's size, root or log origin")
    except (NoteError, SignatureError) as e:
        _record(tx, msg, digest, received_at, "unverified", f"note rejected: {e}")
        log.warning("checkpoint of %s rejected: %s", origin, e, extra={"digest": digest})
        return []
    same = checkpoints.checkpoint_at(tx, origin, cp.size)
    if same is not None:
        if bytes(same["root"]) != cp.root_hash:
            return _equivocation(ctx, tx, origin, cp.size, same["note"], msg.note,
                                 "two checkpoints of the same size with different roots")
        return []
    status, detail = _check_history(tx, msg, cp)
    if status == "inconsistent":
        last = checkpoints.last_accepted_checkpoint(tx, origin)
        return _equivocation(ctx, tx, origin, cp.size, last["note"] if last else "",
                             msg.note, detail)
    _record(tx, msg, digest, received_at, status, detail)
    if status in ("consistent", "first-seen"):
        return [_cosignature(ctx, tx, cp, origin)]
    return []


def _check_history(tx: sqlite3.Connection, msg: CheckpointMessage,
                   cp: Checkpoint) -> tuple[str, str]:
    last = checkpoints.last_accepted_checkpoint(tx, msg.origin)
    if last is None:
        return "first-seen", "trusted on first sight"
    if last["size"] > cp.size:
        return "unverified", f"older than the checkpoint of size {last['size']} already seen"
    previous = msg.previous
    if previous is None or previous.size != last["size"]:
        return "unverified", (f"its proof starts at size {previous and previous.size}, "
                              f"not at {last['size']}, the last size seen")
    if previous.root != bytes(last["root"]):
        return "inconsistent", f"claims a different root for size {last['size']}"
    try:
        verify_consistency(last["size"], cp.size, bytes(last["root"]), cp.root_hash,
                           list(msg.consistency))
    except ProofError as e:
        return "inconsistent", f"consistency proof from size {last['size']} fails: {e}"
    return "consistent", f"consistent with size {last['size']}"


def _record(tx: sqlite3.Connection, msg: CheckpointMessage, digest: str, at: str, status: str,
            detail: str) -> None:
    checkpoints.record_checkpoint(tx, msg.origin, msg.size, msg.root, msg.note, digest,
                                  format_instant(msg.issued_at), at, status, detail)


def _cosignature(ctx: NodeContext, tx: sqlite3.Connection, cp: Checkpoint, origin: str) -> Draft:
    sig = cosign(cp, log_name(ctx.node_id), ctx.signing_key, int(ctx.now().timestamp()))
    msg = build_cosignature(origin=ctx.node_id, issued_at=ctx.now(), checkpoint=cp,
                            line=sig.line())
    checkpoints.record_cosignature(tx, origin, cp.size, ctx.node_id, msg.line, ctx.stamp())
    return Draft(msg.to_dict())


def on_cosignature(ctx: NodeContext, tx: sqlite3.Connection, doc: Mapping[str, Any],
                   received_at: str) -> None:
    """Keep a peer's cosignature if it verifies against a checkpoint this node holds."""
    msg = Cosignature.from_dict(doc)
    witness, name = msg.origin, msg.log_origin
    log_owner = name.removeprefix("beacon/")
    note = checkpoints.accepted_note(tx, log_owner, msg.size, msg.root)
    if note is None:
        return  # a checkpoint this node never accepted: nothing to attach it to
    witness_keys = [(f"beacon/{witness}", k) for k in ctx.roster.signing_keys(witness, ctx.now())]
    try:
        opened = open_note(f"{note}{msg.line.strip()}\n", _log_keys(ctx, log_owner, name),
                           witness_keys, now=int(ctx.now().timestamp()) + 300)
    except Error as e:
        log.warning("cosignature by %s on %s size %s rejected: %s", witness, name, msg.size, e)
        return
    if f"beacon/{witness}" in opened.cosigned_by:
        checkpoints.record_cosignature(tx, log_owner, msg.size, witness, msg.line, received_at)


def _equivocation(ctx: NodeContext, tx: sqlite3.Connection, origin: str, size: int,
                  note_a: str, note_b: str, why: str) -> list[Draft]:
    """Store the evidence and file a signed verification-failure incident (once per origin
    and size at this node)."""
    if checkpoints.equivocation_known(tx, origin, size):
        return []
    evidence = Equivocation(origin, size, why, note_a, note_b)
    incident = equivocation_incident(evidence, witness=ctx.node_id, issued_at=ctx.now())
    checkpoints.record_equivocation(tx, origin, size, json.dumps(evidence.to_dict()),
                                    ctx.stamp(), incident.id)
    log.error("equivocation by %s at size %d: %s", origin, size, why,
              extra={"incident_id": incident.id})
    return [Draft(incident.to_dict(), qualifier=incident.severity.value)]
