"""The leaf-node topology (``beacon demo --topology leaf``): each member its own NATS server and
JetStream domain, a leaf of the international body's hub; messages cross domains by stream
sourcing. The exchange and a playbook escalation work across it, and a cut link loses nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from tests.integration.conftest import Federation, report, running_federation, wait_for

NODES = ["gb", "fr", "jp", "int"]


@pytest.fixture(scope="module")
def leaf_fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with running_federation(tmp_path_factory.mktemp("leaf"), ["gb", "fr", "jp"],
                            topology="leaf") as f:
        yield f


async def _file(http: aiohttp.ClientSession, fed: Federation, node: str, **changes: Any) -> str:
    async with http.post(fed.url(node, "/api/v1/incidents"), json=report(**changes),
                         headers=fed.auth(node, "operator")) as r:
        assert r.status == 201, await r.text()
        return str((await r.json())["id"])


async def _everywhere(http: aiohttp.ClientSession, fed: Federation, incident: str,
                      within_s: float = 30) -> None:
    for node in NODES:
        async def stored(node: str = node) -> bool:
            async with http.get(fed.url(node, f"/api/v1/incidents/{incident}"),
                                headers=fed.auth(node, "viewer")) as r:
                return r.status == 200 and (await r.json())["verified"] is True
        await wait_for(stored, within_s=within_s)


async def _escalated(http: aiohttp.ClientSession, fed: Federation, node: str,
                     incident: str) -> list[dict[str, Any]]:
    async with http.get(fed.url(node, "/api/v1/escalations"),
                        headers=fed.auth(node, "viewer")) as r:
        return [e for e in (await r.json())["items"] if e["incident_id"] == incident]


def test_every_member_has_its_own_server_and_domain(leaf_fed: Federation) -> None:
    servers = leaf_fed.doc["nats"]["servers"]
    assert [s["domain"] for s in servers] == ["hub", "gb", "fr", "jp"]
    urls = {n["id"]: n for n in leaf_fed.doc["nodes"]}
    for s in servers:
        config = (leaf_fed.data / s["node"] / "node.toml").read_text()
        assert f'url = "{s["url"]}"' in config, s  # each node talks to its own server only
    assert set(urls) == set(NODES)


async def test_exchange_and_escalation_across_domains(leaf_fed: Federation,
                                                      http: aiohttp.ClientSession) -> None:
    incident = await _file(http, leaf_fed, "gb", title="Across the leaves")
    await _everywhere(http, leaf_fed, incident)
    [esc] = await wait_for(lambda: _escalated(http, leaf_fed, "fr", incident), within_s=30)
    assert esc["origin"] == "gb" and esc["tier"] == 1

    async with http.post(leaf_fed.url("gb", "/api/v1/log/checkpoint"),
                         headers=leaf_fed.auth("gb", "operator")) as r:
        size = (await r.json())["size"]

    async def witnessed() -> bool:  # cosignatures come back from the other domains
        async with http.get(leaf_fed.url("gb", "/api/v1/log/checkpoints/gb"),
                            headers=leaf_fed.auth("gb", "viewer")) as r:
            top = (await r.json())["items"][0]
        return top["size"] == size and {"fr", "jp", "int"} <= set(top["cosigned_by"])
    await wait_for(witnessed, within_s=45)


def _port_open(url: str) -> bool:
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    with socket.socket() as s:
        return s.connect_ex((host, int(port))) == 0


async def test_a_cut_link_loses_nothing(leaf_fed: Federation,
                                        http: aiohttp.ClientSession) -> None:
    hub = leaf_fed.doc["nats"]["servers"][0]
    os.kill(int(hub["pid"]), signal.SIGTERM)  # every leaf is cut off from the hub
    for _ in range(100):
        if not _port_open(hub["url"]):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the hub did not stop")
    # While cut off, members go on filing: each leaf acknowledges into its own domain.
    during = [await _file(http, leaf_fed, "gb", title="Filed while cut off"),
              await _file(http, leaf_fed, "fr", title="Also filed while cut off",
                          affected_jurisdictions=["jp"])]
    leaf_fed.spawn_nats(0)  # the link comes back; the sources resume where they stopped
    for incident in during:
        await _everywhere(http, leaf_fed, incident, within_s=60)
    await wait_for(lambda: _escalated(http, leaf_fed, "jp", during[1]), within_s=30)
