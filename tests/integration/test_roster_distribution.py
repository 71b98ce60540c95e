"""Roster distribution against one malicious member (``jp``, with its own real NATS credentials):
it squats the next version, rewrites and deletes its past copies, tries other members' keys, the
legacy key and a whole-bucket roll-up, and fills every key it can reach with junk. The server
refuses what lies outside jp's namespace; the council's valid updates still reach every node,
and a node that joins afterwards with an empty store walks the chain to the latest version."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import nats
import nats.errors
import nats.js.errors
import pytest
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from federation.envelope import Envelope
from federation.roster import sign_roster_document
from federation.roster_edit import successor
from node.core.config import NodeConfig
from node.core.identity import load_signing_key
from node.pipeline.context import utcnow
from node.store.auth import issue_token
from node.store.db import Store
from tests.integration.conftest import Federation, wait_for
from tests.integration.test_roster import beacon

NODES = ("gb", "fr", "jp", "int")
COUNCIL_SIGNERS = ("gb", "fr")  # 2 of the 3 council keys; jp is the attacker


@dataclass
class Attacker:
    js: JetStreamContext
    kv: KeyValue
    errors: list[str] = field(default_factory=list)

    async def refused(self, key: str) -> None:
        """A write outside jp's namespace: the server drops it and says so."""
        before = len(self.errors)
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await self.kv.put(key, b"squat")

        async def violation_reported() -> bool:
            # nats-server reports the subject lower-cased
            return any(f'permissions violation for publish to "$kv.roster.{key.lower()}"'
                       in e.lower() for e in self.errors[before:])
        await wait_for(violation_reported, within_s=5)

    async def attempt(self, op: str, key: str, value: bytes = b"junk") -> None:
        """Try a write the way an older, unprotected bucket allowed; refusal is expected."""
        with contextlib.suppress(nats.errors.TimeoutError, nats.js.errors.APIError):
            if op == "purge":
                await self.kv.purge(key)
            elif op == "rollup-all":
                await self.js.publish(f"$KV.roster.{key}", value, headers={"Nats-Rollup": "all"})
            else:
                await getattr(self.kv, op)(key, value)


@asynccontextmanager
async def as_jp(fed: Federation) -> AsyncIterator[Attacker]:
    errors: list[str] = []

    async def on_error(e: Exception) -> None:
        errors.append(str(e))
    nc = await nats.connect(fed.doc["nats"]["url"], nkeys_seed=fed.node("jp")["nats_credentials"],
                            inbox_prefix="_INBOX_jp", error_cb=on_error, connect_timeout=5)
    try:
        js = nc.jetstream(timeout=1.0)
        yield Attacker(js, await js.key_value("roster"), errors)
    finally:
        await nc.close()


@asynccontextmanager
async def as_admin(fed: Federation) -> AsyncIterator[tuple[JetStreamContext, KeyValue]]:
    nc = await nats.connect(fed.doc["nats"]["url"],
                            nkeys_seed=fed.doc["nats"]["admin_credentials"], connect_timeout=5)
    try:
        js = nc.jetstream()
        yield js, await js.key_value("roster")
    finally:
        await nc.close()


