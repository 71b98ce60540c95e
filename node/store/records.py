"""Tables ``envelopes``, ``log_leaves`` (appending), ``outbox``, ``quarantine``, ``incidents``
and ``incident_revisions``: one function per thing a node records or asks of them.

    with store.transaction() as tx:
        new = insert_envelope(tx, digest, "incident", "gb", subject, data, at, local=True)

Writers take the open transaction (``tx``) so that callers decide what commits together: a
filed report, its log leaf and its outbox row commit at once; a consumer batch commits at once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from federation.severity import Severity
from node.store import search
from node.store.db import Page, Store, row_dict


def insert_envelope(tx: sqlite3.Connection, digest: str, message_type: str, origin: str,
                    subject: str, data: bytes, received_at: str, *, local: bool) -> bool:
    """Store a verbatim envelope; False if this digest is already stored (idempotent)."""
    cur = tx.execute(
        "INSERT INTO envelopes(digest, message_type, origin, subject, envelope, received_at, "
        "local) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(digest) DO NOTHING",
        (digest, message_type, origin, subject, data, received_at, int(local)))
    return cur.rowcount == 1


def append_log_leaf(tx: sqlite3.Connection, digest: str) -> int:
    """Append a leaf (RFC 9162: SHA-256(0x00 ‖ 32-byte digest)) to this node's log."""
    leaf_hash = hashlib.sha256(b"\x00" + bytes.fromhex(digest)).digest()
    idx = tx.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM log_leaves").fetchone()[0]
    tx.execute("INSERT INTO log_leaves(idx, digest, leaf_hash) VALUES (?, ?, ?)",
               (idx, digest, leaf_hash))
    return int(idx)


def enqueue(tx: sqlite3.Connection, digest: str, subject: str, data: bytes, at: str) -> None:
    tx.execute("INSERT INTO outbox(digest, subject, data, created_at) VALUES (?, ?, ?, ?) "
               "ON CONFLICT(digest) DO NOTHING", (digest, subject, data, at))


def pending_outbox(store: Store, limit: int) -> list[sqlite3.Row]:
    return store.query("SELECT seq, digest, subject, data FROM outbox WHERE sent_at IS NULL "
                       "ORDER BY seq LIMIT ?", (limit,))


def outbox_depth(store: Store) -> int:
    return int(store.scalar("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL") or 0)


def mark_sent(tx: sqlite3.Connection, seqs: list[int], at: str) -> None:
    tx.executemany("UPDATE outbox SET sent_at = ?, attempts = attempts + 1 WHERE seq = ?",
                   [(at, s) for s in seqs])


def mark_failed(tx: sqlite3.Connection, seqs: list[int], error: str) -> None:
    tx.executemany("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
                   [(error[:500], s) for s in seqs])


def quarantine(tx: sqlite3.Connection, at: str, subject: str, reason: str, detail: str,
               data: bytes, digest: str | None = None) -> None:
    tx.execute("INSERT INTO quarantine(at, subject, reason, detail, digest, data) "
               "VALUES (?, ?, ?, ?, ?, ?)", (at, subject, reason, detail[:2000], digest, data))


def quarantine_counts(store: Store) -> dict[str, int]:
    rows = store.query("SELECT reason, COUNT(*) AS n FROM quarantine GROUP BY reason")
    return {r["reason"]: int(r["n"]) for r in rows}


def list_quarantine(store: Store, *, reason: str | None, limit: int,
                    cursor: int | None) -> Page:
    where: list[str] = ["1=1"]
    params: list[Any] = []
    if reason:
        where.append("reason = ?")
        params.append(reason)
    if cursor is not None:
        where.append("seq < ?")
        params.append(cursor)
    rows = store.query(f"SELECT * FROM quarantine WHERE {' AND '.join(where)} "  # noqa: S608
                       "ORDER BY seq DESC LIMIT ?", (*params, limit + 1))
    items = []
    for r in rows[:limit]:
        d = row_dict(r)
        data = d.pop("data")
        d["size"] = len(data)
        d["data_b64"] = base64.b64encode(data[:65536]).decode()
        items.append(d)
    return Page(items, rows[limit - 1]["seq"] if len(rows) > limit else None)


