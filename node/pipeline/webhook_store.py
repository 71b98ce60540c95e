"""Webhooks in the store: registrations, the delivery queue and log, and finding new events.

    with ctx.transaction() as tx:
        queued = collect(ctx, tx)        # new notify steps, escalations, deadlines, emergencies
    due = due_deliveries(ctx.store, now=ctx.stamp(), exclude=set(), limit=16)

Durability without touching the writers: the tables that record events (``notifications``,
``escalations``, ``emergencies``, ``runs``) are scanned from a watermark kept in ``meta``, and
the delivery rows are inserted in the same transaction that advances the watermark. A
notification committed just before a crash is found by the first scan after the restart; one
scanned twice is queued once (``UNIQUE(webhook_id, event_key)``). A webhook receives the
events that happen after it was registered.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from federation.timeutil import format_time, parse_time
from federation.webhooks import WebhookEvent, wants, webhook_body
from node.pipeline.context import NodeContext
from node.store.db import Store, row_dict

_MARKS = ("notifications", "escalations", "emergencies", "runs")


def stamp(at: datetime) -> str:
    """The store's text form of a time (sortable: microseconds, ``Z``)."""
    return at.isoformat(timespec="microseconds").replace("+00:00", "Z")


# -- registrations ----------------------------------------------------------------------------
def add_webhook(tx: sqlite3.Connection, *, url: str, roles: list[str], secret: str,
                now: str) -> dict[str, Any]:
    webhook_id = "wh-" + secrets.token_hex(6)
    tx.execute("INSERT INTO webhooks(id, url, roles, secret, created_at) VALUES (?, ?, ?, ?, ?)",
               (webhook_id, url, json.dumps(roles), secret, now))
    return {"id": webhook_id, "url": url, "roles": roles, "created_at": now}


def delete_webhook(tx: sqlite3.Connection, webhook_id: str) -> bool:
    """Remove a webhook, its secret and its delivery log; False if there was none."""
    tx.execute("DELETE FROM webhook_deliveries WHERE webhook_id = ?", (webhook_id,))
    return tx.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,)).rowcount == 1


def list_webhooks(store: Store) -> list[dict[str, Any]]:
    """Every webhook with its delivery counts and last attempt (no secrets)."""
    out = []
    for w in store.query("SELECT id, url, roles, created_at FROM webhooks ORDER BY created_at"):
        counts = {r["status"]: r["n"] for r in store.query(
            "SELECT status, COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ? "
            "GROUP BY status", (w["id"],))}
        last = store.query("SELECT seq, event, status, attempts, last_attempt_at, last_error, "
                           "response_code FROM webhook_deliveries WHERE webhook_id = ? AND "
                           "last_attempt_at IS NOT NULL ORDER BY last_attempt_at DESC LIMIT 1",
                           (w["id"],))
        out.append({"id": w["id"], "url": w["url"], "roles": json.loads(w["roles"]),
                    "created_at": w["created_at"],
                    "deliveries": {s: int(counts.get(s, 0))
                                   for s in ("pending", "delivered", "failed")},
                    "last_delivery": row_dict(last[0]) if last else None})
    return out


def webhook_exists(store: Store, webhook_id: str) -> bool:
    return store.scalar("SELECT 1 FROM webhooks WHERE id = ?", (webhook_id,)) is not None


def delivery_log(store: Store, webhook_id: str, limit: int) -> list[dict[str, Any]]:
    rows = store.query("SELECT seq, event_key, event, body, status, attempts, next_at, "
                       "created_at, last_attempt_at, last_error, response_code "
                       "FROM webhook_deliveries WHERE webhook_id = ? ORDER BY seq DESC LIMIT ?",
                       (webhook_id, limit))
    out = []
    for r in rows:
        item = row_dict(r)
        item["body"] = json.loads(item["body"])
        if item["status"] != "pending":
            item["next_at"] = None
        out.append(item)
    return out


def delivery_counts(store: Store) -> dict[str, int]:
    """Deliveries by status over every webhook (for ``/metrics``)."""
    return {r["status"]: int(r["n"]) for r in store.query(
        "SELECT status, COUNT(*) AS n FROM webhook_deliveries GROUP BY status")}


# -- the queue --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Due:
    """A delivery to attempt now: its bytes and where to, with the secret that signs them."""

    seq: int
    webhook_id: str
    body: bytes
    attempts: int
    url: str
    secret: str


def due_deliveries(store: Store, *, now: str, exclude: set[int], limit: int) -> list[Due]:
    """Pending deliveries whose next attempt is due, oldest first, with URL and secret."""
    rows = store.query("SELECT d.seq, d.webhook_id, d.body, d.attempts, w.url, w.secret "
                       "FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
                       "WHERE d.status = 'pending' AND d.next_at <= ? ORDER BY d.next_at, d.seq "
                       "LIMIT ?", (now, limit + len(exclude)))
    return [Due(int(r["seq"]), str(r["webhook_id"]), bytes(r["body"]), int(r["attempts"]),
                str(r["url"]), str(r["secret"])) for r in rows if r["seq"] not in exclude][:limit]


