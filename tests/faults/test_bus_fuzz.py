"""Hostile bus input against a running federation: every message is quarantined with a
specific reason or stored, no loop stops, and the nodes keep ingesting (DESIGN §4).

A member (gb) publishes a few hundred hostile messages into the real JetStream stream with its
own NATS nkey and its own signing key — the strongest position an insider has: mutations of
every body field (re-signed, drawn by hypothesis), of every envelope field, bodies no Beacon node
could have signed (deep nesting, invalid UTF-8, NaN, duplicate keys, big integers), junk bodies
for every durable message type, an oversized message, replays and a rollback to an older
revision. The pure checks (``check_inbound``) are the oracle: each receiving node's quarantine
must grow by exactly the reasons the oracle gives, never ``internal-error`` or
``processing-error``. A valid sentinel filed last is the barrier: stream order means everything
before it was processed when it is stored. Then junk heartbeats and junk in the roster KV bucket.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import nats
import nats.errors
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from federation.canonical import encode
from federation.envelope import Envelope, payload_type
from federation.errors import RejectedMessage
from federation.inbound import InboundPolicy, check_inbound
from federation.keys import SigningKey
from federation.messages import incident_from_report
from federation.roster import Roster
from federation.subjects import DURABLE_TYPES
from federation.timeutil import format_time
from node.bus.roster_sync import POLL_SECONDS
from node.core.identity import load_roster, load_signing_key
from node.core.schemas import default_schemas
from tests.integration.conftest import Federation, report, running_federation, wait_for
from tests.unit.hostile import hostile_bodies, json_values, paths, replaced

pytestmark = pytest.mark.integration

SUBJECT = "beacon.v1.incident.gb.serious-incident"
RECEIVERS = ("fr", "int")
NEVER = {"internal-error", "processing-error"}  # a bug, not a reason


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with running_federation(tmp_path_factory.mktemp("busfuzz"), ["gb", "fr"]) as f:
        yield f


def drawn(strategy: st.SearchStrategy[Any], n: int) -> list[Any]:
    """``n`` examples of ``strategy``, the same on every run (hypothesis, derandomized)."""
    out: list[Any] = []

    @settings(max_examples=n, database=None, derandomize=True, phases=[Phase.generate],
              deadline=None)
    @given(strategy)
    def collect(value: Any) -> None:
        out.append(value)

    collect()
    return out


def incident(title: str = "Bus fuzz probe", **changes: Any) -> dict[str, Any]:
    doc = incident_from_report(report(title=title, affected_jurisdictions=[]), origin="gb",
                               now=datetime.now(UTC))
    return {**doc, **changes}


def signed(body: bytes, key: SigningKey, message_type: str = "incident") -> bytes:
    return Envelope.sign(payload_type(message_type), body, [key]).to_json()


def hostile_messages(key: SigningKey) -> list[tuple[str, bytes]]:
    """(subject, data) pairs: a few hundred mutations of a good incident, as gb can send."""
    doc = incident()
    good = Envelope.sign(payload_type("incident"), encode(doc), [key])
    fields = st.tuples(st.sampled_from(paths(doc)), json_values, st.booleans())
    out = [(SUBJECT, signed(json.dumps(replaced(doc, p, v, delete=d), allow_nan=True).encode(),
                            key)) for p, v, d in drawn(fields, 200)]
    for name, value in drawn(st.tuples(st.sampled_from(["payloadType", "payload",
                                                        "signatures"]), json_values), 40):
        out.append((SUBJECT, json.dumps({**good.to_dict(), name: value}).encode()))
    for value in drawn(json_values, 20):
        sig = {**good.to_dict()["signatures"][0], "sig": value}
        out.append((SUBJECT, json.dumps({**good.to_dict(), "signatures": [sig]}).encode()))
    out += [(SUBJECT, signed(body, key)) for body in hostile_bodies(encode(doc)).values()]
    out += [(SUBJECT, data) for data in drawn(st.binary(max_size=300), 20)]
    junk = {"type": "x", "origin": "gb", "issued_at": format_time(datetime.now(UTC)),
            "id": [1, {"deep": None}], "payload": "\u202e"}
    out += [(f"beacon.v1.{t}.gb", signed(encode({**junk, "type": t}), key, t))
            for t in DURABLE_TYPES]
    out.append((SUBJECT, signed(encode({**doc, "title": "x" * 300_000}), key)))
    stranger = SigningKey.from_seed(bytes(range(32)))
    zero_sig = [{"keyid": key.public.keyid, "sig": base64.b64encode(bytes(64)).decode()}]
    stale = {**doc, "issued_at": format_time(datetime.now(UTC) - timedelta(hours=2))}
    out += [(SUBJECT, data) for data in (
        json.dumps({**good.to_dict(), "payloadType": payload_type("escalation")}).encode(),
        json.dumps({**good.to_dict(), "payloadType": "text/plain"}).encode(),
        json.dumps({**good.to_dict(), "signatures": zero_sig}).encode(),
        signed(encode(doc), stranger), signed(encode(stale), key))]
    return out


def oracle(roster: Roster, messages: list[tuple[str, bytes]]) -> Counter[str]:
    """The reasons the pure checks give for the messages they refuse (received now), plus
    ``conflicting-revision`` for a verified incident whose (id, revision) an earlier one with
    other bytes already took (the ids are new to the federation)."""
    reasons: Counter[str] = Counter()
    schemas = default_schemas()
    first: dict[tuple[str, int], str] = {}
    for subject, data in messages:
        try:
            v = check_inbound(data, subject, roster, schemas, received_at=datetime.now(UTC),
                              policy=InboundPolicy())
        except RejectedMessage as e:
            reasons[e.reason] += 1
            continue
        key = (v.document["id"], v.document["revision"])
        if first.setdefault(key, v.digest) != v.digest:
            reasons["conflicting-revision"] += 1
    return reasons


async def publish_as(fed: Federation, node: str, items: list[tuple[str, bytes]]) -> None:
    """Publish into the stream with ``node``'s own NATS credentials (or the admin's)."""
    creds = (fed.doc["nats"]["admin_credentials"] if node == "admin"
             else fed.node(node)["nats_credentials"])
    nc = await nats.connect(fed.doc["nats"]["url"], nkeys_seed=creds,
                            inbox_prefix=f"_INBOX_{node}" if node != "admin" else "_INBOX")
    try:
        js = nc.jetstream()
        for subject, data in items:
            await js.publish(subject, data, timeout=5.0)
    finally:
        await nc.close()


async def get(http: aiohttp.ClientSession, fed: Federation, node: str, path: str) -> Any:
    async with http.get(fed.url(node, path), headers=fed.auth(node, "auditor")) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def counts(http: aiohttp.ClientSession, fed: Federation, node: str) -> Counter[str]:
    return Counter((await get(http, fed, node, "/api/v1/quarantine?limit=1"))["counts"])


async def file_sentinel(fed: Federation, http: aiohttp.ClientSession, key: SigningKey) -> None:
    """Publish a valid incident and wait until every receiver has stored it."""
    doc = incident(title=f"Sentinel {uuid.uuid4()}")
    await publish_as(fed, "gb", [(SUBJECT, signed(encode(doc), key))])
    for node in RECEIVERS:
        async def stored(node: str = node) -> bool:
            async with http.get(fed.url(node, f"/api/v1/incidents/{doc['id']}"),
                                headers=fed.auth(node, "viewer")) as r:
                return r.status == 200
        await wait_for(stored, within_s=60)


async def test_hostile_messages_are_quarantined_with_the_oracles_reasons(
        fed: Federation, http: aiohttp.ClientSession) -> None:
    key = load_signing_key(Path(fed.node("gb")["signing_key_file"]))
    roster, _ = load_roster(Path(fed.doc["roster"]), now=datetime.now(UTC))
    messages = hostile_messages(key)
    expected = oracle(roster, messages)
    assert len(messages) >= 300 and sum(expected.values()) >= 250  # hostile, mostly refused
    assert not NEVER & set(expected)
    before = {n: await counts(http, fed, n) for n in RECEIVERS}

    await publish_as(fed, "gb", messages)
    await file_sentinel(fed, http, key)
    for node in RECEIVERS:
        grew = await counts(http, fed, node) - before[node]
        assert not NEVER & set(grew), f"{node}: {grew}"
        assert grew == expected, f"{node}: {grew} != {expected}"
        health = await get(http, fed, node, "/healthz")
        assert health["status"] == "ok", health


async def test_replays_change_nothing_and_a_rewritten_revision_is_quarantined(
        fed: Federation, http: aiohttp.ClientSession) -> None:
    key = load_signing_key(Path(fed.node("gb")["signing_key_file"]))
    first = incident(title="Rollback probe, revision 1")
    second = {**first, "revision": 2, "title": "Rollback probe, revision 2",
              "issued_at": format_time(datetime.now(UTC))}
    older = {**first, "title": "Rollback probe, revision 1 re-signed later"}
    v1, v2 = signed(encode(first), key), signed(encode(second), key)
    before = {n: await counts(http, fed, n) for n in RECEIVERS}
    # Replays of each revision; then revision 1 again, byte for byte (a replay: ignored) and
    # re-signed with other content (a second revision 1: quarantined). Revision 2 stays current.
    await publish_as(fed, "gb", [(SUBJECT, v1), (SUBJECT, v2), (SUBJECT, v2), (SUBJECT, v1),
                                 (SUBJECT, signed(encode(older), key)), (SUBJECT, v1)])
    await file_sentinel(fed, http, key)
    for node in RECEIVERS:
        current = await get(http, fed, node, f"/api/v1/incidents/{first['id']}")
        assert (current["revision"], current["title"]) == (2, second["title"]), current
        grew = await counts(http, fed, node) - before[node]
        assert grew == Counter({"conflicting-revision": 1}), f"{node}: {grew}"


async def _peer_heartbeat(http: aiohttp.ClientSession, fed: Federation, node: str,
                          peer: str) -> Any:
    items = (await get(http, fed, node, "/api/v1/peers"))["items"]
    return next(p["heartbeat"] for p in items if p["id"] == peer)


async def _heartbeats_then_barrier(fed: Federation, http: aiohttp.ClientSession,
                                   beats: list[bytes]) -> None:
    """Publish ``beats`` as gb's heartbeats (admin connection), then a marked heartbeat for int
    on the same connection until fr shows it: core NATS keeps one connection's order, so fr
    has handled every beat before it."""
    nc = await nats.connect(fed.doc["nats"]["url"],
                            nkeys_seed=fed.doc["nats"]["admin_credentials"])
    marker = {"origin": "int", "at": format_time(datetime.now(UTC)), "roster_version": 1,
              "outbox": 7_777_777}
    try:
        for beat in beats:
            await nc.publish("beacon.v1.heartbeat.gb", beat)

        async def marked() -> bool:
            await nc.publish("beacon.v1.heartbeat.int", json.dumps(marker).encode())
            await nc.flush()
            beat = await _peer_heartbeat(http, fed, "fr", "int")
            return bool(beat) and beat.get("outbox") == marker["outbox"]
        await wait_for(marked, within_s=20, every_s=0.02)
    finally:
        await nc.close()


JUNK_BYTES = [b"", b"\xff\xfe", b"[" * 100_000, b"1" * 5000, b"NaN", b'"just a string"',
              b"x" * 900_000]
JUNK_FIELDS = {"origin": "gb", "at": "yesterday", "roster_version": "many", "outbox": -5,
               "evil": "<script>alert(1)</script>" * 100}


async def test_junk_heartbeats_do_not_stop_the_heartbeat_subscription(
        fed: Federation, http: aiohttp.ClientSession) -> None:
    await _heartbeats_then_barrier(fed, http, JUNK_BYTES)  # the barrier is the proof
    key = load_signing_key(Path(fed.node("gb")["signing_key_file"]))
    await file_sentinel(fed, http, key)


async def test_a_junk_heartbeat_is_not_shown_as_the_peers_state(
        fed: Federation, http: aiohttp.ClientSession) -> None:
    for _ in range(3):  # a genuine beat from gb may replace the junk in between: three tries
        await _heartbeats_then_barrier(fed, http, [json.dumps(JUNK_FIELDS).encode()])
        beat = await _peer_heartbeat(http, fed, "fr", "gb") or {}
        shown = set(beat) - {"seen_at", "verified"}
        assert shown <= {"origin", "at", "roster_version", "outbox"}, beat
        assert beat.get("verified", False) is False, beat  # a peer's word, never evidence
        assert beat.get("origin", "gb") == "gb"
        assert isinstance(beat.get("roster_version", 1), int)
        assert isinstance(beat.get("outbox", 0), int) and beat.get("outbox", 0) >= 0


async def _kv_put(fed: Federation, who: str, key: str, value: bytes) -> bool:
    """Write ``value`` under ``key`` in the roster bucket as ``who``; False if NATS refused."""
    try:
        await publish_as(fed, who, [(f"$KV.roster.{key}", value)])
    except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
        return False
    return True


async def test_junk_in_the_roster_bucket_is_never_trusted_and_the_follower_survives(
        fed: Federation, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    # Every bucket a node may write (only ``roster``): a member's credentials first, then the
    # admin's (who can write any key). Either NATS refuses the member, or the nodes ignore it.
    junk = [b"", b"\xff", b"[" * 100_000, b'{"payloadType": 1}', base64.b64encode(b"x" * 99)]
    for value in junk:
        await _kv_put(fed, "gb", "v2", value)
        assert await _kv_put(fed, "admin", "v2", value)
    await _kv_put(fed, "gb", "zz-not-a-version", b"junk")
    # Exposure, not a wait for a result: the followers poll v2 every POLL_SECONDS, so the junk
    # stays there for three polls before anything is checked.
    await asyncio.sleep(3 * POLL_SECONDS)
    key = load_signing_key(Path(fed.node("gb")["signing_key_file"]))
    await file_sentinel(fed, http, key)  # the consumer is unaffected
    for node in RECEIVERS:
        assert (await get(http, fed, node, "/healthz"))["roster_version"] == 1  # never trusted
    # The follower must still be polling: with the junk left in place, the council publishes a
    # genuine v2 and every node must reach it. A follower that died or waits on the junk never
    # does (the bucket refuses purges, so nobody can clear it first).
    publish_genuine_v2(fed, tmp_path)
    for node in RECEIVERS:
        async def at_v2(node: str = node) -> bool:
            return bool((await get(http, fed, node, "/healthz"))["roster_version"] == 2)
        await wait_for(at_v2, within_s=15)


def publish_genuine_v2(fed: Federation, tmp_path: Path) -> None:
    """The council (gb and fr, the demo's threshold) signs and publishes roster v2."""
    gb, fr = fed.node("gb"), fed.node("fr")
    proposal = tmp_path / "v2.json"
    steps = [["roster", "propose", "--node", gb["url"], "--token", gb["tokens"]["viewer"],
              "--valid-days", "200", "--out", str(proposal)],
             ["roster", "sign", str(proposal), "--key", gb["signing_key_file"]],
             ["roster", "sign", str(proposal), "--key", fr["signing_key_file"]],
             ["roster", "publish", str(proposal), "--node", fr["url"],
              "--token", fr["tokens"]["operator"]]]
    for argv in steps:
        done = subprocess.run([sys.executable, "-m", "node.cli", *argv], capture_output=True,
                              text=True, timeout=60, check=False)
        assert done.returncode == 0, f"{argv[:2]}: {done.stdout}{done.stderr}"
