"""Size: RSS and query latency of a store holding many incidents.

    $ .venv/bin/python -m bench.size --reports 100000

The store is filled directly through the store layer (``records.insert_envelope`` and
``records.upsert_incident``, the calls ``flow.accept`` makes), not through NATS, to reach
10^5–10^6 rows in minutes. Envelopes are a fixed placeholder of realistic size (the signature is
not what is measured here); documents are the AIID incidents, cycled through five origins and four
severities, with distinct ids and titles (``_fill``, shared with ``bench.size_node``). Then the
incident list (first page, newest first), a severity-filtered page, a two-word search and the count
are each timed (best of five, in ms).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from federation.messages import incident_from_report
from node.pipeline.context import NodeContext
from node.store import records, search
from node.store.db import Store

SEVERITIES = ("hazard", "incident", "serious-incident", "disaster")
PLACEHOLDER = b"x" * 1500  # about the size of a signed incident envelope


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


ORIGINS = ("gb", "fr", "de", "jp", "us")
LINK_EVERY = 10_000  # one same-as link per this many reports: clusters exist, but are rare


def _aiid_incidents(now: datetime) -> list[dict[str, Any]]:
    """Every AIID incident (``../shared/data/aiid``) as an incident document: real, correlated
    combinations of date, developer, model, harm types, countries, sector and provenance."""
    from bench.peer import aiid_reports  # reads the CSV snapshot; only a fill needs it

    return [incident_from_report({**r, "affected_jurisdictions": []}, origin="gb", now=now)
            for r in aiid_reports(100_000)]


def _fill(store: Store, n: int, *, prefix: str = "bench", batch: int = 10_000,
          statistics: bool = False, spread_days: bool = False) -> float:
    """Add ``n`` incidents; rows per second. Report ``i`` is AIID incident ``i mod K`` filed by
    one of ``ORIGINS`` at one of ``SEVERITIES``, in mixed radix, so the fill walks through all
    K × 5 × 4 combinations before any repeats (dates as AIID has them, 1983–2026, most in
    2014–2026). ``statistics``: also project into the statistics tables as ``flow.accept`` does,
    and link every ``LINK_EVERY``-th report same-as to the next. ``spread_days``: shift each
    report's date by ``i mod 3653`` days as well, so that (nearly) no two reports share every
    value: the worst case for anything that counts alike reports together."""
    from node.pipeline import statistics as stats_projection  # the pipeline: only if asked

    now = datetime.now(UTC)
    bases = _aiid_incidents(now)
    k = len(bases)
    at = now.isoformat().replace("+00:00", "Z")
    # on_message reads the context only for statistics snapshots, never for an incident.
    no_ctx = cast(NodeContext, None)
    previous = ""
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        with store.transaction() as tx:
            for i in range(start, min(n, start + batch)):
                origin = ORIGINS[(i // k) % len(ORIGINS)]
                doc = {**bases[i % k], "origin": origin, "id": f"{origin}-{prefix}-{i:08d}",
                       "title": f"Benchmark incident {i}",
                       "severity": SEVERITIES[(i // (k * len(ORIGINS))) % len(SEVERITIES)]}
                if spread_days and doc.get("occurred_at"):
                    day = date.fromisoformat(doc["occurred_at"][:10]) + timedelta(i % 3653)
                    doc["occurred_at"] = f"{min(day, now.date()).isoformat()}T00:00:00Z"
                digest = f"{i:064x}"
                records.insert_envelope(tx, digest, "incident", origin, "bench", PLACEHOLDER,
                                        at, local=False)
                records.upsert_incident(tx, doc, digest, at)
                if statistics:
                    stats_projection.on_message(no_ctx, tx, "incident", doc, digest, at)
                    if i % LINK_EVERY == 1:
                        link = {"type": "link", "origin": origin, "issued_at": at,
                                "incident_id": doc["id"], "linked_id": previous,
                                "relation": "same-as"}
                        stats_projection.on_message(no_ctx, tx, "link", link, digest, at)
                previous = doc["id"]
        with store.transaction() as tx:  # what the node's search-index task does
            search.index_pending(tx, batch)
    return n / (time.perf_counter() - t0)


def _best_ms(fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return round(1000 * best, 2)


def size(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "node.db")
        try:
            rows_per_s = _fill(store, n)
            page: dict[str, Any] = {"origin": None, "since": None, "limit": 50, "cursor": None}
            out = {
                "reports": n, "fill_rows_per_s": round(rows_per_s),
                "db_mb": round((Path(tmp) / "node.db").stat().st_size / 2**20, 1),
                "list_ms": _best_ms(lambda: records.list_incidents(store, severity=None, **page)),
                "list_disaster_ms": _best_ms(
                    lambda: records.list_incidents(store, severity="disaster", **page)),
                "search_two_words_ms": _best_ms(lambda: records.list_incidents(
                    store, severity=None, text="incident 99999", **page)),
                "count_ms": _best_ms(lambda: records.count_incidents(store)),
                "rss_mb": round(_rss_mb(), 1),
            }
        finally:
            store.conn.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=100_000)
    print(json.dumps(size(parser.parse_args().reports), indent=2))


if __name__ == "__main__":
    main()
