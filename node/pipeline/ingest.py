"""Commit a fetched batch of inbound messages: the verified ones through the pipeline
(``node.pipeline.flow``), the refused ones to the quarantine.

    stored = ingest_batch(ctx, accepted, refused)   # one transaction for a fetched batch

Messages arrive here only after ``federation.inbound.check_inbound`` has passed them;
refused ones go to the quarantine in the same transaction, so a batch is acknowledged to NATS only
after everything it carried — accepted or refused — is committed.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from dataclasses import dataclass

from node.pipeline import flow
from node.pipeline.context import NodeContext
from node.pipeline.flow import Accepted
from node.store import records
from node.store.db import StoreError

log = logging.getLogger("beacon.ingest")


@dataclass(frozen=True)
class Refused:
    subject: str
    data: bytes
    reason: str
    detail: str
    at: str


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
    keys = [(str(a.verified.document["id"]), int(a.verified.document["revision"]))
            if a.verified.message_type == "incident" else None for a in accepted]
    wanted = [k for k in keys if k is not None]
    stored = records.revision_digests(ctx.store, wanted) if wanted else {}
    first: dict[tuple[str, int], str] = {}  # earlier in this batch
    for a, key in zip(accepted, keys, strict=True):
        v = a.verified
        if key is None:
            keep.append(a)
            continue
        other = first.get(key) or stored.get(key)
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
                    ctx.emit("quarantine", {"count": 1})
                ctx.metrics.quarantined.labels(reason="processing-error").inc()
        with ctx.transaction() as tx:
            _store(ctx, tx, [], refused)
    # Counted once per type and batch: ``labels`` takes a lock and builds a key per call.
    for message_type, count in Counter(a.verified.message_type for a in accepted).items():
        ctx.metrics.messages_in.labels(type=message_type).inc(count)
    ctx.metrics.duplicates.inc(len(accepted) - new)
    for r in refused:
        ctx.metrics.quarantined.labels(reason=r.reason).inc()
    return new


def _store(ctx: NodeContext, tx: sqlite3.Connection, accepted: list[Accepted],
           refused: list[Refused]) -> int:
    new = flow.accept(ctx, tx, accepted)
    for r in refused:
        records.quarantine(tx, r.at, r.subject, r.reason, r.detail, r.data)
    if refused:
        ctx.emit("quarantine", {"count": len(refused)})
    return new
