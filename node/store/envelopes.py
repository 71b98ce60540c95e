"""Table ``envelopes`` read back: the verbatim signed messages of one type, or of one digest.
(``node.store.records`` writes them.)

    docs = documents_of_type(store, "escalation")       # decoded payloads, stored order
    env = envelope_by_digest(tx, digest)

Every stored envelope was verified (or signed here) before it was stored, so the payloads are
decoded without verifying them again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from federation.canonical import decode
from federation.envelope import Envelope
from node.store.db import Store


def _documents(rows: list[sqlite3.Row]) -> Iterator[dict[str, Any]]:
    for row in rows:
        doc = decode(Envelope.from_json(row["envelope"]).payload)
        if isinstance(doc, dict):
            yield doc


def documents_of_type(store: Store, message_type: str) -> list[dict[str, Any]]:
    """The payload of every stored envelope of ``message_type`` (objects only)."""
    return list(_documents(store.query(
        "SELECT envelope FROM envelopes WHERE message_type = ?", (message_type,))))


def peer_documents_of_type(store: Store, message_type: str, *, not_from: str,
                           limit: int) -> list[dict[str, Any]]:
    """The payloads of the newest ``limit`` envelopes of ``message_type`` whose origin is not
    ``not_from`` (this node), newest stored first."""
    return list(_documents(store.query(
        "SELECT envelope FROM envelopes WHERE message_type = ? AND origin != ? "
        "ORDER BY rowid DESC LIMIT ?", (message_type, not_from, limit))))


def envelope_by_digest(tx: sqlite3.Connection, digest: str) -> Envelope | None:
    """The stored envelope ``digest``, if there is one."""
    row = tx.execute("SELECT envelope FROM envelopes WHERE digest = ?", (digest,)).fetchone()
    return None if row is None else Envelope.from_json(bytes(row["envelope"]))
