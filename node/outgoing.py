"""Sign a message this node issues, record it and queue it for NATS, in one transaction.

    >>> # digest = sign_and_record(ctx, incident_doc, qualifier="serious-incident")

This is the only path by which a node says something: the message is validated against its
schema on the way out, encoded with RFC 8785, wrapped in a DSSE envelope, stored verbatim,
appended to the node's transparency log, projected, and put in the outbox — all committed
together, so a report accepted with 201 survives a crash and reaches NATS once it is back.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from typing import Any

from federation.canonical import digest, encode
from federation.envelope import Envelope, payload_type
from federation.subjects import subject_for
from node import ingest, records
from node.context import NodeContext

log = logging.getLogger("beacon.out")

# Messages about the log itself are not entries of it: logging a checkpoint would grow the log
# and call for another checkpoint, without end.
UNLOGGED_TYPES = frozenset({"checkpoint", "cosignature"})


def sign_and_record(ctx: NodeContext, doc: Mapping[str, Any], *, qualifier: str = "",
                    publish: bool = True, tx: sqlite3.Connection | None = None) -> str:
    """Validate, sign, store, log and enqueue ``doc``; return its digest.

    Idempotent: an identical document is the same message (same body, same digest), so signing
    it again returns the stored message's digest and records nothing twice (two snapshots of
    unchanged figures signed within one clock tick are one snapshot, not a 500).

    ``publish=False`` keeps the message at this node (TLP:RED never leaves its origin).
    Pass ``tx`` to sign inside a caller's transaction (a reaction to an inbound message commits
    with it, so a crash cannot separate the two).

    Raises:
        SchemaError: the document breaks its schema (nothing is stored).
    """
    message_type = str(doc["type"])
    ctx.schemas.validate(message_type, doc)
    body = encode(dict(doc))
    envelope = Envelope.sign(payload_type(message_type), body, [ctx.signing_key])
    data = envelope.to_json()
    dg = digest(body)
    subject = subject_for(message_type, ctx.node_id, qualifier)
    at = ctx.stamp()
    if tx is None:
        with ctx.transaction() as own_tx:
            _record(ctx, own_tx, dict(doc), dg, subject, data, at, publish)
    else:
        _record(ctx, tx, dict(doc), dg, subject, data, at, publish)
    if publish:
        ctx.outbox_wakeup.set()
    log.debug("signed %s", message_type, extra={"digest": dg, "subject": subject})
    return dg


def _record(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], dg: str, subject: str,
            data: bytes, at: str, publish: bool) -> None:
    message_type = str(doc["type"])
    if not records.insert_envelope(tx, dg, message_type, ctx.node_id, subject, data, at,
                                   local=True):
        log.debug("already signed %s", message_type, extra={"digest": dg})
        return  # the same message, already stored, logged, projected and queued
    if message_type not in UNLOGGED_TYPES:
        records.append_log_leaf(tx, dg)
    ingest.project(ctx, tx, message_type, doc, dg, at, local=True)
    if publish:
        records.enqueue(tx, dg, subject, data, at)
