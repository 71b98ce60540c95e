"""Latency at an offered rate: pre-signed reports published into JetStream at R per second,
and the time until each is visible in the receiving node's store.

    >>> # figures = asyncio.run(offered_latency(fed, messages, rate=100, node="fr"))

Open loop: the publisher keeps the schedule whether or not the node keeps up, so a rate beyond
the node's capacity shows as growing latency, as it would in production. Reports arrive in
order on one subject, so report k is visible once the node's count reaches k; the count is
polled every few milliseconds (the poll's period bounds the resolution).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import nats

from tests.integration.conftest import Federation

SUBJECT = "beacon.v1.incident.gb.serious-incident"
POLL_S = 0.003


async def stored_count(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(f"{url}/healthz") as r:
        return int((await r.json())["incidents"])


async def _publish(js: Any, messages: list[bytes], rate: float, sent: list[float],
                   stored: list[tuple[float, int]] | None = None) -> None:
    """Publish on schedule; ``stored`` (if given) gets, per report, when JetStream's PubAck
    came back (``perf_counter``) and the stream sequence it was stored under."""
    t0 = time.perf_counter()
    acks = []

    async def publish(k: int, m: bytes) -> None:
        ack = await js.publish(SUBJECT, m)
        if stored is not None:
            stored[k] = (time.perf_counter(), int(ack.seq))

    for k, m in enumerate(messages):
        delay = t0 + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.append(time.perf_counter())
        acks.append(asyncio.ensure_future(publish(k, m)))
    await asyncio.gather(*acks)


async def offered_latency(fed: Federation, messages: list[bytes], rate: float,
                          node: str, timeline: dict[str, Any] | None = None) -> dict[str, Any]:
    """p50/p99/max ms from publishing to visible at ``node``. With ``timeline`` (a dict), it
    also gets the raw per-report times for ``breakdown``: ``sent``, ``seen`` and ``stored`` (PubAck
    time and stream sequence), as ``time.time()`` values."""
    url = fed.node(node)["url"]
    sent: list[float] = []
    seen: list[float] = []  # seen[k]: when report k was first seen stored
    stored_at = [(0.0, 0)] * len(messages) if timeline is not None else None
    wall = time.time() - time.perf_counter()
    async with aiohttp.ClientSession() as http:
        before = await stored_count(http, url)
        nc = await nats.connect(fed.doc["nats"]["url"],
                                nkeys_seed=fed.doc["nats"]["admin_credentials"])
        publisher = asyncio.ensure_future(_publish(nc.jetstream(), messages, rate, sent,
                                                    stored_at))
        deadline = time.monotonic() + 60 + len(messages) / rate
        while len(seen) < len(messages) and time.monotonic() < deadline:
            stored = await stored_count(http, url) - before
            now = time.perf_counter()
            seen += [now] * (min(stored, len(messages)) - len(seen))
            await asyncio.sleep(POLL_S)
        await publisher
        await nc.close()
    if timeline is not None and stored_at is not None:
        timeline.update(sent=[wall + t for t in sent], seen=[wall + t for t in seen],
                        stored=[(wall + t, q) for t, q in stored_at])
    lat = sorted(1000 * (s - p) for s, p in zip(seen, sent, strict=False))
    if not lat:
        return {"offered_per_s": rate, "reports": len(messages), "visible": 0}
    return {"offered_per_s": rate, "reports": len(messages), "visible": len(lat),
            "p50_ms": round(lat[len(lat) // 2], 1),
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1),
            "max_ms": round(lat[-1], 1)}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 2) if ordered else 0.0


def _spread(values: list[float]) -> dict[str, float]:
    return {"p50": _pct(values, 0.5), "p90": _pct(values, 0.9), "p99": _pct(values, 0.99),
            "max": round(max(values, default=0.0), 2)}


def breakdown(timeline: dict[str, Any], trace: list[dict[str, Any]]) -> dict[str, Any]:
    """Where each report's time went, from the benchmark's per-report times and the node's
    trace (``node/bus/trace.py``): publish → PubAck → the consumer's fetch returned → checked →
    committed (acks sent) → counted by the ``/healthz`` poll, in ms, as p50/p90/p99/max per
    step, the mean of each step over the slowest 1 % of reports, and the batches and long
    event-loop slices of the window."""
    t0, t1 = timeline["sent"][0], timeline["seen"][-1] if timeline["seen"] else time.time()
    batches = [b for b in trace if b["kind"] == "batch" and t0 - 1 <= b["fetched"] <= t1 + 1]
    by_seq = {q: b for b in batches for q in range(b["first"], b["last"] + 1)}
    steps: dict[str, list[float]] = {k: [] for k in (
        "publish_to_puback", "puback_to_fetched", "fetched_to_checked", "checked_to_committed",
        "committed_to_acked", "committed_to_seen", "total")}
    rows = []
    for sent, seen, (acked, seq) in zip(timeline["sent"], timeline["seen"], timeline["stored"],
                                        strict=False):
        b = by_seq.get(seq)
        if b is None:
            continue
        row = {"publish_to_puback": acked - sent, "puback_to_fetched": b["fetched"] - acked,
               "fetched_to_checked": b["checked"] - b["fetched"],
               "checked_to_committed": b["committed"] - b["checked"],
               "committed_to_acked": b["acked"] - b["committed"],
               "committed_to_seen": seen - b["committed"], "total": seen - sent}
        rows.append({k: 1000 * v for k, v in row.items()})
    for r in rows:
        for k, v in r.items():
            steps[k].append(v)
    slowest = sorted(rows, key=lambda r: r["total"])[-max(1, len(rows) // 100):]
    lags = [x for x in trace if x["kind"] == "lag" and t0 <= x["at"] <= t1]
    index = [x for x in trace if x["kind"] == "index" and t0 <= x["at"] <= t1]
    return {
        "reports_traced": len(rows),
        "steps_ms": {k: _spread(v) for k, v in steps.items()},
        "slowest_1pct_mean_ms": {k: round(sum(r[k] for r in slowest) / len(slowest), 2)
                                 for k in steps} if slowest else {},
        "batches": {"count": len(batches), "size": _spread([float(b["n"]) for b in batches]),
                    "fetch_wait_ms": _spread([1000 * (b["fetched"] - b["asked"])
                                              for b in batches]),
                    "store_ms": _spread([1000 * (b["committed"] - b["checked"])
                                         for b in batches])},
        "loop_slices_over_4ms": {"count": len(lags),
                                 "late_ms": _spread([x["late_ms"] for x in lags]),
                                 "total_ms": round(sum(x["late_ms"] for x in lags), 1)},
        "search_index_slices": {"count": len(index), "ms": _spread([x["ms"] for x in index]),
                                "total_ms": round(sum(x["ms"] for x in index), 1)},
    }


def main() -> None:
    """``python -m bench.latency [--rates 10,100,200] [--seconds 5] [--repeat 1] [--spy]``:
    the offered-rate latency alone, on a federation of its own (gb, fr, jp, int); with
    ``--spy``, each node traces its consumer (``BEACON_TRACE_DIR``) and every rate's figures
    come with ``breakdown``, and each node's CPU per report over the rate's window."""
    import argparse
    import json
    import os
    import tempfile
    from pathlib import Path

    from bench.consumer import _messages
    from bench.procs import cpu_s, load_average

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="10,100,200")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--spy", action="store_true", help="trace the consumers: breakdown")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trace_dir = Path(tmp) / "trace"
        if args.spy:
            trace_dir.mkdir()
            os.environ["BEACON_TRACE_DIR"] = str(trace_dir)
        fed = Federation(Path(tmp) / "fed", ["gb", "fr", "jp"])
        (Path(tmp) / "fed").mkdir()
        try:
            fed.start(within_s=180)  # a loaded 2-core machine can take over a minute
            key_file = Path(fed.node("gb")["signing_key_file"])
            asyncio.run(offered_latency(fed, _messages(key_file, 20), 20, "fr"))  # warm up
            time.sleep(2.0)
            pids = {x["id"]: int(x["pid"]) for x in fed.doc["nodes"]}
            for _ in range(args.repeat):
                for rate in (float(r) for r in args.rates.split(",")):
                    n = max(1, int(rate * args.seconds))
                    messages = _messages(key_file, n)
                    cpu0 = {k: cpu_s(p) for k, p in pids.items()}
                    timeline: dict[str, Any] = {}
                    figures = asyncio.run(offered_latency(fed, messages, rate, "fr", timeline))
                    figures["cpu_us_per_report"] = {
                        k: round(1e6 * (cpu_s(p) - cpu0[k]) / n) for k, p in pids.items()}
                    figures["load"] = load_average()
                    figures["utc"] = time.strftime("%H:%M:%S", time.gmtime())
                    if args.spy:
                        time.sleep(1.5)  # the node flushes its trace once a second
                        lines = (trace_dir / "fr.jsonl").read_text().splitlines()
                        trace = [json.loads(x) for x in lines if x.endswith("}")]
                        figures["breakdown"] = breakdown(timeline, trace)
                    print(json.dumps(figures), flush=True)
                    time.sleep(2.0)
        finally:
            fed.stop()


if __name__ == "__main__":
    main()
