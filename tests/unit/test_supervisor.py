"""node.core.supervisor: a failing task is restarted with backoff, counted and shown; stop() ends
all."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from prometheus_client import CollectorRegistry, Counter

from node.core.supervisor import Supervisor


def _sup() -> tuple[Supervisor, Counter]:
    counter = Counter("t_restarts_total", "test", ["task"], registry=CollectorRegistry())
    return Supervisor(counter, min_backoff=0.01, max_backoff=0.02), counter


async def test_a_raising_task_is_restarted_counted_and_shown() -> None:
    sup, counter = _sup()
    calls: list[int] = []
    done = asyncio.Event()

    async def flaky() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise ValueError(f"bad roster value {len(calls)}")
        done.set()
        await asyncio.Event().wait()  # then runs for good

    sup.spawn("roster-follow", flaky)
    await asyncio.wait_for(done.wait(), timeout=5)
    status = sup.status()["roster-follow"]
    assert status["state"] == "running" and status["restarts"] == 2
    assert status["last_error"] == "ValueError('bad roster value 2')"
    assert counter.labels(task="roster-follow")._value.get() == 2
    await sup.stop()
    assert sup.status()["roster-follow"]["state"] == "stopped"


async def test_a_loop_that_returns_is_a_failure_a_once_task_is_done() -> None:
    sup, _ = _sup()
    returned = asyncio.Event()
    runs: list[int] = []

    async def loop_that_ends() -> None:
        runs.append(1)
        if len(runs) == 2:
            returned.set()

    async def connect() -> None:
        return None

    sup.spawn("publisher", loop_that_ends)
    sup.spawn("nats-connect", connect, once=True)
    await asyncio.wait_for(returned.wait(), timeout=5)
    assert sup.status()["publisher"]["restarts"] >= 1
    assert "must not end" in str(sup.status()["publisher"]["last_error"])
    assert sup.status()["nats-connect"] == {"state": "done", "restarts": 0, "last_error": None,
                                            "last_error_at": None}
    await sup.stop()


async def test_names_are_unique_while_running() -> None:
    sup, _ = _sup()

    async def forever() -> None:
        await asyncio.Event().wait()

    sup.spawn("consumer", forever)
    with pytest.raises(ValueError, match="already running"):
        sup.spawn("consumer", forever)
    await sup.stop()


async def test_stop_does_not_hang_on_a_task_that_swallows_its_cancellation() -> None:
    sup = Supervisor(Counter("t4_restarts", "x", ["task"], registry=CollectorRegistry()))
    cancels = 0

    async def stubborn() -> None:
        nonlocal cancels
        while True:  # like a loop whose wait_for dropped the cancellation
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancels += 1
                if cancels >= 3:
                    raise

    sup.spawn("stubborn", stubborn)
    await asyncio.sleep(0)
    await asyncio.wait_for(sup.stop(rounds=5), timeout=10)
    assert cancels == 3  # cancelled again each round until it gave in
    assert sup.status()["stubborn"]["state"] == "stopped"


async def test_stop_gives_up_on_a_task_that_never_ends() -> None:
    sup = Supervisor(Counter("t5_restarts", "x", ["task"], registry=CollectorRegistry()))
    release = asyncio.Event()

    async def immortal() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(10)

    sup.spawn("immortal", immortal)
    await asyncio.sleep(0)
    await asyncio.wait_for(sup.stop(rounds=2), timeout=10)  # returns: shutdown goes on
    release.set()