async def _roster(http: aiohttp.ClientSession, fed: Federation, node: str,
                  token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else fed.auth(node, "viewer")
    async with http.get(fed.url(node, "/api/v1/roster"), headers=headers) as r:
        body: dict[str, Any] = await r.json()
        return body


async def version_at(http: aiohttp.ClientSession, fed: Federation, node: str) -> int:
    return int((await _roster(http, fed, node))["roster"]["version"])


async def everyone_at(http: aiohttp.ClientSession, fed: Federation, version: int,
                      nodes: tuple[str, ...] = NODES) -> None:
    for node in nodes:
        async def there(node: str = node) -> bool:
            return await version_at(http, fed, node) == version
        await wait_for(there, within_s=20)


async def refused_count(http: aiohttp.ClientSession, fed: Federation, node: str) -> float:
    async with http.get(fed.url(node, "/metrics")) as r:
        text = await r.text()
    return next(float(line.split()[-1]) for line in text.splitlines()
                if line.startswith("beacon_roster_candidates_refused_total"))


async def council_update(http: aiohttp.ClientSession, fed: Federation) -> Envelope:
    """The council's next version (gb's current + 1), signed by gb and fr, published at gb."""
    current = (await _roster(http, fed, "gb"))["roster"]
    ptype, body = sign_roster_document(successor(current, now=utcnow()))
    keys = [load_signing_key(Path(fed.node(n)["signing_key_file"])) for n in COUNCIL_SIGNERS]
    env = Envelope.sign(ptype, body, keys)
    async with http.post(fed.url("gb", "/api/v1/roster"), json=env.to_dict(),
                         headers=fed.auth("gb", "operator")) as r:
        assert r.status == 201, await r.text()
    return env


async def test_the_server_refuses_writes_outside_the_members_namespace(
        fed: Federation, http: aiohttp.ClientSession) -> None:
    env = await council_update(http, fed)
    version = await version_at(http, fed, "gb")
    await everyone_at(http, fed, version)
    async with as_admin(fed) as (admin_js, admin_kv):
        gb_copy = (await admin_kv.get(f"v{version}.gb")).value
        assert gb_copy == env.to_json()
        async with as_jp(fed) as jp:
            for key in (f"v{version}.gb", f"v{version + 1}.fr", f"v{version + 1}",
                        f"v{version + 1}.jp.x"):
                await jp.refused(key)
            # A roll-up on a subject jp may write would erase every key of the bucket.
            with pytest.raises(nats.js.errors.APIError, match="rollup"):
                await jp.js.publish(f"$KV.roster.v{version + 1}.jp", b"x",
                                    headers={"Nats-Rollup": "all"})
            with pytest.raises(nats.js.errors.APIError, match="rollup"):
                await jp.kv.purge(f"v{version}.jp")
            with pytest.raises(nats.errors.TimeoutError):
                await jp.js.purge_stream("KV_roster")
        info = await admin_js.stream_info("KV_roster")
        assert (info.config.allow_rollup_hdrs, info.config.deny_purge) == (False, True)
        assert (await admin_kv.get(f"v{version}.gb")).value == gb_copy
        assert (await admin_kv.get(f"v{version}.fr")).value == gb_copy


async def test_a_squatted_next_version_does_not_freeze_the_federation(
        fed: Federation, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    version = await version_at(http, fed, "gb")
    current = (await _roster(http, fed, "gb"))["roster"]
    ptype, body = sign_roster_document(successor(current, now=utcnow()))
    jp_key = load_signing_key(Path(fed.node("jp")["signing_key_file"]))
    refused_before = await refused_count(http, fed, "gb")
    async with as_jp(fed) as jp:
        # jp's own, well-formed but under-signed v(N+1), and junk for v(N+2).
        await jp.kv.put(f"v{version + 1}.jp", Envelope.sign(ptype, body, [jp_key]).to_json())
        await jp.kv.put(f"v{version + 2}.jp", b"\x00junk")
        await jp.attempt("create", f"v{version + 1}")  # the legacy key (issue 17's squat)

    async def squat_seen() -> bool:
        return await refused_count(http, fed, "gb") > refused_before
    await wait_for(squat_seen)

    gb = fed.node("gb")
    proposal = tmp_path / "next.json"
    r = beacon("roster", "propose", "--node", gb["url"], "--token", gb["tokens"]["viewer"],
               "--out", str(proposal))
    assert r.returncode == 0 and f"roster v{version + 1} proposal" in r.stdout, r.stderr
    for n in COUNCIL_SIGNERS:
        assert beacon("roster", "sign", str(proposal), "--key",
                      fed.node(n)["signing_key_file"]).returncode == 0
    r = beacon("roster", "publish", str(proposal), "--node", fed.node("fr")["url"],
               "--token", fed.node("fr")["tokens"]["operator"])
    assert r.returncode == 0, r.stdout + r.stderr
    await everyone_at(http, fed, version + 1)

    # Every node, jp's honest node too, now holds its own copy of what it accepted.
    accepted = proposal.read_bytes()
    async with as_admin(fed) as (_, admin_kv):
        async def all_shared() -> bool:
            copies = [(await admin_kv.get(f"v{version + 1}.{n}")).value for n in NODES]
            return all(Envelope.from_json(c or b"") == Envelope.from_json(accepted)
                       for c in copies)
        await wait_for(all_shared)

    await council_update(http, fed)  # v(N+2), over jp's junk
    await everyone_at(http, fed, version + 2)


async def test_rewriting_a_past_version_changes_nothing(
        fed: Federation, http: aiohttp.ClientSession) -> None:
    await council_update(http, fed)
    version = await version_at(http, fed, "gb")
    await everyone_at(http, fed, version)
    async with as_jp(fed) as jp:
        await jp.kv.put(f"v{version}.jp", b"garbage")
        await jp.kv.delete(f"v{version}.jp")
        await jp.refused(f"v{version}.fr")
        await jp.attempt("put", f"v{version}", b"garbage")
        await jp.attempt("purge", f"v{version}.gb")
    await council_update(http, fed)
    await everyone_at(http, fed, version + 1)


async def _down(http: aiohttp.ClientSession, fed: Federation, node: str) -> bool:
    try:
        async with http.get(fed.url(node, "/healthz")):
            return False
    except aiohttp.ClientConnectionError:
        return True


def _empty_store(fed: Federation, node: str) -> str:
    """Delete the node's database; return a fresh viewer token for the new one."""
    db = NodeConfig.load(Path(fed.node(node)["config"])).db_path
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = Store.open(db)
    try:
        return issue_token(store, "viewer", label="joiner test", expires=None,
                           now=utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"))
    finally:
        store.close()


async def test_a_node_joining_after_the_attacks_reaches_the_latest_version(
        fed: Federation, http: aiohttp.ClientSession) -> None:
    os.kill(fed.node("int")["pid"], signal.SIGKILL)
    await wait_for(lambda: _down(http, fed, "int"))
    for _ in range(2):
        await council_update(http, fed)
    latest = await version_at(http, fed, "gb")
    await everyone_at(http, fed, latest, nodes=("gb", "fr", "jp"))
    async with as_jp(fed) as jp:
        for v in range(1, latest + 3):  # junk under every key jp can reach
            await jp.kv.put(f"v{v}.jp", f"junk {v}".encode())
        await jp.attempt("rollup-all", f"v{latest + 3}.jp")
        for v in (latest - 1, latest):  # and writes it cannot do any more (each costs a timeout)
            await jp.attempt("put", f"v{v}")
            for n in ("gb", "fr"):
                await jp.attempt("purge", f"v{v}.{n}")
    async with as_admin(fed) as (_, admin_kv):
        for v in range(2, latest + 1):  # and the joiner keeps no copies of its own
            await admin_kv.delete(f"v{v}.int")

    token = _empty_store(fed, "int")
    fed.spawn_node("int")
    started = time.monotonic()

    async def joined() -> bool:
        return (await _roster(http, fed, "int", token))["roster"]["version"] == latest
    await wait_for(joined, within_s=30)
    print(f"joiner reached v{latest} {time.monotonic() - started:.1f}s after its start")
    async with http.get(fed.url("int", "/api/v1/roster/chain"),
                        headers={"Authorization": f"Bearer {token}"}) as r:
        assert len((await r.json())["items"]) == latest
