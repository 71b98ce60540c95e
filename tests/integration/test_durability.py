"""Nothing accepted is lost: across a NATS outage (outbox) and a node crash (durable consumer);
and nothing is stored twice."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest

from tests.integration.conftest import Federation, report, running_federation, wait_for


@pytest.fixture
def fresh_fed(tmp_path: Path) -> Iterator[Federation]:
    with running_federation(tmp_path, ["gb", "fr", "jp"]) as f:
        yield f


async def _file(http: aiohttp.ClientSession, fed: Federation, title: str) -> dict[str, Any]:
    async with http.post(fed.url("gb", "/api/v1/incidents"), json=report(title=title),
                         headers=fed.auth("gb", "operator")) as r:
        assert r.status == 201, await r.text()
        result: dict[str, Any] = await r.json()
        return result


async def _ids_at(http: aiohttp.ClientSession, fed: Federation, node: str) -> list[str]:
    async with http.get(fed.url(node, "/api/v1/incidents?limit=500"),
                        headers=fed.auth(node, "viewer")) as r:
        return [i["id"] for i in (await r.json())["items"]]


async def _health(http: aiohttp.ClientSession, fed: Federation, node: str) -> dict[str, Any]:
    async with http.get(fed.url(node, "/healthz")) as r:
        result: dict[str, Any] = await r.json()
        return result


async def test_report_accepted_while_nats_is_down_is_delivered_later(
        fresh_fed: Federation, http: aiohttp.ClientSession) -> None:
    fed = fresh_fed
    os.kill(fed.doc["nats"]["pid"], signal.SIGKILL)
    await wait_for(lambda: _nats_state(http, fed, "gb", "disconnected"))

    filed = [await _file(http, fed, f"During outage {i}") for i in range(3)]
    health = await _health(http, fed, "gb")
    assert health["outbox_depth"] >= 3 and health["status"] == "degraded"

    fed.spawn_nats()  # same config and JetStream store directory
    for node in ("fr", "jp", "int"):
        async def arrived(node: str = node) -> bool:
            return {f["id"] for f in filed} <= set(await _ids_at(http, fed, node))
        await wait_for(arrived, within_s=30)
    await wait_for(lambda: _outbox_empty(http, fed, "gb"), within_s=10)


async def _nats_state(http: aiohttp.ClientSession, fed: Federation, node: str,
                      state: str) -> bool:
    return (await _health(http, fed, node))["nats"] == state


async def _outbox_empty(http: aiohttp.ClientSession, fed: Federation, node: str) -> bool:
    return (await _health(http, fed, node))["outbox_depth"] == 0


async def test_killed_node_catches_up_and_stores_nothing_twice(
        fresh_fed: Federation, http: aiohttp.ClientSession) -> None:
    fed = fresh_fed
    first = await _file(http, fed, "Before the crash")
    await wait_for(lambda: _has(http, fed, "fr", first["id"]))

    os.kill(fed.node("fr")["pid"], signal.SIGKILL)
    missed = [await _file(http, fed, f"While fr was down {i}") for i in range(5)]

    fed.spawn_node("fr")
    await wait_for(lambda: _nats_state(http, fed, "fr", "connected"), within_s=30)
    # Messages that the killed process had fetched but not acknowledged come back after the
    # consumer's ack wait (10 s); everything else arrives at once.
    for m in missed:
        await wait_for(lambda m=m: _has(http, fed, "fr", m["id"]), within_s=40)

    # Replay every envelope gb ever published, after JetStream's duplicate window could no
    # longer help (a different Nats-Msg-Id): fr must recognise them by digest.
    nc = await nats.connect(fed.doc["nats"]["url"],
                            nkeys_seed=fed.doc["nats"]["admin_credentials"])
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe("beacon.v1.incident.gb.>", durable="replayer",
                                      stream="BEACON")
        msgs = await sub.fetch(batch=100, timeout=5)
        assert len(msgs) == 6
        for m in msgs:
            await js.publish(m.subject, m.data, headers={"Nats-Msg-Id": f"replay-{m.reply}"})
    finally:
        await nc.close()

    async def duplicates_seen() -> bool:
        async with http.get(fed.url("fr", "/metrics")) as r:
            text = await r.text()
        line = next(x for x in text.splitlines()
                    if x.startswith("beacon_messages_duplicate_total"))
        return float(line.split()[-1]) >= 6
    await wait_for(duplicates_seen)
    ids = await _ids_at(http, fed, "fr")
    assert sorted(ids) == sorted({first["id"], *(m["id"] for m in missed)})


async def _has(http: aiohttp.ClientSession, fed: Federation, node: str, incident: str) -> bool:
    return incident in await _ids_at(http, fed, node)
