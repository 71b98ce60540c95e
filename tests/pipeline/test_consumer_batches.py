"""The consumer's batch boundary (node/bus/transport.py) without NATS: fake JetStream messages
and a fake pull subscription around a real store.

What must hold whatever the batch size: a message is acknowledged only after the batch that
carries it is committed (read back through a second connection, i.e. durably visible); a batch
that cannot commit is not acknowledged; small batches checked on the event loop give exactly
what the checker threads give; a batch of only our own messages is acknowledged without a
transaction; and a steady stream is coalesced into fewer fetches while a trickle is not delayed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from federation.canonical import encode
from federation.envelope import Envelope, payload_type
from federation.messages import incident_from_report
from node.bus import transport
from node.bus.transport import Bus
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


def test_small_batches_checked_on_the_loop_match_the_threads(
        fr: tuple[World, NodeContext]) -> None:
    world, ctx = fr
    bus = Bus(ctx)
    good = _signed(world, "gb", 4)
    forged = good[0].replace(b'"signatures"', b'"signatures" ', 1)[:-5] + b"xx}]}"
    batch = [good[1], forged, good[2], b"not json", good[3]]
    subjects = [SUBJECT_GB, SUBJECT_GB, SUBJECT_FR, SUBJECT_GB, SUBJECT_GB]

    def shape(items: list[Accepted | Refused | None]) -> list[Any]:
        return [None if i is None else
                ("accepted", i.verified.digest) if isinstance(i, Accepted) else
                ("refused", i.reason) for i in items]

    async def check(datas: list[bytes], subjects: list[str]) -> list[Any]:
        msgs = [FakeMsg(s, d, world.clock(), ctx.config.db_path)
                for s, d in zip(subjects, datas, strict=True)]
        return shape(await bus._check_all(msgs))  # type: ignore[arg-type]

    threads = asyncio.run(check(batch, subjects))  # 5 > INLINE_CHECK: the threads
    assert len(batch) > transport.INLINE_CHECK
    one_by_one = [asyncio.run(check([d], [s]))[0] for d, s in zip(batch, subjects, strict=True)]
    pairs = asyncio.run(check(batch[:2], subjects[:2])) + asyncio.run(check(batch[2:4],
                                                                            subjects[2:4]))
    assert threads == one_by_one
    assert pairs == threads[:4]
    assert threads[0][0] == "accepted" and threads[1][0] == "refused"
    assert threads[2] is None  # fr's own subject: its own message coming back
    bus._checkers.shutdown()


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
