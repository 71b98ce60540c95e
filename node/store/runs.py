"""Tables ``runs``, ``escalations``, ``emergencies``, ``declarations``, ``notifications`` and
``advisories``: playbook runs, this node's escalation inbox, the emergency state and its
declarations, and what runs asked this node's roles to do.

    runs = list_runs(store, incident_id="gb-…", limit=100)      # PlaybookRun, newest first
    row = find_escalation(store, "gb-00000001.notify")
    with store.transaction() as tx:
        assign_escalation(tx, "gb-00000001.notify", "alice", at)

The inbox (``list_inbox``) also reads ``incidents``, for each escalation's incident title.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from federation.run_model import PlaybookRun
from node.store.db import Store, row_dict


# --- read by the API and console
def _run(document: str) -> PlaybookRun:
    return PlaybookRun.from_dict(json.loads(document))


def list_runs(store: Store, *, incident_id: str | None, limit: int) -> list[PlaybookRun]:
    """The runs (of ``incident_id``, or all), most recently updated first."""
    sql, params = "SELECT document FROM runs", tuple[str, ...]()
    if incident_id:
        sql, params = sql + " WHERE incident_id = ?", (incident_id,)
    return [_run(r[0]) for r in store.query(sql + " ORDER BY updated_at DESC LIMIT ?",
                                            (*params, limit))]


def find_run(store: Store, run_id: str) -> PlaybookRun | None:
    """This node's run ``run_id``, if it owns one (a peer's run is not in this table)."""
    rows = store.query("SELECT document FROM runs WHERE id = ?", (run_id,))
    return _run(rows[0][0]) if rows else None


def running_runs(store: Store) -> list[PlaybookRun]:
    """Every run still in state ``running``."""
    return [_run(r[0]) for r in store.query("SELECT document FROM runs WHERE state = 'running'")]


def run_state(store: Store, run_id: str) -> dict[str, Any] | None:
    """``{"id", "incident_id", "state"}`` of run ``run_id``, if there is one."""
    rows = store.query("SELECT id, incident_id, state FROM runs WHERE id = ?", (run_id,))
    return row_dict(rows[0]) if rows else None


INBOX_STATUSES = ("open", "acked", "declined", "answered", "closed")


def list_inbox(store: Store, *, status: str | None) -> list[sqlite3.Row]:
    """Up to 500 escalations in this node's inbox (with ``status``, or all) with their incident's
    ``title``, grouped by incident, newest first."""
    sql, params = ("SELECT e.*, json_extract(i.document, '$.title') AS title FROM escalations e "
                   "LEFT JOIN incidents i ON i.id = e.incident_id"), tuple[str, ...]()
    if status:
        sql, params = sql + " WHERE e.status = ?", (status,)
    return store.query(sql + " ORDER BY e.incident_id, e.received_at DESC LIMIT 500", params)


def find_escalation(store: Store, escalation_id: str) -> sqlite3.Row | None:
    rows = store.query("SELECT * FROM escalations WHERE id = ?", (escalation_id,))
    return rows[0] if rows else None


def assign_escalation(tx: sqlite3.Connection, escalation_id: str, assignee: str,
                      at: str) -> bool:
    """Give the escalation to ``assignee``; False if it is not in this node's inbox."""
    cur = tx.execute("UPDATE escalations SET assignee = ?, assigned_at = ? WHERE id = ?",
                     (assignee, at, escalation_id))
    return cur.rowcount == 1


def count_open_escalations(store: Store, *, due_by: str | None = None) -> int:
    """Open escalations in the inbox (only those whose deadline is ≤ ``due_by``, if given)."""
    if due_by is None:
        return int(store.scalar("SELECT COUNT(*) FROM escalations WHERE status = 'open'") or 0)
    return int(store.scalar("SELECT COUNT(*) FROM escalations WHERE status = 'open' "
                            "AND deadline <= ?", (due_by,)) or 0)


def emergency_of_run(store: Store, run_id: str) -> sqlite3.Row | None:
    """The emergency run ``run_id`` proposed, the most recently updated if several."""
    rows = store.query("SELECT * FROM emergencies WHERE run_id = ? ORDER BY updated_at DESC",
                       (run_id,))
    return rows[0] if rows else None


def current_emergency(store: Store) -> sqlite3.Row | None:
    """The emergency that matters now: an active one, else a pending one, else the latest."""
    rows = store.query("SELECT * FROM emergencies ORDER BY "
                       "CASE state WHEN 'active' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END, "
                       "updated_at DESC LIMIT 1")
    return rows[0] if rows else None


def has_declared(store: Store, emergency_id: str, origin: str) -> bool:
    return bool(store.query("SELECT 1 FROM declarations WHERE emergency_id = ? AND origin = ?",
                            (emergency_id, origin)))


def declarations_of(store: Store, emergency_id: str) -> list[sqlite3.Row]:
    """The declarations of an emergency, in the order they were issued."""
    return store.query("SELECT * FROM declarations WHERE emergency_id = ? "
                       "ORDER BY strftime('%Y-%m-%dT%H:%M:%fZ', issued_at)", (emergency_id,))


def list_notifications(store: Store, *, limit: int = 200) -> list[dict[str, Any]]:
    """What runs asked this node's roles to do, newest first."""
    return [row_dict(r) for r in store.query("SELECT * FROM notifications ORDER BY seq DESC "
                                             "LIMIT ?", (limit,))]
