"""Global incident statistics at a node: the ``stat_records`` projection, summaries, snapshots.

    inside the transaction that stores a message (node.pipeline.flow):
    statistics.on_message(ctx, tx, "stub", doc, digest, received_at)
    result = counts(ctx.store, ["severity"], since, until, basis)   # GET /api/v1/stats
    records = load_records(ctx.store)                # one StatRecord per incident id
    digest = publish_snapshot(ctx, force=True)       # at the international body

**Projection.** ``stat_records`` holds one row per incident id with what ``StatRecord`` needs,
from full ``incident`` reports and from the ``stub`` messages that stand in for RED and
AMBER+STRICT reports, wherever they come from (this node's own or a peer's). The newest revision
wins; at the same revision a full report supersedes its stub (it says the same and more). A stub
of a *newer* revision replaces an older full report: its severity and harm types are current,
only the developer and the exact date are lost.

**Queries read cells.** ``counts`` and ``summary`` never load every record: the store counts
``stat_records`` rows per cell (``node.store.stats``, one per distinct combination of what a
query reads), grouped by SQL down to the columns the asked dimensions need, and each group
becomes one ``StatRecord`` standing for ``n`` records (``federation.stats.weighted_group_counts``).
Reports a ``same-as`` link names are taken back out of their cells (weight -1) and counted as
``counted_once`` merges them (+1): the answer is ``group_counts(load_records(...))`` exactly.

**Snapshots.** The international body signs a ``stats`` message (``schemas/stats.v1.json``) and
publishes it to every member. A node keeps, per origin, the newest snapshot of any member whose
roster role is ``international-body``; a ``stats`` message from anyone else is stored (it was
signed and verified like every message) but never shown as the global picture.

**Escalation figures** come from the verbatim envelopes of ``escalation``, ``ack``,
``decline``, ``step`` and ``resolution`` messages: every node receives every durable message, so
the international body sees all of them although it is addressed by few. Each envelope is folded
once into tables (``node.store.escalation_states``) that keep every escalation's state, by a
background task (``statistics_loop``, bounded rounds: an upgraded store catches up while the node
serves) and by a call (what arrived since, at most ``_FOLD_INLINE``; beyond that the answer says
``counting``), which then reads counts, items and percentiles by index.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from federation.canonical import decode
from federation.envelope import Envelope
from federation.errors import SignatureError
from federation.links import clusters, counted_once
from federation.severity import Severity
from federation.stats import (
    PROVENANCE_FIELD,
    KeyValue,
    StatRecord,
    check_dimensions,
    in_range,
    incident_facets,
    iso_week,
    matches,
    weighted_group_counts,
    weighted_red_line_crossings,
)
from federation.stats_snapshot import StatsSnapshot, build_weighted_stats_snapshot
from federation.stats_summary import (
    Answer,
    Closure,
    EscalationFacts,
    EscalationState,
    ack_time_rows,
    ranked_percentile,
    standing,
    tripwire_counts,
)
from federation.step_messages import StepUpdate
from federation.timeutil import format_instant, parse_time
from node.core.errors import Conflict
from node.pipeline.context import NodeContext
from node.store import escalation_states, links, stats
from node.store.db import Store

log = logging.getLogger("beacon.stats")

INTERNATIONAL_BODY = "international-body"


# -- projection (inside the storing transaction) ----------------------------------------------
def on_message(ctx: NodeContext, tx: sqlite3.Connection, message_type: str,
               doc: dict[str, Any], digest: str, received_at: str) -> None:
    """Project one newly stored message into the statistics tables (no-op for other types)."""
    if message_type in ("incident", "stub"):
        _upsert_record(tx, message_type, doc, digest, received_at)
    elif message_type == "link":
        _record_link(tx, doc, digest)
    elif message_type == "stats":
        _record_snapshot(ctx, tx, doc, digest, received_at)


def _upsert_record(tx: sqlite3.Connection, message_type: str, doc: dict[str, Any],
                   digest: str, received_at: str) -> None:
    row, facets = stat_row(message_type, doc, digest, received_at)
    cell = stats.cell_id(tx, stats.cell_values(row, facets))
    stats.upsert_stat_record(tx, row, cell)


def stat_row(message_type: str, doc: dict[str, Any], digest: str, received_at: str
             ) -> tuple[stats.StatRow, dict[str, Any] | None]:
    """The ``stat_records`` row of an ``incident`` or ``stub`` document, with its facets
    (``None`` for a stub) as values, for its cell."""
    is_stub = message_type == "stub"
    incident_id = doc["incident_id"] if is_stub else doc["id"]
    occurred = doc.get("occurred_at")
    system = doc.get("ai_system") or {}
    facets = None if is_stub else incident_facets(doc)
    row = stats.StatRow(
        incident_id=incident_id, revision=int(doc["revision"]), is_stub=is_stub, digest=digest,
        origin=doc["origin"], severity=doc["severity"],
        harm_types=stats.dump(list(doc.get("harm_types", ()))),
        red_lines=stats.dump(list(doc.get("red_lines", ()))),
        tripwire_ids=stats.dump([] if is_stub else list(doc.get("tripwire_ids", ()))),
        developer=None if is_stub else (system.get("developer") or None),
        occurred_on=None if is_stub or not occurred
        else parse_time(str(occurred), "$.occurred_at").date().isoformat(),
        week=doc.get("week") if is_stub else None, tlp=doc["tlp"], updated_at=received_at,
        facets="{}" if facets is None else stats.dump(facets))
    return row, facets


def _record_link(tx: sqlite3.Connection, doc: dict[str, Any], digest: str) -> None:
    # Inbound links were checked (federation.inbound refuses not-owner) and this node's own by
    # the API; checked again because a wrong row would change every count.
    if not str(doc["incident_id"]).startswith(f"{doc['origin']}-"):
        log.warning("ignored a link from %s about %s, a report it does not own",
                    doc["origin"], doc["incident_id"])
        return
    links.record_link(tx, doc["incident_id"], doc["linked_id"], doc["relation"], doc["origin"],
                      digest, doc["issued_at"])


def links_of(store: Store, incident_id: str) -> list[dict[str, Any]]:
    """Every link that names ``incident_id``, from either side."""
    return links.links_of(store, incident_id)


def _record_snapshot(ctx: NodeContext, tx: sqlite3.Connection, doc: Mapping[str, Any],
                     digest: str, received_at: str) -> None:
    snapshot = StatsSnapshot.from_dict(doc)
    member = ctx.roster.member(snapshot.origin)
    if member is None or member.role != INTERNATIONAL_BODY:
        log.warning("ignored a statistics snapshot from %s: only the international body "
                    "publishes the global picture", snapshot.origin)
        return
    stats.record_snapshot(tx, snapshot.origin, digest, format_instant(snapshot.issued_at),
                          received_at)


# -- reading ----------------------------------------------------------------------------------
def _record(row: sqlite3.Row) -> StatRecord:
    day = date.fromisoformat(row["occurred_on"]) if row["occurred_on"] else None
    facets = json.loads(row["facets"] or "{}")
    return StatRecord(origin=row["origin"], severity=Severity(row["severity"]),
                      harm_types=tuple(json.loads(row["harm_types"])),
                      red_lines=tuple(json.loads(row["red_lines"])),
                      developer=row["developer"], occurred_at=day, tlp=row["tlp"],
                      is_stub=bool(row["is_stub"]),
                      week=row["week"] if row["is_stub"] else (iso_week(day) if day else None),
                      incident_id=row["incident_id"],
                      countries=tuple(facets.get("countries") or ()),
                      sector=facets.get("sector"), model=facets.get("model"),
                      provenance=facets.get("provenance") or {})


def load_records(store: Store) -> list[StatRecord]:
    """Every event this node may count: one record per incident id, except that reports
    linked ``same-as`` count once, as one cluster with every reporter listed."""
    return counted_once((_record(r) for r in stats.stat_records(store)),
                        links.same_as_pairs(store))


# The cell columns each dimension reads: its value, and the provenance of that value.
_DATE_COLUMNS = ("occurred_on", "week", "is_stub", "p_occurred")
_DIMENSION_COLUMNS: dict[str, tuple[str, ...]] = {
    "origin": ("origin",), "severity": ("severity", "p_severity"),
    "harm_type": ("harm_types", "p_harm_types"), "red_line": ("red_lines",),
    "developer": ("developer", "p_developer"), "year": ("year", "p_occurred"),
    "month": _DATE_COLUMNS,
    "week": _DATE_COLUMNS, "country": ("countries", "p_countries"),
    "sector": ("sector", "p_sector"), "model": ("model", "p_model")}
# The provenance field (federation.stats.PROVENANCE_FIELD) each ``p_`` column holds.
_PROVENANCE_COLUMNS = {f"p_{c}": PROVENANCE_FIELD[d] for c, d in (
    ("severity", "severity"), ("harm_types", "harm_type"), ("countries", "country"),
    ("developer", "developer"), ("model", "model"), ("sector", "sector"),
    ("occurred", "year"))}


def _cell_records(rows: list[sqlite3.Row], columns: list[str],
                  since: date | None, until: date | None) -> list[tuple[StatRecord, int]]:
    """One record per grouped cell row, weighted by its count. Columns not read are left
    empty: the query that asked for ``columns`` looks at nothing else. A row known only by its
    ``year`` or as ``dated`` (within the range the store applied) gets a stand-in date inside
    that year and that range."""
    has = set(columns)
    provenance = [(c, _PROVENANCE_COLUMNS[c]) for c in columns if c in _PROVENANCE_COLUMNS]

    def listed(row: sqlite3.Row, column: str) -> tuple[str, ...]:
        return tuple(json.loads(row[column] or "[]")) if column in has else ()

    out: list[tuple[StatRecord, int]] = []
    for row in rows:
        day: date | None = None
        week = None
        if "occurred_on" in has:
            day = date.fromisoformat(row["occurred_on"]) if row["occurred_on"] else None
            week = row["week"] if row["is_stub"] else (iso_week(day) if day else None)
        elif "year" in has and row["year"] is not None:
            # Rows of this year lie in since..until, so its first day in the range does too.
            day = max(date(row["year"], 1, 1), since) if since else date(row["year"], 1, 1)
        elif "dated" in has and row["dated"]:
            day = since or until or date.min
        out.append((StatRecord(
            origin=row["origin"] if "origin" in has else "",
            severity=Severity(row["severity"]) if "severity" in has else Severity.HAZARD,
            harm_types=listed(row, "harm_types"), red_lines=listed(row, "red_lines"),
            developer=row["developer"] if "developer" in has else None, occurred_at=day,
            tlp="", is_stub=bool(row["is_stub"]) if "is_stub" in has else False, week=week,
            countries=listed(row, "countries"),
            sector=row["sector"] if "sector" in has else None,
            model=row["model"] if "model" in has else None,
            provenance={field: row[c] for c, field in provenance if row[c] is not None}),
            int(row["n"])))
    return out


def weighted_records(store: Store, columns: list[str], since: date | None = None,
                     until: date | None = None) -> list[tuple[StatRecord, int]]:
    """What ``load_records`` counts, as few weighted records: the cells grouped by
    ``columns`` (those outside the date range left out, so weigh with the same range), the
    reports of same-as clusters taken out of them and their merged records put in."""
    if (since is not None or until is not None) and not {"occurred_on", "year"} & set(columns):
        columns = [*columns, "dated"]
    rows = stats.cell_counts(store, columns, since.isoformat() if since else None,
                             until.isoformat() if until else None)
    out = _cell_records(rows, columns, since, until)
    linked = [_record(r) for r in stats.linked_stat_records(store)]
    if linked:
        out += [(r, -1) for r in linked]
        out += [(r, 1) for r in counted_once(linked, links.same_as_pairs(store))]
    return out


def counts(store: Store, by: list[str], since: date | None = None, until: date | None = None,
           basis: str = "all") -> dict[str, Any]:
    """``group_counts(load_records(store), by, since, until, basis)``, from the cells.

    Raises:
        SchemaError: what ``group_counts`` refuses (a bad dimension, basis or range).
    """
    check_dimensions(by)
    columns = list(dict.fromkeys(c for d in by for c in _DIMENSION_COLUMNS[d]))
    return weighted_group_counts(weighted_records(store, columns, since, until), by, since,
                                 until, basis)


def event_ids(store: Store, where: Mapping[str, KeyValue], basis: str, since: date | None,
              until: date | None) -> list[str]:
    """The events (one incident id per same-as cluster: its first) in the group ``where``
    within the date range: what a chart's bar counts. Sorted. Every one of them, so O(bar):
    the incident list pages through ``bar_events`` instead.

    The rows of the matching cells (``_matching_cells``) read by their indexed ``cell_id``;
    reports of same-as clusters are taken out and their clusters matched instead:
    ``load_records`` filtered, exactly, without reading every row."""
    matching, _ = _matching_cells(store, where, basis, since, until)
    ids = set(stats.ids_in_cells(store, matching)) if matching else set()
    linked = [_record(r) for r in stats.linked_stat_records(store)]
    if linked:
        ids -= {r.incident_id for r in linked}
        ids |= {r.incident_id for r in counted_once(linked, links.same_as_pairs(store))
                if in_range(r, since, until) and matches(r, where, basis)}
    return sorted(ids)


@dataclass(frozen=True)
class BarEvents:
    """The events of one statistics group, for the incident list to page through:
    ``total`` (``len(event_ids(...))``) and ``condition``, an SQL condition on an ``incidents``
    row with its parameters (``records.list_incidents(match=...)``) that holds for exactly the
    full reports among ``event_ids(...)``."""

    total: int
    condition: tuple[str, list[Any]]


def bar_events(store: Store, where: Mapping[str, KeyValue], basis: str, since: date | None,
               until: date | None, *, origin: str | None = None, severity: str | None = None,
               filtered: bool = False) -> BarEvents:
    """``event_ids`` as a count and a condition, never a list: the matching cells' counts
    summed, less the same-as reports among their rows, plus the first id of each matching
    cluster (``counted_once``); the list reads one page of the rows in SQL. Reads the cells and
    the few linked rows, not the bar's rows. ``origin``, ``severity``: the list's own filters
    (at least ``severity``), which the cells apply too, so that the condition leaves out the
    cells whose rows the list would not show (``stats.cells_listed``; ``total`` is the bar's
    still); ``filtered``: the list also filters by issue time (``stats.events_condition``).

    Raises:
        SchemaError: a dimension ``where`` names that the statistics do not have.
    """
    cells, in_cells = _matching_cells(store, where, basis, since, until)
    linked, clustered = _clusters(store)
    chosen = set(cells)
    leave_out = [r["incident_id"] for r in linked]
    add = sorted(r.incident_id for r in clustered
                 if in_range(r, since, until) and matches(r, where, basis))
    total = in_cells - sum(1 for r in linked if r["cell_id"] in chosen) + len(add)
    listed, rows = cells, in_cells
    if origin is not None or severity is not None:
        admitted = None if severity is None else [
            s.value for s in Severity if s.rank >= Severity(severity).rank]
        listed, rows = stats.cells_listed(store, cells, origin, admitted)
    return BarEvents(total, stats.events_condition(store, listed, rows + len(add), leave_out,
                                                   add, origin=origin, filtered=filtered))


_kept_clusters: weakref.WeakKeyDictionary[
    Store, tuple[object, list[StatRecord]]] = weakref.WeakKeyDictionary()


def _clusters(store: Store) -> tuple[list[sqlite3.Row], list[StatRecord]]:
    """The rows a same-as link names, and ``counted_once`` of them: kept per ``Store`` while
    neither the links nor those rows (by digest: one stored message each) change — merging
    them was 20 ms of every bar's list at 10^6 (a hundred clusters)."""
    linked = stats.linked_stat_records(store)
    pairs = links.same_as_pairs(store)
    key = (tuple((r["incident_id"], r["digest"]) for r in linked), tuple(pairs))
    kept = _kept_clusters.get(store)
    if kept is None or kept[0] != key:
        kept = (key, counted_once([_record(r) for r in linked], pairs))
        _kept_clusters[store] = kept
    return linked, kept[1]


