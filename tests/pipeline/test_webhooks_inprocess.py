"""Which events become webhook deliveries, walked with a driven clock (no NATS, no waiting), and
the dispatcher's shutdown while commits keep waking it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.notify.webhooks import WebhookDispatcher
from node.pipeline import webhook_store as ws
from tests.integration.conftest import report
from tests.pipeline.world import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with World.create(tmp_path, ["gb", "fr"]) as w:
        yield w


def _hook(world: World, node: str, roles: list[str]) -> str:
    ctx = world.nodes[node]
    with ctx.transaction() as tx:
        return str(ws.add_webhook(tx, url="http://127.0.0.1:9/x", roles=roles,
                                  secret="s" * 16, now=ctx.stamp())["id"])


def _collect(world: World, node: str) -> list[dict[str, Any]]:
    """Queue what is new; return every queued body (event, step, ...) in order."""
    ctx = world.nodes[node]
    with ctx.transaction() as tx:
        ws.collect(ctx, tx, warn_fraction=0.25)
    return [dict(json.loads(r["body"]), hook=r["webhook_id"]) for r in ctx.store.query(
        "SELECT webhook_id, body FROM webhook_deliveries ORDER BY seq")]


def test_notify_approaching_missed_and_the_inbox_each_once(world: World) -> None:
    op, auditor = _hook(world, "gb", ["operator"]), _hook(world, "gb", ["auditor"])
    fr = _hook(world, "fr", ["responder"])
    doc = world.file("gb", **report(affected_jurisdictions=["fr"]))
    world.deliver()
    at_gb = _collect(world, "gb")
    # The duty officer is told, and the Art. 73 report step (a parallel branch) tells its role
    # that its clock runs: each once, to the operator's hook only.
    assert sorted((b["event"], b["step"]) for b in at_gb) == [
        ("notify", "art73-report"), ("notify", "notify-duty-officer")]
    assert {(b["incident_id"], b["hook"]) for b in at_gb} == {(doc["id"], op)}
    at_fr = _collect(world, "fr")
    assert [b["event"] for b in at_fr].count("escalation") == 1  # fr's inbox: the tier-1 ask
    assert all(b["hook"] == fr for b in at_fr)
    assert _collect(world, "gb") == at_gb  # a second scan queues nothing again

    world.clock.advance(hours=19)  # the tier-1 deadline (24 h) is in its last quarter
    approaching = [b for b in _collect(world, "gb") if b["event"] == "deadline-approaching"]
    assert [(b["step"], b["hook"]) for b in approaching] == [("escalate-affected-peers", op)]
    # fr's inbox escalation (the recipient's clock), and fr's own intake run if it has one.
    fr_approaching = [b for b in _collect(world, "fr") if b["event"] == "deadline-approaching"]
    assert fr_approaching and {b["hook"] for b in fr_approaching} == {fr}
    assert len({b["id"] for b in fr_approaching}) == len(fr_approaching)  # each once

    world.clock.advance(hours=5, seconds=1)
    world.fire_due()
    world.deliver()
    missed = [b for b in _collect(world, "gb") if b["event"] == "deadline-missed"]
    assert sorted(b["hook"] for b in missed) == sorted([op, auditor])
    assert {b["step"] for b in missed} == {"escalate-affected-peers"}
    fr_missed = [b for b in _collect(world, "fr") if b["event"] == "deadline-missed"]
    # The inbox escalation's miss, once; fr's own intake runs may miss steps of theirs too.
    assert [b["step"] for b in fr_missed].count("escalate-affected-peers") == 1
    assert len({b["id"] for b in fr_missed}) == len(fr_missed)


def test_a_webhook_gets_only_what_happens_after_it_is_registered(world: World) -> None:
    world.file("gb", **report(affected_jurisdictions=["fr"]))
    world.deliver()
    assert _collect(world, "gb") == []  # nobody registered: nothing queued, watermark moves
    hook = _hook(world, "gb", ["operator"])
    assert _collect(world, "gb") == []
    world.file("gb", **report(title="After registration", affected_jurisdictions=["fr"]))
    world.deliver()
    after = _collect(world, "gb")
    assert after and {(b["event"], b["hook"]) for b in after} == {("notify", hook)}
    assert all(b["incident_id"] != "" for b in after)


async def test_the_dispatcher_stops_when_cancelled_as_a_commit_wakes_it(world: World) -> None:
    """Python 3.11's ``asyncio.wait_for`` drops a cancellation that arrives together with the
    event it waits for; the node's shutdown then waited for the dispatcher forever."""
    ctx = world.nodes["gb"]
    _hook(world, "gb", ["operator"])
    for attempt in range(10):
        dispatcher = WebhookDispatcher(ctx)
        task = asyncio.create_task(dispatcher.run())
        await asyncio.sleep(0.2)  # idle: nothing is due, it waits to be woken
        dispatcher.on_commit([])
        await asyncio.sleep(0)  # the wake-up is handed to the loop ...
        task.cancel()           # ... and the cancellation lands with it
        done, _ = await asyncio.wait({task}, timeout=2.0)
        ctx.commit_listeners.remove(dispatcher.on_commit)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert done, f"attempt {attempt}: the dispatcher ignored its cancellation"
        assert dispatcher.state == "stopped"
