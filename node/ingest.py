"""Apply verified messages to the store's projections: one place for local and inbound ones.

    >>> # stored = ingest_batch(ctx, accepted, refused)   # one transaction for a fetched batch

Inbound messages arrive here only after ``federation.inbound.check_inbound`` has passed them;
refused ones go to the quarantine in the same transaction, so a batch is acknowledged to NATS only
after everything it carried — accepted or refused — is committed.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

from federation.errors import RejectedMessage
from federation.inbound import Verified
from federation.subjects import subject_for
from federation.timeutil import parse_time
from federation.tlp import is_recipient, unseal_incident
from node import engine, records, statistics, witness
from node.context import NodeContext
from node.store import StoreError

log = logging.getLogger("beacon.ingest")


@dataclass(frozen=True)
class Accepted:
    verified: Verified
    subject: str
    data: bytes
    received_at: str


@dataclass(frozen=True)
class Refused:
    subject: str
    data: bytes
    reason: str
    detail: str
    at: str


def project(ctx: NodeContext, tx: sqlite3.Connection, message_type: str, doc: dict[str, Any],
            digest: str, received_at: str, *, local: bool) -> None:
    """Update the projections for one newly stored message, and react to it in the same
    transaction (a witness cosigns a checkpoint; a detected equivocation files an incident)."""
    statistics.on_message(ctx, tx, message_type, doc, digest, received_at)
    if message_type == "incident":
        previous = records.current_incident(tx, doc["id"])
        if records.upsert_incident(tx, doc, digest, received_at):
            engine.on_message(ctx, tx, message_type, doc, digest, local=local, previous=previous)
    elif message_type == "checkpoint" and not local:
        witness.on_checkpoint(ctx, tx, doc, digest, received_at)
    elif message_type == "cosignature" and not local:
        witness.on_cosignature(ctx, tx, doc, received_at)
    elif message_type == "sealed" and not local:
        _open_sealed(ctx, tx, doc, digest, received_at)
    else:
        engine.on_message(ctx, tx, message_type, doc, digest, local=local)


def _open_sealed(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
                 received_at: str) -> None:
    """Every node stores a sealed message as it arrived; a named recipient also opens it and
    stores the incident inside, verified like any inbound incident."""
    if not is_recipient(doc, ctx.node_id):
        return
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
                           digest)
        ctx.metrics.quarantined.labels(reason=e.reason).inc()
        return
    data = inner.envelope.to_json()
    if records.insert_envelope(tx, inner.digest, "incident", inner.origin, subject, data,
                               received_at, local=False):
        project(ctx, tx, "incident", inner.document, inner.digest, received_at, local=False)


def _split_conflicts(ctx: NodeContext, accepted: list[Accepted]
                     ) -> tuple[list[Accepted], list[Refused]]:
    """Set apart incidents that reuse a stored (id, revision) with other content.

    A revision number names one signed version: a second, different one from the same origin is
    an equivocation (or a broken sender), never an update, so it is quarantined as
    ``conflicting-revision`` with both digests, not silently dropped. The same bytes again are a
    replay (a duplicate, counted as such); an older revision arriving late is kept as history.
    """
    keep: list[Accepted] = []
    conflicting: list[Refused] = []
    first: dict[tuple[str, int], str] = {}  # earlier in this batch
    for a in accepted:
        v = a.verified
        if v.message_type != "incident":
            keep.append(a)
            continue
        key = (str(v.document["id"]), int(v.document["revision"]))
        other = first.get(key) or records.revision_digest(ctx.store, *key)
        if other is not None and other != v.digest:
            conflicting.append(Refused(
                a.subject, a.data, "conflicting-revision",
                f"incident {key[0]} revision {key[1]} is already stored as {other[:16]}…; "
                f"{v.origin} signed another version {v.digest[:16]}… under the same number",
                a.received_at))
            continue
        first.setdefault(key, v.digest)
        keep.append(a)
    return keep, conflicting


def ingest_batch(ctx: NodeContext, accepted: list[Accepted], refused: list[Refused]) -> int:
    """Store a batch in one transaction; return how many messages were new.

    If the batch cannot commit because processing one message raised (a bug, or a reaction
    that cannot be carried out), each message is retried in a transaction of its own and the
    one that fails is quarantined as ``processing-error``: one bad message must not block the
    stream behind it, and every message still ends up either stored or quarantined.
    """
    accepted, conflicting = _split_conflicts(ctx, accepted)
    refused = [*refused, *conflicting]
    try:
        with ctx.transaction() as tx:
            new = _store(ctx, tx, accepted, refused)
    except StoreError:
        raise  # the store itself is failing: let JetStream redeliver the whole batch later
    except Exception:
        log.exception("a batch of %d failed; storing its messages one by one", len(accepted))
        new = 0
        for a in accepted:
            try:
                with ctx.transaction() as tx:
                    new += _store(ctx, tx, [a], [])
            except StoreError:
                raise
            except Exception as e:
                log.exception("message on %s could not be processed", a.subject,
                              extra={"digest": a.verified.digest})
                with ctx.transaction() as tx:
                    records.quarantine(tx, a.received_at, a.subject, "processing-error",
                                       repr(e), a.data, a.verified.digest)
                ctx.metrics.quarantined.labels(reason="processing-error").inc()
        with ctx.transaction() as tx:
            _store(ctx, tx, [], refused)
    for a in accepted:
        ctx.metrics.messages_in.labels(type=a.verified.message_type).inc()
    ctx.metrics.duplicates.inc(len(accepted) - new)
    for r in refused:
        ctx.metrics.quarantined.labels(reason=r.reason).inc()
    return new


def _store(ctx: NodeContext, tx: sqlite3.Connection, accepted: list[Accepted],
           refused: list[Refused]) -> int:
    new = 0
    for a in accepted:
        v = a.verified
        if records.insert_envelope(tx, v.digest, v.message_type, v.origin, a.subject,
                                   a.data, a.received_at, local=False):
            project(ctx, tx, v.message_type, v.document, v.digest, a.received_at, local=False)
            log.debug("stored %s from %s", v.message_type, v.origin,
                      extra={"digest": v.digest, "subject": a.subject})
            new += 1
    for r in refused:
        records.quarantine(tx, r.at, r.subject, r.reason, r.detail, r.data)
    return new
