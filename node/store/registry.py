"""Named queries of the preparedness records (issue 12): every SQL statement of the model
registry, safety-case reviews, capability evaluations, monitoring signals, training runs, their
deadlines, and the provider filings held for review.

Tables: ``model_revisions``, ``safety_case_reviews``, ``evaluations``, ``monitoring_signals``,
``training_runs``, ``deadlines``, ``provider_filings``; read only: ``incidents`` and
``envelopes`` (a model's incidents, a filing's signed message).

    rows = registry.current_revisions(store, developer_key=None)
    registry.insert_review(tx, doc, digest)

The callers (``node.pipeline.registry``, ``assurance``, ``deadlines``,
``node.http.api_provider_filings``) turn rows into documents; nothing here knows the message
formats beyond the columns it fills. Names are compared by ``federation.model_registry.key``,
which the callers apply: the ``*_key`` arguments are already keys.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from node.store.db import Store

Row = sqlite3.Row


# -- model registrations -------------------------------------------------------------------------
def insert_model_revision(tx: sqlite3.Connection, doc: dict[str, Any], keys: tuple[str, str, str],
                          digest: str, received_at: str) -> bool:
    """Store one revision; False if it was stored before. ``keys``: developer, model, version."""
    cur = tx.execute(
        "INSERT INTO model_revisions(id, revision, origin, developer_key, model_key, "
        "version_key, digest, received_at, document) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        (doc["id"], int(doc["revision"]), doc["origin"], *keys, digest, received_at,
         json.dumps(doc)))
    return cur.rowcount > 0


def newest_revision(store: Store, model_id: str) -> Row | None:
    found = store.query("SELECT document, digest, received_at FROM model_revisions "
                        "WHERE id = ? ORDER BY revision DESC LIMIT 1", (model_id,))
    return found[0] if found else None


def max_revision(store: Store, model_id: str) -> int:
    return int(store.scalar("SELECT COALESCE(MAX(revision), 0) FROM model_revisions "
                            "WHERE id = ?", (model_id,)))


def revisions(store: Store, model_id: str) -> list[Row]:
    """Every revision of ``model_id``, oldest first."""
    return store.query("SELECT document, digest, received_at FROM model_revisions WHERE id = ? "
                       "ORDER BY revision", (model_id,))


def current_revisions(store: Store, developer_key: str | None = None) -> list[Row]:
    """The newest revision of every registration (of one developer, if given), by id."""
    return store.query(
        "SELECT m.document, m.digest, m.received_at FROM model_revisions m WHERE m.revision = "
        "(SELECT MAX(revision) FROM model_revisions n WHERE n.id = m.id) "
        "AND (? IS NULL OR m.developer_key = ?) ORDER BY m.id", (developer_key, developer_key))


def revisions_named(store: Store, developer_key: str, model_key: str,
                    version_key: str) -> list[Row]:
    return store.query(
        "SELECT document FROM model_revisions WHERE developer_key = ? AND model_key = ? "
        "AND version_key = ?", (developer_key, model_key, version_key))


def incidents_of_model(store: Store, model_id: str) -> list[Row]:
    """The reports linked to ``model_id`` (``ai_system.model_ref``), newest first."""
    return store.query(
        "SELECT id, origin, severity, title, issued_at FROM incidents "
        "WHERE json_extract(document, '$.ai_system.model_ref') = ? ORDER BY seq DESC",
        (model_id,))


# -- safety-case reviews -------------------------------------------------------------------------
def insert_review(tx: sqlite3.Connection, doc: dict[str, Any], digest: str) -> bool:
    cur = tx.execute(
        "INSERT INTO safety_case_reviews(id, model_id, origin, verdict, digest, issued_at, "
        "document) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (doc["id"], doc["model_id"], doc["origin"], doc["verdict"], digest, doc["issued_at"],
         json.dumps(doc)))
    return cur.rowcount > 0


def reviews_with_envelopes(store: Store, model_id: str) -> list[Row]:
    """The reviews of ``model_id``, oldest first, with their verbatim envelopes."""
    return store.query(
        "SELECT r.document, r.digest, e.envelope FROM safety_case_reviews r "
        "JOIN envelopes e ON e.digest = r.digest WHERE r.model_id = ? "
        "ORDER BY r.issued_at, r.id", (model_id,))


def newest_verdicts(store: Store) -> dict[str, str]:
    """The newest review's verdict of every reviewed model, by model id."""
    rows = store.query(
        "SELECT r.model_id, r.verdict FROM safety_case_reviews r WHERE r.id = "
        "(SELECT s.id FROM safety_case_reviews s WHERE s.model_id = r.model_id "
        "ORDER BY s.issued_at DESC, s.id DESC LIMIT 1)")
    return {r["model_id"]: r["verdict"] for r in rows}