def next_due(store: Store, *, exclude: set[int]) -> str | None:
    """When the next pending delivery that is not in flight (``exclude``) is due."""
    rows = store.query("SELECT seq, next_at FROM webhook_deliveries WHERE status = 'pending' "
                       "ORDER BY next_at LIMIT ?", (len(exclude) + 1,))
    return next((str(r["next_at"]) for r in rows if r["seq"] not in exclude), None)


def has_webhooks(store: Store) -> bool:
    return store.scalar("SELECT 1 FROM webhooks LIMIT 1") is not None


def record_attempt(tx: sqlite3.Connection, seq: int, *, at: str, status: str, attempts: int,
                   next_at: str, code: int | None, error: str | None) -> None:
    tx.execute("UPDATE webhook_deliveries SET status = ?, attempts = ?, next_at = ?, "
               "last_attempt_at = ?, response_code = ?, last_error = ? WHERE seq = ?",
               (status, attempts, next_at, at, code, error, seq))


# -- finding events ---------------------------------------------------------------------------
def collect(ctx: NodeContext, tx: sqlite3.Connection, *, warn_fraction: float) -> int:
    """Queue a delivery for every new event and every webhook that wants it; return how many.

    ``warn_fraction``: a waiting step's deadline is "approaching" in the last this-fraction of
    the time between the step's start and its deadline.
    """
    marks = {k: tx.execute("SELECT value FROM meta WHERE key = ?", (f"webhooks.{k}",))
             .fetchone() for k in _MARKS}
    seen = {k: (row["value"] if row else "") for k, row in marks.items()}
    hooks = [(r["id"], json.loads(r["roles"]))
             for r in tx.execute("SELECT id, roles FROM webhooks")]
    events = list(_new_events(tx, seen))
    if hooks:
        events += _approaching(tx, ctx.now(), warn_fraction)
    now, queued = ctx.stamp(), 0
    for e in events if hooks else ():
        body = webhook_body(e, node=ctx.node_id, at=ctx.now_text())
        for hook_id, roles in hooks:
            if wants(roles, e):
                queued += tx.execute(
                    "INSERT INTO webhook_deliveries(webhook_id, event_key, event, body, status, "
                    "next_at, created_at) VALUES (?, ?, ?, ?, 'pending', ?, ?) "
                    "ON CONFLICT DO NOTHING", (hook_id, e.key, e.event, body, now, now)).rowcount
    for k in _MARKS:
        if seen[k]:
            Store.set_meta(tx, f"webhooks.{k}", seen[k])
    return queued


def _new_events(tx: sqlite3.Connection, seen: dict[str, str]) -> Iterator[WebhookEvent]:
    """Events recorded since the watermarks in ``seen`` (which it advances)."""
    for r in tx.execute("SELECT n.seq, n.run_id, n.step_id, n.role, n.kind, n.message, "
                        "runs.incident_id FROM notifications n LEFT JOIN runs ON "
                        "runs.id = n.run_id WHERE n.seq > ? ORDER BY n.seq",
                        (int(seen["notifications"] or 0),)):
        seen["notifications"] = str(r["seq"])
        if r["kind"] == "notify":
            yield WebhookEvent("notify", r["run_id"], r["step_id"], r["incident_id"] or "",
                               r["message"], f"notify:{r['seq']}", role=r["role"])
    for r in tx.execute("SELECT rowid AS n, * FROM escalations WHERE rowid > ? ORDER BY rowid",
                        (int(seen["escalations"] or 0),)):
        seen["escalations"] = str(r["n"])
        doc = json.loads(r["document"])
        yield WebhookEvent("escalation", r["run_id"], str(doc.get("step_id", "")),
                           r["incident_id"], f"tier {r['tier']} escalation from {r['origin']}: "
                           f"{doc.get('reason', '')}; answer by {r['deadline']}",
                           f"escalation:{r['id']}")
    for r in tx.execute("SELECT * FROM emergencies WHERE updated_at >= ? ORDER BY updated_at",
                        (seen["emergencies"],)):
        seen["emergencies"] = r["updated_at"]
        if r["state"] in ("pending", "active"):
            doc = json.loads(r["document"])
            k, n = doc["threshold"]["k"], doc["threshold"]["n"]
            what = "proposed; co-signatures needed" if r["state"] == "pending" else "declared"
            yield WebhookEvent("emergency", r["run_id"], "", r["incident_id"],
                               f"federation-wide emergency {what} ({k} of {n}) by {r['origin']}",
                               f"emergency:{r['id']}:{r['state']}")
    for r in tx.execute("SELECT id, incident_id, document, updated_at FROM runs "
                        "WHERE updated_at >= ? ORDER BY updated_at", (seen["runs"],)):
        seen["runs"] = r["updated_at"]
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
    for r in conn.execute("SELECT id, incident_id, document FROM runs WHERE state = 'running'"):
        for s in json.loads(r["document"]).get("steps", []):
            if s.get("status") == "waiting" and s.get("deadline") and s.get("started_at"):
                yield _Clock(r["id"], s["step_id"], r["incident_id"],
                             parse_time(s["started_at"]), parse_time(s["deadline"]),
                             f"{r['id']}:{s['step_id']}", inbox=False)
    for r in conn.execute("SELECT id, run_id, incident_id, deadline, received_at, document "
                          "FROM escalations WHERE status = 'open'"):
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