# -- incidents -------------------------------------------------------------------------------
def upsert_incident(tx: sqlite3.Connection, doc: Mapping[str, Any], digest: str,
                    received_at: str) -> bool:
    """Record one signed version of an incident; the newest revision becomes the current one.

    Returns True if this revision is new. An older revision arriving late is kept in
    ``incident_revisions`` but does not replace a newer current version.
    """
    cur = tx.execute("INSERT INTO incident_revisions(id, revision, digest) VALUES (?, ?, ?) "
                     "ON CONFLICT DO NOTHING", (doc["id"], doc["revision"], digest))
    if cur.rowcount == 0:
        return False
    values = (doc["id"], doc["revision"], digest, doc["origin"], doc["severity"],
              Severity(doc["severity"]).rank, doc["tlp"], doc.get("status", "open"),
              doc.get("title", ""), doc.get("occurred_at"), doc["issued_at"], received_at,
              _document_text(doc))
    tx.execute(
        "INSERT INTO incidents(id, revision, digest, origin, severity, severity_rank, tlp, "
        "status, title, occurred_at, issued_at, received_at, document) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
        "revision=excluded.revision, digest=excluded.digest, severity=excluded.severity, "
        "severity_rank=excluded.severity_rank, tlp=excluded.tlp, status=excluded.status, "
        "title=excluded.title, occurred_at=excluded.occurred_at, issued_at=excluded.issued_at, "
        "document=excluded.document WHERE excluded.revision > incidents.revision", values)
    return True


def _document_text(doc: Mapping[str, Any]) -> str:
    """The stored text of an incident: compact JSON, characters as they are (not ``\\u``).

    orjson, not ``json.dumps`` (a twentieth of storing a report). Every reader parses the
    text, so rows written before (``json.dumps``'s spaced form) and after read alike; the
    search's ``LIKE '%word%'`` finds every word it found in the spaced form (a word has no
    spaces, and this text is that one without the spaces after ``,`` and ``:``), except a
    number below 1e-4 spelt with an exponent there (``1e-05``; orjson writes ``0.00001``).
    """
    try:
        return orjson.dumps(doc).decode()
    except TypeError:  # a value orjson does not encode (none in a schema-valid incident)
        return json.dumps(doc, ensure_ascii=False)


