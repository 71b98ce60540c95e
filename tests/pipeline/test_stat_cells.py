"""Statistics read from cells (``stat_cells``) answer exactly what ``group_counts`` over every
record answers: any ``by``, range and basis, after revisions, stubs superseded by full reports,
and same-as links; and an upgraded node's migration builds the cells from the rows it holds."""

from __future__ import annotations

import dataclasses
import itertools
import sqlite3
import tempfile
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from federation.stats import (
    BASES,
    DIMENSIONS,
    check_dimensions,
    group_counts,
    in_range,
    matches,
    red_line_crossings,
)
from federation.stats_snapshot import build_stats_snapshot
from node.pipeline import statistics
from node.store import records, search, stats
from node.store.db import MIGRATIONS, STAT_CELL_COLUMNS, Store, _statements

ORIGINS = ("gb", "fr", "de")
IDS = [f"{o}-{k:016x}" for o in ORIGINS for k in range(4)]
DAYS = ("2020-12-31", "2021-01-01", "2021-01-04", "2024-02-29", "2024-03-31", "2026-11-20")
# Weeks spanning two months or two years (month → None), ISO week 53, ordinary weeks.
WEEKS = ("2020-W53", "2021-W01", "2024-W09", "2024-W14", "2024-W10", "2026-W47")
BOUNDS = (None, date(2020, 12, 31), date(2021, 1, 7), date(2024, 3, 1), date(2026, 1, 1))
PROVENANCE_KEYS = ("severity", "harm_types", "countries", "ai_system.developer",
                   "ai_system.name", "sector", "occurred_at")


def _some(values: tuple[str, ...]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(values), max_size=3)


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    incident_id = draw(st.sampled_from(IDS))
    common = {"revision": draw(st.integers(1, 3)), "origin": incident_id[:2],
              "severity": draw(st.sampled_from(("hazard", "incident", "disaster"))),
              "harm_types": draw(_some(("physical", "psychological", "economic-property"))),
              "red_lines": draw(_some(("deception", "self-replication"))),
              "tlp": "RED"}
    if draw(st.booleans()):
        return {"type": "stub", "incident_id": incident_id, **common,
                **({"week": draw(st.sampled_from(WEEKS))} if draw(st.booleans()) else {})}
    doc: dict[str, Any] = {"type": "incident", "id": incident_id, **common,
                           "tripwire_ids": draw(_some(("tw-1", "tw-2"))),
                           "countries": draw(_some(("FR", "GB", "JP"))),
                           "ai_system": {"name": draw(st.sampled_from(("X", "Y"))), "role": "r",
                                         "developer": draw(st.sampled_from(("", "A", "B")))},
                           "provenance": draw(st.dictionaries(
                               st.sampled_from(PROVENANCE_KEYS),
                               st.sampled_from(("observed", "derived", "defaulted")),
                               max_size=4))}
    day = draw(st.sampled_from((None, *DAYS)))
    if day:
        doc["occurred_at"] = f"{day}T{draw(st.sampled_from(('00:00', '23:59')))}:00Z"
    sector = draw(st.sampled_from((None, "energy", "health")))
    return doc | ({"sector": sector} if sector else {})


@contextmanager
def store_at(path: Path) -> Iterator[Store]:
    store = Store.open(path)
    try:
        yield store
    finally:
        store.close()


def apply(store: Store, docs: list[dict[str, Any]], links: list[tuple[str, str]]) -> None:
    with store.transaction() as tx:
        for n, doc in enumerate(docs):
            statistics._upsert_record(tx, doc["type"], doc, f"{n:064x}", "2026-12-01T00:00:00Z")
        for n, (a, b) in enumerate(links):
            digest = f"{n:063x}f"
            tx.execute("INSERT OR IGNORE INTO envelopes VALUES (?, 'link', ?, 's', x'00', 't', 0)",
                       (digest, a[:2]))
            statistics._record_link(tx, {"type": "link", "origin": a[:2], "incident_id": a,
                                         "linked_id": b, "relation": "same-as",
                                         "issued_at": "2026-12-01T00:00:00Z"}, digest)


def expected_figures(store: Store, since: date | None, until: date | None) -> dict[str, Any]:
    """What ``summary`` computed before cells, over every record."""
    everything = statistics.load_records(store)
    records = [r for r in everything if in_range(r, since, until)]
    return {"total": len(records), "stubs": sum(1 for r in records if r.is_stub),
            "undated": sum(1 for r in everything if r.date_for_range is None),
            "clusters": sum(1 for r in records if len(r.reporters) > 1),
            "red_lines": red_line_crossings(records),
            "red_line_reports": sum(1 for r in records if r.red_lines)}


