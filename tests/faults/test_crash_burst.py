"""Crashes mid-burst, with a thousand reports rather than a handful: SIGKILL of a receiving
node in the middle of a burst, then of the (single) NATS server in the middle of the next, then
of the sending node in the middle of the third; each restarted after its burst.

Exact counts at every node: each holds exactly the reports the sender holds (nothing lost,
nothing twice), and every report the sender acknowledged with 201 is among them.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import aiohttp
import pytest

from tests.faults.burst import all_ids, file_burst, stored_once
from tests.integration.conftest import Federation, running_federation, wait_for

BURST = 1000
NODES = ("gb", "fr", "int")


@pytest.fixture(scope="module")
def kfed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with running_federation(tmp_path_factory.mktemp("kfed"), ["gb", "fr"]) as f:
        yield f


async def _connected(http: aiohttp.ClientSession, fed: Federation, node: str) -> bool:
    async with http.get(fed.url(node, "/healthz")) as r:
        return r.status == 200 and (await r.json())["nats"] == "connected"


async def _burst_with_kill(http: aiohttp.ClientSession, fed: Federation, victim: str,
                           acknowledged: list[str]) -> None:
    halfway, filed = asyncio.Event(), list[str]()
    burst = asyncio.create_task(file_burst(http, fed, "gb", BURST, filed, halfway,
                                           until_killed=victim == "gb"))
    procs = fed.doc["nats"] if victim == "nats" else fed.node(victim)
    try:
        await asyncio.wait_for(halfway.wait(), timeout=120)
        os.kill(procs["pid"], signal.SIGKILL)
        await burst
    finally:
        burst.cancel()
        await asyncio.gather(burst, return_exceptions=True)
    acknowledged += filed
    procs["pid"] = (fed.spawn_nats() if victim == "nats" else fed.spawn_node(victim)).pid
    for node in NODES:
        await wait_for(lambda node=node: _connected(http, fed, node), within_s=60)


async def test_sigkill_receiver_nats_sender_mid_burst_exact_counts(
        kfed: Federation, http: aiohttp.ClientSession) -> None:
    acknowledged: list[str] = []
    await _burst_with_kill(http, kfed, "fr", acknowledged)
    assert len(acknowledged) == BURST
    await _burst_with_kill(http, kfed, "nats", acknowledged)  # reports wait in the outbox
    assert len(acknowledged) == 2 * BURST
    await _burst_with_kill(http, kfed, "gb", acknowledged)
    assert BURST * 2.5 <= len(acknowledged) < 3 * BURST  # the sender died halfway

    sender = set(await all_ids(http, kfed, "gb"))
    assert set(acknowledged) <= sender, "a report acknowledged with 201 was lost by gb"
    for node in ("fr", "int"):
        async def complete(node: str = node) -> bool:
            return set(await all_ids(http, kfed, node)) >= sender
        await wait_for(complete, within_s=120, every_s=1.0)
    for node in ("fr", "int"):
        ids = await all_ids(http, kfed, node)
        assert len(ids) == len(set(ids)) == len(sender) and set(ids) == sender, node
    # fr restarted (its counters with it): int saw every message of the run.
    stored, again = await stored_once(http, kfed, "int")
    assert stored == len(sender), (stored, again)
    print(f"gb held {len(sender)} reports ({len(acknowledged)} acknowledged with 201); "
          f"int dropped {again:.0f} redeliveries as duplicates")
