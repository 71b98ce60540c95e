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
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import nats

from bench.pipeline import pipeline_rate
from federation.canonical import decode, encode
from federation.envelope import Envelope, payload_type
from federation.messages import incident_from_report
from node.core.identity import load_signing_key
from node.core.schemas import default_schemas
from tests.integration.conftest import MINIMAL_REPORT, Federation


def _messages(key_file: Path, n: int) -> list[bytes]:
    key = load_signing_key(key_file)
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        doc = incident_from_report({**MINIMAL_REPORT, "title": f"Benchmark incident {i}",
                                    "affected_jurisdictions": []}, origin="gb", now=now)
        out.append(Envelope.sign(payload_type("incident"), encode(doc), [key]).to_json())
    return out


def floor(messages: list[bytes], key_file: Path) -> float:
    """Messages per second for verify + validate alone (no I/O), best of three."""
    public = load_signing_key(key_file).public
    schemas = default_schemas()
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        for data in messages:
            env = Envelope.from_json(data)
            env.verify_with([public])
            schemas.validate("incident", decode(env.payload))
        runs.append(len(messages) / (time.perf_counter() - t0))
    return max(runs)


async def _count(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(f"{url}/healthz") as r:
        return int((await r.json())["incidents"])


async def end_to_end(fed: Federation, messages: list[bytes], node: str) -> dict[str, float]:
    url = fed.node(node)["url"]
    async with aiohttp.ClientSession() as http:
        before = await _count(http, url)
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
        while await _count(http, url) < before + len(messages):
            if time.monotonic() > deadline:
                raise TimeoutError("the node did not store every message within 300 s")
            await asyncio.sleep(0.02)
        total = time.perf_counter() - t0
    return {"publish_s": published, "total_s": total, "rate": len(messages) / total}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--latency-samples", type=int, default=30)
    args = parser.parse_args()
    pipe_rate, pipe_floor = pipeline_rate(args.messages)
    with tempfile.TemporaryDirectory() as tmp:
        fed = Federation(Path(tmp), ["gb", "fr", "jp"])
        try:
            fed.start()
            key_file = Path(fed.node("gb")["signing_key_file"])
            msgs = _messages(key_file, args.messages)
            floor_rate = floor(msgs, key_file)
            results = asyncio.run(end_to_end(fed, msgs, "fr"))
            latencies = sorted(asyncio.run(filing_latency(fed, args.latency_samples)))
        finally:
            fed.stop()
    report: dict[str, Any] = {
        "messages": args.messages,
        "floor_msgs_per_s": round(floor_rate),
        "node_msgs_per_s": round(results["rate"]),
        "fraction_of_floor": round(results["rate"] / floor_rate, 3),
        "publish_s": round(results["publish_s"], 2),
        "end_to_end_s": round(results["total_s"], 2),
        "pipeline_in_process_msgs_per_s": round(pipe_rate),
        "pipeline_fraction_of_floor": round(pipe_rate / pipe_floor, 3),
        "filing_to_peer_latency_ms": {
            "median": round(1000 * latencies[len(latencies) // 2], 1),
            "p95": round(1000 * latencies[int(len(latencies) * 0.95) - 1], 1),
            "max": round(1000 * latencies[-1], 1)},
    }
    print(json.dumps(report, indent=2))
    print(f"node fr stored {args.messages} verified incidents at {report['node_msgs_per_s']}/s "
          f"= {report['fraction_of_floor']:.0%} of the verify+validate floor "
          f"({report['floor_msgs_per_s']}/s), while gb, jp, int and nats-server shared the "
          "same cores")
    print(f"in one process, without NATS or other nodes, the pipeline (verify, validate, store, "
          f"react) runs at {report['pipeline_fraction_of_floor']:.0%} of the floor")


if __name__ == "__main__":
    main()
