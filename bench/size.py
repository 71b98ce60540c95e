"""Size: RSS and query latency of a store holding many incidents.

    $ .venv/bin/python -m bench.size --reports 100000

The store is filled directly through the store layer (``records.insert_envelope`` and
``records.upsert_incident``, the calls ``flow.accept`` makes), not through NATS, to reach
10^5–10^6 rows in minutes. Envelopes are a fixed placeholder of realistic size (the signature is
not what is measured here); documents are real incidents with distinct ids, titles and
severities. Then the incident list (first page, newest first), a severity-filtered page, a
two-word search and the count are each timed (best of five, in ms).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from federation.messages import incident_from_report
from node.store import records, search
from node.store.db import Store
from tests.integration.conftest import MINIMAL_REPORT

SEVERITIES = ("hazard", "incident", "serious-incident", "disaster")
PLACEHOLDER = b"x" * 1500  # about the size of a signed incident envelope


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _fill(store: Store, n: int) -> float:
    now = datetime.now(UTC)
    base = incident_from_report({**MINIMAL_REPORT, "affected_jurisdictions": []},
                                origin="gb", now=now)
    at = now.isoformat().replace("+00:00", "Z")
    t0 = time.perf_counter()
    for start in range(0, n, 10_000):
        with store.transaction() as tx:
            for i in range(start, min(n, start + 10_000)):
                doc = {**base, "id": f"gb-bench-{i:08d}", "title": f"Benchmark incident {i}",
                       "severity": SEVERITIES[i % 4]}
                digest = f"{i:064x}"
                records.insert_envelope(tx, digest, "incident", "gb", "bench", PLACEHOLDER,
                                        at, local=False)
                records.upsert_incident(tx, doc, digest, at)
        with store.transaction() as tx:  # what the node's search-index task does
            search.index_pending(tx, 10_000)
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