class _CellGroups:
    """Per store, the cells grouped as recent group keys' shapes read them (``_matching_cells``:
    the columns, the date range): each group's record and its cell ids, and the highest cell id
    read. A cell keeps its id and its values (only its count moves), so a later call groups only
    the cells made since, and any key of the same shape (``country:FR``, ``country:JP``) is
    matched against the groups kept: grouping and matching every cell took 60–80 ms of a bar's
    first page at 10^6."""

    KEEP = 32  # shapes remembered: the group records, and every cell id once (JSON text)

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.shapes: OrderedDict[str, tuple[int, list[tuple[StatRecord, str]]]] = OrderedDict()


_cell_groups: weakref.WeakKeyDictionary[Store, _CellGroups] = weakref.WeakKeyDictionary()
_cell_groups_lock = threading.Lock()


def _matching_cells(store: Store, where: Mapping[str, KeyValue], basis: str,
                    since: date | None, until: date | None) -> tuple[list[int], int]:
    """The ids of the cells whose rows fall in the group ``where`` within the date range, as
    ``counts`` groups and matches them, and how many rows they hold."""
    check_dimensions(list(where))
    groups = _grouped(store, list(where), since, until)
    # A group's ids stay JSON text until a key matches it (most groups never are).
    cells = [i for record, ids in groups
             if in_range(record, since, until) and matches(record, where, basis)
             for i in json.loads(ids)]
    return cells, stats.cells_total(store, cells)


