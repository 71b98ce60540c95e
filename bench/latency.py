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


async def _publish(js: Any, messages: list[bytes], rate: float, sent: list[float]) -> None:
    t0 = time.perf_counter()
    acks = []
    for k, m in enumerate(messages):
        delay = t0 + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.append(time.perf_counter())
        acks.append(asyncio.ensure_future(js.publish(SUBJECT, m)))
    await asyncio.gather(*acks)


async def offered_latency(fed: Federation, messages: list[bytes], rate: float,
                          node: str) -> dict[str, Any]:
    url = fed.node(node)["url"]
    sent: list[float] = []
    seen: list[float] = []  # seen[k]: when report k was first seen stored
    async with aiohttp.ClientSession() as http:
        before = await stored_count(http, url)
        nc = await nats.connect(fed.doc["nats"]["url"],
                                nkeys_seed=fed.doc["nats"]["admin_credentials"])
        publisher = asyncio.ensure_future(_publish(nc.jetstream(), messages, rate, sent))
        deadline = time.monotonic() + 60 + len(messages) / rate
        while len(seen) < len(messages) and time.monotonic() < deadline:
            stored = await stored_count(http, url) - before
            now = time.perf_counter()
            seen += [now] * (min(stored, len(messages)) - len(seen))
            await asyncio.sleep(POLL_S)
        await publisher
        await nc.close()
    lat = sorted(1000 * (s - p) for s, p in zip(seen, sent, strict=False))
    if not lat:
        return {"offered_per_s": rate, "reports": len(messages), "visible": 0}
    return {"offered_per_s": rate, "reports": len(messages), "visible": len(lat),
            "p50_ms": round(lat[len(lat) // 2], 1),
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1),
            "max_ms": round(lat[-1], 1)}
