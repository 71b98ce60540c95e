"""Helpers of the fault tests: file a burst of reports, read every id, count what was stored."""

from __future__ import annotations

import asyncio
import re

import aiohttp

from tests.integration.conftest import Federation, report

CONCURRENCY = 8


async def file_burst(http: aiohttp.ClientSession, fed: Federation, node: str, count: int,
                     filed: list[str], halfway: asyncio.Event, *,
                     until_killed: bool = False) -> None:
    """File ``count`` reports at ``node`` from CONCURRENCY clients; append each accepted id to
    ``filed``; set ``halfway`` at half. A refused request is retried (bounded). With
    ``until_killed``, a client stops at its first connection error (the node was killed: the
    outcome of that one request is unknown, which the caller must allow for)."""
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            try:
                filed.append(await _file_one(http, fed, node, i))
            except aiohttp.ClientConnectionError:
                if until_killed:
                    return
                raise
            if len(filed) >= count // 2:
                halfway.set()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def _file_one(http: aiohttp.ClientSession, fed: Federation, node: str, i: int) -> str:
    body = report(title=f"{node} burst {i}", severity="hazard")
    for _attempt in range(20):  # a request may meet a failover: retry it, bounded
        async with http.post(fed.url(node, "/api/v1/incidents"), json=body,
                             headers=fed.auth(node, "operator")) as r:
            if r.status == 201:
                return str((await r.json())["id"])
        await asyncio.sleep(0.2)
    raise AssertionError(f"{node} refused report {i}: {r.status}")


async def all_ids(http: aiohttp.ClientSession, fed: Federation, node: str) -> list[str]:
    ids: list[str] = []
    cursor = ""
    for _ in range(100):  # 500 a page: bounded well above the burst
        async with http.get(fed.url(node, f"/api/v1/incidents?limit=500{cursor}"),
                            headers=fed.auth(node, "viewer")) as r:
            page = await r.json()
        ids += [i["id"] for i in page["items"]]
        if not page["next"]:
            return ids
        cursor = f"&cursor={page['next']}"
    raise AssertionError("more pages than a burst can make")


async def metric(http: aiohttp.ClientSession, fed: Federation, node: str,
                  pattern: str) -> float:
    async with http.get(fed.url(node, "/metrics")) as r:
        text = await r.text()
    m = re.search(rf"^{pattern} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


async def stored_once(http: aiohttp.ClientSession, fed: Federation,
                       node: str) -> tuple[float, float]:
    """(incident messages stored, messages received again) at ``node``. Redeliveries after a
    failover are expected; the digest makes them no-ops, and they are counted apart."""
    received = await metric(http, fed, node, r'beacon_messages_in_total\{type="incident"\}')
    again = await metric(http, fed, node, "beacon_messages_duplicate_total")
    return received - again, again