def _grouped(store: Store, dimensions: Sequence[str], since: date | None,
             until: date | None) -> list[tuple[StatRecord, str]]:
    """The cells grouped by the columns ``dimensions`` read within the date range (the key
    shape), each group's record and its cell ids as JSON: kept per store (``_CellGroups``),
    grown by the cells made since the last call."""
    columns = list(dict.fromkeys(c for d in dimensions for c in _DIMENSION_COLUMNS[d]))
    if (since is not None or until is not None) and not {"occurred_on", "year"} & set(columns):
        columns = [*columns, "dated"]
    start, end = (d.isoformat() if d else None for d in (since, until))
    shape = json.dumps([columns, start, end])
    with _cell_groups_lock:
        memo = _cell_groups.setdefault(store, _CellGroups())
    with memo.lock:
        seen, groups = memo.shapes.pop(shape, (0, []))
        last = stats.last_cell_id(store)
        if last < seen:  # not the cells read before (a store replaced under this object)
            seen, groups = 0, []
        if last > seen:
            rows = stats.cell_groups(store, columns, start, end, seen, last)
            groups = [*groups, *((record, row["ids"]) for row, (record, _) in zip(
                rows, _cell_records(rows, columns, since, until), strict=True))]
        memo.shapes[shape] = (max(seen, last), groups)
        while len(memo.shapes) > _CellGroups.KEEP:
            memo.shapes.popitem(last=False)
    return groups


