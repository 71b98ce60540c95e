"""Witnessing, in one process: peers check each checkpoint against the last one they saw,
cosign it, and turn a forked log into a signed verification-failure incident."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from federation.checkpoint import Checkpoint, sign_checkpoint
from federation.keys import b64
from node.pipeline.translog import TransparencyLog
from tests.integration.conftest import report
from tests.pipeline.world import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with World.create(tmp_path, ["gb", "fr", "jp"]) as w:
        yield w


def seen(world: World, at: str, origin: str) -> list[tuple[int, str]]:
    return [(r["size"], r["status"]) for r in world.nodes[at].store.query(
        "SELECT size, status FROM checkpoints WHERE origin = ? ORDER BY size", (origin,))]


def cosigners(world: World, at: str, origin: str, size: int) -> set[str]:
    return {r["witness"] for r in world.nodes[at].store.query(
        "SELECT witness FROM cosignatures WHERE origin = ? AND size = ?", (origin, size))}


def test_peers_cosign_a_growing_log(world: World) -> None:
    gb_log = TransparencyLog(world.nodes["gb"])
    world.file("gb", **report(affected_jurisdictions=["fr"]))
    first = gb_log.publish_checkpoint(force=True)
    assert first is not None
    world.deliver()
    assert seen(world, "fr", "gb") == [(first["size"], "first-seen")]
    assert cosigners(world, "gb", "gb", first["size"]) >= {"fr", "jp", "int"}

    world.clock.advance(minutes=1)
    world.file("gb", **report(title="A second report"))
    second = gb_log.publish_checkpoint()
    assert second is not None and second["size"] > first["size"]
    world.deliver()
    assert seen(world, "jp", "gb")[-1] == (second["size"], "consistent")
    assert cosigners(world, "gb", "gb", second["size"]) >= {"fr", "jp", "int"}


def test_a_forked_log_is_reported_by_every_witness(world: World) -> None:
    gb = world.nodes["gb"]
    world.file("gb", **report(affected_jurisdictions=["fr"]))
    honest = TransparencyLog(gb).publish_checkpoint(force=True)
    assert honest is not None
    world.deliver()

    # gb's key signs a second, different tree head of the same size: a fork.
    size = honest["size"]
    fake_root = hashlib.sha256(b"another history").digest()
    note = sign_checkpoint(Checkpoint("beacon/gb", size, fake_root), "beacon/gb",
                           gb.signing_key)
    world.say("gb", {"type": "checkpoint", "log_origin": "beacon/gb", "size": size,
                     "root": b64(fake_root), "note": note, "previous": None,
                     "consistency": []})
    world.deliver()

    for witness in ("fr", "jp", "int"):
        [row] = world.nodes[witness].store.query(
            "SELECT incident_id FROM equivocations WHERE origin = 'gb' AND size = ?", (size,))
        assert row["incident_id"].startswith(f"{witness}-")
    failures = gb.store.query("SELECT origin FROM incidents WHERE title LIKE "
                              "'Verification failure: the transparency log of gb%'")
    assert sorted(r["origin"] for r in failures) == ["fr", "int", "jp"]
