"""Supervised background tasks: no loop of the node can end silently.

    >>> # sup = Supervisor(metrics.task_restarts)
    >>> # sup.spawn("publisher", bus.publisher)      # a factory: called again on each restart
    >>> # sup.status()   # {"publisher": {"state": "running", "restarts": 0, ...}}
    >>> # await sup.stop()

Each task runs a coroutine made by its factory. If it raises, the supervisor logs the traceback,
counts it in ``beacon_task_restarts_total{task=…}``, keeps the error for ``/healthz`` and calls
the factory again after an exponential backoff (reset once the task has run for a while), so a
malformed value or a transient store error costs a retry, not a dead node that still looks alive.
A long-running loop that *returns* is restarted too: it was never meant to end. A task spawned
with ``once=True`` (a connect step) is done when it returns and restarted only if it raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

log = logging.getLogger("beacon.supervisor")

TaskFactory = Callable[[], Coroutine[Any, Any, None]]
MIN_BACKOFF_S = 0.2
MAX_BACKOFF_S = 30.0
STOP_ROUNDS = 10
HEALTHY_AFTER_S = 30.0  # a task that ran this long without failing restarts from MIN_BACKOFF_S


@dataclass
class TaskState:
    state: str = "starting"  # starting | running | backoff | done | stopped
    restarts: int = 0
    last_error: str | None = None
    last_error_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        at = None if self.last_error_at is None else time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.last_error_at))
        return {"state": self.state, "restarts": self.restarts,
                "last_error": self.last_error, "last_error_at": at}


class Supervisor:
    def __init__(self, restarts: Counter, *, min_backoff: float = MIN_BACKOFF_S,
                 max_backoff: float = MAX_BACKOFF_S) -> None:
        self._restarts = restarts
        self._min, self._max = min_backoff, max_backoff
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.states: dict[str, TaskState] = {}
        self._stopping = False

    def spawn(self, name: str, factory: TaskFactory, *, once: bool = False) -> None:
        """Run ``factory()`` under supervision as task ``name`` (unique within the node)."""
        if name in self._tasks and not self._tasks[name].done():
            raise ValueError(f"task {name!r} is already running; give the new task its own name")
        self.states[name] = TaskState()
        self._restarts.labels(task=name).inc(0)  # the series exists (at 0) before any failure
        self._tasks[name] = asyncio.create_task(self._supervise(name, factory, once), name=name)

    async def _supervise(self, name: str, factory: TaskFactory, once: bool) -> None:
        st = self.states[name]
        backoff = self._min
        while not self.stopping():
            st.state = "running"
            started = time.monotonic()
            try:
                await factory()
            except asyncio.CancelledError:
                st.state = "stopped"
                raise
            except Exception as e:
                self._failed(name, st, repr(e), exc=True)
            else:
                if once:
                    st.state = "done"
                    return
                if self.stopping():
                    break
                self._failed(name, st, "returned: a long-running task must not end", exc=False)
            if self.stopping():
                break
            if time.monotonic() - started > HEALTHY_AFTER_S:
                backoff = self._min
            st.state = "backoff"
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max)

    def _failed(self, name: str, st: TaskState, error: str, *, exc: bool) -> None:
        st.restarts += 1
        st.last_error, st.last_error_at = error, time.time()
        self._restarts.labels(task=name).inc()
        log.error("background task %s failed (%s); restarting it (restart %d)", name, error,
                  st.restarts, exc_info=exc, extra={"task": name})

    def status(self) -> dict[str, dict[str, Any]]:
        """Every task's state, restart count and last error (for ``/healthz``)."""
        return {name: st.to_dict() for name, st in sorted(self.states.items())}

    def failing(self) -> list[str]:
        """Tasks waiting to be restarted after a failure."""
        return [name for name, st in self.states.items() if st.state == "backoff"]

    async def cancel(self, name: str) -> None:
        """Stop one task (if it runs) and wait for it."""
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def stopping(self) -> bool:
        """True once ``stop`` began: a task that ends now is not restarted."""
        return self._stopping

    async def stop(self, *, rounds: int = STOP_ROUNDS) -> None:
        """Cancel every task and wait for each; never raises and never hangs (shutdown must
        go on).

        A cancellation can be lost: in Python 3.11, ``asyncio.wait_for`` (which nats-py's pull
        ``fetch`` uses) drops one that arrives as its inner wait completes, and the loop goes
        on. So a task still running after a second is cancelled again, for ``rounds`` seconds
        at most; one that survives all of them is named in the log and left behind.
        """
        self._stopping = True
        pending = {t for t in self._tasks.values() if not t.done()}
        for _ in range(rounds):
            if not pending:
                break
            for t in pending:
                t.cancel()
            _, pending = await asyncio.wait(pending, timeout=1.0)
        if pending:
            log.error("tasks %s did not stop after %d cancellations; shutting down without them",
                      sorted(t.get_name() for t in pending), rounds)
        for t in self._tasks.values():
            if t.done() and not t.cancelled():
                t.exception()  # retrieved: no "exception was never retrieved" at exit
        self._tasks.clear()
