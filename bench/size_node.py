"""Size at 10^6: a real node serving a store that holds N reports — its RSS, and the incident
list, search and statistics queries as a client times them over HTTP.

    $ .venv/bin/python -m bench.suite --size-node 1000000     # part of ``make bench``

In a two-member federation fr is stopped and its own store is filled through the store layer —
``records.insert_envelope``, ``records.upsert_incident`` and ``statistics.on_message``, the
calls ``flow.accept`` makes for an incident — with N distinct incidents (a placeholder
envelope, as ``bench.size`` does: signatures are not what is measured here). Then fr is started
again (``beacon run``) and each query is timed end to end from a client, best of a few: the
first page of ``GET /api/v1/incidents``, a severity-filtered page, a two-word search
(``?q=``), ``GET /api/v1/stats`` (total, ``?by=severity``, ``?by=origin,year``,
``?by=harm_type&since=2020-01-01``) and ``/api/v1/stats/summary``.
and the incident list behind chart bars of 3,000 to 250,000 reports (``where=``: the first
page and the 20th). RSS is read from ``/proc/<pid>/status`` after start-up, and its peak after
the queries. ``serve_filled`` serves a store filled before (one fill, code before and after).
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.procs import healthy, load_average, memory_mb, start_node, stop_node
from bench.size import _fill
from node.core.config import NodeConfig
from node.store.db import Page, Store
from tests.integration.conftest import Federation

NODE = "fr"
QUERIES = {
    "list_ms": "/api/v1/incidents?limit=50",
    "list_disaster_ms": "/api/v1/incidents?limit=50&severity=disaster",
    "search_two_words_ms": "/api/v1/incidents?limit=50&q=incident%2099999",
    "search_common_word_ms": "/api/v1/incidents?limit=50&q=benchmark",  # in every report
    "search_rare_word_ms": "/api/v1/incidents?limit=50&q=size-00012345",  # in one
    "stats_total_ms": "/api/v1/stats",
    "stats_by_severity_ms": "/api/v1/stats?by=severity",
    "stats_by_origin_year_ms": "/api/v1/stats?by=origin,year",
    "stats_by_harm_type_since_ms": "/api/v1/stats?by=harm_type&since=2020-01-01",
    "stats_summary_ms": "/api/v1/stats/summary",
    # The incident list behind a chart's bar (the dashboard links each bar here), from bars of
    # about 3,000 reports at 10^6 to one of a quarter of them.
    "bar_country_fr_ms": "/api/v1/incidents?limit=50&where=country:FR",
    "bar_physical_gb_ms": "/api/v1/incidents?limit=50&where=harm_type:physical&where=origin:gb",
    "bar_year_2020_ms": "/api/v1/incidents?limit=50&where=year:2020",
    "bar_hazard_ms": "/api/v1/incidents?limit=50&where=severity:hazard",
    "bar_hazard_disaster_ms": "/api/v1/incidents?limit=50&where=severity:hazard&severity=disaster",
    # A bar narrowed by the list's own origin filter (the cells apply it too).
    "bar_year_2020_origin_gb_ms": "/api/v1/incidents?limit=50&where=year:2020&origin=gb",
}
# A bar's page further on: the 20th page of 50 (following ``next``), and its ``total``.
DEEP_BARS = {"bar_year_2020_page20_ms": "/api/v1/incidents?limit=50&where=year:2020",
             "bar_hazard_page20_ms": "/api/v1/incidents?limit=50&where=severity:hazard"}


def fill(db: Path, n: int, batch: int = 20_000) -> float:
    """Add ``n`` incidents to the store at ``db`` as ``flow.accept`` would, their statistics
    included (``bench.size._fill``); rows per second."""
    store = Store.open(db)
    try:
        return _fill(store, n, prefix="size", batch=batch, statistics=True)
    finally:
        store.close()


async def _time(http: aiohttp.ClientSession, url: str, headers: dict[str, str],
                runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        async with http.get(url, headers=headers) as r:
            await r.read()
            if r.status != 200:
                raise RuntimeError(f"GET {url}: HTTP {r.status}")
        best = min(best, time.perf_counter() - t0)
        if best > 5:  # seconds per answer: one run says enough, and more would take minutes
            break
    return round(1000 * best, 1)


async def _serve(fed: Federation, runs: int) -> dict[str, Any]:
    url, headers = fed.node(NODE)["url"], fed.auth(NODE, "viewer")
    t0 = time.perf_counter()
    pid = start_node(fed, NODE)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        await healthy(http, url, within_s=300)
        out: dict[str, Any] = {"start_to_healthy_s": round(time.perf_counter() - t0, 1)}
        idle = memory_mb(pid)
        out["node_rss_mb_serving"] = idle.get("rss_mb")
        for name, path in QUERIES.items():
            out[name] = await _time(http, url + path, headers, runs)
        for name, path in DEEP_BARS.items():
            cursor = ""
            for _ in range(19):
                async with http.get(url + path + cursor, headers=headers) as r:
                    page = await r.json()
                out[name.replace("_page20_ms", "_total")] = page.get("total")
                if page.get("next") is None:
                    break
                cursor = f"&cursor={page['next']}"
            out[name] = await _time(http, url + path + cursor, headers, runs)
    after = memory_mb(pid)
    out["node_rss_mb_after_queries"] = after.get("rss_mb")
    out["node_peak_rss_mb"] = after.get("peak_rss_mb")
    return out


def size_node(n: int, runs: int = 3, fed: Federation | None = None) -> dict[str, Any]:
    """Figures for fr serving ``n`` more reports; in a federation of its own unless ``fed``
    (whose fr is then stopped, filled and started again) is given."""
    if fed is not None:
        return _measure(fed, n, runs)
    with tempfile.TemporaryDirectory() as tmp:
        own = Federation(Path(tmp), ["gb", NODE])
        try:
            own.start()
            return _measure(own, n, runs)
        finally:
            own.stop()


def serve_filled(filled: Path, runs: int = 3) -> dict[str, Any]:
    """The figures of fr serving the store ``filled`` (``fill`` made it, earlier): moved into
    fr's place in a federation of its own, and back afterwards, so that one fill of 10^6
    serves the code before and after a change."""
    with tempfile.TemporaryDirectory() as tmp:
        own = Federation(Path(tmp), ["gb", NODE])
        try:
            own.start(within_s=600)  # minutes on a loaded machine
            stop_node(own, NODE)
            db = NodeConfig.load(Path(own.node(NODE)["config"])).db_path
            _adopt(filled, db)
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
            _move(filled, db)
            try:
                served = asyncio.run(_serve(own, runs))
            finally:
                stop_node(own, NODE)
                _move(db, filled)
        finally:
            own.stop()
    return {"load_average": load_average(), **served}


# What the filled store holds already, or must not take from a fresh node's: the reports and
# their projections (a cell's id is the filled store's own), the search index.
_FILLED = ("incidents", "incident_revisions", "stat_", "incident_search", "sqlite_")


def _adopt(filled: Path, fresh: Path) -> None:
    """Copy into ``filled`` what the fresh node's store holds besides reports (its tokens,
    roster, keys' log…), so the node starts on it as on its own store."""
    with sqlite3.connect(filled) as conn:
        conn.execute("ATTACH DATABASE ? AS fresh", (str(fresh),))
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM fresh.sqlite_master WHERE type = 'table' "
            "AND sql NOT LIKE 'CREATE VIRTUAL%'")]
        # A table the filled store lacks is made by its migrations when fr opens it (a
        # store filled by older code is an upgraded store): nothing to copy into it.
        have = {r[0] for r in conn.execute("SELECT name FROM main.sqlite_master")}
        for table in tables:
            if not table.startswith(_FILLED) and table in have:
                conn.execute(f'INSERT OR IGNORE INTO main."{table}" '  # noqa: S608
                             f'SELECT * FROM fresh."{table}"')
    conn.close()


