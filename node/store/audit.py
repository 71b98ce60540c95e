"""Table ``audit_trail``: every state-changing action taken at this node (API or CLI), who took
it and its outcome.

    with store.transaction() as tx:
        seq = append_action(tx, at=now, via="cli", method="CLI", path="users add", status=0)
    rows, next_cursor = list_actions(store, token_id=None, cursor=None, limit=50)
"""

from __future__ import annotations

import sqlite3
from typing import Any

from node.store.db import Store


def append_action(tx: sqlite3.Connection, *, at: str, via: str, method: str, path: str,
                  status: int, token_id: str | None = None, role: str | None = None,
                  label: str | None = None, route: str | None = None,
                  target: str | None = None, digest: str | None = None,
                  remote: str | None = None) -> int:
    """Append one action; return its sequence number (``path`` is cut to 2,000 characters)."""
    cur = tx.execute(
        "INSERT INTO audit_trail(at, via, token_id, role, label, method, path, route, target, "
        "digest, status, remote) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (at, via, token_id, role, label, method, path[:2000], route, target, digest, status,
         remote))
    return int(cur.lastrowid or 0)


def list_actions(store: Store, *, token_id: str | None, cursor: int | None,
                 limit: int) -> tuple[list[sqlite3.Row], int | None]:
    """Up to ``limit`` actions, newest first, before ``cursor`` (a ``seq``) and of ``token_id``
    if given; with the cursor of the next page (None on the last)."""
    where, params = ["1=1"], list[Any]()
    if cursor is not None:
        where.append("seq < ?")
        params.append(cursor)
    if token_id:
        where.append("token_id = ?")
        params.append(token_id)
    rows = store.query(f"SELECT * FROM audit_trail WHERE {' AND '.join(where)} "  # noqa: S608
                       "ORDER BY seq DESC LIMIT ?", (*params, limit + 1))
    return rows[:limit], (int(rows[limit - 1]["seq"]) if len(rows) > limit else None)
