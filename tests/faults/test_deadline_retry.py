"""Fault: the store is locked when an escalation deadline fires. The firing is retried with
backoff (not left for the next restart), the late clock is alerted (healthz, metrics), and the
next tier is reached exactly once when the lock goes.

The lock is real: the test holds ``BEGIN EXCLUSIVE`` on gb's SQLite database from its own
connection, longer than the node's busy timeout (5 s), across the tier-1 deadline, so gb's
firing fails with ``database is locked``, as it would behind a long backup or a stuck writer.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.core.config import NodeConfig
from tests.integration.conftest import Federation, report, running_federation, wait_for

SCALE = 0.0001
TIER1_S = 24 * 3600 * SCALE  # serious-incident-cross-border: affected peers, PT24H


@pytest.fixture(scope="module")
def dfed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with running_federation(tmp_path_factory.mktemp("dfed"), ["gb", "fr", "jp"],
                            time_scale=SCALE) as f:
        yield f


async def _get(http: aiohttp.ClientSession, fed: Federation, node: str, path: str) -> Any:
    async with http.get(fed.url(node, path), headers=fed.auth(node, "viewer")) as r:
        return await (r.json() if path != "/metrics" else r.text())


async def _tiers(http: aiohttp.ClientSession, fed: Federation, node: str,
                 incident: str) -> list[int]:
    body = await _get(http, fed, node, "/api/v1/escalations")
    return sorted(e["tier"] for e in body["items"] if e["incident_id"] == incident)


async def test_locked_store_at_a_deadline_retries_alerts_and_escalates_once(
        dfed: Federation, http: aiohttp.ClientSession) -> None:
    async with http.post(dfed.url("gb", "/api/v1/incidents"), json=report(title="Locked"),
                         headers=dfed.auth("gb", "operator")) as r:
        assert r.status == 201, await r.text()
        incident = (await r.json())["id"]
    await wait_for(lambda: _tiers(http, dfed, "fr", incident))

    db = NodeConfig.load(Path(dfed.node("gb")["config"])).db_path
    lock = sqlite3.connect(db, isolation_level=None, timeout=10)
    try:
        lock.execute("BEGIN EXCLUSIVE")

        async def late() -> Any:
            h = await _get(http, dfed, "gb", "/healthz")
            return h if h["late_clocks"] else None
        health = await wait_for(late, within_s=TIER1_S + 20, every_s=0.2)
        assert health["status"] == "degraded", health
        [clock] = health["late_clocks"]
        assert "locked" in clock["last_error"] and clock["attempts"] >= 1, clock
        assert await _tiers(http, dfed, "jp", incident) == []  # not escalated while locked
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    for node in ("fr", "jp", "int"):
        async def tier2(node: str = node) -> bool:
            return 2 in await _tiers(http, dfed, node, incident)
        await wait_for(tier2, within_s=30)

    async def cleared() -> Any:
        h = await _get(http, dfed, "gb", "/healthz")
        return h if not h["late_clocks"] else None
    await wait_for(cleared, within_s=10)
    metrics = await _get(http, dfed, "gb", "/metrics")
    retries = re.search(r"^beacon_deadline_retries_total (\S+)$", metrics, re.M)
    assert retries and float(retries.group(1)) >= 1, metrics
    assert re.search(r"^beacon_clocks_late 0\.0$", metrics, re.M), metrics

    # Exactly once: the run recorded one missed deadline, and each peer holds one tier-2 row.
    body = await _get(http, dfed, "gb", f"/api/v1/runs?incident={incident}")
    [run] = [x for x in body["items"] if x["playbook"]["id"] == "serious-incident-cross-border"]
    missed = [h for h in run["history"] if h["event"] == "deadline-missed"
              and h.get("step") == "escalate-affected-peers"]
    assert len(missed) == 1, run["history"]
    assert await _tiers(http, dfed, "jp", incident) == [2]