def _move(source: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        if Path(str(source) + suffix).exists():
            Path(str(source) + suffix).rename(str(target) + suffix)


def _measure(fed: Federation, n: int, runs: int) -> dict[str, Any]:
    stop_node(fed, NODE)
    db = NodeConfig.load(Path(fed.node(NODE)["config"])).db_path
    rows_per_s = fill(db, n)
    served = asyncio.run(_serve(fed, runs))
    db_mb = sum(p.stat().st_size for p in db.parent.glob(db.name + "*")) / 2**20
    return {"reports": n, "load_average": load_average(), "fill_rows_per_s": round(rows_per_s),
            "db_mb": round(db_mb, 1), **served}


# The incident list behind chart bars as the handler makes it (``statistics.bar_events``, then
# ``records.list_incidents`` with its condition), in process on a filled store: where terms,
# then the list's own origin, severity and text filters.
BARS: dict[str, tuple[list[str], dict[str, str]]] = {
    "country_fr": (["country:FR"], {}),
    "physical_gb": (["harm_type:physical", "origin:gb"], {}),
    "year_2020": (["year:2020"], {}),
    "hazard": (["severity:hazard"], {}),
    "hazard_disaster": (["severity:hazard"], {"severity": "disaster"}),
    "year_2020_gb": (["year:2020"], {"origin": "gb"}),
    "hazard_q": (["severity:hazard"], {"text": "incident 99999"}),
}


def bars_in_process(db: Path, runs: int = 3) -> dict[str, Any]:
    """Wall and CPU ms (best of ``runs`` by wall) of each ``BARS`` first page, and the 20th
    page of the two large bars, on the store at ``db`` (``fill`` made it): the bar's list
    without HTTP, so that a change's before and after compare on one store."""
    from federation.stats import parse_where
    from node.pipeline import statistics
    from node.store import records

    store = Store.open(db)
    out: dict[str, Any] = {"load_average": load_average()}

    def page(terms: list[str], f: dict[str, str], cursor: int | None) -> Page:
        bar = statistics.bar_events(store, parse_where(terms), "all", None, None,
                                    origin=f.get("origin"), severity=f.get("severity"))
        return records.list_incidents(store, origin=f.get("origin"), severity=f.get("severity"),
                                      since=None, limit=50, cursor=cursor, text=f.get("text"),
                                      match=bar.condition)

    def best(terms: list[str], f: dict[str, str], cursor: int | None) -> tuple[float, float]:
        timed = []
        for _ in range(runs):
            wall, cpu = time.perf_counter(), time.process_time()
            page(terms, f, cursor)
            timed.append((time.perf_counter() - wall, time.process_time() - cpu))
        wall_s, cpu_s = min(timed)
        return round(1000 * wall_s, 1), round(1000 * cpu_s, 1)

    try:
        for name, (terms, f) in BARS.items():
            out[f"{name}_ms"], out[f"{name}_cpu_ms"] = best(terms, f, None)
            if name in ("year_2020", "hazard"):
                cursor = page(terms, f, None).next_cursor
                for _ in range(18):
                    cursor = page(terms, f, cursor).next_cursor
                out[f"{name}_page20_ms"], out[f"{name}_page20_cpu_ms"] = best(terms, f, cursor)
    finally:
        store.close()
    return out