def assert_same_answers(store: Store, queries: list[tuple[list[str], date | None, date | None,
                                                          str]]) -> None:
    for by, since, until, basis in queries:
        old = group_counts(statistics.load_records(store), by, since, until, basis)
        assert statistics.counts(store, by, since, until, basis) == old, (by, since, until,
                                                                          basis)
        assert statistics.record_figures(store, since, until) == expected_figures(
            store, since, until)


def assert_cells_hold_what_the_sql_computes(store: Store) -> None:
    """Each row's cell (found or made in Python) holds what ``STAT_CELL_COLUMNS``' SQL, which
    built the cells of an upgraded node, computes from the row."""
    names = [name for name, _ in STAT_CELL_COLUMNS]
    computed = ", ".join(f"{sql.format(r='r')} AS {name}" for name, sql in STAT_CELL_COLUMNS)
    kept = ", ".join(f"c.{name} AS kept_{name}" for name in names)
    for row in store.query(f"SELECT {computed}, {kept} FROM stat_records r "  # noqa: S608
                           "JOIN stat_cells c ON c.id = r.cell_id"):
        assert [row[n] for n in names] == [row[f"kept_{n}"] for n in names]
    assert not store.query("SELECT 1 FROM stat_records WHERE cell_id NOT IN "
                           "(SELECT id FROM stat_cells)")


def _ordered(a: date | None, b: date | None) -> tuple[date | None, date | None]:
    return (min(a, b), max(a, b)) if a and b else (a, b)


queries = st.lists(st.tuples(
    st.lists(st.sampled_from(DIMENSIONS), max_size=3, unique=True),
    st.sampled_from(BOUNDS), st.sampled_from(BOUNDS), st.sampled_from(BASES)),
    min_size=1, max_size=6).map(lambda qs: [(by, *_ordered(s, u), b) for by, s, u, b in qs])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(messages(), max_size=25),
       links=st.lists(st.tuples(st.sampled_from(IDS), st.sampled_from(IDS))
                      .filter(lambda p: p[0] != p[1]), max_size=3),
       more=st.lists(messages(), max_size=10), queries=queries)
