"""Training-run declarations across a federation in one process: the declaration reaches every
node with its Art. 52(1) clock, which turns overdue exactly once, also across a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from federation.training_runs import training_run_body
from node.core.playbook_files import load_regimes
from node.pipeline import deadlines, flow
from node.pipeline.context import NodeContext
from tests.pipeline.world import START, World

REPO = Path(__file__).resolve().parents[2]
RUN = {"developer": "Example AI", "model": "ExampleLM-4", "compute_flop": 2e26,
       "started_at": "2026-11-19T09:00:00Z", "expected_end": "2027-02-01T00:00:00Z"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with World.create(tmp_path, ["gb", "fr", "jp"]) as w:
        yield w


def declare(world: World, at: str, **changes: Any) -> dict[str, Any]:
    ctx = world.nodes[at]
    regimes, problems = load_regimes(REPO / "playbooks")
    assert not problems
    doc = training_run_body(RUN | changes, ctx.tripwires.compute_thresholds, regimes.clock,
                            origin=at, now=ctx.now())
    flow.sign_and_record(ctx, doc)
    return doc


def restart(world: World, node: str) -> None:
    old = world.nodes[node]
    old.close()
    world.nodes[node] = NodeContext.open(old.config, clock=world.clock)


def test_a_declaration_above_1e26_reaches_every_node_with_its_clock(world: World) -> None:
    doc = declare(world, "gb")
    world.deliver()
    assert doc["thresholds_crossed"] == ["ai-act-51-2", "frontier-1e26"]
    for n in ("gb", "fr", "jp", "int"):
        [d] = deadlines.listing(world.nodes[n].store)
        assert (d["subject"], d["clock"], d["state"]) == (doc["id"], "ai-act-52-1", "due"), n
        assert d["due_at"] == "2026-12-03T09:00:00Z"  # two weeks after it started (P2W)
        assert d["regime"] == "EU AI Act Art. 52(1)"


def test_the_clock_turns_overdue_exactly_once_also_across_a_restart(world: World) -> None:
    doc = declare(world, "gb")
    world.deliver()
    world.clock.to(START.replace(month=12, day=3, hour=8, minute=59))
    assert [deadlines.sweep(c) for c in world.nodes.values()] == [[], [], [], []]
    world.clock.advance(minutes=1)
    assert deadlines.sweep(world.nodes["fr"]) == [f"{doc['id']}/ai-act-52-1"]
    assert deadlines.sweep(world.nodes["fr"]) == []
    restart(world, "fr")
    world.clock.advance(days=3)
    assert deadlines.sweep(world.nodes["fr"]) == []
    [d] = deadlines.listing(world.nodes["fr"].store, "overdue")
    assert d["overdue_at"] == "2026-12-03T09:00:00Z"
    assert deadlines.listing(world.nodes["fr"].store, "due") == []


def test_below_the_threshold_no_clock_and_a_notified_run_is_met(world: World) -> None:
    small = declare(world, "gb", compute_flop=5e24)
    notified = declare(world, "gb", notified_at="2026-11-20T09:00:00Z")
    world.deliver()
    assert small["thresholds_crossed"] == [] and small["clocks"] == []
    world.clock.advance(days=30)
    assert deadlines.sweep(world.nodes["jp"]) == []
    assert [d["subject"] for d in deadlines.listing(world.nodes["jp"].store, "met")] == [
        notified["id"]]