# The key shapes of the dashboard's chart links (node/web/static/dashboard.js, ``drill``: a
# bar of the time chart names its unit and severity, every other chart its one dimension), in
# the order its links name them; with no occurrence range, the dashboard's default.
CONSOLE_SHAPES: tuple[tuple[str, ...], ...] = (
    ("year", "severity"), ("month", "severity"), ("week", "severity"), ("origin",),
    ("harm_type",), ("developer",), ("severity",), ("country",), ("sector",), ("model",),
    ("red_line",))


async def warm_chart_groups(store: Store) -> None:
    """Group the cells for the dashboard's key shapes (``CONSOLE_SHAPES``) and merge the
    same-as clusters once, the event loop free between shapes (each ≈ 40–75 ms of CPU at
    10^6 reports, 27,100 cells): a process's first click on a bar then finds its shape
    grouped instead of grouping every cell in the request."""
    _clusters(store)
    for dimensions in CONSOLE_SHAPES:
        await asyncio.sleep(0)
        _grouped(store, dimensions, None, None)


async def statistics_loop(ctx: NodeContext) -> None:
    """The node's statistics work off the requests: the chart groups warmed once at start-up
    (``warm_chart_groups``), then the escalation figures kept up (``escalation_figures_loop``,
    which first catches up an upgraded store in bounded rounds)."""
    await warm_chart_groups(ctx.store)
    await escalation_figures_loop(ctx)


