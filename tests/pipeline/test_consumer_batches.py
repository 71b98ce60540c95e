"""The consumer's batch boundary (node/bus/transport.py) without NATS: fake JetStream messages
and a fake pull subscription around a real store.

What must hold whatever the batch size: a message is acknowledged only after the batch that
carries it is committed (read back through a second connection, i.e. durably visible); a batch
that cannot commit is not acknowledged; every check mode (loop, threads, worker processes) and
the small-batch inline rule give exactly the same verdicts, in order; the worker processes
follow roster changes, survive a killed worker without losing a batch and end with the node; a
batch of only our own messages is acknowledged without a transaction; and a steady stream is
coalesced into fewer fetches while a trickle is not delayed.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from federation.canonical import encode
from federation.envelope import Envelope, payload_type
from federation.messages import incident_from_report
from node.bus import checkers, transport
from node.bus.checkers import BatchChecker
from node.bus.transport import Bus
from node.core.config import CHECK_MODES
from node.pipeline.context import NodeContext
from node.pipeline.flow import Accepted
from node.pipeline.ingest import Refused
from node.store.db import StoreError
from tests.integration.conftest import MINIMAL_REPORT
from tests.pipeline.world import World

SUBJECT_GB = "beacon.v1.incident.gb.serious-incident"
SUBJECT_FR = "beacon.v1.incident.fr.serious-incident"


@dataclass
class FakeMsg:
    """What the consumer reads of a ``nats.aio.msg.Msg``; ``ack`` records what a second
    connection to the store sees at that moment (only committed rows)."""

    subject: str
    data: bytes
    timestamp: datetime
    db: Path
    seen_at_ack: list[int] = field(default_factory=list)

    @property
    def metadata(self) -> Any:
        return SimpleNamespace(timestamp=self.timestamp)

    async def ack(self) -> None:
        with sqlite3.connect(self.db) as other:
            self.seen_at_ack.append(other.execute("SELECT COUNT(*) FROM incidents").fetchone()[0])


@pytest.fixture
def fr(tmp_path: Path) -> Iterator[tuple[World, NodeContext]]:
    with World.create(tmp_path, ["gb", "fr"]) as world:
        yield world, world.nodes["fr"]


def _signed(world: World, origin: str, n: int, title: str = "Batch") -> list[bytes]:
    key = provision_key(world, origin)
    out = []
    for i in range(n):
        doc = incident_from_report({**MINIMAL_REPORT, "title": f"{title} {i}",
                                    "affected_jurisdictions": []},
                                   origin=origin, now=world.clock())
        out.append(Envelope.sign(payload_type("incident"), encode(doc), [key]).to_json())
    return out


def provision_key(world: World, origin: str) -> Any:
    return world.nodes[origin].signing_key


def _msgs(world: World, ctx: NodeContext, datas: list[bytes],
          subject: str = SUBJECT_GB) -> list[FakeMsg]:
    return [FakeMsg(subject, d, world.clock(), ctx.config.db_path) for d in datas]


def _count(ctx: NodeContext) -> int:
    return int(ctx.store.scalar("SELECT COUNT(*) FROM incidents"))


def test_a_batch_is_acknowledged_only_after_its_commit(
        fr: tuple[World, NodeContext]) -> None:
    world, ctx = fr
    bus = Bus(ctx)
    for size in (1, 2, 5):  # inline-checked and thread-checked batches alike
        before = _count(ctx)
        msgs = _msgs(world, ctx, _signed(world, "gb", size, f"size {size}"))

        async def one_batch(msgs: list[FakeMsg] = msgs) -> None:
            checked = await bus._check_all(msgs)  # type: ignore[arg-type]
            await bus._store_batch(msgs, checked)  # type: ignore[arg-type]

        asyncio.run(one_batch())
        assert _count(ctx) == before + size
        # every ack saw the whole batch committed, as another process would read it
        assert [m.seen_at_ack for m in msgs] == [[before + size]] * size
    bus._checkers.shutdown()


def test_a_batch_that_cannot_commit_is_not_acknowledged(
        fr: tuple[World, NodeContext], monkeypatch: pytest.MonkeyPatch) -> None:
    world, ctx = fr
    bus = Bus(ctx)
    msgs = _msgs(world, ctx, _signed(world, "gb", 2))

    def failing(*args: Any) -> int:
        raise StoreError("disk full")

    monkeypatch.setattr(transport, "ingest_batch", failing)
    monkeypatch.setattr(transport.asyncio, "sleep", _no_sleep)

    async def one_batch() -> None:
        await bus._store_batch(msgs, await bus._check_all(msgs))  # type: ignore[arg-type]

    asyncio.run(one_batch())
    assert [m.seen_at_ack for m in msgs] == [[], []]  # JetStream redelivers them
    bus._checkers.shutdown()


async def _no_sleep(_: float) -> None:
    return None


def _shape(items: list[Accepted | Refused | None]) -> list[Any]:
    return [None if i is None else
            ("accepted", i.verified.digest, i.verified.document["title"])
            if isinstance(i, Accepted) else ("refused", i.reason) for i in items]


def _mixed_batch(world: World) -> tuple[list[bytes], list[str]]:
    """A batch with every kind of verdict: valid, forged, own, junk, unknown signer, signed by
    another member (wrong origin), schema-invalid, and valid again."""
    good = _signed(world, "gb", 4)
    forged = _forged(good[0])
    by_jp = _signed(world, "jp", 1, "jp's")[0]
    doc = incident_from_report({**MINIMAL_REPORT, "title": "no schema",
                                "affected_jurisdictions": []}, origin="gb", now=world.clock())
    del doc["title"]
    invalid = Envelope.sign(payload_type("incident"), encode(doc),
                            [world.nodes["gb"].signing_key]).to_json()
    datas = [good[1], forged, good[2], b"not json", good[3], good[0], by_jp, invalid, good[0]]
    subjects = [SUBJECT_GB, SUBJECT_GB, SUBJECT_FR, SUBJECT_GB,
                "beacon.v1.incident.xx.serious-incident", "beacon.v1.bogus",
                SUBJECT_GB, SUBJECT_GB, SUBJECT_GB]
    return datas, subjects


def _forged(data: bytes) -> bytes:
    """``data`` with another signature: well-formed, but not gb's signature of this payload."""
    env = json.loads(data)
    sig = base64.b64decode(env["signatures"][0]["sig"])
    env["signatures"][0]["sig"] = base64.b64encode(bytes([sig[0] ^ 1]) + sig[1:]).decode()
    return json.dumps(env, separators=(",", ":")).encode()


