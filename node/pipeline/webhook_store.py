"""Webhooks: finding new events and queueing them (the queries: ``node.store.webhooks``).

    with ctx.transaction() as tx:
        queued = collect(ctx, tx)        # new notify steps, escalations, deadlines, emergencies
    due = due_deliveries(ctx.store, now=ctx.stamp(), exclude=set(), limit=16)

Durability without touching the writers: the tables that record events (``notifications``,
``escalations``, ``emergencies``, ``runs``) are scanned from a watermark kept in ``meta``, and
the delivery rows are inserted in the same transaction that advances the watermark. A
notification committed just before a crash is found by the first scan after the restart; one
scanned twice is queued once (``UNIQUE(webhook_id, event_key)``). A webhook receives the
events that happen after it was registered. With no webhook registered nothing is scanned: the
dispatcher woke after every commit, and scanning (parsing every changed run) there was an eighth
of a draining node's CPU; registering the first webhook moves the watermarks to that moment.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from federation.timeutil import format_time, parse_time
from federation.webhooks import WebhookEvent, wants, webhook_body
from node.pipeline.context import NodeContext
from node.store import webhooks as stored
from node.store.db import Store
from node.store.webhooks import (
    Due,
    add_webhook,
    delete_webhook,
    delivery_counts,
    delivery_log,
    due_deliveries,
    has_webhooks,
    list_webhooks,
    next_due,
    record_attempt,
    webhook_exists,
)

__all__ = [  # the registrations and the queue live in the store; the API reaches them here
    "Due", "add_webhook", "collect", "delete_webhook", "delivery_counts", "delivery_log",
    "due_deliveries", "has_webhooks", "list_webhooks", "next_due", "next_warning",
    "record_attempt", "stamp", "webhook_exists",
]


def stamp(at: datetime) -> str:
    """The store's text form of a time (sortable: microseconds, ``Z``)."""
    return at.isoformat(timespec="microseconds").replace("+00:00", "Z")


# -- finding events ---------------------------------------------------------------------------
def collect(ctx: NodeContext, tx: sqlite3.Connection, *, warn_fraction: float) -> int:
    """Queue a delivery for every new event and every webhook that wants it; return how many.

    ``warn_fraction``: a waiting step's deadline is "approaching" in the last this-fraction of
    the time between the step's start and its deadline.
    """
    hooks = stored.webhook_roles(tx)
    if not hooks:
        return 0  # nobody to tell; the first webhook starts from its registration
    seen = stored.watermarks(tx)
    events = [*_new_events(tx, seen), *_approaching(tx, ctx.now(), warn_fraction)]
    now, queued = ctx.stamp(), 0
    for e in events:
        body = webhook_body(e, node=ctx.node_id, at=ctx.now_text())
        for hook_id, roles in hooks:
            if wants(roles, e):
                queued += stored.queue_delivery(tx, hook_id, key=e.key, event=e.event,
                                                body=body, now=now)
    stored.set_watermarks(tx, seen)
    return queued


def _new_events(tx: sqlite3.Connection, seen: dict[str, str]) -> Iterator[WebhookEvent]:
    """Events recorded since the watermarks in ``seen`` (which it advances)."""
    for r in stored.notifications_after(tx, int(seen["notifications"] or 0)):
        seen["notifications"] = str(r["seq"])
        if r["kind"] == "notify":
            yield WebhookEvent("notify", r["run_id"], r["step_id"], r["incident_id"] or "",
                               r["message"], f"notify:{r['seq']}", role=r["role"])
    for r in stored.escalations_after(tx, int(seen["escalations"] or 0)):
        seen["escalations"] = str(r["n"])
        doc = json.loads(r["document"])
        yield WebhookEvent("escalation", r["run_id"], str(doc.get("step_id", "")),
                           r["incident_id"], f"tier {r['tier']} escalation from {r['origin']}: "
                           f"{doc.get('reason', '')}; answer by {r['deadline']}",
                           f"escalation:{r['id']}")
    for r in stored.emergencies_since(tx, seen["emergencies"]):
        seen["emergencies"] = r["updated_at"]
        if r["state"] in ("pending", "active"):
            doc = json.loads(r["document"])
            k, n = doc["threshold"]["k"], doc["threshold"]["n"]
            what = "proposed; co-signatures needed" if r["state"] == "pending" else "declared"
            yield WebhookEvent("emergency", r["run_id"], "", r["incident_id"],
                               f"federation-wide emergency {what} ({k} of {n}) by {r['origin']}",
                               f"emergency:{r['id']}:{r['state']}")
    for r in stored.runs_since(tx, seen["runs"]):
        seen["runs"] = r["updated_at"]
        if "deadline-missed" not in r["document"]:
            continue  # most changed runs missed nothing: no need to parse them
        for h in json.loads(r["document"]).get("history", []):
            if h.get("event") == "deadline-missed":
                yield WebhookEvent("deadline-missed", r["id"], h.get("step", ""),
                                   r["incident_id"], f"{h.get('step', 'a step')}: deadline "
                                   f"missed at {h['at']}", f"missed:{r['id']}:{h.get('step')}")


@dataclass(frozen=True)
class _Clock:
    """A deadline someone here must meet: a waiting run step, or an open inbox escalation."""

    run_id: str
    step: str
    incident_id: str
    started: datetime
    deadline: datetime
    ref: str   # what the event keys name: the run and step, or the escalation id
    inbox: bool

    def warn_at(self, warn_fraction: float) -> datetime:
        return self.deadline - (self.deadline - self.started) * warn_fraction


def _clocks(conn: sqlite3.Connection) -> Iterator[_Clock]:
    for r in stored.running_run_documents(conn):
        for s in json.loads(r["document"]).get("steps", []):
            if s.get("status") == "waiting" and s.get("deadline") and s.get("started_at"):
                yield _Clock(r["id"], s["step_id"], r["incident_id"],
                             parse_time(s["started_at"]), parse_time(s["deadline"]),
                             f"{r['id']}:{s['step_id']}", inbox=False)
    for r in stored.open_escalations(conn):
        step = str(json.loads(r["document"]).get("step_id", ""))
        yield _Clock(r["run_id"], step, r["incident_id"], parse_time(r["received_at"]),
                     parse_time(r["deadline"]), r["id"], inbox=True)


def _approaching(tx: sqlite3.Connection, now: datetime,
                 warn_fraction: float) -> Iterator[WebhookEvent]:
    """Deadlines in their warning window; and inbox escalations left open past their deadline
    (a run step's miss is in its run's history, found by ``_new_events``)."""
    for c in _clocks(tx):
        what = f"escalation {c.ref}" if c.inbox else c.step
        if c.warn_at(warn_fraction) <= now < c.deadline:
            left = int((c.deadline - now).total_seconds())
            yield WebhookEvent("deadline-approaching", c.run_id, c.step, c.incident_id,
                               f"{what}: answer by {format_time(c.deadline)} ({left} s left)",
                               f"approaching:{c.ref}:{format_time(c.deadline)}")
        elif c.inbox and now >= c.deadline:
            yield WebhookEvent("deadline-missed", c.run_id, c.step, c.incident_id,
                               f"{what}: still open after its deadline "
                               f"{format_time(c.deadline)}", f"missed:{c.ref}")


def next_warning(store: Store, now: datetime, warn_fraction: float) -> datetime | None:
    """When the next deadline enters its warning window, or an open inbox escalation passes
    its deadline (for the dispatcher's sleep)."""
    times = [t for c in _clocks(store.conn)
             for t in (c.warn_at(warn_fraction), *((c.deadline,) if c.inbox else ()))
             if t > now]
    return min(times, default=None)
