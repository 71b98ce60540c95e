"""Fault: a three-server JetStream cluster (R3 stream and bucket) loses a server — SIGKILL of
the stream's leader in the middle of a burst of 1,200 reports, restarted afterwards.

Nothing is lost and nothing is stored twice: every node ends with exactly every report, and
counts each peer's report exactly once in ``beacon_messages_in_total``. No node is unhealthy
(``/healthz`` not 200/"ok") for longer than the failover.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import aiohttp
import nats
import pytest
from nats.js.api import ClusterInfo

from federation.subjects import STREAM
from tests.faults.burst import all_ids, file_burst, stored_once
from tests.integration.conftest import Federation, running_federation, wait_for

PER_MEMBER = 600
FAILOVER_S = 15.0  # leader election plus a client reconnect, with margin for a loaded machine
NODES = ("gb", "fr", "int")


@pytest.fixture(scope="module")
def cfed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with running_federation(tmp_path_factory.mktemp("cfed"), ["gb", "fr"],
                            nats_cluster=3) as f:
        yield f


class HealthWatch:
    """Polls every node's /healthz; keeps each node's longest stretch of not-ok."""

    def __init__(self, http: aiohttp.ClientSession, fed: Federation) -> None:
        self.http, self.fed = http, fed
        self.worst = dict.fromkeys(NODES, 0.0)
        self._since: dict[str, float | None] = dict.fromkeys(NODES)

    async def _ok(self, node: str) -> bool:
        try:
            async with self.http.get(self.fed.url(node, "/healthz"),
                                     timeout=aiohttp.ClientTimeout(total=2)) as r:
                return r.status == 200 and (await r.json())["status"] == "ok"
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def run(self, max_polls: int = 3000) -> None:
        for _ in range(max_polls):
            for node in NODES:
                ok, now = await self._ok(node), time.monotonic()
                since = None if ok else (self._since[node] or now)
                self._since[node] = since
                if since is not None:
                    self.worst[node] = max(self.worst[node], now - since)
            await asyncio.sleep(0.2)


async def _stream_cluster(fed: Federation) -> ClusterInfo:
    nc = await nats.connect(servers=fed.doc["nats"]["url"].split(","),
                            nkeys_seed=fed.doc["nats"]["admin_credentials"])
    try:
        info = await nc.jetstream().stream_info(STREAM)
    finally:
        await nc.close()
    assert info.cluster is not None, info
    return info.cluster


async def _all_replicas_current(fed: Federation) -> bool:
    """The restarted server is back in the stream's group and has caught up."""
    cluster = await _stream_cluster(fed)
    peers = cluster.replicas or []
    return bool(cluster.leader) and len(peers) == 2 and all(p.current and not p.offline
                                                            for p in peers)


async def _stream_leader(fed: Federation) -> int:
    """Index (in demo.json's ``nats.servers``) of the server leading the stream."""
    info = await _stream_cluster(fed)
    assert info.leader, info
    port = info.leader.rsplit("-", 1)[1]  # server_name is beacon-demo-<client port>
    servers = fed.doc["nats"]["servers"]
    return next(i for i, s in enumerate(servers) if s["url"].endswith(f":{port}"))


async def test_sigkill_of_the_stream_leader_mid_burst_loses_and_duplicates_nothing(
        cfed: Federation, http: aiohttp.ClientSession) -> None:
    watch = HealthWatch(http, cfed)
    watching = asyncio.create_task(watch.run())
    filed: dict[str, list[str]] = {"gb": [], "fr": []}
    halfway = {m: asyncio.Event() for m in filed}
    bursts = [asyncio.create_task(file_burst(http, cfed, m, PER_MEMBER, filed[m], halfway[m]))
              for m in filed]
    try:
        await asyncio.wait_for(halfway["gb"].wait(), timeout=120)
        leader = await _stream_leader(cfed)
        os.kill(cfed.doc["nats"]["servers"][leader]["pid"], signal.SIGKILL)
        await asyncio.gather(*bursts)
        cfed.spawn_nats(leader)  # same config and store: it rejoins and catches up

        everything = set(filed["gb"]) | set(filed["fr"])
        assert len(everything) == 2 * PER_MEMBER
        for node in NODES:
            async def complete(node: str = node) -> bool:
                return len(await all_ids(http, cfed, node)) >= 2 * PER_MEMBER
            await wait_for(complete, within_s=120, every_s=1.0)
        await wait_for(lambda: _all_replicas_current(cfed), within_s=60, every_s=0.5)
    finally:
        watching.cancel()
        for b in bursts:
            b.cancel()
        await asyncio.gather(watching, *bursts, return_exceptions=True)

    redelivered = {}
    for node in NODES:
        ids = await all_ids(http, cfed, node)
        assert len(ids) == len(set(ids)) == 2 * PER_MEMBER and set(ids) == everything, node
        from_peers = 2 * PER_MEMBER if node == "int" else PER_MEMBER
        stored, redelivered[node] = await stored_once(http, cfed, node)
        assert stored == from_peers, (node, stored, redelivered[node])
    # For docs/reliability.md (pytest -s shows it).
    print(f"longest not-ok /healthz stretch per node (s): {watch.worst}; "
          f"redelivered and dropped as duplicates: {redelivered}")
    assert max(watch.worst.values()) < FAILOVER_S, watch.worst