def _check(world: World, bus: Bus, datas: list[bytes], subjects: list[str]) -> list[Any]:
    msgs = [FakeMsg(s, d, world.clock(), bus.ctx.config.db_path)
            for s, d in zip(subjects, datas, strict=True)]

    async def run() -> list[Any]:
        return _shape(await bus._check_all(msgs))  # type: ignore[arg-type]

    return asyncio.run(run())


def _bus(ctx: NodeContext, mode: str) -> Bus:
    bus = Bus(ctx)
    bus._checkers = BatchChecker(ctx, mode)
    return bus


@pytest.fixture
def three(tmp_path: Path) -> Iterator[tuple[World, NodeContext]]:
    with World.create(tmp_path, ["gb", "fr", "jp"]) as world:
        yield world, world.nodes["fr"]


def test_every_check_mode_gives_the_same_verdicts_in_order(
        three: tuple[World, NodeContext]) -> None:
    world, ctx = three
    datas, subjects = _mixed_batch(world)
    assert len(datas) > checkers.INLINE_CHECK  # the threads or processes, not the inline rule
    got = {}
    for mode in CHECK_MODES:
        bus = _bus(ctx, mode)
        try:
            got[mode] = _check(world, bus, datas, subjects)
            # one at a time and in pairs: the small-batch inline rule gives the same
            one_by_one = [_check(world, bus, [d], [s])[0]
                          for d, s in zip(datas, subjects, strict=True)]
            pairs = _check(world, bus, datas[:2], subjects[:2]) \
                + _check(world, bus, datas[2:4], subjects[2:4])
        finally:
            bus._checkers.shutdown()
        assert got[mode] == one_by_one
        assert pairs == got[mode][:4]
    assert got["threads"] == got["loop"] == got["processes"]
    verdicts = [None if v is None else v[0] if v[0] == "accepted" else v[1]
                for v in got["loop"]]
    assert verdicts == ["accepted", "bad-signature", None, "malformed-envelope", "unknown-origin",
                        "bad-subject", "origin-mismatch", "schema", "accepted"]


def test_the_worker_processes_follow_roster_changes(
        three: tuple[World, NodeContext]) -> None:
    # A member revoked by a roster update after the pool started is refused by the workers as
    # on the loop, and accepted again once a newer roster lists it.
    world, ctx = three
    datas = _signed(world, "gb", 3, "roster")
    subjects = [SUBJECT_GB] * 3
    original = ctx.roster
    without_gb = dataclasses.replace(
        original, version=original.version + 1,
        members=tuple(m for m in original.members if m.id != "gb"))
    back = dataclasses.replace(original, version=original.version + 2)
    workers, loop = _bus(ctx, "processes"), _bus(ctx, "loop")
    try:
        seen = []
        for roster in (original, without_gb, back):
            ctx.roster = roster
            by_workers = _check(world, workers, datas, subjects)
            assert by_workers == _check(world, loop, datas, subjects)
            seen.append({v[0] if v[0] == "accepted" else v[1] for v in by_workers})
        assert seen == [{"accepted"}, {"unknown-origin"}, {"accepted"}]
    finally:
        ctx.roster = original
        workers._checkers.shutdown()


