"""Every node's transparency log: inclusion proofs against checkpoints that peers witnessed,
consistency between checkpoints, and equivocation caught by every witness."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import nats

from federation.canonical import encode
from federation.checkpoint import Checkpoint, open_note, sign_checkpoint
from federation.envelope import Envelope, payload_type
from federation.keys import PublicKey, b64
from federation.merkle import verify_consistency, verify_inclusion
from federation.timeutil import format_time
from node.core.identity import load_signing_key
from tests.integration.conftest import Federation, report, running_federation, wait_for

PEERS = ("fr", "jp", "int")


def _independent_root_from_inclusion(leaf: bytes, index: int, size: int,
                                     path: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2, written out again here so the test does not trust federation.merkle."""
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise AssertionError("path too long")
        if fn % 2 == 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    assert sn == 0, "path too short"
    return r


async def _json(http: aiohttp.ClientSession, fed: Federation, node: str, path: str,
                role: str = "viewer", method: str = "GET", **kw: Any) -> Any:
    async with http.request(method, fed.url(node, path), headers=fed.auth(node, role),
                            **kw) as r:
        assert r.status in (200, 201), (path, r.status, await r.text())
        return await r.json()


async def _roster_keys(http: aiohttp.ClientSession, fed: Federation) -> dict[str, PublicKey]:
    roster = (await _json(http, fed, "gb", "/api/v1/roster"))["roster"]
    return {m["id"]: PublicKey.from_b64(m["keys"][0]["public"]) for m in roster["members"]}


async def test_inclusion_against_a_witnessed_checkpoint(fed: Federation,
                                                        http: aiohttp.ClientSession) -> None:
    filed = [await _json(http, fed, "gb", "/api/v1/incidents", "operator", "POST",
                         json=report(title=f"Logged {i}")) for i in range(5)]
    cp = await _json(http, fed, "gb", "/api/v1/log/checkpoint", "operator", "POST")
    assert cp["size"] >= 5

    async def witnessed() -> Any:
        body = await _json(http, fed, "gb", "/api/v1/log/checkpoints/gb")
        top = body["items"][0]
        return top["size"] == cp["size"] and set(PEERS) <= set(top["cosigned_by"]) and top
    top = await wait_for(witnessed, within_s=20)
    assert top["witnessed"] is True

    async with http.get(fed.url("gb", "/api/v1/log/checkpoint")) as r:
        note = await r.text()
    keys = await _roster_keys(http, fed)
    opened = open_note(note, {"beacon/gb": keys["gb"]},
                       {f"beacon/{p}": keys[p] for p in PEERS})
    assert set(opened.cosigned_by) == {f"beacon/{p}" for p in PEERS}
    checkpoint = opened.checkpoint
    assert checkpoint.size == cp["size"] and b64(checkpoint.root_hash) == cp["root"]

    for f in filed:
        proof = await _json(http, fed, "gb", f"/api/v1/log/proof/inclusion?digest={f['digest']}"
                                              f"&size={checkpoint.size}")
        path = [base64.b64decode(p) for p in proof["path"]]
        leaf = hashlib.sha256(b"\x00" + bytes.fromhex(f["digest"])).digest()
        verify_inclusion(leaf, proof["leaf_index"], proof["tree_size"], path,
                         checkpoint.root_hash)
        assert _independent_root_from_inclusion(leaf, proof["leaf_index"], proof["tree_size"],
                                                path) == checkpoint.root_hash

    # The log grows; the new checkpoint is consistent with the old one.
    await _json(http, fed, "gb", "/api/v1/incidents", "operator", "POST",
                json=report(title="After the checkpoint"))
    cp2 = await _json(http, fed, "gb", "/api/v1/log/checkpoint", "operator", "POST")
    proof = await _json(http, fed, "gb", f"/api/v1/log/proof/consistency?from={cp['size']}"
                                          f"&to={cp2['size']}")
    verify_consistency(cp["size"], cp2["size"], checkpoint.root_hash,
                       base64.b64decode(cp2["root"]),
                       [base64.b64decode(p) for p in proof["path"]])

    async def peers_saw_it_consistent() -> bool:
        for p in PEERS:
            seen = await _json(http, fed, p, "/api/v1/log/checkpoints/gb")
            if not any(i["size"] == cp2["size"] and i["status"] == "consistent"
                       and i["cosigned_by_me"] for i in seen["items"]):
                return False
        return True
    await wait_for(peers_saw_it_consistent, within_s=20)