def cluster_ids(store: Store, incident_id: str) -> list[str]:
    """The ids of every report in ``incident_id``'s same-as cluster (itself included)."""
    pairs = links.same_as_pairs(store)
    ids = {incident_id} | {i for pair in pairs for i in pair}
    return next(g for g in clusters(pairs, sorted(ids)) if incident_id in g)


def tripwires(store: Store, since: date | None = None,
              until: date | None = None) -> dict[str, int]:
    """Full reports naming each tripwire id (stubs carry none), within the occurrence range."""
    rows = stats.stat_records(store, with_tripwires=True)
    return tripwire_counts(json.loads(r["tripwire_ids"]) for r in rows
                           if in_range(_record(r), since, until))


_ESCALATION_TYPES = ("escalation", "ack", "decline", "step", "resolution")
# Of a recipient's answers at one instant the first counts as it did when every document was
# parsed into one list sorted (stably) by time: acks, then declines, then steps.
_ANSWER_RANK = {"ack": 0, "decline": 1, "step": 2}
# Envelopes folded in per transaction: a first fold of 10^5 escalations holds the write lock
# for one batch at a time, never for the whole fold.
_FOLD_BATCH = 2_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(t: datetime) -> int:
    """An instant as integer microseconds since 1970: exact, ordered as instants."""
    return (t - _EPOCH) // _MICROSECOND