def test_cells_answer_what_every_record_answers(docs: list[dict[str, Any]],
                                                links: list[tuple[str, str]],
                                                more: list[dict[str, Any]],
                                                queries: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp, store_at(Path(tmp) / "s.sqlite3") as store:
        apply(store, docs, links)
        assert_same_answers(store, queries)
        # Later revisions, stubs and full reports replace rows: their cells move with them.
        apply(store, more, [])
        assert_same_answers(store, queries)
        assert_cells_hold_what_the_sql_computes(store)
        cells = store.query("SELECT SUM(n) AS n, MIN(n) AS low FROM stat_cells")[0]
        assert (cells["n"] or 0) == store.scalar("SELECT COUNT(*) FROM stat_records")
        assert (cells["low"] or 0) >= 0


def _old_upsert(conn: sqlite3.Connection, doc: dict[str, Any], digest: str) -> None:
    """A row as a node before the cell ids wrote it (a later revision replaces it)."""
    row = statistics.stat_row(doc["type"], doc, digest, "2026-12-01T00:00:00Z")[0]
    conn.execute(
        "INSERT INTO stat_records(incident_id, revision, is_stub, digest, origin, severity, "
        "harm_types, red_lines, tripwire_ids, developer, occurred_on, week, tlp, updated_at, "
        "facets) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(incident_id) DO UPDATE SET "
        "revision=excluded.revision, is_stub=excluded.is_stub, facets=excluded.facets, "
        "occurred_on=excluded.occurred_on, week=excluded.week, severity=excluded.severity, "
        "harm_types=excluded.harm_types, red_lines=excluded.red_lines, "
        "developer=excluded.developer, tlp=excluded.tlp",
        (*dataclasses.astuple(row)[:2], int(row.is_stub), *dataclasses.astuple(row)[3:]))


UPGRADE_DOCS = [{"type": "stub", "incident_id": i, "revision": 1, "origin": i[:2],
                 "severity": "incident", "harm_types": ["physical"], "red_lines": [],
                 "tlp": "RED", "week": w} for i, w in zip(IDS[:6], WEEKS, strict=True)] + [
    {"type": "incident", "id": i, "revision": 2, "origin": i[:2], "severity": "hazard",
     "harm_types": [], "red_lines": ["deception"], "tlp": "GREEN",
     "occurred_at": f"{d}T12:00:00Z", "countries": ["FR", "GB"],
     "provenance": {"countries": "derived", "occurred_at": "defaulted"},
     "ai_system": {"name": "X", "role": "r", "developer": "A"}}
    for i, d in zip(IDS[4:10], DAYS, strict=True)]


@pytest.mark.parametrize("before", ["CREATE TABLE stat_cells", "DROP TRIGGER stat_cells_insert"])
def test_an_upgraded_node_builds_its_cells_from_the_rows_it_holds(tmp_path: Path,
                                                                  before: str) -> None:
    """From a store without cells, and from one whose cells triggers kept (before cell ids)."""
    mine = next(i for i, m in enumerate(MIGRATIONS) if before in m)
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:mine]:
        for statement in _statements(script):
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version={mine}")
    conn.commit()
    # The rows an older node holds, written as it wrote them.
    with conn:
        for n, doc in enumerate(UPGRADE_DOCS):
            _old_upsert(conn, doc, f"{n:064x}")
    conn.close()
    queries = [(list(by), since, until, basis)
               for by in itertools.chain([()], itertools.combinations(DIMENSIONS, 1),
                                         [("year", "month", "week"), ("country", "harm_type")])
               for since, until in ((None, None), (date(2021, 1, 1), date(2024, 3, 1)))
               for basis in BASES]
    with store_at(path) as store:
        assert store.scalar("SELECT SUM(n) FROM stat_cells") == 10
        assert store.scalar("SELECT COUNT(*) FROM stat_records WHERE cell_id IS NULL") == 0
        assert_same_answers(store, queries)
        # New revisions of the migrated rows move their counts out of the migrated cells.
        apply(store, [{**d, "revision": 3, "severity": "disaster"} for d in UPGRADE_DOCS[3:8]],
              [])
        assert store.scalar("SELECT SUM(n) FROM stat_cells") == 10
        assert_same_answers(store, queries)
        # A new report alike a migrated one counts in the migrated cell, not in a second one.
        cells = store.scalar("SELECT COUNT(*) FROM stat_cells")
        apply(store, [{**UPGRADE_DOCS[9], "id": IDS[11]}], [])
        assert store.scalar("SELECT COUNT(*) FROM stat_cells") == cells


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(messages(), max_size=25),
       links=st.lists(st.tuples(st.sampled_from(IDS), st.sampled_from(IDS))
                      .filter(lambda p: p[0] != p[1]), max_size=3),
       more=st.lists(messages(), max_size=10))
def test_the_snapshot_from_cells_is_the_snapshot_of_every_record(
        docs: list[dict[str, Any]], links: list[tuple[str, str]],
        more: list[dict[str, Any]]) -> None:
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    figures: dict[str, Any] = {"origin": "int", "issued_at": now, "ack": [],
                               "escalations": {"seen": 2, "open": 1}}
    with tempfile.TemporaryDirectory() as tmp, store_at(Path(tmp) / "s.sqlite3") as store:
        for batch, batch_links in ((docs, links), (more, [])):
            apply(store, batch, batch_links)
            old = build_stats_snapshot(statistics.load_records(store),
                                       tripwires=statistics.tripwires(store), **figures)
            new = statistics.snapshot_of(store, **figures)
            assert new.to_dict() == old.to_dict()


def apply_reports(store: Store, docs: list[dict[str, Any]], links: list[tuple[str, str]],
                  start: int) -> None:
    """``apply``, and the ``incidents`` rows of the full reports among ``docs`` (as
    ``flow.accept`` stores them), so the incident list has rows to show."""
    apply(store, docs, links)
    with store.transaction() as tx:
        for n, doc in enumerate(docs, start):
            if doc["type"] == "incident":
                digest = f"{n:062x}ab"
                records.insert_envelope(tx, digest, "incident", doc["origin"], "s", b"{}",
                                        "2026-12-01T00:00:00Z", local=False)
                records.upsert_incident(tx, {**doc, "issued_at": "2026-12-01T00:00:00Z",
                                             "title": f"report {doc['id']}"}, digest,
                                        "2026-12-01T00:00:00Z")