def test_a_killed_worker_loses_nothing(three: tuple[World, NodeContext]) -> None:
    world, ctx = three
    datas, subjects = _mixed_batch(world)
    bus, loop = _bus(ctx, "processes"), _bus(ctx, "loop")
    try:
        expected = _check(world, loop, datas, subjects)
        assert _check(world, bus, datas, subjects) == expected
        first = bus._checkers.worker_pids()
        assert first
        pool = bus._checkers._pool
        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + 30  # until the executor has seen its worker die
        while not getattr(pool, "_broken", False) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert getattr(pool, "_broken", False)
        # the pool is broken: the batch is checked again in a new pool, with the same verdicts
        assert _check(world, bus, datas, subjects) == expected
        assert bus._checkers.worker_pids() and not set(first) & set(bus._checkers.worker_pids())
    finally:
        bus._checkers.shutdown()


def test_a_batch_whose_pool_keeps_breaking_is_not_acknowledged(
        three: tuple[World, NodeContext], monkeypatch: pytest.MonkeyPatch) -> None:
    world, ctx = three
    bus = _bus(ctx, "processes")
    msgs = _msgs(world, ctx, _signed(world, "gb", 5))
    calls = []

    async def broken(self: BatchChecker, parts: list[Any]) -> list[Any]:
        calls.append(len(parts))
        raise BrokenProcessPool("a worker died")

    monkeypatch.setattr(BatchChecker, "_submit_once", broken)

    async def consume() -> None:
        with pytest.raises(BrokenProcessPool):  # the supervisor restarts the consumer
            await bus._fetch_forever(FakePull([(0.0, msgs)]))  # type: ignore[arg-type]

    asyncio.run(consume())
    assert calls == [2, 2]  # the batch was tried on a fresh pool once more
    assert [m.seen_at_ack for m in msgs] == [[]] * 5 and _count(ctx) == 0  # redelivered later
    bus._checkers.shutdown()


def test_stopping_the_node_ends_its_worker_processes(three: tuple[World, NodeContext]) -> None:
    world, ctx = three
    bus = _bus(ctx, "processes")
    datas, subjects = _mixed_batch(world)
    _check(world, bus, datas, subjects)
    pids = bus._checkers.worker_pids()
    assert len(pids) == checkers.CHECK_PROCESSES
    asyncio.run(bus.stop())
    for pid in pids:  # reaped, not just signalled: the pool waited for them
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert bus._checkers.worker_pids() == []


def test_a_batch_of_our_own_messages_is_acknowledged_without_a_transaction(
        fr: tuple[World, NodeContext]) -> None:
    world, ctx = fr
    bus = Bus(ctx)
    msgs = _msgs(world, ctx, _signed(world, "fr", 3), subject=SUBJECT_FR)
    mark = ctx.store.changes()

    async def one_batch() -> None:
        await bus._store_batch(msgs, await bus._check_all(msgs))  # type: ignore[arg-type]

    asyncio.run(one_batch())
    assert ctx.store.changes() == mark
    assert all(m.seen_at_ack for m in msgs)
    bus._checkers.shutdown()


_real_sleep = asyncio.sleep


class FakePull:
    """A pull subscription whose fetches return the scripted batches after the scripted wait;
    the consumer stops (CancelledError) when the script ends."""

    def __init__(self, script: list[tuple[float, list[FakeMsg]]]) -> None:
        self.script = script

    async def fetch(self, batch: int, timeout: float) -> list[FakeMsg]:
        if not self.script:
            raise asyncio.CancelledError
        wait, msgs = self.script.pop(0)
        await _real_sleep(wait)
        return msgs


def _pauses(fr: tuple[World, NodeContext], waits: list[float],
            monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses the consumer takes while fetches return one report each after ``waits``."""
    world, ctx = fr
    bus = Bus(ctx)
    datas = _signed(world, "gb", len(waits))
    pull = FakePull([(w, _msgs(world, ctx, [d])) for w, d in zip(waits, datas, strict=True)])
    pauses: list[float] = []

    async def recorded(s: float) -> None:
        pauses.append(s)
        await _real_sleep(s)

    monkeypatch.setattr(transport.asyncio, "sleep", recorded)
    # A wide margin either side of "quick", so that a loaded machine cannot blur the two cases.
    monkeypatch.setattr(transport, "QUICK_FETCH_S", 0.2)

    async def consume() -> None:
        with pytest.raises(asyncio.CancelledError):
            await bus._fetch_forever(pull)  # type: ignore[arg-type]

    asyncio.run(consume())
    monkeypatch.undo()
    bus._checkers.shutdown()
    assert _count(ctx) == len(waits)
    return pauses


def test_a_steady_stream_is_coalesced(fr: tuple[World, NodeContext],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Every fetch finds a report already waiting: the consumer pauses before each next fetch.
    assert _pauses(fr, [0.0, 0.0, 0.0], monkeypatch) == [transport.COALESCE_S] * 3


def test_a_trickle_is_not_delayed(fr: tuple[World, NodeContext],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Every fetch had to wait for its report: the next fetch starts as soon as it is stored.
    wait = 0.4  # > the QUICK_FETCH_S set in _pauses
    assert _pauses(fr, [wait, wait, wait], monkeypatch) == []
