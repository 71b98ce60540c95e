"""Tables ``stat_records``, ``stat_cells`` and ``stat_snapshots``: the statistics projection (one
row per incident id, from full reports and stubs), its rows counted per cell, and, per origin,
the newest statistics snapshot kept; and, read only, ``envelopes`` (the escalation figures'
documents, ``envelope_rows_since``) and ``incidents`` (a chart bar's reports, ``events_condition``).

    with store.transaction() as tx:
        row = StatRow(incident_id="gb-…", revision=1, ...)
        upsert_stat_record(tx, row, cell_id(tx, cell_values(row, facets)))
    rows = stat_records(store)
    cells = cell_counts(store, ["severity", "p_severity"], since=None, until=None)
    linked = linked_stat_records(store)           # rows named by a same-as ``incident_links`` row

**Cells.** ``stat_cells`` counts the ``stat_records`` rows per distinct combination of what a
statistics query reads (``node.store.db.STAT_CELL_COLUMNS``), so a query reads cells — as many
as there are distinct combinations, not reports — and never every row. The storing code finds or
makes a row's cell from the values it holds (``cell_values``, ``cell_id``: one indexed lookup,
no JSON parsed back in SQL) and writes its id into the row (``cell_id``); triggers on
``stat_records`` move the count by id in the transaction that changes the row. The rows of a
cell are found by the index on ``cell_id`` (``ids_in_cells``: the incident list behind a bar).
    row = latest_snapshot(store)                 # with its envelope (joined from ``envelopes``)

Which row wins is decided here, in SQL, so that messages arriving in any order give the same
table: the newest revision, and at one revision a full report over its stub.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import orjson

from node.store.db import STAT_CELL_COLUMNS, Store

# Derived from ``range_day``: ``dated``, whether the cell has a date a range compares (its rows
# are never undated), and ``year``, the year of that date (federation.stats: a stub's is its
# week's Thursday's), so a count by year groups years rather than days.
DERIVED = {"dated": "range_day IS NOT NULL AS dated",
           "year": "CAST(substr(range_day, 1, 4) AS INTEGER) AS year"}
CELL_COLUMNS = frozenset({name for name, _ in STAT_CELL_COLUMNS} | set(DERIVED))


@dataclass(frozen=True)
class StatRow:
    """One ``stat_records`` row; list-valued columns are JSON text."""

    incident_id: str
    revision: int
    is_stub: bool
    digest: str
    origin: str
    severity: str
    harm_types: str
    red_lines: str
    tripwire_ids: str
    developer: str | None
    occurred_on: str | None
    week: str | None
    tlp: str
    updated_at: str
    facets: str


def dump(value: Any) -> str:
    """JSON text as the statistics tables keep it: compact, as SQLite's json() writes it."""
    return orjson.dumps(value).decode()


def _week_thursday(week: str) -> str | None:
    """The Thursday of an ISO week ``YYYY-Www``, reckoned as the cell SQL reckons it (Jan 4
    lies in week 1; a week beyond the year's last runs on into the next; week 0 has none)."""
    try:
        number = int(week[6:8])
        jan4 = date(int(week[:4]), 1, 4)
    except ValueError:
        return None
    if number < 1:
        return None
    return (jan4 - timedelta(jan4.weekday()) + timedelta((number - 1) * 7 + 3)).isoformat()


