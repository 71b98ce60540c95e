"""The leaf-node topology (``beacon demo --topology leaf``): each member its own NATS server and
JetStream domain, a leaf of the international body's hub; messages cross domains by stream
sourcing. The exchange and a playbook escalation work across it; the roster bucket is the hub's,
mirrored into every leaf; each link carries only its own member's traffic; and a cut link, the
hub's whole or one leaf's alone, loses and duplicates nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from federation.envelope import Envelope
from federation.subjects import STREAM
from node.bus.natsconf import ADMIN_INBOX
from node.bus.roster_bucket import open_bucket
from tests.integration.conftest import (
    Federation,
    barrier,
    free_base_port,
    report,
    running_federation,
    wait_for,
)
from tests.integration.test_roster_distribution import council_update, version_at

NODES = ["gb", "fr", "jp", "int"]


@pytest.fixture(scope="module")
def leaf_fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with running_federation(tmp_path_factory.mktemp("leaf"), ["gb", "fr", "jp"],
                            topology="leaf") as f:
        yield f


class LinkProxy:
    """A TCP relay on loopback between one leaf server and the hub's leafnode port: ``cut()``
    drops that one link (every relayed connection closed, nothing accepted), ``restore()``
    lets the leaf reconnect. Only that leaf's link goes through it; the others do not."""

    def __init__(self, port: int, upstream: int) -> None:
        self.port, self.upstream = port, upstream
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(4)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        for s in [*conns, *([listener] if listener else [])]:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                down, _ = listener.accept()
                up = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
            except OSError:
                return  # cut: the listener was closed
            up.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    down.close()
                    up.close()
                    return
                self._conns += [down, up]
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def _server(fed: Federation, domain: str) -> tuple[int, dict[str, Any]]:
    return next((i, s) for i, s in enumerate(fed.doc["nats"]["servers"]) if s["domain"] == domain)


@pytest.fixture(scope="module")
def jp_link(leaf_fed: Federation) -> Iterator[LinkProxy]:
    """jp's leaf server, restarted with its remote pointed at a relay this test controls."""
    index, server = _server(leaf_fed, "jp")
    conf = Path(server["config"])
    text = conf.read_text(encoding="utf-8")
    found = re.search(r"nats-leaf://127\.0\.0\.1:(\d+)", text)
    assert found, text
    hub_leaf_port = int(found.group(1))
    proxy = LinkProxy(free_base_port(1), hub_leaf_port)
    os.kill(int(server["pid"]), signal.SIGTERM)
    _wait_closed(server["url"])
    conf.write_text(text.replace(f"nats-leaf://127.0.0.1:{hub_leaf_port}",
                                 f"nats-leaf://127.0.0.1:{proxy.port}"), encoding="utf-8")
    leaf_fed.spawn_nats(index)
    try:
        yield proxy
    finally:
        proxy.cut()


@asynccontextmanager
async def as_admin(fed: Federation, domain: str, inbox: str = ADMIN_INBOX,
                   ) -> AsyncIterator[tuple[NATS, JetStreamContext]]:
    """The administrator of one domain, on that domain's own server."""
    nc = await nats.connect(_server(fed, domain)[1]["url"], connect_timeout=5,
                            nkeys_seed=fed.doc["nats"]["admin_credentials"], inbox_prefix=inbox)
    try:
        yield nc, nc.jetstream(timeout=2.0)
    finally:
        await nc.close()


async def _hub_reaches(fed: Federation, domain: str) -> bool:
    async with as_admin(fed, "hub") as (nc, _):
        try:
            await nc.jetstream(domain=domain, timeout=1.0).stream_info(f"OUTBOX-{domain}")
        except (nats.errors.Error, TimeoutError):
            return False
        return True


async def _beacon_ids(fed: Federation, domain: str) -> list[str]:
    """The ``Nats-Msg-Id`` (the envelope digest) of every message of a domain's BEACON."""
    async with as_admin(fed, domain) as (_, js):
        state = (await js.stream_info(STREAM)).state
        ids = []
        for seq in range(state.first_seq, state.last_seq + 1):
            msg = await js.get_msg(STREAM, seq)
            ids.append((msg.headers or {}).get("Nats-Msg-Id", f"no id at seq {seq}"))
        return ids


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


