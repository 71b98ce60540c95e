"""Tables ``checkpoints``, ``cosignatures`` and ``equivocations``: the checkpoints this node
published or witnessed, the cosignature lines it holds for them, and the equivocations it found.

    with store.transaction() as tx:
        last = last_accepted_checkpoint(tx, "gb")
        record_checkpoint(tx, "gb", 8, root, note, digest, issued_at, now, "consistent", detail)
    lines = cosignature_lines(store, "gb", 8)

A checkpoint's ``status`` is ``own`` (this node's log), ``first-seen`` or ``consistent`` (a peer's,
accepted), ``unverified`` or ``inconsistent``. Only accepted ones are built upon.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from node.store.db import Store, row_dict

ACCEPTED = ("consistent", "first-seen")


# -- checkpoints ------------------------------------------------------------------------------
def checkpoint_at(tx: sqlite3.Connection, origin: str, size: int) -> sqlite3.Row | None:
    """The checkpoint of ``origin``'s log at ``size`` this node holds (root, note), if any."""
    row: sqlite3.Row | None = tx.execute(
        "SELECT root, note FROM checkpoints WHERE origin = ? AND size = ?",
        (origin, size)).fetchone()
    return row


def last_accepted_checkpoint(tx: sqlite3.Connection, origin: str) -> sqlite3.Row | None:
    """The largest checkpoint of peer ``origin`` this node accepted (size, root, note)."""
    row: sqlite3.Row | None = tx.execute(
        "SELECT size, root, note FROM checkpoints WHERE origin = ? AND status IN (?, ?) "
        "ORDER BY size DESC LIMIT 1", (origin, *ACCEPTED)).fetchone()
    return row


def latest_checkpoint(store: Store, origin: str) -> dict[str, Any] | None:
    """The largest checkpoint of ``origin`` that is this node's own or accepted, every column."""
    rows = store.query("SELECT * FROM checkpoints WHERE origin = ? AND status IN "
                       "('own', ?, ?) ORDER BY size DESC LIMIT 1", (origin, *ACCEPTED))
    return row_dict(rows[0]) if rows else None


def accepted_note(tx: sqlite3.Connection, origin: str, size: int, root: bytes) -> str | None:
    """The note of the checkpoint of ``origin`` with this size and root, if this node holds it."""
    row = tx.execute("SELECT note FROM checkpoints WHERE origin = ? AND size = ? AND root = ?",
                     (origin, size, root)).fetchone()
    return None if row is None else str(row["note"])


def checkpoint_status(store: Store, origin: str, size: int) -> str | None:
    """What witnessing found of ``origin``'s checkpoint at ``size`` (``own`` for this node's)."""
    status = store.scalar("SELECT status FROM checkpoints WHERE origin = ? AND size = ?",
                          (origin, size))
    return None if status is None else str(status)


def checkpoints_of(store: Store, origin: str, *, limit: int) -> list[sqlite3.Row]:
    """The checkpoints of ``origin`` this node holds, largest first."""
    return store.query("SELECT origin, size, root, note, issued_at, received_at, status, detail "
                       "FROM checkpoints WHERE origin = ? ORDER BY size DESC LIMIT ?",
                       (origin, limit))


def record_checkpoint(tx: sqlite3.Connection, origin: str, size: int, root: bytes, note: str,
                      digest: str, issued_at: str, received_at: str, status: str,
                      detail: str) -> None:
    """Keep a peer's checkpoint with what witnessing it found (the first record of a size
    stays)."""
    tx.execute("INSERT INTO checkpoints(origin, size, root, note, digest, issued_at, received_at, "
               "status, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
               (origin, size, root, note, digest, issued_at, received_at, status, detail))


def record_own_checkpoint(tx: sqlite3.Connection, origin: str, size: int, root: bytes,
                          note: str, digest: str, issued_at: str, at: str) -> None:
    """Keep a checkpoint this node published of its own log (a second one of a size fails)."""
    tx.execute("INSERT INTO checkpoints(origin, size, root, note, digest, issued_at, "
               "received_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'own')",
               (origin, size, root, note, digest, issued_at, at))


# -- cosignatures -----------------------------------------------------------------------------
def record_cosignature(tx: sqlite3.Connection, origin: str, size: int, witness: str, line: str,
                       at: str) -> None:
    """Keep ``witness``'s cosignature line on ``origin``'s checkpoint at ``size`` (the newest
    line of a witness replaces its older one)."""
    tx.execute("INSERT INTO cosignatures(origin, size, witness, line, at) VALUES (?, ?, ?, ?, ?) "
               "ON CONFLICT DO UPDATE SET line = excluded.line, at = excluded.at",
               (origin, size, witness, line, at))


def cosignatures_of(store: Store, origin: str, size: int) -> list[sqlite3.Row]:
    """The cosignatures (witness, line, at) on ``origin``'s checkpoint at ``size``, by witness."""
    return store.query("SELECT witness, line, at FROM cosignatures WHERE origin = ? AND "
                       "size = ? ORDER BY witness", (origin, size))


# -- equivocations ----------------------------------------------------------------------------
def equivocation_known(tx: sqlite3.Connection, origin: str, size: int) -> bool:
    return tx.execute("SELECT 1 FROM equivocations WHERE origin = ? AND size = ?",
                      (origin, size)).fetchone() is not None


def record_equivocation(tx: sqlite3.Connection, origin: str, size: int, evidence: str,
                        detected_at: str, incident_id: str) -> None:
    """Keep the evidence (JSON) that ``origin``'s log equivocated at ``size``."""
    tx.execute("INSERT INTO equivocations(origin, size, evidence, detected_at, incident_id) "
               "VALUES (?, ?, ?, ?, ?)", (origin, size, evidence, detected_at, incident_id))


def list_equivocations(store: Store) -> list[sqlite3.Row]:
    """Every equivocation found, newest first."""
    return store.query("SELECT * FROM equivocations ORDER BY seq DESC")
