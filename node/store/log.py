"""Table ``log_leaves``: this node's transparency log, one leaf per envelope it signs (RFC 9162
leaf hashes, appended by ``node.store.records.append_log_leaf`` in the envelope's transaction).

    size = count_leaves(store)
    hashes = leaf_hashes(store, 0, 1024)
    index = leaf_index(store, digest)

``log_entries`` also reads ``envelopes``, ``incident_revisions`` and ``incidents``: an entry
shows its envelope unless the incident it carries is labelled so that it must be withheld.
"""

from __future__ import annotations

import sqlite3

from node.store.db import Store


def count_leaves(store: Store) -> int:
    """The size of this node's log."""
    return int(store.scalar("SELECT COUNT(*) FROM log_leaves") or 0)


def leaf_hashes(store: Store, start: int, stop: int) -> list[bytes]:
    """The leaf hashes at indices ``start`` ≤ i < ``stop``, in order."""
    return [bytes(r[0]) for r in store.query(
        "SELECT leaf_hash FROM log_leaves WHERE idx >= ? AND idx < ? ORDER BY idx",
        (start, stop))]


def leaf_index(store: Store, digest: str) -> int | None:
    """The index of the leaf of the envelope ``digest``, if this node logged it."""
    index = store.scalar("SELECT idx FROM log_leaves WHERE digest = ?", (digest,))
    return None if index is None else int(index)


def log_entries(store: Store, start: int, limit: int) -> list[sqlite3.Row]:
    """Up to ``limit`` leaves from index ``start``: idx, digest, envelope, and the TLP of the
    incident the envelope carries (None if it carries none)."""
    return store.query(
        "SELECT l.idx, l.digest, e.envelope, i.tlp FROM log_leaves l "
        "JOIN envelopes e ON e.digest = l.digest "
        "LEFT JOIN incident_revisions r ON r.digest = l.digest "
        "LEFT JOIN incidents i ON i.id = r.id "
        "WHERE l.idx >= ? ORDER BY l.idx LIMIT ?", (start, limit))