def _instant(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


Fact = tuple[int, str, str, EscalationFacts | Answer | Closure | None]


def _facts(rows: Sequence[sqlite3.Row]) -> list[Fact]:
    """``(rowid, envelope origin, message type, fact)`` of envelopes, every one parsed before
    any is kept: a document that fails fails every call, as it did when every call parsed
    every document."""
    out: list[Fact] = []
    for r in rows:
        doc = decode(Envelope.from_json(r["envelope"]).payload)
        if isinstance(doc, dict):
            kind = str(r["message_type"])
            out.append((int(r["rowid"]), str(r["origin"]), kind, _fact(kind, doc)))
    return out


def _fact(kind: str, doc: dict[str, Any]) -> EscalationFacts | Answer | Closure | None:
    if kind == "escalation":
        return EscalationFacts.from_document(doc)
    if kind == "resolution":
        return Closure.from_document(doc)
    if kind == "step":
        # The owner's word that a recipient's ack ended the step counts even where that ack
        # never arrived (``step`` messages, federation.step_messages): every node's figures
        # agree.
        s = StepUpdate.from_dict(doc)
        if s.escalation_id and s.status == "succeeded" and s.by != s.origin:
            return Answer(escalation_id=s.escalation_id, origin=s.by, kind="ack",
                          issued_at=s.issued_at)
        return None
    return Answer.from_document(doc, kind) if doc.get("escalation_id") else None


def _fold(tx: sqlite3.Connection, facts: Sequence[Fact]) -> None:
    """Fold facts into the escalation tables, then settle every escalation they touch. Each
    fold is idempotent and independent of arrival order: of two escalations with one id the
    greater (envelope origin, rowid) counts (the last in the old per-origin order), a
    recipient's first answer is the earliest (then the lowest rank), a resolution closes the
    escalations it names and, the latest of its incident, every one issued until then."""
    touched: set[str] = set()
    for seq, envelope_origin, kind, fact in facts:
        if isinstance(fact, EscalationFacts):
            kept = escalation_states.precedence(tx, fact.id)
            if kept is None or (envelope_origin, seq) > kept:
                escalation_states.keep_escalation(tx, escalation_states.EscalationRow(
                    id=fact.id, envelope_origin=envelope_origin, seq=seq, origin=fact.origin,
                    incident_id=fact.incident_id, tier=fact.tier,
                    issued_us=_micros(fact.issued_at), deadline_us=_micros(fact.deadline),
                    recipients=stats.dump(list(fact.to)), acks=fact.acks, state="waiting",
                    waiting_on="[]"))
                touched.add(fact.id)
        elif isinstance(fact, Closure):
            for escalation_id in fact.escalation_ids:
                escalation_states.close_named(tx, escalation_id)
                touched.add(escalation_id)
            if escalation_states.close_incident(tx, fact.origin, fact.incident_id,
                                          _micros(fact.issued_at)):
                touched.update(escalation_states.ids_of_incident(tx, fact.origin,
                                                                 fact.incident_id))
        elif isinstance(fact, Answer) and escalation_states.keep_answer(
                tx, fact.escalation_id, fact.origin, _micros(fact.issued_at),
                _ANSWER_RANK[kind]):
            touched.add(fact.escalation_id)
    for escalation_id in sorted(touched):
        _settle(tx, escalation_id)


def _settle(tx: sqlite3.Connection, escalation_id: str) -> None:
    """Decide an escalation's state (answered, closed or waiting) and its ack times from what
    is kept: each recipient's first answer, and the resolutions."""
    row = escalation_states.escalation(tx, escalation_id)
    if row is None:  # answered or resolved before it arrived: settled when it does
        return
    to: list[str] = json.loads(row["recipients"])
    first = escalation_states.first_answers(tx, escalation_id)
    kinds = {r: "decline" if first[r][1] == _ANSWER_RANK["decline"] else "ack"
             for r in to if r in first}
    answered, waiting = standing(to, row["acks"], kinds)
    closed = not answered and escalation_states.is_closed(tx, row)
    state = "answered" if answered else "closed" if closed else "waiting"
    issued_us = int(row["issued_us"])
    samples = [(r, int(row["tier"]), max(0.0, (first[r][0] - issued_us) / 10**6))
               for r, kind in kinds.items() if kind == "ack"]
    escalation_states.settle(tx, escalation_id, state, stats.dump(list(waiting)), samples)


_fold_locks: weakref.WeakKeyDictionary[Store, threading.Lock] = weakref.WeakKeyDictionary()
_fold_locks_lock = threading.Lock()
# Envelopes a figures call folds before it answers: what arrived since the last call or the
# background loop's last round (``escalation_figures_loop``), normally a few. Beyond it the call
# answers at once from what is folded and says how far the counting has come: an upgraded store
# with 10^5 escalations folded them all in the first call, 38 s of CPU on the event loop.
_FOLD_INLINE = 500
# Envelopes the background loop folds per round (≈ 10–40 ms of CPU), the loop free between.
_FOLD_ROUND = 250


def fold_escalations(store: Store, limit: int | None = None) -> bool:
    """Fold the envelopes stored since the watermark into the escalation tables (the first
    ``limit`` of them if given), a batch per transaction (each moves the watermark with what
    it folded). Work in proportion to what arrived since the last call, or to ``limit``; the
    tables persist, so a restart starts where it was. True if nothing stored is left unfolded
    (as far as this connection knows: another process may be folding the same)."""
    with _fold_locks_lock:
        lock = _fold_locks.setdefault(store, threading.Lock())
    with lock:
        seen = escalation_states.watermark(store)
        left = limit
        while True:
            size = _FOLD_BATCH if left is None else min(_FOLD_BATCH, left)
            # One more than asked, unfolded, says whether anything is left beyond it.
            rows = stats.envelope_rows_since(store, _ESCALATION_TYPES, seen, size + 1)
            batch = rows[:size]
            if not batch:
                return not rows
            facts = _facts(batch)
            with store.transaction(durable=False) as tx:
                if escalation_states.watermark(tx) != seen:
                    return False  # another process folded these meanwhile; the next call goes on
                _fold(tx, facts)
                seen = int(batch[-1]["rowid"])
                escalation_states.set_watermark(tx, seen)
            if len(rows) <= size:
                return True
            if left is not None:
                left -= len(batch)


async def escalation_figures_loop(ctx: NodeContext, idle_s: float = 1.0) -> None:
    """Keep the escalation tables up with the store, off the request and the storing
    transaction: a round of at most ``_FOLD_ROUND`` envelopes, the event loop free between
    rounds, so an upgraded store catches up at start-up in bounded chunks while the node serves;
    then the few that arrive, once a second (a figures call folds those itself too). An idle
    round reads one index entry (the highest envelope rowid)."""
    checked = -1
    while True:
        mark = stats.last_envelope(ctx.store)
        if mark != checked and fold_escalations(ctx.store, _FOLD_ROUND):
            checked = mark
            await asyncio.sleep(idle_s)
        else:
            await asyncio.sleep(0 if mark != checked else idle_s)


class StillCounting(Conflict):
    """The escalation figures are not folded in yet (an upgraded store catching up)."""


def escalation_figures(ctx: NodeContext, *, limit: int = 50
                       ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Acknowledgement times per tier and where every escalation stands now:
    ``ack_times(ack_samples(...))`` and ``escalation_summary(escalation_states(...))`` of every
    stored document, from the escalation tables (``fold_escalations``): counts by index
    ranges (open and overdue split at ``now``), two ranked reads per percentile, and the
    listed items. In proportion to what arrived since the last call and to the answer."""
    store = ctx.store
    caught_up = fold_escalations(store, _FOLD_INLINE)
    now = ctx.now()
    now_us = _micros(now)
    summary: dict[int, dict[str, float]] = {}
    for tier, n in escalation_states.tier_counts(store).items():
        read: dict[int, float] = {}

        def at(k: int, tier: int = tier, n: int = n, read: dict[int, float] = read) -> float:
            if k not in read:  # a percentile's two neighbours in one read
                read.update(enumerate(escalation_states.samples_at(store, tier, n, k, 2), k))
            return read[k]
        summary[tier] = {"count": n, "median": ranked_percentile(n, 50, at),
                         "p90": ranked_percentile(n, 90, at)}
    counts = escalation_states.state_counts(store, now_us)

    def items(overdue: bool) -> list[dict[str, Any]]:
        out = []
        for row in escalation_states.waiting_items(store, now_us, overdue=overdue, limit=limit):
            deadline = _instant(int(row["deadline_us"]))
            facts = EscalationFacts(
                id=row["id"], origin=row["origin"], incident_id=row["incident_id"],
                tier=int(row["tier"]), issued_at=_instant(int(row["issued_us"])),
                deadline=deadline, to=tuple(json.loads(row["recipients"])), acks=row["acks"])
            out.append(EscalationState(
                facts, "overdue" if overdue else "open", tuple(json.loads(row["waiting_on"])),
                (now - deadline).total_seconds() if overdue else 0.0).to_dict())
        return out

    figures = {"seen": sum(counts.values()), **counts, "overdue_items": items(True),
               "open_items": items(False)}
    if not caught_up:
        folded, stored = stats.envelopes_counted(store, _ESCALATION_TYPES,
                                                 escalation_states.watermark(store))
        figures["counting"] = {"folded": folded, "stored": stored}
    return ack_time_rows(summary), figures


def record_figures(store: Store, since: date | None = None,
                   until: date | None = None) -> dict[str, Any]:
    """The summary's counts of events (``load_records``) within the date range: total, stubs,
    undated (of all), clusters, red-line crossings and the reports naming any — from the
    cells (``weighted_records``)."""
    columns = ["is_stub", "red_lines", "dated"]
    everything = weighted_records(store, columns)
    # Without a range the one read of the cells says everything; with one, a second (the
    # store leaves out what lies outside it) counts within it.
    in_it = everything if since is None and until is None else weighted_records(
        store, columns, since, until)
    records = [(r, n) for r, n in in_it if in_range(r, since, until)]
    return {"total": sum(n for _, n in records), "stubs": sum(n for r, n in records if r.is_stub),
            "undated": sum(n for r, n in everything if r.date_for_range is None),
            "clusters": sum(n for r, n in records if len(r.reporters) > 1),
            "red_lines": weighted_red_line_crossings(records),
            "red_line_reports": sum(n for r, n in records if r.red_lines)}


def summary(ctx: NodeContext, since: date | None = None,
            until: date | None = None) -> dict[str, Any]:
    """What the dashboard shows beside the group counts (``GET /api/v1/stats/summary``)."""
    ack, escalations = escalation_figures(ctx)
    return {"node": ctx.node_id, "role": ctx.config.role, "generated_at": ctx.now_text(),
            **record_figures(ctx.store, since, until),
            "tripwires": tripwires(ctx.store, since, until),
            "ack_times": ack, "escalations": escalations}


# -- snapshots --------------------------------------------------------------------------------
def build_snapshot(ctx: NodeContext) -> StatsSnapshot:
    """The snapshot of this node's figures now.

    Raises:
        StillCounting: the escalation figures are still being folded in (an upgraded store
            at start-up): a signed snapshot never carries partial figures.
    """
    ack, escalations = escalation_figures(ctx)
    if "counting" in escalations:
        done = escalations["counting"]
        raise StillCounting(
            f"the escalation figures are still being counted ({done['folded']:,} of "
            f"{done['stored']:,} documents; the node catches up in the background): "
            "sign the snapshot again in a minute")
    return snapshot_of(ctx.store, origin=ctx.node_id, issued_at=ctx.now(), ack=ack,
                       escalations=escalations)


def snapshot_of(store: Store, *, origin: str, issued_at: datetime, ack: list[dict[str, Any]],
                escalations: Mapping[str, Any]) -> StatsSnapshot:
    """The snapshot of what the store counts, from the cells (grouped, for each of its counts,
    by the columns that count reads): what ``build_stats_snapshot`` makes of ``load_records``
    exactly, without loading every record."""
    def weighted(by: Sequence[str]) -> list[tuple[StatRecord, int]]:
        columns = [*dict.fromkeys(c for d in by for c in _DIMENSION_COLUMNS[d]), "is_stub"]
        return weighted_records(store, list(dict.fromkeys(columns)))

    return build_weighted_stats_snapshot(weighted, origin=origin, issued_at=issued_at, ack=ack,
                                         escalations=escalations, tripwires=tripwires(store))


def latest_snapshot_row(store: Store, origin: str | None = None) -> sqlite3.Row | None:
    """The newest snapshot kept (of ``origin``, or of any international-body member)."""
    return stats.latest_snapshot(store, origin)


def snapshot_view(ctx: NodeContext, row: sqlite3.Row) -> dict[str, Any]:
    """A stored snapshot with its signer, re-verified now against the roster this node trusts."""
    envelope = Envelope.from_json(row["envelope"])
    member = ctx.roster.member(row["origin"])
    signer: dict[str, Any] = {"member": row["origin"], "role": member.role if member else None,
                              "keyid": None}
    try:
        key = envelope.verify_with(ctx.roster.signing_keys(row["origin"],
                                                           parse_time(row["issued_at"])))
        signer["keyid"] = key.keyid
        verified = member is not None and member.role == INTERNATIONAL_BODY
    except SignatureError:
        verified = False
    return {"origin": row["origin"], "signer": signer, "digest": row["digest"],
            "issued_at": row["issued_at"], "received_at": row["received_at"],
            "verified": verified, "snapshot": decode(envelope.payload),
            "envelope": envelope.to_dict()}
