"""Scheduling for latency (docs/performance.md, "Latency at 200/s"): the consumer says when it
holds no batch (``Bus.consumer_quiet``), and the search indexer runs its slices then, so that
a report being checked or stored is not held behind a slice of indexing.

What must hold: the consumer is never quiet between fetching a batch and acknowledging it (and
still acknowledges only after the commit); the indexer does not index while the consumer holds
a batch, indexes once it is quiet, and is not starved by a consumer that is never quiet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.app import search_index_loop
from node.bus import transport
from node.bus.transport import Bus
from node.pipeline.context import NodeContext
from node.store import search
from tests.pipeline.test_consumer_batches import SUBJECT_GB, FakeMsg, _msgs, _signed
from tests.pipeline.world import World


@pytest.fixture
def fr(tmp_path: Path) -> Iterator[tuple[World, NodeContext]]:
    with World.create(tmp_path, ["gb", "fr"]) as world:
        yield world, world.nodes["fr"]


class QuietProbe(FakeMsg):
    """Records, at ack time, whether the consumer claimed to be quiet, besides what a second
    connection sees committed."""

    bus: Bus | None = None
    quiet_at_ack: list[bool] = []

    async def ack(self) -> None:
        assert self.bus is not None and self.bus.consumer_quiet is not None
        self.quiet_at_ack.append(self.bus.consumer_quiet.is_set())
        await super().ack()


def test_the_consumer_is_quiet_only_while_it_holds_no_batch(
        fr: tuple[World, NodeContext]) -> None:
    world, ctx = fr
    bus = Bus(ctx)
    QuietProbe.bus, QuietProbe.quiet_at_ack = bus, []
    batches = [[QuietProbe(m.subject, m.data, m.timestamp, m.db) for m in
                _msgs(world, ctx, _signed(world, "gb", n, f"quiet {n}"), SUBJECT_GB)]
               for n in (1, 3)]
    quiet_in_fetch: list[bool] = []

    class Pull:
        async def fetch(self, batch: int, timeout: float) -> list[FakeMsg]:
            assert bus.consumer_quiet is not None
            quiet_in_fetch.append(bus.consumer_quiet.is_set())
            if not batches:
                raise asyncio.CancelledError
            return list(batches.pop(0))

    async def consume() -> None:
        with pytest.raises(asyncio.CancelledError):
            await bus._fetch_forever(Pull())  # type: ignore[arg-type]

    asyncio.run(consume())
    bus._checkers.shutdown()
    assert quiet_in_fetch == [True, True, True]  # waiting for reports: quiet
    assert QuietProbe.quiet_at_ack == [False] * 4  # holding a batch until its last ack
    assert bus.consumer_quiet is not None and bus.consumer_quiet.is_set()  # stopped: quiet
    count = int(ctx.store.scalar("SELECT COUNT(*) FROM incidents"))
    assert count == 4


def _stored_unindexed(world: World, ctx: NodeContext, n: int) -> None:
    bus = Bus(ctx)
    msgs = _msgs(world, ctx, _signed(world, "gb", n, "index"))

    async def store() -> None:
        await bus._store_batch(msgs, await bus._check_all(msgs))  # type: ignore[arg-type]

    asyncio.run(store())
    bus._checkers.shutdown()
    assert search.pending(ctx.store)


def test_the_indexer_waits_for_a_quiet_consumer(fr: tuple[World, NodeContext]) -> None:
    world, ctx = fr
    _stored_unindexed(world, ctx, 3)

    async def scenario() -> tuple[int, int]:
        quiet = asyncio.Event()  # the consumer holds a batch
        task = asyncio.create_task(search_index_loop(ctx, quiet=lambda: quiet, defer_s=60))
        for _ in range(50):  # let the indexer run as far as it can without the consumer
            await asyncio.sleep(0)
        held = search.backlog(ctx.store)
        quiet.set()
        for _ in range(1000):  # bounded: the indexer needs a few turns once quiet
            if not search.pending(ctx.store):
                break
            await asyncio.sleep(0.005)
        task.cancel()
        return held, search.backlog(ctx.store)

    held, after = asyncio.run(scenario())
    assert held == 3  # nothing indexed while the consumer held a batch
    assert after == 0


async def _backlog_once_indexed(ctx: NodeContext, quiet: asyncio.Event | None,
                                defer_s: float) -> int:
    """Run the indexer until nothing is pending (bounded: 5 s); the backlog left."""
    task = asyncio.create_task(search_index_loop(ctx, quiet=lambda: quiet, defer_s=defer_s))
    for _ in range(1000):
        if not search.pending(ctx.store):
            break
        await asyncio.sleep(0.005)
    task.cancel()
    return search.backlog(ctx.store)


def test_a_busy_consumer_does_not_starve_the_indexer(fr: tuple[World, NodeContext]) -> None:
    world, ctx = fr
    _stored_unindexed(world, ctx, 3)
    busy = asyncio.Event()  # never set: a backlog keeps the consumer busy
    assert asyncio.run(_backlog_once_indexed(ctx, busy, defer_s=0.01)) == 0


def test_without_a_consumer_the_indexer_does_not_wait(fr: tuple[World, NodeContext]) -> None:
    world, ctx = fr
    _stored_unindexed(world, ctx, 2)
    assert asyncio.run(_backlog_once_indexed(ctx, None, defer_s=60)) == 0
    assert transport.Bus.consumer_quiet is None  # the class default: no consumer yet