def cell_values(row: StatRow, facets: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """The values of ``STAT_CELL_COLUMNS`` for ``row`` (its list columns written by ``dump``;
    ``facets`` given decoded: the caller holds them), exactly what the columns' SQL makes of
    the row: a row counted from here and one counted by the migration's SQL fall in cells
    alike."""
    week = row.week if row.is_stub else None
    range_day = row.occurred_on or (_week_thursday(week) if week else None)
    facets = facets or {}
    provenance = facets.get("provenance") or {}
    countries = facets.get("countries")
    return (range_day, row.occurred_on, week, int(row.is_stub), row.origin, row.severity,
            row.developer, facets.get("sector"), facets.get("model"), row.harm_types,
            row.red_lines, None if countries is None else dump(countries),
            *(provenance.get(k) for k in ("severity", "harm_types", "countries",
                                          "ai_system.developer", "ai_system.name", "sector",
                                          "occurred_at")))


_CELL_NAMES = ", ".join(name for name, _ in STAT_CELL_COLUMNS)
# The positions of the columns holding JSON arrays (SQLite's json(): text of JSON subtype).
_JSON_COLUMNS = frozenset(i for i, (_, sql) in enumerate(STAT_CELL_COLUMNS)
                          if sql.startswith("json("))
_NEW_CELL = (f"INSERT INTO stat_cells(cell, {_CELL_NAMES}, n) "  # noqa: S608 (constant names)
             f"VALUES (?, {', '.join('?' for _ in STAT_CELL_COLUMNS)}, 0)")


def cell_id(tx: sqlite3.Connection, values: tuple[Any, ...]) -> int:
    """The id of the cell holding ``values`` (``cell_values``), made (counting none) if new."""
    # The key the migration's SQL (``json_array``) writes for these values, the JSON array
    # columns embedded as arrays, so that a migrated cell and a new row alike share one cell.
    key = orjson.dumps([orjson.Fragment(v) if i in _JSON_COLUMNS and v is not None else v
                        for i, v in enumerate(values)]).decode()
    found = tx.execute("SELECT id FROM stat_cells WHERE cell = ?", (key,)).fetchone()
    if found is not None:
        return int(found[0])
    # An INSERT that succeeded always has a rowid.
    return int(tx.execute(_NEW_CELL, (key, *values)).lastrowid or 0)


def upsert_stat_record(tx: sqlite3.Connection, row: StatRow, cell: int) -> None:
    """Record ``row`` unless the table holds a newer revision, or the full report of this one.
    ``cell`` is its ``cell_id``; the triggers move the count from the row's old cell."""
    # A plain tuple: dataclasses.astuple deep-copies every field.
    values = (row.incident_id, row.revision, int(row.is_stub), row.digest, row.origin,
              row.severity, row.harm_types, row.red_lines, row.tripwire_ids, row.developer,
              row.occurred_on, row.week, row.tlp, row.updated_at, row.facets, cell)
    # Newest revision first; at one revision a full report beats its stub (is_stub 0 < 1).
    tx.execute(
        "INSERT INTO stat_records(incident_id, revision, is_stub, digest, origin, severity, "
        "harm_types, red_lines, tripwire_ids, developer, occurred_on, week, tlp, updated_at, "
        "facets, cell_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(incident_id) "
        "DO UPDATE SET facets=excluded.facets, cell_id=excluded.cell_id, "
        "revision=excluded.revision, is_stub=excluded.is_stub, digest=excluded.digest, "
        "origin=excluded.origin, severity=excluded.severity, harm_types=excluded.harm_types, "
        "red_lines=excluded.red_lines, tripwire_ids=excluded.tripwire_ids, "
        "developer=excluded.developer, occurred_on=excluded.occurred_on, week=excluded.week, "
        "tlp=excluded.tlp, updated_at=excluded.updated_at "
        "WHERE excluded.revision > stat_records.revision OR (excluded.revision = "
        "stat_records.revision AND excluded.is_stub < stat_records.is_stub)", values)


def stat_records(store: Store, *, with_tripwires: bool = False) -> list[sqlite3.Row]:
    """Every row (only those naming a tripwire if ``with_tripwires``)."""
    if with_tripwires:
        return store.query("SELECT * FROM stat_records WHERE tripwire_ids != '[]'")
    return store.query("SELECT * FROM stat_records")


def cell_counts(store: Store, columns: Sequence[str], since: str | None,
                until: str | None, *, with_ids: bool = False) -> list[sqlite3.Row]:
    """The ``stat_records`` rows counted (``n``) per distinct value of ``columns`` (of
    ``CELL_COLUMNS``), leaving out the dated ones outside ``since``..``until`` (ISO dates,
    inclusive; ``None``: unbounded); undated rows are always counted. ``with_ids``: also the
    cells grouped (``ids``, a JSON array of their ids)."""
    unknown = sorted(set(columns) - CELL_COLUMNS)
    if unknown:
        raise ValueError(f"not a statistics cell column: {', '.join(unknown)}")
    chosen = [DERIVED.get(c, c) for c in columns]
    select = ", ".join([*chosen, "SUM(n) AS n", *(["json_group_array(id) AS ids"]
                                                   if with_ids else [])])
    group = f"GROUP BY {', '.join(columns)} " if columns else ""
    # Columns are checked names above, never user text; the dates are bound.
    return store.query(
        f"SELECT {select} FROM stat_cells WHERE n != 0 AND (range_day IS NULL OR "  # noqa: S608
        "((? IS NULL OR range_day >= ?) AND (? IS NULL OR range_day <= ?))) "
        f"{group}HAVING SUM(n) != 0", (since, since, until, until))


def ids_in_cells(store: Store, cell_ids: Sequence[int]) -> list[str]:
    """The incident ids of the rows in the cells ``cell_ids`` (read from the index on
    ``cell_id``: the rows of these cells, never the others)."""
    return [r[0] for r in store.query(
        "SELECT incident_id FROM stat_records WHERE cell_id IN (SELECT value FROM json_each(?))",
        (_ids_json(cell_ids),))]


def _ids_json(values: Iterable[int | str]) -> str:
    """A JSON array for ``json_each``."""
    return orjson.dumps(list(values)).decode()


def last_cell_id(store: Store) -> int:
    """The highest cell id: a cell, once made, keeps its id and its values (only its count
    moves), so the cells above an id read before are exactly the ones made since."""
    return int(store.scalar("SELECT COALESCE(MAX(id), 0) FROM stat_cells") or 0)


def cell_groups(store: Store, columns: Sequence[str], since: str | None, until: str | None,
                after: int, upto: int) -> list[sqlite3.Row]:
    """``cell_counts(..., with_ids=True)`` over the cells with ids in ``after``..``upto``
    (exclusive, inclusive), empty ones included: which cells a group holds never changes, so
    what was matched once stays matched, and a cell empty now may count rows later."""
    unknown = sorted(set(columns) - CELL_COLUMNS)
    if unknown:
        raise ValueError(f"not a statistics cell column: {', '.join(unknown)}")
    chosen = [DERIVED.get(c, c) for c in columns]
    select = ", ".join([*chosen, "SUM(n) AS n", "json_group_array(id) AS ids"])
    group = f" GROUP BY {', '.join(columns)}" if columns else ""
    # Columns are checked names above, never user text; the bounds are bound.
    return store.query(
        f"SELECT {select} FROM stat_cells WHERE id > ? AND id <= ? AND "  # noqa: S608
        "(range_day IS NULL OR ((? IS NULL OR range_day >= ?) AND (? IS NULL OR "
        f"range_day <= ?))){group}", (after, upto, since, since, until, until))


def cells_total(store: Store, cell_ids: Sequence[int]) -> int:
    """How many ``stat_records`` rows the cells ``cell_ids`` hold (each by its primary key)."""
    return int(store.scalar("SELECT COALESCE(SUM(n), 0) FROM stat_cells WHERE id IN "
                            "(SELECT value FROM json_each(?))", (_ids_json(cell_ids),)) or 0)


def cells_listed(store: Store, cell_ids: Sequence[int], origin: str | None,
                 severities: Sequence[str] | None) -> tuple[list[int], int]:
    """Those of the cells ``cell_ids`` whose rows the incident list's ``origin`` and severity
    filter (``severities``: the values admitted; ``None``: any) may show, and how many rows they
    hold. A full report's row says what its ``incidents`` row says (the same revision: both keep
    the newest, and at one revision the first stored); a stub's row may stand for an older full
    report there, so stub cells are always kept. The list still applies its filters to every
    row: this only leaves out cells none of whose rows it could show."""
    admitted = None if severities is None else _ids_json(severities)
    rows = store.query(
        "SELECT id, n FROM stat_cells WHERE id IN (SELECT value FROM json_each(?)) AND n != 0 "
        "AND (is_stub = 1 OR ((? IS NULL OR origin = ?) AND (? IS NULL OR severity IN "
        "(SELECT value FROM json_each(?)))))",
        (_ids_json(cell_ids), origin, origin, admitted, admitted))
    return [int(r[0]) for r in rows], sum(int(r[1]) for r in rows)


# A bar holding at least 1/WALK_SHARE of the incidents is listed by walking ``incidents``
# newest first (a page walks ≈ limit × WALK_SHARE rows); a smaller one from its cells' rows
# (≈ as many rows as the bar holds, then newest first by ``seq``): either way a page reads a
# bounded number of rows, where materialising a bar of 250,000 ids took a second at 10^6.
WALK_SHARE = 40


def events_condition(store: Store, cells: Sequence[int], rows: int, leave_out: Sequence[str],
                     add: Sequence[str], *, origin: str | None = None,
                     filtered: bool = False) -> tuple[str, list[Any]]:
    """A condition on an ``incidents`` row (unqualified columns, as ``records.list_incidents``
    writes its own) that holds for the rows of the cells ``cells`` except ``leave_out``, and
    for ``add``: the reports behind a chart's bar, without reading them all. ``rows`` (how many
    rows those cells and ``add`` hold: ``cells_listed`` leaves out the cells the list's origin
    and severity filter could not show) chooses how SQLite finds them (``WALK_SHARE``: of
    the incidents, or of ``origin``'s when the list filters by origin: it walks that index);
    ``filtered`` (the list also filters by issue time: a filter the cells cannot apply)
    always reads the cells' rows: the walk would pass every row the bar admits and the other
    filter does not."""
    cells_json, out_json, add_json = (_ids_json(v) for v in (cells, leave_out, add))
    if origin is None:
        stored = int(store.scalar("SELECT COALESCE(MAX(seq), 0) FROM incidents") or 0)
    else:  # the walk goes down the origin's index (origin, seq): its rows, from its cells
        stored = int(store.scalar("SELECT COALESCE(SUM(n), 0) FROM stat_cells WHERE origin = ?",
                                  (origin,)) or 0)
    if not filtered and rows * WALK_SHARE >= stored:
        # Newest first through ``incidents``, each row's cell looked up by its id in the
        # covering index (incident_id, cell_id): the index alone, not the row; ``+cell_id``
        # tests the cell against the list, never probes the index once per listed cell (that
        # plan took 52 s for a bar of 6,000 cells). ``id`` resolves to the outer row:
        # ``stat_records`` has no column of that name.
        return ("(id IN (SELECT value FROM json_each(?)) OR (id NOT IN (SELECT value FROM "
                "json_each(?)) AND EXISTS (SELECT 1 FROM stat_records s INDEXED BY "
                "stat_records_incident_cell WHERE s.incident_id = id "
                "AND +s.cell_id IN (SELECT value FROM json_each(?)))))",
                [add_json, out_json, cells_json])
    # The cells' rows by the index on ``cell_id``, their ``seq`` by the index on ``id``: the
    # outer query then walks these seqs newest first and stops at its limit.
    return ("seq IN (SELECT i.seq FROM stat_records s JOIN incidents i ON i.id = s.incident_id "
            "WHERE s.cell_id IN (SELECT value FROM json_each(?)) AND s.incident_id NOT IN "
            "(SELECT value FROM json_each(?)) UNION ALL SELECT a.seq FROM incidents a WHERE a.id "
            "IN (SELECT value FROM json_each(?)))", [cells_json, out_json, add_json])


def envelope_rows_since(store: Store, message_types: Sequence[str], after: int,
                        limit: int | None = None) -> list[sqlite3.Row]:
    """``rowid``, ``message_type``, ``origin`` and ``envelope`` of the ``envelopes`` of
    ``message_types`` stored after rowid ``after``, in rowid order (rows are never deleted, so
    a rowid once read marks what has been read): the escalation figures' new documents; the
    first ``limit`` of them if given.

    By the type index, per ``(message_type, origin)`` (in it each pair's rowids are in order),
    never through every incident's envelope: a bounded read stays bounded however many
    incidents lie between the escalations (an upgraded store of 10^6 reports).
    """
    rowids: list[int] = []
    for kind, origin in _type_origins(store, message_types):
        rowids.extend(int(r[0]) for r in store.query(
            "SELECT rowid FROM envelopes WHERE message_type = ? AND origin = ? AND rowid > ? "
            "ORDER BY rowid LIMIT ?", (kind, origin, after, -1 if limit is None else limit)))
    rowids.sort()
    chosen = rowids if limit is None else rowids[:limit]
    rows: list[sqlite3.Row] = []
    for start in range(0, len(chosen), 500):  # bound the bound parameters
        part = chosen[start:start + 500]
        rows.extend(store.query("SELECT rowid, message_type, origin, envelope FROM "  # noqa: S608
                                f"envelopes WHERE rowid IN ({','.join('?' * len(part))}) "
                                "ORDER BY rowid", tuple(part)))
    return rows


def envelopes_counted(store: Store, message_types: Sequence[str], after: int) -> tuple[int, int]:
    """How many ``envelopes`` of ``message_types`` lie at or below rowid ``after``, and how
    many there are: how far a fold that has read up to ``after`` has come (index counts)."""
    done = total = 0
    for kind, origin in _type_origins(store, message_types):
        n, below = store.query(
            "SELECT COUNT(*), COALESCE(SUM(rowid <= ?), 0) FROM envelopes "
            "WHERE message_type = ? AND origin = ?", (after, kind, origin))[0]
        done, total = done + int(below), total + int(n)
    return done, total


def last_envelope(store: Store) -> int:
    """The highest envelope rowid: a mark that moves whenever an envelope is stored."""
    return int(store.scalar("SELECT COALESCE(MAX(rowid), 0) FROM envelopes") or 0)


def _type_origins(store: Store, message_types: Sequence[str]) -> list[tuple[str, str]]:
    """The ``(message_type, origin)`` pairs the envelopes hold, one index step each (a
    member's origin is found by seeking past the one before, not by reading its rows)."""
    pairs: list[tuple[str, str]] = []
    for kind in message_types:
        origin = store.scalar("SELECT MIN(origin) FROM envelopes WHERE message_type = ?",
                              (kind,))
        while origin is not None:
            pairs.append((kind, str(origin)))
            origin = store.scalar("SELECT MIN(origin) FROM envelopes WHERE message_type = ? "
                                  "AND origin > ?", (kind, origin))
    return pairs


def linked_stat_records(store: Store) -> list[sqlite3.Row]:
    """The rows of every report a ``same-as`` link names (either side): the few that may count
    as part of a cluster rather than alone."""
    return store.query(
        "SELECT * FROM stat_records WHERE incident_id IN (SELECT incident_id FROM "
        "incident_links WHERE relation = 'same-as' UNION SELECT linked_id FROM incident_links "
        "WHERE relation = 'same-as')")


def has_stat_record(store: Store, incident_id: str) -> bool:
    """True if this node holds the report or the stub of ``incident_id``."""
    return bool(store.scalar("SELECT 1 FROM stat_records WHERE incident_id = ?",
                             (incident_id,)))


def record_snapshot(tx: sqlite3.Connection, origin: str, digest: str, issued_at: str,
                    received_at: str) -> None:
    """Keep the snapshot ``digest`` as ``origin``'s unless a later one is already kept."""
    tx.execute("INSERT INTO stat_snapshots(origin, digest, issued_at, received_at) "
               "VALUES (?, ?, ?, ?) ON CONFLICT(origin) DO UPDATE SET digest=excluded.digest, "
               "issued_at=excluded.issued_at, received_at=excluded.received_at "
               "WHERE strftime('%Y-%m-%dT%H:%M:%fZ', excluded.issued_at) "
               ">= strftime('%Y-%m-%dT%H:%M:%fZ', stat_snapshots.issued_at)",
               (origin, digest, issued_at, received_at))


def latest_snapshot(store: Store, origin: str | None = None) -> sqlite3.Row | None:
    """The newest snapshot kept (of ``origin``, or of any origin), with its ``envelope``."""
    rows = store.query("SELECT s.*, e.envelope FROM stat_snapshots s JOIN envelopes e "
                       "ON e.digest = s.digest WHERE ? IS NULL OR s.origin = ? "
                       "ORDER BY strftime('%Y-%m-%dT%H:%M:%fZ', s.issued_at) DESC LIMIT 1",
                       (origin, origin))
    return rows[0] if rows else None
