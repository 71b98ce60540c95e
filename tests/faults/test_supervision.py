"""Fault: junk where a loop reads it — the loop neither dies nor spins; it refuses, counts, and
the node keeps publishing and ingesting. Plus: junk heartbeats from a member never reach /peers.

The junk comes through the front door an attacker or a buggy council tool would use: a malformed
value under the next roster key of the ``roster`` KV bucket, written with the admin nkey. (It
once made every follower raise; the supervisor restarted it. A loop that the store makes fail
is restarted, counted and shown: ``test_publisher_restart.py``.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import aiohttp
import nats
import pytest

from tests.integration.conftest import Federation, report, running_federation, wait_for


@pytest.fixture(scope="module")
def sfed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with running_federation(tmp_path_factory.mktemp("sfed"), ["gb", "fr"]) as f:
        yield f


async def _get(http: aiohttp.ClientSession, fed: Federation, node: str, path: str) -> Any:
    async with http.get(fed.url(node, path), headers=fed.auth(node, "viewer")) as r:
        return await (r.json() if path != "/metrics" else r.text())


def _restarts(metrics: str, task: str) -> float:
    m = re.search(rf'^beacon_task_restarts_total\{{task="{task}"\}} (\S+)$', metrics, re.M)
    return float(m.group(1)) if m else 0.0


async def test_junk_in_the_roster_bucket_is_refused_and_no_loop_restarts(
        sfed: Federation, http: aiohttp.ClientSession) -> None:
    health = await _get(http, sfed, "fr", "/healthz")
    assert health["tasks"]["roster-follow"]["restarts"] == 0, health
    assert {"outbox-publisher", "consumer", "heartbeat", "checkpoints", "events"} \
        <= set(health["tasks"]), health["tasks"]

    nc = await nats.connect(sfed.doc["nats"]["url"],
                            nkeys_seed=sfed.doc["nats"]["admin_credentials"])
    try:
        kv = await nc.jetstream().key_value("roster")
        await kv.create(f"v{health['roster_version'] + 1}", b"{not an envelope")
    finally:
        await nc.close()

    async def refused() -> bool:
        metrics = await _get(http, sfed, "fr", "/metrics")
        m = re.search(r"^beacon_roster_candidates_refused_total (\S+)$", metrics, re.M)
        return bool(m and float(m.group(1)) >= 1)
    await wait_for(refused, within_s=20)

    # The other loops are untouched: a report filed now is published by gb and ingested by fr.
    async with http.post(sfed.url("gb", "/api/v1/incidents"), json=report(title="After"),
                         headers=sfed.auth("gb", "operator")) as r:
        assert r.status == 201, await r.text()
        filed = (await r.json())["id"]

    async def arrived() -> bool:
        body = await _get(http, sfed, "fr", "/api/v1/incidents?limit=500")
        return filed in {i["id"] for i in body["items"]}
    await wait_for(arrived, within_s=20)
    health = await _get(http, sfed, "fr", "/healthz")
    assert health["status"] == "ok" and health["roster_version"] == 1, health
    assert _restarts(await _get(http, sfed, "fr", "/metrics"), "roster-follow") == 0
    for name in ("outbox-publisher", "consumer", "heartbeat", "roster-follow"):
        assert health["tasks"][name] == {"state": "running", "restarts": 0, "last_error": None,
                                         "last_error_at": None}, (name, health["tasks"])


JUNK: list[bytes] = [
    b"x" * 400_000,                                                     # far over the cap
    json.dumps({"origin": "gb", "at": "2026-11-29T10:00:00Z", "roster_version": 999,
                "outbox": 0}).encode(),                                 # a version made up
    json.dumps({"origin": "gb", "at": "2026-11-29T10:00:00Z", "roster_version": 1,
                "outbox": -5}).encode(),                                # negative outbox
    json.dumps({"origin": "gb", "at": "yesterday", "roster_version": 1,
                "outbox": 0}).encode(),                                 # not a timestamp
    json.dumps({"origin": "gb", "at": "2026-11-29T10:00:00Z", "roster_version": 1,
                "outbox": 0, "note": "<script>alert(1)</script>"}).encode(),  # extra field
    json.dumps({"origin": "fr", "at": "2026-11-29T10:00:00Z", "roster_version": 1,
                "outbox": 0}).encode(),                                 # claims another origin
]


async def test_junk_heartbeats_never_reach_peers_a_valid_one_does(
        sfed: Federation, http: aiohttp.ClientSession) -> None:
    gb_creds = sfed.node("gb")["nats_credentials"]
    # The valid beat we send after the junk is the barrier (core NATS keeps one connection's
    # order): once fr shows its marker, the junk is past. gb's node process beats too, every
    # HEARTBEAT_SECONDS, and the latest beat wins, so one marker can be replaced before a poll
    # sees it. Each poll sends the marker again on the same connection, which keeps the
    # barrier and gives every poll a fresh chance.
    marker_outbox = 424242
    valid = {"origin": "gb", "at": "2026-11-29T10:00:01Z", "roster_version": 1,
             "outbox": marker_outbox}
    nc = await nats.connect(sfed.doc["nats"]["url"], nkeys_seed=gb_creds,
                            inbox_prefix="_INBOX_gb")
    try:
        for junk in JUNK:
            await nc.publish("beacon.v1.heartbeat.gb", junk)

        async def valid_shown() -> Any:
            await nc.publish("beacon.v1.heartbeat.gb", json.dumps(valid).encode())
            await nc.flush()
            peers = (await _get(http, sfed, "fr", "/api/v1/peers"))["items"]
            beat = next(p for p in peers if p["id"] == "gb")["heartbeat"]
            return beat if beat and beat["outbox"] == marker_outbox else None
        beat = await wait_for(valid_shown, within_s=20, every_s=0.05)
    finally:
        await nc.close()
    assert beat == {**valid, "seen_at": beat["seen_at"], "verified": False}
    metrics = await _get(http, sfed, "fr", "/metrics")
    refused = {m.group(1): float(m.group(2)) for m in re.finditer(
        r'^beacon_heartbeats_refused_total\{reason="([^"]+)"\} (\S+)$', metrics, re.M)}
    # Every junk beat was refused (so none was shown), each for its own reason.
    assert refused == {"too-large": 1, "range": 2, "schema": 2, "origin": 1}, refused
