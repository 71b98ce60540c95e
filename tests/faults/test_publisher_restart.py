"""Fault: the store fails under the outbox publisher (``database is locked`` when it marks a
batch sent). The publisher is restarted, counted and shown, and every report still arrives
exactly once (JetStream's duplicate window and the receivers' digest check absorb the re-send).
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.core.config import NodeConfig
from tests.faults.burst import all_ids
from tests.integration.conftest import Federation, report, running_federation, wait_for

REPORTS = 20


@pytest.fixture
def pfed(tmp_path: Path) -> Iterator[Federation]:
    with running_federation(tmp_path, ["gb", "fr"]) as f:
        yield f


async def _health(http: aiohttp.ClientSession, fed: Federation, node: str) -> Any:
    async with http.get(fed.url(node, "/healthz")) as r:
        return await r.json()


async def test_store_failure_restarts_the_publisher_and_nothing_is_lost(
        pfed: Federation, http: aiohttp.ClientSession) -> None:
    os.kill(pfed.doc["nats"]["pid"], signal.SIGKILL)  # hold reports in gb's outbox
    await wait_for(lambda: _nats_is(http, pfed, "disconnected"))
    filed = []
    for i in range(REPORTS):
        async with http.post(pfed.url("gb", "/api/v1/incidents"),
                             json=report(title=f"Outbox {i}"),
                             headers=pfed.auth("gb", "operator")) as r:
            assert r.status == 201, await r.text()
            filed.append((await r.json())["id"])

    lock = sqlite3.connect(NodeConfig.load(Path(pfed.node("gb")["config"])).db_path,
                           isolation_level=None, timeout=10)
    try:
        lock.execute("BEGIN EXCLUSIVE")  # the publisher can read its rows, not mark them sent
        pfed.spawn_nats()

        async def restarted() -> Any:
            task = (await _health(http, pfed, "gb"))["tasks"]["outbox-publisher"]
            return task if task["restarts"] >= 1 else None
        task = await wait_for(restarted, within_s=40, every_s=0.2)
        assert "locked" in task["last_error"], task
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    async def arrived() -> bool:
        return set(filed) <= set(await all_ids(http, pfed, "fr"))
    await wait_for(arrived, within_s=40)
    await wait_for(lambda: _outbox_empty(http, pfed), within_s=20)
    ids = await all_ids(http, pfed, "fr")
    assert sorted(ids) == sorted(filed)  # each exactly once
    async with http.get(pfed.url("gb", "/metrics")) as r:
        text = await r.text()
    m = re.search(r'^beacon_task_restarts_total\{task="outbox-publisher"\} (\S+)$', text, re.M)
    assert m and float(m.group(1)) >= 1, text


async def _nats_is(http: aiohttp.ClientSession, fed: Federation, state: str) -> bool:
    return bool((await _health(http, fed, "gb"))["nats"] == state)


async def _outbox_empty(http: aiohttp.ClientSession, fed: Federation) -> bool:
    return bool((await _health(http, fed, "gb"))["outbox_depth"] == 0)