def all_pages(store: Store, limit: int, filters: dict[str, Any],
              **chosen: Any) -> list[dict[str, Any]]:
    """Every page of the incident list, concatenated, following ``next`` as a client does."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(len(IDS) + 2):  # bounded: a page holds at least one item
        page = records.list_incidents(store, limit=limit, cursor=cursor, **filters, **chosen)
        items += page.items
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor
    raise AssertionError("the list did not end")


# The reports' issue time in ``apply_reports``, and one after it: a list ``since`` either.
ISSUED, LATER = "2026-12-01T00:00:00.000Z", "2026-12-01T00:00:00.001Z"


@contextmanager
def _fresh_matches(fresh: bool) -> Iterator[None]:
    """With ``fresh``, ``bar_events`` groups every cell anew (the groups it kept set aside)."""
    if not fresh:
        yield
        return
    with patch.object(statistics, "_cell_groups", weakref.WeakKeyDictionary()):
        yield


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(messages(), max_size=25),
       links=st.lists(st.tuples(st.sampled_from(IDS), st.sampled_from(IDS))
                      .filter(lambda p: p[0] != p[1]), max_size=3),
       more=st.lists(messages(), max_size=10), queries=queries, data=st.data())
def test_the_events_of_a_group_are_those_every_record_says(
        docs: list[dict[str, Any]], links: list[tuple[str, str]], more: list[dict[str, Any]],
        queries: list[Any], data: st.DataObject) -> None:
    """``event_ids`` for a group's key (as a chart's bar links it) and for keys of no group;
    and the incident list of such a key (``GET /api/v1/incidents?where=…``: the items of every
    page, ``total``) from ``bar_events``'s SQL condition is what it was from the whole sorted
    ``event_ids``, with the list's origin, severity and text filters and any page size,
    whichever way SQLite is asked to find the rows (walking the incidents, or from the cells'
    rows)."""
    with tempfile.TemporaryDirectory() as tmp, store_at(Path(tmp) / "s.sqlite3") as store:
        for start, (batch, batch_links) in enumerate(((docs, links), (more, []))):
            apply_reports(store, batch, batch_links, 100 * start)
            if start:  # the first batch indexed for search, the second not yet
                with store.transaction() as tx:
                    search.index_pending(tx, 1000)
            records_now = statistics.load_records(store)
            for by, since, until, basis in queries:
                groups = group_counts(records_now, by, since, until, basis)["groups"]
                wheres = [g["key"] for g in groups] + [{d: data.draw(st.sampled_from(
                    (None, 2021, "gb", "hazard", "physical", "2024-W09", "FR", "X", "A",
                     "energy", "deception", "2024-03"))) for d in by}]
                for where in wheres:
                    old = [r.incident_id for r in records_now
                           if in_range(r, since, until) and matches(r, where, basis)]
                    ids = statistics.event_ids(store, where, basis, since, until)
                    assert ids == old, (where, since, until, basis)
                    filters = {"origin": data.draw(st.sampled_from((None, "gb", "fr"))),
                               "severity": data.draw(st.sampled_from((None, "incident",
                                                                      "disaster"))),
                               "since": data.draw(st.sampled_from((None, ISSUED, LATER))),
                               "text": data.draw(st.sampled_from((None, "report", "gb-",
                                                                  "energy")))}
                    limit = data.draw(st.integers(1, 4))
                    listed = all_pages(store, limit, filters, ids=ids)
                    # From the cells' rows, or walking the incidents; the cells narrowed by the
                    # list's origin and severity or not (``bar_events`` told of them or not);
                    # the matched cells read afresh (a new store object) or kept, grown by the
                    # cells the second batch made.
                    for share, told, fresh in itertools.product((0, 10**9), (True, False),
                                                                (False, True)):
                        asked = {"origin": filters["origin"], "severity": filters["severity"],
                                 "filtered": filters["since"] is not None} if told else {}
                        with patch.object(stats, "WALK_SHARE", share), \
                                _fresh_matches(fresh):
                            bar = statistics.bar_events(store, where, basis, since, until,
                                                        **asked)
                            paged = all_pages(store, limit, filters, match=bar.condition)
                        assert (bar.total, paged) == (len(ids), listed), (
                            where, filters, share, told, fresh)
            for g in groups:
                assert len(statistics.event_ids(store, g["key"], basis, since, until)) == g[
                    "count"]


@pytest.mark.parametrize("share", [0, 10**9])
def test_a_bar_narrowed_by_the_lists_filter_keeps_a_stub_standing_for_an_older_report(
        tmp_path: Path, share: int) -> None:
    """The list's severity filter is applied to the cells, but a stub's cell says the stub's
    severity, while the ``incidents`` row the list filters is the older full report's: that
    row is listed all the same (and a full report's cell of another severity is left out)."""
    common = {"origin": "gb", "harm_types": ["physical"], "red_lines": [], "tlp": "RED"}
    docs = [{"type": "incident", "id": IDS[0], "revision": 1, "severity": "disaster", **common},
            {"type": "stub", "incident_id": IDS[0], "revision": 2, "severity": "hazard",
             **common},
            {"type": "incident", "id": IDS[1], "revision": 1, "severity": "hazard", **common}]
    with store_at(tmp_path / "s.sqlite3") as store:
        apply_reports(store, docs, [], 0)
        where = {"harm_type": "physical"}
        with patch.object(stats, "WALK_SHARE", share):
            bar = statistics.bar_events(store, where, "all", None, None, severity="disaster")
            shown = all_pages(store, 2, {"origin": None, "severity": "disaster", "since": None,
                                         "text": None}, match=bar.condition)
        assert (bar.total, [i["id"] for i in shown]) == (2, [IDS[0]])
        narrowed = stats.cells_listed(store, statistics._matching_cells(
            store, where, "all", None, None)[0], None, ["disaster"])
        assert narrowed[1] == 1  # the stub's cell only: the hazard report's is left out


def test_an_upgraded_store_walks_a_bar_in_the_covering_index(tmp_path: Path) -> None:
    """A store from before the ``bars`` migration gets the index (incident_id, cell_id) on
    opening; a bar's list walking the incidents reads each row's cell from it alone (the plan
    SQLite chooses) and lists what ``event_ids`` says, page by page."""
    mine = next(i for i, m in enumerate(MIGRATIONS) if "stat_records_incident_cell" in m)
    path = tmp_path / "old.sqlite3"
    with patch("node.store.db.MIGRATIONS", MIGRATIONS[:mine]), store_at(path) as old:
        apply_reports(old, UPGRADE_DOCS, [(IDS[4], IDS[5])], 0)
    with store_at(path) as store:
        assert store.scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = "
                            "'stat_records_incident_cell'") == 1
        where = {"severity": "hazard"}
        ids = statistics.event_ids(store, where, "all", None, None)
        assert ids  # the bar holds reports to list
        with patch.object(stats, "WALK_SHARE", 10**9):  # walk the incidents
            bar = statistics.bar_events(store, where, "all", None, None)
            condition, params = bar.condition
            plan = " ".join(str(r[3]) for r in store.query(
                f"EXPLAIN QUERY PLAN SELECT seq FROM incidents WHERE {condition} "  # noqa: S608
                "ORDER BY seq DESC LIMIT 3", tuple(params)))
            assert "COVERING INDEX stat_records_incident_cell (incident_id=?)" in plan, plan
            filters = {"origin": None, "severity": None, "since": None, "text": None}
            paged = all_pages(store, 2, filters, match=bar.condition)
        assert (bar.total, paged) == (len(ids), all_pages(store, 2, filters, ids=ids))


def test_the_dashboards_key_shapes_are_grouped_before_the_first_click(tmp_path: Path) -> None:
    """``warm_chart_groups`` (run at start-up) groups the cells for every shape the
    dashboard's bars link: a bar of any of them then groups no cell in the request, and
    answers as a bar grouped in the request does."""
    import asyncio  # noqa: PLC0415 - this test only

    with store_at(tmp_path / "s.sqlite3") as store:
        apply_reports(store, UPGRADE_DOCS, [], 0)
        for dims in statistics.CONSOLE_SHAPES:
            check_dimensions(list(dims))  # the dashboard's dimensions, in the order it links
        cold = {dims: statistics.bar_events(store, dict.fromkeys(dims, None), "all", None, None)
                for dims in statistics.CONSOLE_SHAPES}
        with patch.object(statistics, "_cell_groups", weakref.WeakKeyDictionary()):
            asyncio.run(statistics.warm_chart_groups(store))
            with patch.object(stats, "cell_groups", side_effect=AssertionError("grouped")):
                for dims in statistics.CONSOLE_SHAPES:
                    bar = statistics.bar_events(store, dict.fromkeys(dims, None), "all",
                                                None, None)
                    assert bar == cold[dims], dims