def _wait_closed(url: str) -> None:
    for _ in range(100):
        if not _port_open(url):
            return
        time.sleep(0.1)
    raise AssertionError(f"the server at {url} did not stop")


async def test_a_cut_link_loses_nothing(leaf_fed: Federation,
                                        http: aiohttp.ClientSession) -> None:
    hub = leaf_fed.doc["nats"]["servers"][0]
    os.kill(int(hub["pid"]), signal.SIGTERM)  # every leaf is cut off from the hub
    await asyncio.to_thread(_wait_closed, hub["url"])
    # While cut off, members go on filing: each leaf acknowledges into its own domain.
    during = [await _file(http, leaf_fed, "gb", title="Filed while cut off"),
              await _file(http, leaf_fed, "fr", title="Also filed while cut off",
                          affected_jurisdictions=["jp"])]
    leaf_fed.spawn_nats(0)  # the link comes back; the sources resume where they stopped
    for incident in during:
        await _everywhere(http, leaf_fed, incident, within_s=60)
    await wait_for(lambda: _escalated(http, leaf_fed, "jp", during[1]), within_s=30)


async def test_a_roster_update_at_one_leaf_reaches_followers_at_the_others(
        leaf_fed: Federation, http: aiohttp.ClientSession) -> None:
    version = await version_at(http, leaf_fed, "gb")
    env = await council_update(http, leaf_fed)  # published at gb: written from gb's leaf
    for node in NODES:  # fr and jp follow on their own leaves (a mirror may be re-attaching
        async def there(node: str = node) -> bool:  # after a hub restart: up to its back-off)
            return await version_at(http, leaf_fed, node) == version + 1
        await wait_for(there, within_s=60, every_s=0.5)
    key = f"v{version + 1}"
    async with as_admin(leaf_fed, "hub") as (_, js):  # the hub's bucket: every node's copy
        hub_kv = await js.key_value("roster")

        async def every_copy_at_the_hub() -> bool:
            copies = [(await hub_kv.get(f"{key}.{n}")).value for n in NODES]
            return all(Envelope.from_json(c or b"") == env for c in copies)
        await wait_for(every_copy_at_the_hub)
    for domain in ("gb", "fr", "jp"):  # a leaf's bucket is the hub's, mirrored
        async with as_admin(leaf_fed, domain) as (_, js):
            config = (await js.stream_info("KV_roster")).config
            assert not config.subjects and config.mirror is not None, domain
            assert config.mirror.external is not None
            assert config.mirror.external.api == "$JS.hub.API"

    errors: list[str] = []

    async def on_error(e: Exception) -> None:
        errors.append(str(e).lower())
    jp = leaf_fed.node("jp")
    nc = await nats.connect(_server(leaf_fed, "jp")[1]["url"], error_cb=on_error,
                            nkeys_seed=jp["nats_credentials"], inbox_prefix="_INBOX_jp")
    try:
        kv = await open_bucket(nc.jetstream(timeout=1.0))
        assert Envelope.from_json((await kv.get(f"{key}.gb")).value or b"") == env  # mirror
        assert await kv.put(f"{key}.jp", env.to_json()) > 0  # its own key: the hub takes it
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await kv.put(f"{key}.gb", b"squat")  # another member's key: refused at jp's server

        async def refused() -> bool:
            return any(f'permissions violation for publish to "$js.hub.api.$kv.roster.'
                       f'{key.lower()}.gb"' in e for e in errors)
        await wait_for(refused, within_s=5)
    finally:
        await nc.close()
    async with as_admin(leaf_fed, "hub") as (_, js):
        assert (await (await js.key_value("roster")).get(f"{key}.gb")).value == env.to_json()