async def test_equivocation_is_caught_by_every_witness(fed: Federation,
                                                       http: aiohttp.ClientSession) -> None:
    await _json(http, fed, "jp", "/api/v1/incidents", "operator", "POST",
                json=report(title="Before jp equivocates"))
    cp = await _json(http, fed, "jp", "/api/v1/log/checkpoint", "operator", "POST")

    async def others_have_it() -> bool:
        for p in ("gb", "fr", "int"):
            seen = await _json(http, fed, p, "/api/v1/log/checkpoints/jp")
            if not any(i["size"] == cp["size"] for i in seen["items"]):
                return False
        return True
    await wait_for(others_have_it, within_s=20)

    # jp's key signs a second, different history of the same size: a forked view.
    jp_key = load_signing_key(Path(fed.node("jp")["signing_key_file"]))
    fake_root = hashlib.sha256(b"a different history").digest()
    note = sign_checkpoint(Checkpoint("beacon/jp", cp["size"], fake_root), "beacon/jp", jp_key)
    doc = {"type": "checkpoint", "origin": "jp", "issued_at": format_time(datetime.now(UTC)),
           "log_origin": "beacon/jp", "size": cp["size"], "root": b64(fake_root), "note": note,
           "previous": None, "consistency": []}
    env = Envelope.sign(payload_type("checkpoint"), encode(doc), [jp_key])
    nc = await nats.connect(fed.doc["nats"]["url"],
                            nkeys_seed=fed.doc["nats"]["admin_credentials"])
    try:
        await nc.jetstream().publish("beacon.v1.checkpoint.jp", env.to_json())
    finally:
        await nc.close()

    detectors = ("gb", "fr", "int")
    failure_ids: dict[str, str] = {}
    for d in detectors:
        async def detected(d: str = d) -> Any:
            items = (await _json(http, fed, d, "/api/v1/log/equivocations"))["items"]
            return [i for i in items if i["origin"] == "jp"]
        [ev] = await wait_for(detected, within_s=20)
        assert ev["size"] == cp["size"] and ev["incident_id"].startswith(f"{d}-")
        assert "different roots" in ev["evidence"]["why"]
        failure_ids[d] = ev["incident_id"]

    # Every detector's signed verification-failure incident reaches every node.
    for node in ("gb", "fr", "jp", "int"):
        for incident_id in failure_ids.values():
            async def present(node: str = node, incident_id: str = incident_id) -> Any:
                async with http.get(fed.url(node, f"/api/v1/incidents/{incident_id}"),
                                    headers=fed.auth(node, "viewer")) as r:
                    return r.status == 200 and await r.json()
            inc = await wait_for(present, within_s=20)
            assert inc["verified"] is True
            assert inc["classifications"]["beacon"] == ["verification-failure", "equivocation"]
            assert inc["affected_jurisdictions"] == ["jp"]


async def test_scheduled_checkpoints_cover_every_incident_and_are_witnessed(
        tmp_path: Path, http: aiohttp.ClientSession) -> None:
    """No forcing: the schedule (30 s × time scale 0.02 = 0.6 s) publishes, peers cosign."""
    with running_federation(tmp_path, ["gb", "fr", "jp"], time_scale=0.02) as fed:
        filed = [await _json(http, fed, "fr", "/api/v1/incidents", "operator", "POST",
                             json=report(title=f"Scheduled {i}")) for i in range(3)]
        keys = await _roster_keys(http, fed)

        async def witnessed_cover() -> Any:
            async with http.get(fed.url("fr", "/api/v1/log/checkpoint")) as r:
                note = await r.text()
            opened = open_note(note, {"beacon/fr": keys["fr"]},
                               {f"beacon/{p}": keys[p] for p in ("gb", "jp", "int")})
            return (opened.checkpoint.size >= len(filed) and len(opened.cosigned_by) >= 2
                    and opened)
        opened = await wait_for(witnessed_cover, within_s=20)
        for f in filed:
            proof = await _json(http, fed, "fr", f"/api/v1/log/proof/inclusion?digest="
                                                 f"{f['digest']}&size={opened.checkpoint.size}")
            verify_inclusion(hashlib.sha256(b"\x00" + bytes.fromhex(f["digest"])).digest(),
                             proof["leaf_index"], proof["tree_size"],
                             [base64.b64decode(p) for p in proof["path"]],
                             opened.checkpoint.root_hash)
