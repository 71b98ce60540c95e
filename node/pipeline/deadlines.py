"""Training-run declarations at a node and the regulatory deadlines they start.

    inside the transaction that stores a message (node.pipeline.flow):
    deadlines.on_training_run(ctx, tx, doc, digest, received_at)
    newly_overdue = deadlines.sweep(ctx)          # a loop of the running node; tests call it
    rows = deadlines.listing(ctx.store, "overdue")

Every node projects the clocks a declaration carries (signed, so all hold the same due time).
``sweep`` moves a deadline from due to overdue with one conditional UPDATE that sets
``overdue_at``: it happens once per deadline, however often the sweep runs and across restarts,
because the state lives in the store, not in a timer.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from federation.model_registry import key
from federation.timeutil import format_time
from node.pipeline.context import NodeContext
from node.store import registry as q
from node.store.db import Store

log = logging.getLogger("beacon.deadlines")


def on_training_run(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
                    received_at: str) -> None:
    """Project one ``training-run`` message and the deadlines it starts."""
    if not q.insert_training_run(tx, doc, key(doc["developer"]), digest, received_at):
        return
    for c in doc.get("clocks", ()):
        q.insert_deadline(tx, doc["id"], doc["origin"], c, doc.get("notified_at"))
    ctx.emit("training-run", {"id": doc["id"]})


def sweep(ctx: NodeContext) -> list[str]:
    """Mark every due deadline whose time has come overdue; return the ``subject/clock`` of
    each one that turned overdue now (never one that was already)."""
    now = format_time(ctx.now())
    with ctx.transaction() as tx:
        rows = q.mark_overdue(tx, now)
        turned = [f"{r['subject']}/{r['clock']}" for r in rows]
        for name in turned:
            ctx.emit("deadline", {"id": name, "state": "overdue"})
    for name in turned:
        log.warning("deadline %s is overdue", name)
    return turned


def listing(store: Store, state: str | None = None) -> list[dict[str, Any]]:
    """Deadlines (of one state, if given), soonest due first."""
    rows = q.deadlines(store, state)
    return [{"subject": r["subject"], "regime": r["citation"], "clock": r["clock"],
             "origin": r["origin"], "anchor_at": r["anchor_at"], "due_at": r["due_at"],
             "state": r["state"], "met_at": r["met_at"], "overdue_at": r["overdue_at"],
             "developer": r["developer"], "model": r["model"]} for r in rows]


def training_runs(store: Store, developer: str | None = None) -> list[dict[str, Any]]:
    rows = q.training_runs(store, developer and key(developer))
    return [json.loads(r["document"]) | {"digest": r["digest"]} for r in rows]