# -- capability evaluations and monitoring signals -----------------------------------------------
def insert_evaluation(tx: sqlite3.Connection, doc: dict[str, Any], keys: tuple[str, str, str],
                      incident_id: str | None, digest: str, received_at: str) -> bool:
    cur = tx.execute(
        "INSERT INTO evaluations(id, origin, developer_key, model_key, version_key, domain, "
        "score, level, incident_id, digest, received_at, document) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (doc["id"], doc["origin"], *keys, doc["domain"], float(doc["score"]), doc["level"],
         incident_id, digest, received_at, json.dumps(doc)))
    return cur.rowcount > 0


def evaluations_of(store: Store, developer_key: str, model_key: str,
                   version_key: str | None) -> list[Row]:
    """The evaluations of a model (of one version, if given), newest first."""
    return store.query(
        "SELECT document, digest, incident_id FROM evaluations WHERE developer_key = ? "
        "AND model_key = ? AND (? IS NULL OR version_key = ?) ORDER BY received_at DESC, id",
        (developer_key, model_key, version_key, version_key))


def evaluation(store: Store, evaluation_id: str) -> Row | None:
    rows = store.query("SELECT document, digest, incident_id FROM evaluations WHERE id = ?",
                       (evaluation_id,))
    return rows[0] if rows else None


def crossings(store: Store) -> list[Row]:
    """Every (developer_key, model_key, domain, level) at early warning or red line."""
    return store.query("SELECT DISTINCT developer_key, model_key, domain, level FROM evaluations "
                       "WHERE level IN ('early-warning', 'red-line')")


def crossings_by_domain(store: Store) -> list[Row]:
    return store.query(
        "SELECT domain, level, COUNT(*) AS n FROM evaluations WHERE level IN "
        "('early-warning', 'red-line') GROUP BY domain, level ORDER BY domain, level")


def insert_monitoring(tx: sqlite3.Connection, doc: dict[str, Any], developer_key: str,
                      incident_id: str | None, digest: str, received_at: str) -> bool:
    cur = tx.execute(
        "INSERT INTO monitoring_signals(id, origin, developer_key, incident_id, digest, "
        "received_at, document) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (doc["id"], doc["origin"], developer_key, incident_id, digest, received_at,
         json.dumps(doc)))
    return cur.rowcount > 0


def monitoring_signal(store: Store, signal_id: str) -> Row | None:
    rows = store.query("SELECT document, digest, incident_id FROM monitoring_signals "
                       "WHERE id = ?", (signal_id,))
    return rows[0] if rows else None


# -- training runs and deadlines -----------------------------------------------------------------
def insert_training_run(tx: sqlite3.Connection, doc: dict[str, Any], developer_key: str,
                        digest: str, received_at: str) -> bool:
    cur = tx.execute(
        "INSERT INTO training_runs(id, origin, developer_key, compute_flop, digest, received_at, "
        "document) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (doc["id"], doc["origin"], developer_key, float(doc["compute_flop"]), digest,
         received_at, json.dumps(doc)))
    return cur.rowcount > 0


