"""Table ``web_sessions``: the console's sign-in sessions, each bound to an API token (``tokens``,
joined to learn the token's role and fate). Only a hash of the cookie secret is stored.

    with store.transaction() as tx:
        prune_sessions(tx, expired_by=now, idle_since=now_minus_idle)
        insert_session(tx, id_hash, token_id, created_at=now, expires_at=later)
    row = session_with_token(store, id_hash)
"""

from __future__ import annotations

import sqlite3

from node.store.db import Store


def prune_sessions(tx: sqlite3.Connection, *, expired_by: str, idle_since: str) -> None:
    """Forget sessions that expired before ``expired_by`` or were last seen before
    ``idle_since``."""
    tx.execute("DELETE FROM web_sessions WHERE expires_at < ? OR seen_at < ?",
               (expired_by, idle_since))


def insert_session(tx: sqlite3.Connection, id_hash: str, token_id: str, *, created_at: str,
                   expires_at: str) -> None:
    tx.execute("INSERT INTO web_sessions(id_hash, token_id, created_at, seen_at, expires_at) "
               "VALUES (?, ?, ?, ?, ?)", (id_hash, token_id, created_at, created_at, expires_at))


def session_with_token(store: Store, id_hash: str) -> sqlite3.Row | None:
    """The session (token_id, seen_at, expires_at) with its token's role, label, revoked_at,
    ``token_expires_at``, developer (a provider's) and organisation (an evaluator's)."""
    rows = store.query(
        "SELECT s.token_id, s.seen_at, s.expires_at, t.role, t.label, t.revoked_at, "
        "t.expires_at AS token_expires_at, t.developer, t.organisation "
        "FROM web_sessions s JOIN tokens t ON t.token_id = s.token_id "
        "WHERE s.id_hash = ?", (id_hash,))
    return rows[0] if rows else None


def touch_session(tx: sqlite3.Connection, id_hash: str, at: str) -> None:
    """Record activity on a session (it ends after a while without any)."""
    tx.execute("UPDATE web_sessions SET seen_at = ? WHERE id_hash = ?", (at, id_hash))


def delete_session(tx: sqlite3.Connection, id_hash: str) -> None:
    tx.execute("DELETE FROM web_sessions WHERE id_hash = ?", (id_hash,))
