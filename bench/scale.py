"""Scale: how a node's CPU per report and filing-to-visible latency grow with the members.

    $ .venv/bin/python -m bench.suite --scale 3,10,30     # part of ``make bench``

For each size, a federation of that many members (gb, fr, jp, then m04, m05, …, plus the
international body; one nats-server, every node a real ``beacon run`` process) is started on
this machine. First every process's CPU is read over an idle window (heartbeats, timers), then
gb's pre-signed reports are published into JetStream at a modest open-loop rate for the same
length of time, and fr's count gives each report's visibility (``bench.latency``). CPU per
report per node is the busy window's CPU minus the idle window's, summed over the nodes that
receive the reports and are not polled (all but gb and fr: fr's ``/healthz`` is polled every
3 ms for the latency), divided by reports × nodes. Memory: the nodes' resident sets.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.consumer import _messages
from bench.latency import offered_latency
from bench.procs import cpu_s, load_average, memory_mb
from tests.integration.conftest import Federation

FIRST = ["gb", "fr", "jp"]
WARM_UP = 5


def member_ids(n: int) -> list[str]:
    return FIRST[:n] + [f"m{i:02d}" for i in range(len(FIRST) + 1, n + 1)]


def _cpu(pids: list[int]) -> list[float]:
    return [cpu_s(p) for p in pids]


def one_size(members: int, rate: float, seconds: float,
             fed: Federation | None = None) -> dict[str, Any]:
    """Figures for a federation of ``members``: started here, or ``fed`` if it is given (and
    has exactly that many members)."""
    if fed is not None:
        return _measure(fed, rate, seconds, start_s=None)
    with tempfile.TemporaryDirectory() as tmp:
        own = Federation(Path(tmp), member_ids(members))
        try:
            t0 = time.perf_counter()
            own.start(within_s=60 + 10 * members)
            return _measure(own, rate, seconds, start_s=time.perf_counter() - t0)
        finally:
            own.stop()


def _measure(fed: Federation, rate: float, seconds: float,
             start_s: float | None) -> dict[str, Any]:
    n = max(1, int(rate * seconds))
    # CPU is read from the receivers that nobody polls: not gb (the publisher) and not fr,
    # whose /healthz the latency probe asks every 3 ms (that would count as report work).
    pids = [int(x["pid"]) for x in fed.doc["nodes"] if x["id"] not in ("gb", "fr")]
    messages = _messages(Path(fed.node("gb")["signing_key_file"]), n + WARM_UP)
    # A few reports first, so that no node's first-report costs (lazy imports, caches,
    # the first compile of a validator) count as per-report CPU.
    asyncio.run(offered_latency(fed, messages[n:], rate, "fr"))
    messages = messages[:n]
    idle0 = _cpu(pids)
    time.sleep(seconds)  # the idle window: what the nodes burn without reports
    idle = [b - a for a, b in zip(idle0, _cpu(pids), strict=True)]
    busy0, w0 = _cpu(pids), time.perf_counter()
    lat = asyncio.run(offered_latency(fed, messages, rate, "fr"))
    busy_s = time.perf_counter() - w0
    busy = [b - a for a, b in zip(busy0, _cpu(pids), strict=True)]
    # Scale the idle CPU to the busy window's length (it ran longer: the drain tail).
    per_node_us = [1e6 * max(b - i * busy_s / seconds, 0.0) / n
                   for b, i in zip(busy, idle, strict=True)]
    rss = [memory_mb(int(x["pid"]))["rss_mb"] for x in fed.doc["nodes"]]
    return {"members": len(fed.members), "nodes": len(fed.doc["nodes"]), "reports": n,
            "offered_per_s": rate, "load_average": load_average(),
            "start_s": None if start_s is None else round(start_s, 1),
            "cpu_us_per_report_per_node": round(sum(per_node_us) / len(per_node_us), 1),
            "cpu_us_per_report_max_node": round(max(per_node_us), 1),
            "idle_cpu_ms_per_s_all_nodes": round(1000 * sum(idle) / seconds, 1),
            "visible_at_fr": lat.get("visible"), "p50_ms": lat.get("p50_ms"),
            "p99_ms": lat.get("p99_ms"), "max_ms": lat.get("max_ms"),
            "node_rss_mb_mean": round(sum(rss) / len(rss), 1),
            "node_rss_mb_total": round(sum(rss), 1)}


def scale(sizes: list[int], rate: float = 20, seconds: float = 5,
          fed: Federation | None = None) -> list[dict[str, Any]]:
    """One figure set per size; a size equal to ``fed``'s member count runs on ``fed``."""
    out = []
    for m in sizes:
        out.append(one_size(m, rate, seconds, fed if fed and len(fed.members) == m else None))
        print(f"scale: {out[-1]}", flush=True)
    return out