def revision_digests(store: Store, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """The digest of each stored version among ``keys`` (incident id, revision), in one query;
    a pair not stored is absent.

    One read instead of one per incident: outside a transaction each query is a read
    transaction of its own (a WAL snapshot taken and released), which cost more than the lookup.
    """
    wanted = json.dumps([[i, r] for i, r in keys])
    rows = store.query(
        "SELECT r.id, r.revision, r.digest FROM json_each(?) AS k JOIN incident_revisions r "
        "ON r.id = json_extract(k.value, '$[0]') AND r.revision = json_extract(k.value, '$[1]')",
        (wanted,))
    return {(str(row["id"]), int(row["revision"])): str(row["digest"]) for row in rows}


def current_incident(tx: sqlite3.Connection, incident_id: str) -> dict[str, Any] | None:
    """The newest stored revision of an incident, as its document."""
    row = tx.execute("SELECT document FROM incidents WHERE id = ?", (incident_id,)).fetchone()
    return None if row is None else dict(json.loads(row["document"]))


SUMMARY_COLUMNS = ("id", "revision", "origin", "digest", "severity", "tlp", "status", "title",
                   "occurred_at", "issued_at", "received_at")


def list_incidents(store: Store, *, origin: str | None, severity: str | None,
                   since: str | None, limit: int, cursor: int | None,
                   text: str | None = None, ids: list[str] | None = None,
                   match: tuple[str, Sequence[Any]] | None = None) -> Page:
    """Newest first. ``severity`` means at least that severity; ``since`` filters issued_at;
    ``text``: every word must occur in the report (any field, ASCII case-insensitive);
    ``ids``: only these incidents; ``match``: only the rows an SQL condition with its
    parameters admits (``node.store.stats.events_condition``: a chart bar's reports)."""
    where: list[str] = ["1=1"]
    params: list[Any] = []
    if ids is not None:
        where.append("id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(ids))
    if match is not None:
        where.append(match[0])
        params += match[1]
    words = (text or "").split()[:8]
    for word in words:
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append("(title LIKE ? ESCAPE '\\' OR document LIKE ? ESCAPE '\\')")
        params += [pattern, pattern]
    if origin:
        where.append("origin = ?")
        params.append(origin)
    if severity:
        where.append("severity_rank >= ?")
        params.append(Severity(severity).rank)
    if since:
        where.append("strftime('%Y-%m-%dT%H:%M:%fZ', issued_at) >= ?")  # mixed precision
        params.append(since)
    if cursor is not None:
        where.append("seq < ?")
        params.append(cursor)
    cols = ", ".join(("seq", *SUMMARY_COLUMNS, "document"))
    # The index narrows a search to its candidates; the predicate above still decides.
    rows = search.search_rows(store, cols, where, params, words, limit + 1, cursor) \
        if words else None
    if rows is None:
        rows = store.query(f"SELECT {cols} FROM incidents "  # noqa: S608
                           f"WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?",
                           (*params, limit + 1))
    items = []
    for r in rows[:limit]:
        doc = json.loads(r["document"])
        item = {k: r[k] for k in SUMMARY_COLUMNS}
        item.update(harm_types=doc.get("harm_types", []), red_lines=doc.get("red_lines", []),
                    affected_jurisdictions=doc.get("affected_jurisdictions", []))
        items.append(item)
    return Page(items, rows[limit - 1]["seq"] if len(rows) > limit else None)


def get_incident(store: Store, incident_id: str) -> dict[str, Any] | None:
    rows = store.query("SELECT i.*, e.envelope, e.subject FROM incidents i "
                       "JOIN envelopes e ON e.digest = i.digest WHERE i.id = ?", (incident_id,))
    if not rows:
        return None
    d = row_dict(rows[0])
    d["revisions"] = [row_dict(r) for r in store.query(
        "SELECT revision, digest FROM incident_revisions WHERE id = ? ORDER BY revision",
        (incident_id,))]
    return d


def count_incidents(store: Store) -> int:
    return int(store.scalar("SELECT COUNT(*) FROM incidents") or 0)


def incident_versions(store: Store, tlps: tuple[str, ...]) -> list[tuple[dict[str, Any], str]]:
    """Every stored signed revision of the incidents labelled with one of ``tlps``, as
    ``(document, received_at)``, oldest first (the TAXII server's source)."""
    marks = ",".join("?" * len(tlps))
    rows = store.query(
        "SELECT e.envelope, e.received_at FROM incident_revisions r "  # noqa: S608
        "JOIN incidents i ON i.id = r.id JOIN envelopes e ON e.digest = r.digest "
        f"WHERE i.tlp IN ({marks}) ORDER BY e.received_at, r.id, r.revision", tlps)
    out = []
    for r in rows:
        payload = base64.b64decode(json.loads(r["envelope"])["payload"])
        out.append((dict(json.loads(payload)), str(r["received_at"])))
    return out


def revisions_stamp(store: Store) -> tuple[int, int]:
    """Changes whenever an incident revision is stored (a cache key for derived views)."""
    rows = store.query("SELECT COUNT(*) AS n, COALESCE(MAX(rowid), 0) AS last "
                       "FROM incident_revisions")
    return int(rows[0]["n"]), int(rows[0]["last"])
