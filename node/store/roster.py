"""Table ``roster_versions``: every roster version this node accepted after genesis, as the
verbatim envelope the council signed.

    with store.transaction() as tx:
        record_roster_version(tx, 4, digest, envelope_bytes, now)
    later = roster_envelopes(store, after=3)          # oldest first
"""

from __future__ import annotations

import sqlite3

from node.store.db import Store


def record_roster_version(tx: sqlite3.Connection, version: int, digest: str, envelope: bytes,
                          accepted_at: str) -> None:
    tx.execute("INSERT INTO roster_versions(version, digest, envelope, accepted_at) "
               "VALUES (?, ?, ?, ?)", (version, digest, envelope, accepted_at))


def roster_envelopes(store: Store, *, after: int | None = None) -> list[bytes]:
    """The envelopes of the versions after ``after`` (every stored one if None), in order."""
    return [bytes(r["envelope"]) for r in store.query(
        "SELECT envelope FROM roster_versions WHERE ? IS NULL OR version > ? ORDER BY version",
        (after, after))]
