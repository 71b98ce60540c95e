"""Catch-up: a node that was offline while N reports were published drains them all.

    $ .venv/bin/python -m bench.suite --catchup 100000     # part of ``make bench``

fr and the international body are stopped; N incidents pre-signed by gb are published straight
into JetStream (as ``bench.consumer`` does); then fr alone is started, and the clock runs from
its start until its ``/healthz`` counts all N (``reports_per_s``; ``reports_per_s_once_healthy``
counts from its first ``/healthz`` answer, leaving the start-up out). The international body
stays down until then, so that fr competes only with jp (which drains the same reports
meanwhile, as a member would in production) and gb (the publisher, idle here). CPU per report
is fr's process CPU after it first answers ``/healthz``, divided by the reports it stored after
that (all of them at any real N; ``cpu_basis`` says so); its start-up CPU is
given apart.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import nats

from bench.consumer import _messages
from bench.latency import SUBJECT, stored_count
from bench.procs import cpu_s, healthy, load_average, memory_mb, start_node, stop_node
from tests.integration.conftest import Federation

NODE = "fr"


async def _publish(fed: Federation, messages: list[bytes]) -> float:
    nc = await nats.connect(fed.doc["nats"]["url"], nkeys_seed=fed.doc["nats"]["admin_credentials"])
    t0 = time.perf_counter()
    try:
        js = nc.jetstream()
        for i in range(0, len(messages), 500):
            await asyncio.gather(*(js.publish(SUBJECT, m) for m in messages[i:i + 500]))
    finally:
        await nc.close()
    return time.perf_counter() - t0


async def _drain(fed: Federation, n: int, before: int, within_s: float) -> dict[str, float]:
    url = fed.node(NODE)["url"]
    t0 = time.perf_counter()
    pid = start_node(fed, NODE)
    async with aiohttp.ClientSession() as http:
        await healthy(http, url)
        up_s, cpu_up = time.perf_counter() - t0, cpu_s(pid)
        at_up = await stored_count(http, url) - before
        deadline = time.monotonic() + within_s
        while (count := await stored_count(http, url)) < before + n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{NODE} stored {count - before} of {n} reports in "
                                   f"{within_s} s; see its node.log")
            await asyncio.sleep(0.05)
        total = time.perf_counter() - t0
        cpu = cpu_s(pid) - cpu_up
    return {"start_s": up_s, "startup_cpu_s": cpu_up, "total_s": total, "cpu_s": cpu,
            "drained_at_start": at_up, "after_start_rate": (n - at_up) / max(total - up_s, 1e-9),
            **memory_mb(pid)}


def catchup(fed: Federation, n: int, floor_us: float, within_s: float = 1800) -> dict[str, Any]:
    """Figures for fr catching up on ``n`` reports published while it (and ``int``) were down;
    ``floor_us`` is the floor measured in the same run."""
    key_file = Path(fed.node("gb")["signing_key_file"])
    messages = _messages(key_file, n)

    async def count() -> int:
        async with aiohttp.ClientSession() as http:
            return await stored_count(http, fed.node(NODE)["url"])

    before = asyncio.run(count())
    stop_node(fed, NODE)
    stop_node(fed, "int")
    try:
        publish_s = asyncio.run(_publish(fed, messages))
        d = asyncio.run(_drain(fed, n, before, within_s))
    finally:
        start_node(fed, "int")  # the federation is whole again for whatever runs next
    rest = n - d["drained_at_start"]
    if rest > 0 and d["cpu_s"] > 0:  # the reports stored after fr first answered, their CPU
        cpu_us, basis = 1e6 * d["cpu_s"] / rest, "after start-up"
    else:  # a small backlog drained before fr's first answer: only the whole CPU says anything
        cpu_us = 1e6 * (d["startup_cpu_s"] + d["cpu_s"]) / n
        basis = "start-up included (drained before the first /healthz answer)"
    return {"reports": n, "node": f"{NODE} (int down too; gb and jp up)",
            "load_average": load_average(),
            "publish_s": round(publish_s, 2), "start_to_healthy_s": round(d["start_s"], 2),
            "startup_cpu_s": round(d["startup_cpu_s"], 2),
            "drain_s": round(d["total_s"], 2), "reports_per_s": round(n / d["total_s"]),
            "reports_per_s_once_healthy": round(d["after_start_rate"]),
            "cpu_us_per_report": round(cpu_us, 1), "cpu_basis": basis,
            "floor_over_cpu": round(floor_us / cpu_us, 3),
            "node_rss_mb": d.get("rss_mb"), "node_peak_rss_mb": d.get("peak_rss_mb")}
