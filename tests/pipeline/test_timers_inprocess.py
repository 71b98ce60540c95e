"""The node's run timers (``node.pipeline.timers``): one wake-up job at the earliest deadline
of all running runs, re-armed from the store after each commit, firing every due run once.

The scheduler is started paused: the world's clock is the test's, and APScheduler would
otherwise fire a job dated in the test's past at once; the test calls the job (``_wake``)
itself, as the scheduler would at its time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from federation.timeutil import parse_time
from node.pipeline.timers import WAKE_JOB, RunTimers
from tests.integration.conftest import report
from tests.pipeline.world import START, World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with World.create(tmp_path, ["gb", "fr", "jp"]) as w:
        yield w


def _runs(world: World) -> dict[str, Any]:
    return {r["id"]: dict(r) for r in world.nodes["gb"].store.query(
        "SELECT id, token, timer_at FROM runs WHERE state = 'running' AND timer_at IS NOT NULL")}


def _wake_at(timers: RunTimers) -> datetime | None:
    job = timers.scheduler.get_job(WAKE_JOB)
    return None if job is None else job.next_run_time


def _tiers(world: World, node: str) -> list[int]:
    return [int(r["tier"]) for r in world.nodes[node].store.query(
        "SELECT tier FROM escalations ORDER BY tier")]


async def test_one_job_at_the_earliest_deadline_fires_every_due_run_once(world: World) -> None:
    gb = world.nodes["gb"]
    world.clock.advance(hours=1)
    first = world.file("gb", **report(title="First", affected_jurisdictions=["fr"]))
    world.deliver()
    timers = RunTimers(gb)
    timers.start()  # reconciles from the store, as at a node's start-up
    timers.scheduler.pause()
    gb.timer_sync = timers.sync
    try:
        earliest = min(parse_time(r["timer_at"]) for r in _runs(world).values())
        assert _wake_at(timers) == earliest
        assert [j.id for j in timers.scheduler.get_jobs()] == [WAKE_JOB]  # one job, not one per run

        world.clock.advance(hours=1)
        world.file("gb", **report(title="Second", affected_jurisdictions=["fr"]))  # later deadlines
        world.deliver()
        assert len(_runs(world)) >= 2 and _wake_at(timers) == earliest

        # A run whose deadline comes before every armed one (as a playbook with a shorter clock
        # would start) moves the job earlier: an incident filed an hour before the first.
        world.clock.t = START
        world.file("gb", **report(title="Third", affected_jurisdictions=["fr"]))
        world.deliver()
        sooner = min(parse_time(r["timer_at"]) for r in _runs(world).values())
        assert _wake_at(timers) == sooner < earliest
        earliest = sooner

        world.clock.to(earliest)
        before = _runs(world)
        await timers._wake()  # the job's time has come
        world.deliver()
        after = _runs(world)
        moved = [i for i in before if i not in after or after[i]["token"] != before[i]["token"]]
        due = [i for i, r in before.items() if parse_time(r["timer_at"]) <= earliest]
        assert moved == due  # every due run fired, no other
        assert _tiers(world, "jp") == [2]  # the third incident's tier 2: fired once
        assert _wake_at(timers) == min(parse_time(r["timer_at"]) for r in after.values())

        await timers._wake()  # a second wake at the same time finds nothing due
        world.deliver()
        assert _runs(world) == after and _tiers(world, "jp") == [2]
        assert first["id"] in {r["incident_id"] for r in gb.store.query(
            "SELECT incident_id FROM runs")}
    finally:
        timers.stop()