async def test_a_leaf_link_carries_only_its_own_member(leaf_fed: Federation) -> None:
    """Even with every right on its own server (its domain's administrator), gb's side of the
    link cannot send another origin's subjects, call another domain's JetStream API, or write
    another member's roster key: the hub's user for gb's link does not allow it. (Replies
    from the hub reach gb's side on gb's own inbox only.)"""
    async with as_admin(leaf_fed, "gb", inbox="_INBOX_gb") as (nc, js):
        for subject in ("beacon.v1.incident.fr", "beacon.v1.checkpoint.int",
                        "beacon.v1.escalation.jp.fr"):
            with pytest.raises(nats.js.errors.NoStreamResponseError):  # no one across the link
                await js.publish(subject, b"forged", headers={"Nats-Msg-Id": subject})
        # A bare CONSUMER.CREATE naming an existing consumer updates it: on the hub's BEACON
        # it would rewrite the international body's durable (its sources read FANOUT instead).
        hijack = json.dumps({"stream_name": STREAM, "config": {
            "name": "node-int", "ack_policy": "explicit", "filter_subject": "nothing"}})
        for api, body in (("$JS.fr.API.STREAM.INFO.OUTBOX-fr", "{}"),
                          ("$JS.hub.API.STREAM.DELETE.BEACON", "{}"),
                          ("$JS.hub.API.STREAM.PURGE.KV_roster", "{}"),
                          ("$JS.jp.API.CONSUMER.CREATE.OUTBOX-jp", "{}"),
                          (f"$JS.hub.API.CONSUMER.CREATE.{STREAM}", hijack)):
            with pytest.raises(nats.errors.NoRespondersError):
                await nc.request(api, body.encode(), timeout=2)
        with contextlib.suppress(nats.js.errors.NoStreamResponseError, nats.errors.TimeoutError):
            await js.publish("$JS.hub.API.$KV.roster.v999.fr", b"forged")
        # Its own key crosses the same link after it (a barrier: one link keeps the order) …
        own = await js.publish("$JS.hub.API.$KV.roster.v999.gb", b"x")
        assert (own.stream, own.domain) == ("KV_roster", "hub")
        # … and its own origin is acknowledged in its own domain.
        ack = await js.publish("beacon.v1.incident.gb", b"x", headers={"Nats-Msg-Id": "gb-ok"})
        assert (ack.stream, ack.domain) == ("OUTBOX-gb", "gb")
    async with as_admin(leaf_fed, "hub") as (_, js):
        hub_kv = await js.key_value("roster")
        with pytest.raises(nats.js.errors.KeyNotFoundError):
            await hub_kv.get("v999.fr")
        assert (await js.consumer_info(STREAM, "node-int")).config.filter_subject == "beacon.v1.>"


async def test_one_leaf_cut_off_alone_loses_and_duplicates_nothing(
        leaf_fed: Federation, jp_link: LinkProxy, http: aiohttp.ClientSession) -> None:
    await wait_for(lambda: _hub_reaches(leaf_fed, "jp"), within_s=30)
    jp_link.cut()  # jp's link only: the hub and the other leaves keep running
    await wait_for(lambda: _not(_hub_reaches(leaf_fed, "jp")), within_s=10)
    from_gb = await _file(http, leaf_fed, "gb", title="Filed while jp is cut off")
    from_jp = await _file(http, leaf_fed, "jp", title="Filed at jp while cut off",
                          affected_jurisdictions=["gb"])
    for node in ("gb", "fr", "int"):  # the others keep exchanging meanwhile
        async def stored(node: str = node) -> bool:
            async with http.get(leaf_fed.url(node, f"/api/v1/incidents/{from_gb}"),
                                headers=leaf_fed.auth(node, "viewer")) as r:
                return r.status == 200
        await wait_for(stored, within_s=30)
    cut_for = time.monotonic()
    jp_link.restore()
    for incident in (from_gb, from_jp):
        await _everywhere(http, leaf_fed, incident, within_s=90)
    print(f"jp's link restored: both sides' reports everywhere "
          f"{time.monotonic() - cut_for:.1f}s later")
    await wait_for(lambda: _escalated(http, leaf_fed, "gb", from_jp), within_s=30)
    for origin in ("jp", "gb"):  # after these, nothing said before them is still on the way
        await barrier(http, leaf_fed, origin, NODES, within_s=90)

    async def same_everywhere() -> dict[str, list[str]]:
        ids = {d: await _beacon_ids(leaf_fed, d) for d in ("hub", "gb", "fr", "jp")}
        return ids if len({frozenset(v) for v in ids.values()}) == 1 else {}
    ids = await wait_for(same_everywhere, within_s=60, every_s=0.5)
    for domain, seen in ids.items():  # exactly once in every domain: nothing lost, no copy
        assert len(seen) == len(set(seen)), (domain, len(seen) - len(set(seen)))


async def _not(check: Any) -> bool:
    return not await check
