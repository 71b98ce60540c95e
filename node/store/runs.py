"""Playbook runs and what they record: ``runs``, ``escalations``, ``emergencies``,
``declarations``, ``notifications``, ``advisories``.

    with store.transaction() as tx:
        insert_run(tx, RunRow(...))
        text = run_document(tx, run_id)

Writers take the open transaction (``tx``), so a run, the escalation it sends and the
notification it records commit together (``node.pipeline.engine``). The engine's functions are
under the first banner; the API's and the console's under the second.

``held_incident`` and the inbox (``list_inbox``, for each escalation's incident title) also read
``incidents``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from federation.run_model import PlaybookRun
from node.store.db import Store, row_dict

# --- written and read by the engine


@dataclass(frozen=True)
class RunRow:
    """One ``runs`` row: the columns the scheduler and lists read, and the whole document."""

    id: str
    incident_id: str
    playbook_id: str
    state: str
    token: int
    timer_at: str | None
    document: str
    updated_at: str

    def values(self) -> tuple[Any, ...]:
        return (self.incident_id, self.playbook_id, self.state, self.token, self.timer_at,
                self.document, self.updated_at, self.id)


def run_document(tx: sqlite3.Connection, run_id: str) -> str | None:
    """The stored document of run ``run_id`` (JSON text), or None."""
    row = tx.execute("SELECT document FROM runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else str(row["document"])


def run_exists(tx: sqlite3.Connection, run_id: str) -> bool:
    return tx.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None


def runs_of_incident(tx: sqlite3.Connection, incident_id: str) -> dict[str, str]:
    """The runs (id: playbook id) that run or ran for ``incident_id`` here."""
    return {r["id"]: r["playbook_id"] for r in tx.execute(
        "SELECT id, playbook_id FROM runs WHERE incident_id = ?", (incident_id,))}


def insert_run(tx: sqlite3.Connection, row: RunRow) -> None:
    tx.execute("INSERT INTO runs(incident_id, playbook_id, state, token, timer_at, document, "
               "updated_at, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row.values())


def update_run(tx: sqlite3.Connection, row: RunRow, *, expected_token: int) -> bool:
    """Compare-and-swap: update the run only if it is still at ``expected_token``."""
    cur = tx.execute("UPDATE runs SET incident_id=?, playbook_id=?, state=?, token=?, "
                     "timer_at=?, document=?, updated_at=? WHERE id=? AND token=?",
                     (*row.values(), expected_token))
    return cur.rowcount == 1


@dataclass(frozen=True)
class RunTimer:
    """What the scheduler arms for a run: its state, token and earliest timer."""

    id: str
    state: str
    token: int
    timer_at: str | None


def running_run_ids(store: Store) -> list[str]:
    return [r["id"] for r in store.query("SELECT id FROM runs WHERE state = 'running'")]


def run_timers(store: Store, run_ids: Iterable[str]) -> list[RunTimer]:
    """The timer columns of those of ``run_ids`` that exist, in one query."""
    return [RunTimer(r["id"], r["state"], int(r["token"]), r["timer_at"])
            for r in store.query("SELECT id, state, token, timer_at FROM runs WHERE id IN "
                                 "(SELECT value FROM json_each(?))", (json.dumps(list(run_ids)),))]


def record_escalation(tx: sqlite3.Connection, doc: Mapping[str, Any], *, at: str) -> None:
    """An escalation addressed to this node, into its inbox (once)."""
    tx.execute("INSERT INTO escalations(id, origin, incident_id, run_id, tier, deadline, status, "
               "document, received_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?) "
               "ON CONFLICT(id) DO NOTHING",
               (doc["id"], doc["origin"], doc["incident_id"], doc["run_id"], doc["tier"],
                doc["deadline"], json.dumps(doc), at))


def answer_escalation(tx: sqlite3.Connection, escalation_id: str, *, status: str, at: str,
                      by: str, digest: str) -> None:
    """This node's answer (``acked``, ``declined``, or ``answered`` by another recipient) to an
    open inbox escalation."""
    tx.execute("UPDATE escalations SET status = ?, answered_at = ?, answered_by = ?, "
               "answer_digest = ? WHERE id = ? AND status = 'open'",
               (status, at, by, digest, escalation_id))


def close_escalations(tx: sqlite3.Connection, incident_id: str) -> None:
    """The incident was resolved: its open inbox escalations are closed."""
    tx.execute("UPDATE escalations SET status = 'closed' WHERE incident_id = ? AND "
               "status = 'open'", (incident_id,))


def record_declaration(tx: sqlite3.Connection, doc: Mapping[str, Any], digest: str) -> None:
    tx.execute("INSERT INTO declarations(emergency_id, origin, digest, statement, issued_at) "
               "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
               (doc["emergency_id"], doc["origin"], digest, doc["statement"], doc["issued_at"]))


@dataclass(frozen=True)
class DeclarationRow:
    origin: str
    digest: str
    issued_at: str


def declarations_of(tx: sqlite3.Connection, emergency_id: str) -> dict[str, DeclarationRow]:
    """The declarations recorded for an emergency, by member."""
    return {r["origin"]: DeclarationRow(r["origin"], r["digest"], r["issued_at"])
            for r in tx.execute("SELECT origin, digest, issued_at FROM declarations "
                                "WHERE emergency_id = ?", (emergency_id,))}


def upsert_emergency(tx: sqlite3.Connection, doc: Mapping[str, Any], *, at: str) -> None:
    tx.execute("INSERT INTO emergencies(id, origin, incident_id, run_id, state, document, "
               "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
               "state = excluded.state, document = excluded.document, "
               "updated_at = excluded.updated_at",
               (doc["id"], doc["origin"], doc["incident_id"], doc["run_id"], doc["state"],
                json.dumps(doc), at))


def emergency_document(tx: sqlite3.Connection, emergency_id: str) -> dict[str, Any] | None:
    row = tx.execute("SELECT document FROM emergencies WHERE id = ?", (emergency_id,)).fetchone()
    return None if row is None else dict(json.loads(row["document"]))


def record_advisory(tx: sqlite3.Connection, doc: Mapping[str, Any], *, at: str) -> None:
    tx.execute("INSERT INTO advisories(id, origin, incident_id, document, received_at) "
               "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
               (doc["id"], doc["origin"], doc["incident_id"], json.dumps(doc), at))


def add_notification(tx: sqlite3.Connection, *, run_id: str, step_id: str, role: str,
                     kind: str, message: str, due: str | None, at: str) -> None:
    tx.execute("INSERT INTO notifications(run_id, step_id, role, kind, message, due, "
               "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
               (run_id, step_id, role, kind, message, due, at))


@dataclass(frozen=True)
class HeldIncident:
    """The current revision of an incident this node holds: its digest and document."""

    digest: str
    document: dict[str, Any]


def held_incident(tx: sqlite3.Connection, incident_id: str) -> HeldIncident | None:
    row = tx.execute("SELECT digest, document FROM incidents WHERE id = ?",
                     (incident_id,)).fetchone()
    return None if row is None else HeldIncident(row["digest"], json.loads(row["document"]))


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


def list_declarations(store: Store, emergency_id: str) -> list[sqlite3.Row]:
    """The declarations of an emergency, in the order they were issued."""
    return store.query("SELECT * FROM declarations WHERE emergency_id = ? "
                       "ORDER BY strftime('%Y-%m-%dT%H:%M:%fZ', issued_at)", (emergency_id,))


def list_notifications(store: Store, *, limit: int = 200) -> list[dict[str, Any]]:
    """What runs asked this node's roles to do, newest first."""
    return [row_dict(r) for r in store.query("SELECT * FROM notifications ORDER BY seq DESC "
                                             "LIMIT ?", (limit,))]
