"""Webhooks in the store: ``webhooks`` (registrations), ``webhook_deliveries`` (the queue and
log), and the watermarks in ``meta`` from which new events are found.

    with store.transaction() as tx:
        hook = add_webhook(tx, url=url, roles=["responder"], secret=secret, now=at)
    due = due_deliveries(store, now=at, exclude=set(), limit=16)

Finding events (``node.pipeline.webhook_store.collect``) reads the tables the engine writes
(``notifications``, ``escalations``, ``emergencies``, ``runs``) from those watermarks, with the
queries at the end of this module.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

from node.store.db import Store, row_dict

MARKS = ("notifications", "escalations", "emergencies", "runs")


# -- registrations ----------------------------------------------------------------------------
def add_webhook(tx: sqlite3.Connection, *, url: str, roles: list[str], secret: str,
                now: str) -> dict[str, Any]:
    webhook_id = "wh-" + secrets.token_hex(6)
    if tx.execute("SELECT 1 FROM webhooks LIMIT 1").fetchone() is None:
        # With no webhook, events are not collected (node.pipeline.webhook_store.collect); the
        # first one receives the events from now on, as every webhook does.
        _mark_now(tx, now)
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


def _mark_now(tx: sqlite3.Connection, now: str) -> None:
    """Move every watermark to the end of its table (``now`` for the time-ordered ones)."""
    ends = {"notifications": tx.execute("SELECT COALESCE(MAX(seq), 0) FROM notifications"),
            "escalations": tx.execute("SELECT COALESCE(MAX(rowid), 0) FROM escalations")}
    for k in MARKS:
        Store.set_meta(tx, f"webhooks.{k}", str(ends[k].fetchone()[0]) if k in ends else now)


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


def webhook_roles(tx: sqlite3.Connection) -> list[tuple[str, list[str]]]:
    """Every webhook's id and the roles it receives events for."""
    return [(r["id"], json.loads(r["roles"]))
            for r in tx.execute("SELECT id, roles FROM webhooks")]


def queue_delivery(tx: sqlite3.Connection, webhook_id: str, *, key: str, event: str,
                   body: bytes, now: str) -> bool:
    """Queue one event for one webhook; False if it was queued before (same event key)."""
    return tx.execute(
        "INSERT INTO webhook_deliveries(webhook_id, event_key, event, body, status, next_at, "
        "created_at) VALUES (?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT DO NOTHING",
        (webhook_id, key, event, body, now, now)).rowcount == 1


# -- finding events: the engine's tables from the watermarks ----------------------------------
def watermarks(tx: sqlite3.Connection) -> dict[str, str]:
    """Where each event scan stopped (``""``: never scanned)."""
    out = {}
    for k in MARKS:
        row = tx.execute("SELECT value FROM meta WHERE key = ?", (f"webhooks.{k}",)).fetchone()
        out[k] = row["value"] if row else ""
    return out


def set_watermarks(tx: sqlite3.Connection, marks: dict[str, str]) -> None:
    for k in MARKS:
        if marks[k]:
            Store.set_meta(tx, f"webhooks.{k}", marks[k])


def notifications_after(tx: sqlite3.Connection, seq: int) -> list[sqlite3.Row]:
    """Notifications after ``seq``, with their run's incident."""
    return tx.execute("SELECT n.seq, n.run_id, n.step_id, n.role, n.kind, n.message, "
                      "runs.incident_id FROM notifications n LEFT JOIN runs ON "
                      "runs.id = n.run_id WHERE n.seq > ? ORDER BY n.seq", (seq,)).fetchall()


def escalations_after(tx: sqlite3.Connection, rowid: int) -> list[sqlite3.Row]:
    return tx.execute("SELECT rowid AS n, * FROM escalations WHERE rowid > ? ORDER BY rowid",
                      (rowid,)).fetchall()


def emergencies_since(tx: sqlite3.Connection, at: str) -> list[sqlite3.Row]:
    return tx.execute("SELECT * FROM emergencies WHERE updated_at >= ? ORDER BY updated_at",
                      (at,)).fetchall()


def runs_since(tx: sqlite3.Connection, at: str) -> list[sqlite3.Row]:
    return tx.execute("SELECT id, incident_id, document, updated_at FROM runs "
                      "WHERE updated_at >= ? ORDER BY updated_at", (at,)).fetchall()


def running_run_documents(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return conn.execute("SELECT id, incident_id, document FROM runs "
                        "WHERE state = 'running'").fetchall()


def open_escalations(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return conn.execute("SELECT id, run_id, incident_id, deadline, received_at, document "
                        "FROM escalations WHERE status = 'open'").fetchall()
