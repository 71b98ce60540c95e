"""Table ``incident_links``: signed ``link`` messages between two reports (``same-as`` or
``related-to``), kept once each.

    with store.transaction() as tx:
        record_link(tx, "gb-…", "fr-…", "same-as", "gb", digest, issued_at)
    pairs = same_as_pairs(store)
    docs = other_incident_documents(store, "gb-…")    # candidates, from ``incidents``

``other_incident_documents`` reads ``incidents``: the reports a new link could point to.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from node.store.db import Store, row_dict


def record_link(tx: sqlite3.Connection, incident_id: str, linked_id: str, relation: str,
                origin: str, digest: str, issued_at: str) -> None:
    tx.execute("INSERT OR IGNORE INTO incident_links(incident_id, linked_id, relation, origin, "
               "digest, issued_at) VALUES (?,?,?,?,?,?)",
               (incident_id, linked_id, relation, origin, digest, issued_at))


def links_of(store: Store, incident_id: str) -> list[dict[str, Any]]:
    """Every link that names ``incident_id``, from either side, oldest first."""
    return [row_dict(r) for r in store.query(
        "SELECT incident_id, linked_id, relation, origin, digest, issued_at FROM incident_links "
        "WHERE incident_id = ? OR linked_id = ? ORDER BY issued_at", (incident_id, incident_id))]


def same_as_pairs(store: Store) -> list[tuple[str, str]]:
    """Every ``same-as`` link as ``(incident_id, linked_id)``."""
    return [(r["incident_id"], r["linked_id"]) for r in store.query(
        "SELECT incident_id, linked_id FROM incident_links WHERE relation = 'same-as'")]


def other_incident_documents(store: Store, incident_id: str) -> list[dict[str, Any]]:
    """The current document of every stored incident but ``incident_id``."""
    return [json.loads(r["document"]) for r in store.query(
        "SELECT document FROM incidents WHERE id != ?", (incident_id,))]