def insert_deadline(tx: sqlite3.Connection, subject: str, origin: str, clock: dict[str, Any],
                    met_at: str | None) -> None:
    tx.execute(
        "INSERT INTO deadlines(subject, clock, citation, origin, anchor_at, due_at, state, "
        "met_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (subject, clock["clock"], clock.get("citation", clock["clock"]), origin,
         clock["anchor_at"], clock["due_at"], "met" if met_at else "due", met_at))


def mark_overdue(tx: sqlite3.Connection, now: str) -> list[Row]:
    """Move every due deadline whose time has come to overdue, in one conditional UPDATE (so
    each turns once, however often this runs); the rows that turned now."""
    return tx.execute(
        "UPDATE deadlines SET state = 'overdue', overdue_at = ? "
        "WHERE state = 'due' AND due_at <= ? RETURNING subject, clock", (now, now)).fetchall()


def deadlines(store: Store, state: str | None) -> list[Row]:
    """Deadlines (of one state, if given) with their run's developer and model, soonest first."""
    return store.query(
        "SELECT d.*, json_extract(t.document, '$.developer') AS developer, "
        "json_extract(t.document, '$.model') AS model FROM deadlines d "
        "LEFT JOIN training_runs t ON t.id = d.subject "
        "WHERE (? IS NULL OR d.state = ?) ORDER BY d.due_at, d.subject", (state, state))


def training_runs(store: Store, developer_key: str | None) -> list[Row]:
    return store.query(
        "SELECT document, digest, compute_flop, developer_key FROM training_runs "
        "WHERE (? IS NULL OR developer_key = ?) ORDER BY received_at DESC, id",
        (developer_key, developer_key))


def declarations_by_threshold(store: Store) -> list[Row]:
    return store.query(
        "SELECT j.value AS threshold, COUNT(*) AS n FROM training_runs t, "
        "json_each(json_extract(t.document, '$.thresholds_crossed')) j GROUP BY j.value "
        "ORDER BY j.value")


# -- provider filings held for review (exchange_provider_filings = "after-review") ---------------
def hold_filing(tx: sqlite3.Connection, filing_id: str, kind: str, developer: str,
                filed_by: str, filed_at: str, body: dict[str, Any]) -> None:
    tx.execute("INSERT INTO provider_filings(id, kind, developer, filed_by, filed_at, body, "
               "state) VALUES (?, ?, ?, ?, ?, ?, 'pending')",
               (filing_id, kind, developer, filed_by, filed_at, json.dumps(body)))


def filings(store: Store, state: str | None) -> list[Row]:
    """Provider filings (of one state, if given), oldest first."""
    return store.query("SELECT * FROM provider_filings WHERE (? IS NULL OR state = ?) "
                       "ORDER BY filed_at, id", (state, state))


def filing(store: Store, filing_id: str) -> Row | None:
    rows = store.query("SELECT * FROM provider_filings WHERE id = ?", (filing_id,))
    return rows[0] if rows else None


def decide_filing(tx: sqlite3.Connection, filing_id: str, state: str, *, at: str, by: str,
                  reason: str) -> bool:
    """Move a pending filing to ``state`` (released or rejected); False if it was not pending
    (another operator decided first): a filing is decided once."""
    cur = tx.execute(
        "UPDATE provider_filings SET state = ?, decided_at = ?, decided_by = ?, reason = ? "
        "WHERE id = ? AND state = 'pending'", (state, at, by, reason, filing_id))
    return cur.rowcount == 1


def undo_release(tx: sqlite3.Connection, filing_id: str) -> None:
    """Back to pending: signing the released filing failed, so nothing left the node."""
    tx.execute("UPDATE provider_filings SET state = 'pending', decided_at = NULL, "
               "decided_by = NULL, reason = NULL WHERE id = ? AND state = 'released' "
               "AND digest IS NULL", (filing_id,))


def record_release(tx: sqlite3.Connection, filing_id: str, message_id: str, digest: str) -> None:
    tx.execute("UPDATE provider_filings SET message_id = ?, digest = ? WHERE id = ?",
               (message_id, digest, filing_id))
