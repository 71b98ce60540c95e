"""Benchmark: a node's inbound throughput against the floor, measured in the same run.

    $ make bench            # or: .venv/bin/python -m bench.consumer --messages 5000

The floor is what any correct receiver must do per message — one Ed25519 verification plus JSON
Schema validation of the body — timed here in a tight loop on this machine. The node's figure is
end to end: N signed incidents are published straight into JetStream (as the admin user), and
the clock stops when the receiving node's store holds all N (its ``/healthz`` count). The result
is printed as messages per second and as a fraction of the floor. Figures, not assertions: a
benchmark that fails on a slow machine would only teach people to ignore it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import nats

from bench.floor import floor_us
from bench.latency import offered_latency, stored_count
from bench.pipeline import pipeline_rate
from bench.size import size
from bench.table import write_table
from federation.canonical import encode
from federation.envelope import Envelope, payload_type
from federation.messages import incident_from_report
from node.core.identity import load_signing_key
from tests.integration.conftest import MINIMAL_REPORT, Federation

# Offered reports per second: issue 13's three, and 200, the rate of its p99 goal.
RATES = (10, 100, 200, 1000)


def _messages(key_file: Path, n: int) -> list[bytes]:
    key = load_signing_key(key_file)
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        doc = incident_from_report({**MINIMAL_REPORT, "title": f"Benchmark incident {i}",
                                    "affected_jurisdictions": []}, origin="gb", now=now)
        out.append(Envelope.sign(payload_type("incident"), encode(doc), [key]).to_json())
    return out


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def end_to_end(fed: Federation, messages: list[bytes], node: str) -> dict[str, float]:
    url, pid = fed.node(node)["url"], int(fed.node(node)["pid"])
    async with aiohttp.ClientSession() as http:
        before = await stored_count(http, url)
        cpu0 = _cpu_s(pid)
        nc = await nats.connect(fed.doc["nats"]["url"],
                                nkeys_seed=fed.doc["nats"]["admin_credentials"])
        js = nc.jetstream()
        t0 = time.perf_counter()
        for i in range(0, len(messages), 500):
            await asyncio.gather(*(js.publish("beacon.v1.incident.gb.serious-incident", m)
                                   for m in messages[i:i + 500]))
        published = time.perf_counter() - t0
        await nc.close()
        deadline = time.monotonic() + 300
        while await stored_count(http, url) < before + len(messages):
            if time.monotonic() > deadline:
                raise TimeoutError("the node did not store every message within 300 s")
            await asyncio.sleep(0.02)
        total = time.perf_counter() - t0
        cpu = _cpu_s(pid) - cpu0
    return {"publish_s": published, "total_s": total, "rate": len(messages) / total,
            "cpu_us": 1e6 * cpu / len(messages)}


async def filing_latency(fed: Federation, samples: int) -> list[float]:
    """Seconds from ``POST /api/v1/incidents`` at gb to the report being listed at fr."""
    out = []
    async with aiohttp.ClientSession() as http:
        for i in range(samples):
            body = {**MINIMAL_REPORT, "title": f"Latency probe {i}"}
            t0 = time.perf_counter()
            async with http.post(fed.url("gb", "/api/v1/incidents"), json=body,
                                 headers=fed.auth("gb", "operator")) as r:
                incident = (await r.json())["id"]
            while True:
                async with http.get(fed.url("fr", f"/api/v1/incidents/{incident}"),
                                    headers=fed.auth("fr", "viewer")) as r:
                    if r.status == 200:
                        break
                if time.perf_counter() - t0 > 30:
                    raise TimeoutError(f"{incident} did not reach fr within 30 s")
                await asyncio.sleep(0.005)
            out.append(time.perf_counter() - t0)
    return out


def _percentile(sorted_s: list[float], q: float) -> float:
    return round(1000 * sorted_s[min(len(sorted_s) - 1, int(len(sorted_s) * q))], 1)


def run(n: int, samples: int, size_n: int, rate_s: float,
        fed: Federation | None = None) -> dict[str, Any]:
    """The consumer's figures, on ``fed`` (a started three-member federation, left running for
    the suite's other benchmarks) or on a federation of its own. Each part is skipped at 0:
    ``n`` (floor, ingest, in-process pipeline), ``samples`` (closed-loop filing latency),
    ``rate_s`` (offered rates), ``size_n`` (store size); a skipped part has no key."""
    out: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, shared with other work (noisy)"}
    if n:
        pipe_rate, pipe_floor = pipeline_rate(n)
        out["pipeline_in_process"] = {
            "reports_per_s": round(pipe_rate),
            "without_playbooks_per_s": round(pipeline_rate(n, playbooks=False)[0]),
            "check_inbound_per_s": round(pipe_floor)}
    with tempfile.TemporaryDirectory() as tmp:
        own = fed is None
        if fed is None and (n or samples or rate_s):
            fed = Federation(Path(tmp), ["gb", "fr", "jp"])
            fed.start()
        try:
            if fed is not None:
                out.update(_on_federation(fed, n, samples, rate_s))
        finally:
            if own and fed is not None:
                fed.stop()
    if size_n:
        out["size"] = size(size_n)
    return out


def _on_federation(fed: Federation, n: int, samples: int, rate_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    key_file = Path(fed.node("gb")["signing_key_file"])
    if n:
        msgs = _messages(key_file, n)
        floor = floor_us(msgs, load_signing_key(key_file).public)
        ingest = asyncio.run(end_to_end(fed, msgs, "fr"))
        out["floor"] = floor
        out["ingest"] = {
            "reports": n, "node": "fr (gb and jp drain the same stream at the same time)",
            "reports_per_s": round(ingest["rate"]),
            "cpu_us_per_report": round(ingest["cpu_us"], 1),
            "floor_over_cpu": round(floor["floor_us"] / ingest["cpu_us"], 3),
            "end_to_end_s": round(ingest["total_s"], 2),
            "publish_s": round(ingest["publish_s"], 2)}
    if samples:
        lat = sorted(asyncio.run(filing_latency(fed, samples)))
        out["filing_latency_gb_to_fr_ms"] = {
            "samples": samples, "offered": "one at a time (closed loop)",
            "p50": _percentile(lat, 0.5), "p99": _percentile(lat, 0.99),
            "max": round(1000 * lat[-1], 1)}
    if rate_s:
        out["offered_latency_gb_to_fr"] = [asyncio.run(offered_latency(
            fed, _messages(key_file, max(1, int(rate * rate_s))), rate, "fr"))
            for rate in RATES]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000,
                        help="floor, ingest and in-process pipeline (0: skip)")
    parser.add_argument("--latency-samples", type=int, default=50,
                        help="closed-loop filing latency (0: skip)")
    parser.add_argument("--rate-seconds", type=float, default=5.0,
                        help="how long each offered rate is kept up (0: skip)")
    parser.add_argument("--size-reports", type=int, default=100_000, help="0: skip")
    parser.add_argument("--out", type=Path, default=Path("bench/results.json"))
    parser.add_argument("--doc", type=Path, default=Path("docs/performance.md"))
    args = parser.parse_args()
    report = run(args.messages, args.latency_samples, args.size_reports, args.rate_seconds)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    write_table(args.doc, report)
    print(json.dumps(report, indent=2))
    print(f"wrote {args.out} and the table in {args.doc}")


if __name__ == "__main__":
    main()
