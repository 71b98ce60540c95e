"""Tables ``escalation_facts``, ``escalation_answers``, ``escalation_samples``,
``escalation_closed_ids``, ``escalation_closed_incidents``, ``escalation_counts`` (kept by
triggers) and their watermark in ``meta``: the
escalation figures kept as their messages arrive (not the inbox's ``escalations``: ``runs``).

    with store.transaction(durable=False) as tx:
        keep_escalation(tx, row); keep_answer(tx, "esc-1", "fr", issued_us, rank)
        settle(tx, "esc-1", "waiting", ["fr"], [("fr", 1, 12.5)])
        set_watermark(tx, seq)
    counts = state_counts(store, now_us)            # answered, closed, open, overdue
    rows = waiting_items(store, now_us, overdue=True, limit=50)
    values = samples_at(store, tier, n, k, 2)       # the k-th and next smallest of n ack times

A projection of the ``escalation``, ``ack``, ``decline``, ``step`` and ``resolution`` envelopes
up to the watermark (``node.pipeline.statistics`` folds them in and decides each escalation's
state): per escalation its facts and its state — ``answered``, ``closed`` or ``waiting``; a
waiting escalation is open or overdue by its deadline, which a query splits at ``now`` —
per recipient its first answer, per acked recipient the ack time, and what resolutions closed.
Every table can be rebuilt from the envelopes, so it is written with ``durable=False``.
Instants are integer microseconds since 1970 (UTC): exact, and ordered as the instants are.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from node.store.db import Store

WATERMARK = "escalation_figures_seq"

Db = Store | sqlite3.Connection


def _rows(db: Db, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
    if isinstance(db, Store):
        return db.query(sql, params)
    return db.execute(sql, params).fetchall()


def watermark(db: Db) -> int:
    """The highest envelope rowid folded in (0: none)."""
    rows = _rows(db, "SELECT value FROM meta WHERE key = ?", (WATERMARK,))
    return int(rows[0][0]) if rows else 0


def set_watermark(tx: sqlite3.Connection, seq: int) -> None:
    Store.set_meta(tx, WATERMARK, str(seq))


@dataclass(frozen=True)
class EscalationRow:
    """An ``escalation_facts`` row; ``recipients`` and ``waiting_on`` are JSON lists."""

    id: str
    envelope_origin: str
    seq: int
    origin: str
    incident_id: str
    tier: int
    issued_us: int
    deadline_us: int
    recipients: str
    acks: str
    state: str
    waiting_on: str


def precedence(tx: sqlite3.Connection, escalation_id: str) -> tuple[str, int] | None:
    """``(envelope origin, seq)`` of the escalation kept under this id, if any."""
    row = tx.execute("SELECT envelope_origin, seq FROM escalation_facts WHERE id = ?",
                     (escalation_id,)).fetchone()
    return None if row is None else (str(row[0]), int(row[1]))


def keep_escalation(tx: sqlite3.Connection, row: EscalationRow) -> None:
    """Keep an escalation (in place of one with its id: an upsert, so that the counting
    triggers see an update, not a replacement's silent delete)."""
    tx.execute("INSERT INTO escalation_facts(id, envelope_origin, seq, origin, incident_id, "
               "tier, issued_us, deadline_us, recipients, acks, state, waiting_on) "
               "VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
               "envelope_origin = excluded.envelope_origin, seq = excluded.seq, "
               "origin = excluded.origin, incident_id = excluded.incident_id, "
               "tier = excluded.tier, issued_us = excluded.issued_us, "
               "deadline_us = excluded.deadline_us, recipients = excluded.recipients, "
               "acks = excluded.acks, state = excluded.state, waiting_on = excluded.waiting_on",
               (row.id, row.envelope_origin, row.seq, row.origin, row.incident_id, row.tier,
                row.issued_us, row.deadline_us, row.recipients, row.acks, row.state,
                row.waiting_on))


def escalation(tx: sqlite3.Connection, escalation_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = tx.execute("SELECT * FROM escalation_facts WHERE id = ?",
                                         (escalation_id,)).fetchone()
    return row


def keep_answer(tx: sqlite3.Connection, escalation_id: str, origin: str, issued_us: int,
                rank: int) -> bool:
    """Keep a recipient's answer if it comes first (earlier, or as early and of lower rank);
    True if it does."""
    cur = tx.execute(
        "INSERT INTO escalation_answers(escalation_id, origin, issued_us, rank) "
        "VALUES (?,?,?,?) ON CONFLICT(escalation_id, origin) DO UPDATE SET "
        "issued_us = excluded.issued_us, rank = excluded.rank "
        "WHERE (excluded.issued_us, excluded.rank) < (issued_us, rank)",
        (escalation_id, origin, issued_us, rank))
    return cur.rowcount > 0


def first_answers(tx: sqlite3.Connection, escalation_id: str) -> dict[str, tuple[int, int]]:
    """``{recipient: (issued_us, rank)}``: each one's first answer to the escalation."""
    return {str(r[0]): (int(r[1]), int(r[2])) for r in tx.execute(
        "SELECT origin, issued_us, rank FROM escalation_answers WHERE escalation_id = ?",
        (escalation_id,))}


def close_named(tx: sqlite3.Connection, escalation_id: str) -> None:
    tx.execute("INSERT OR IGNORE INTO escalation_closed_ids(escalation_id) VALUES (?)",
               (escalation_id,))


def close_incident(tx: sqlite3.Connection, origin: str, incident_id: str,
                   issued_us: int) -> bool:
    """Keep a resolution of the incident if it is its latest; True if it is."""
    cur = tx.execute(
        "INSERT INTO escalation_closed_incidents(origin, incident_id, issued_us) VALUES (?,?,?) "
        "ON CONFLICT(origin, incident_id) DO UPDATE SET issued_us = excluded.issued_us "
        "WHERE excluded.issued_us > issued_us", (origin, incident_id, issued_us))
    return cur.rowcount > 0


def ids_of_incident(tx: sqlite3.Connection, origin: str, incident_id: str) -> list[str]:
    return [str(r[0]) for r in tx.execute(
        "SELECT id FROM escalation_facts WHERE origin = ? AND incident_id = ?",
        (origin, incident_id))]


def is_closed(tx: sqlite3.Connection, row: sqlite3.Row) -> bool:
    """A resolution names the escalation, or resolved its incident when or after it was
    issued."""
    closed: int = tx.execute(
        "SELECT EXISTS (SELECT 1 FROM escalation_closed_ids WHERE escalation_id = ?) "
        "OR EXISTS (SELECT 1 FROM escalation_closed_incidents WHERE origin = ? "
        "AND incident_id = ? AND issued_us >= ?)",
        (row["id"], row["origin"], row["incident_id"], row["issued_us"])).fetchone()[0]
    return closed == 1


def settle(tx: sqlite3.Connection, escalation_id: str, state: str, waiting_on: str,
           samples: list[tuple[str, int, float]]) -> None:
    """An escalation's state and its ack times ``(recipient, tier, seconds)``, replaced."""
    tx.execute("UPDATE escalation_facts SET state = ?, waiting_on = ? WHERE id = ?",
               (state, waiting_on, escalation_id))
    tx.execute("DELETE FROM escalation_samples WHERE escalation_id = ?", (escalation_id,))
    tx.executemany("INSERT INTO escalation_samples(escalation_id, recipient, tier, seconds) "
                   "VALUES (?,?,?,?)", [(escalation_id, *s) for s in samples])


# -- reading ----------------------------------------------------------------------------------
def state_counts(store: Store, now_us: int) -> dict[str, int]:
    """How many escalations stand in each state at ``now_us``: the kept counts, and the
    waiting ones split at ``now_us`` by counting the open ones (deadline not yet passed: the
    recent ones, where overdue ones pile up) in the state index."""
    kept = {str(r["key"]): int(r["n"]) for r in store.query(
        "SELECT key, n FROM escalation_counts WHERE kind = 'state'")}
    still = int(store.scalar("SELECT COUNT(*) FROM escalation_facts WHERE state = 'waiting' "
                             "AND deadline_us >= ?", (now_us,)))
    return {"answered": kept.get("answered", 0), "closed": kept.get("closed", 0),
            "open": still, "overdue": kept.get("waiting", 0) - still}


def waiting_items(store: Store, now_us: int, *, overdue: bool, limit: int) -> list[sqlite3.Row]:
    """The first ``limit`` overdue (or open) escalations at ``now_us``, soonest deadline
    first, then by id."""
    return store.query(
        "SELECT * FROM escalation_facts WHERE state = 'waiting' AND deadline_us "  # noqa: S608
        + ("<" if overdue else ">=") + " ? ORDER BY deadline_us, id LIMIT ?", (now_us, limit))


def tier_counts(store: Store) -> dict[int, int]:
    """How many ack times each tier has (tiers with any), by tier."""
    counts = {int(r["key"]): int(r["n"]) for r in store.query(
        "SELECT key, n FROM escalation_counts WHERE kind = 'tier' AND n > 0")}
    return dict(sorted(counts.items()))


def samples_at(store: Store, tier: int, n: int, k: int, count: int) -> list[float]:
    """The ``k``-th to ``k + count - 1``-th smallest of the ``n`` ack times of ``tier`` (from
    0; fewer at the end), read from the nearer end of the index: a percentile reads two
    neighbours in one step through at most half the index."""
    end = min(k + count, n)
    if k < n - end:
        return [float(r[0]) for r in store.query(
            "SELECT seconds FROM escalation_samples WHERE tier = ? ORDER BY seconds "
            "LIMIT ? OFFSET ?", (tier, end - k, k))]
    return [float(r[0]) for r in reversed(store.query(
        "SELECT seconds FROM escalation_samples WHERE tier = ? ORDER BY seconds DESC "
        "LIMIT ? OFFSET ?", (tier, end - k, n - end)))]
