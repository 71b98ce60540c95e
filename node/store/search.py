"""The incident search index: tables ``incident_search`` (FTS5) and ``incident_search_stale``,
the watermark in ``meta``; it reads ``incidents`` (migration "search:" in node/store/db.py).

    with store.transaction() as tx:
        index_pending(tx, limit=200)          # the background task, after batches commit
    rows = search_rows(store, cols, where, params, words, limit, cursor)  # list_incidents

Indexing is off the storing transaction: ``index_pending`` adds the rows stored since the
watermark (meta ``search_indexed_seq``) and re-indexes the rows replaced by a new revision
(``incident_search_stale``, filled by a trigger), in the caller's transaction. A search takes
the rows the index offers (newest first, straight from its rowid order, so the first page of a
word most reports contain costs no more than a rare one) plus every row the index cannot
vouch for — stored after the watermark, or replaced since it was indexed — and applies the exact
predicate to all of them, so it returns what the plain ``LIKE`` scan returns, at once.
What the index holds and why it loses no match: federation/search_text.py.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from federation.search_text import match_expression, trigrams
from node.store.db import Store

WATERMARK = "search_indexed_seq"
PROBE = 256  # rows read per trigram to estimate how common it is
SELECTIVE = 0.02  # a second trigram joins the AND only if at most this share of rows hold it


def watermark(conn: sqlite3.Connection) -> int:
    """The highest ``incidents.seq`` the index covers (every row at or below it is indexed)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (WATERMARK,)).fetchone()
    return 0 if row is None else int(row[0])


def index_pending(tx: sqlite3.Connection, limit: int) -> int:
    """Index up to ``limit`` rows the index does not cover yet; how many it indexed (0: caught
    up). Replaced rows first, then new ones in ``seq`` order."""
    done = 0
    stale = tx.execute("SELECT seq, indexed_document FROM incident_search_stale ORDER BY seq "
                       "LIMIT ?", (limit,)).fetchall()
    for seq, indexed in stale:
        # A contentless index deletes a row only given the exact text it indexed.
        tx.execute("INSERT INTO incident_search(incident_search, rowid, body) "
                   "VALUES ('delete', ?, beacon_search_text(?))", (seq, indexed))
        tx.execute("INSERT INTO incident_search(rowid, body) SELECT seq, "
                   "beacon_search_text(document) FROM incidents WHERE seq = ?", (seq,))
        tx.execute("DELETE FROM incident_search_stale WHERE seq = ?", (seq,))
        done += 1
    if done >= limit:
        return done
    mark = watermark(tx)
    top = tx.execute("SELECT MAX(seq) FROM (SELECT seq FROM incidents WHERE seq > ? "
                     "ORDER BY seq LIMIT ?)", (mark, limit - done)).fetchone()[0]
    if top is None:
        return done
    cur = tx.execute("INSERT INTO incident_search(rowid, body) SELECT seq, "
                     "beacon_search_text(document) FROM incidents WHERE seq > ? AND seq <= ?",
                     (mark, top))
    Store.set_meta(tx, WATERMARK, str(top))
    return done + cur.rowcount


def pending(store: Store) -> bool:
    """Whether any row waits for the index (two index lookups: cheap enough to poll)."""
    mark = watermark(store.conn)
    return bool(store.scalar("SELECT EXISTS(SELECT 1 FROM incidents WHERE seq > ?) OR "
                             "EXISTS(SELECT 1 FROM incident_search_stale)", (mark,)))


def backlog(store: Store) -> int:
    """Rows the index does not cover yet (for /healthz and the benchmark)."""
    mark = watermark(store.conn)
    return int(store.scalar("SELECT (SELECT COUNT(*) FROM incidents WHERE seq > ?) + "
                            "(SELECT COUNT(*) FROM incident_search_stale)", (mark,)) or 0)


def search_rows(store: Store, cols: str, where: list[str], params: list[Any],
                words: list[str], limit: int, cursor: int | None) -> list[sqlite3.Row] | None:
    """The first ``limit`` rows of ``incidents`` (``cols``, newest first, below ``cursor``)
    that satisfy ``where``, which must hold the exact text predicate for ``words``; ``None`` if
    no word is indexable (the caller scans)."""
    grams = trigrams(words)
    if not grams:
        return None
    mark = watermark(store.conn)
    match = match_expression(_selective(store, grams, mark))
    cond = " AND ".join(where)
    below = [] if cursor is None else [cursor]
    cursor_sql = "" if cursor is None else " AND f.rowid < ?"
    # 1. what the index offers, newest first: FTS5 walks its rowids downwards, so LIMIT stops it
    indexed = store.query(
        f"SELECT {cols} FROM incident_search f JOIN incidents i ON i.seq = f.rowid "  # noqa: S608
        f"WHERE incident_search MATCH ? AND f.rowid <= ?{cursor_sql} AND {cond} "
        "ORDER BY f.rowid DESC LIMIT ?", (match, mark, *below, *params, limit))
    # 2. what it cannot vouch for: stored after the watermark, or replaced since indexed (two
    # queries: SQLite plans "seq > ? OR seq IN (…)" as a scan of the whole table)
    unindexed = [*store.query(
        f"SELECT {cols} FROM incidents WHERE seq > ? AND {cond} "  # noqa: S608
        "ORDER BY seq DESC LIMIT ?", (mark, *params, limit)), *store.query(
        f"SELECT {cols} FROM incidents WHERE seq IN "  # noqa: S608
        f"(SELECT seq FROM incident_search_stale) AND {cond} ORDER BY seq DESC LIMIT ?",
        (*params, limit))]
    merged = {r["seq"]: r for r in indexed}
    merged.update((r["seq"], r) for r in unindexed)
    return [merged[s] for s in sorted(merged, reverse=True)[:limit]]


def _selective(store: Store, grams: list[str], mark: int) -> list[str]:
    """The rarest one or two of ``grams``. FTS5 walks every posting list of an AND, and a
    trigram most reports hold ("ent", "000") costs more than it filters: at 10^5 reports
    ``"inc" "ide" "ent" "999"`` took 25 ms where ``"999"`` alone took 0.1 ms and left the same
    281 candidates for the exact re-check. How common each one is comes from its first
    ``PROBE`` rows: the rowid of the last of them says how far they spread."""
    if len(grams) == 1:
        return grams
    shares = []
    for gram in grams:
        n, last = store.query(
            "SELECT COUNT(*), MAX(rowid) FROM (SELECT rowid FROM incident_search WHERE "
            "incident_search MATCH ? ORDER BY rowid LIMIT ?)", (match_expression([gram]),
                                                                 PROBE))[0]
        shares.append((n / max(mark if n < PROBE else last, 1), gram))
    shares.sort()
    return [shares[0][1]] + [g for share, g in shares[1:2] if share <= SELECTIVE]
