"""Wake-ups for playbook deadlines: the scheduler follows the store, never the other way round.

    timers = RunTimers(ctx); timers.start()      # re-arms every running run's timer
    ctx.timer_sync = timers.sync                  # after each commit, follow changed runs

The database holds every deadline and token: the run document keeps each waiting step's
deadline (several at once in parallel branches) and ``runs.timer_at`` the earliest of them.
This module keeps, per running run, the ``(timer_at, token)`` it last read from the store, in a
heap ordered by time, and holds **one** APScheduler job (``runs:wake``) at the earliest of them;
``federation.runs.on_deadline`` then fires every step of a due run. (One APScheduler job per
run cost ~100 µs to add, after every commit that started a run: an eighth of a draining node's
CPU, docs/performance.md.) ``sync`` reads the timer columns of the changed runs in one query
and touches the heap and the job only when a run's time or token changed. The job is added with
``replace_existing=True``, ``misfire_grace_time=None`` (run however late: a node that was down
past a deadline fires it on start-up) and ``coalesce=True``. A firing carries the run's token;
``node.pipeline.flow.on_deadline`` treats an older token as stale, so a duplicate or late firing
is a recorded no-op and a deadline fires exactly once.

A firing that fails (a transient ``database is locked``) is retried with backoff under the job id
``run:<id>:retry`` — never left for the next restart, which would silently skip an escalation
tier. Until it succeeds the clock is *late*: ``ctx.late_clocks``, ``beacon_clocks_late``,
``beacon_deadline_retries_total``, ``/healthz`` ``late_clocks`` and an error in the log.
"""

from __future__ import annotations

import heapq
import logging
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from federation.timeutil import format_time, parse_time
from node.pipeline import flow
from node.pipeline.context import NodeContext
from node.store import runs as stored

log = logging.getLogger("beacon.timers")
RETRY_MIN_S = 0.5  # a failed firing is retried after 0.5 s, 1 s, 2 s … at most every minute
RETRY_MAX_S = 60.0
WAKE_JOB = "runs:wake"


class RunTimers:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.scheduler = AsyncIOScheduler(timezone="UTC", job_defaults={
            "misfire_grace_time": None, "coalesce": True, "max_instances": 1})
        self._armed: dict[str, tuple[datetime, int]] = {}  # run id -> (timer_at, token)
        # (at, run id, token); an entry is live while ``_armed`` holds the same (at, token).
        self._heap: list[tuple[datetime, str, int]] = []
        self._wake_at: datetime | None = None  # when the wake job is set for

    def start(self) -> None:
        self.scheduler.start()
        run_ids = stored.running_run_ids(self.ctx.store)
        self.sync(set(run_ids))
        log.info("reconciled timers of %d running runs", len(run_ids))

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def sync(self, run_ids: set[str]) -> None:
        """Make the timers follow exactly what each of ``run_ids`` has in the store."""
        if not run_ids:
            return
        found = {r.id: r for r in stored.run_timers(self.ctx.store, run_ids)}
        for run_id in run_ids:
            r = found.get(run_id)
            wanted = ((parse_time(r.timer_at), r.token)
                      if r is not None and r.state == "running" and r.timer_at else None)
            if self._armed.get(run_id) == wanted:
                continue
            if wanted is None:
                self._armed.pop(run_id, None)  # its heap entry is dropped when it comes up
                continue
            self._armed[run_id] = wanted
            heapq.heappush(self._heap, (wanted[0], run_id, wanted[1]))
        self._rearm()

    def _rearm(self) -> None:
        """Keep the one wake job at the earliest live timer (or none)."""
        heap = self._heap
        while heap and self._armed.get(heap[0][1]) != (heap[0][0], heap[0][2]):
            heapq.heappop(heap)  # superseded or gone
        at = heap[0][0] if heap else None
        if at == self._wake_at:
            return
        if at is None:
            if self.scheduler.get_job(WAKE_JOB):
                self.scheduler.remove_job(WAKE_JOB)
        else:
            self.scheduler.add_job(self._wake, "date", run_date=at, id=WAKE_JOB,
                                   replace_existing=True)
        self._wake_at = at

    async def _wake(self) -> None:
        """Fire every run whose timer is due, earliest first, then re-arm for the next."""
        self._wake_at = None
        now = self.ctx.now()
        due: list[tuple[str, int]] = []
        while self._heap and self._heap[0][0] <= now:
            at, run_id, token = heapq.heappop(self._heap)
            if self._armed.get(run_id) == (at, token):
                del self._armed[run_id]  # the firing's commit syncs the run's next timer
                due.append((run_id, token))
        try:
            for run_id, token in due:
                await self._fire(run_id, token)
        finally:
            self._rearm()

    async def _fire(self, run_id: str, token: int, attempt: int = 0) -> None:
        try:
            outcome = flow.on_deadline(self.ctx, run_id, token)
        except Exception as e:  # e.g. "database is locked": the store is intact, try again
            self._retry(run_id, token, attempt + 1, e)
            return
        late = self.ctx.late_clocks.pop(run_id, None)
        self.ctx.metrics.late_clocks.set(len(self.ctx.late_clocks))
        if late is not None:
            log.warning("late deadline of run %s fired after %d retries (%s)", run_id,
                        late["attempts"], outcome, extra={"run_id": run_id})

    def _retry(self, run_id: str, token: int, attempt: int, error: Exception) -> None:
        """Fire again after a backoff (a deadline must not wait for the next restart), and
        raise the alarm: the run's clock is late until a firing succeeds."""
        delay = min(RETRY_MIN_S * 2 ** (attempt - 1), RETRY_MAX_S)
        now = self.ctx.now()
        previous = self.ctx.late_clocks.get(run_id)
        self.ctx.late_clocks[run_id] = {
            "run_id": run_id, "token": token, "attempts": attempt,
            "late_since": previous["late_since"] if previous else format_time(now),
            "last_error": repr(error), "next_attempt_at": format_time(
                now + timedelta(seconds=delay))}
        self.ctx.metrics.deadline_retries.inc()
        self.ctx.metrics.late_clocks.set(len(self.ctx.late_clocks))
        log.error("deadline of run %s failed (%r): the clock is late; retry %d in %.1fs",
                  run_id, error, attempt, delay, exc_info=error, extra={"run_id": run_id})
        self.scheduler.add_job(self._fire, "date", run_date=now + timedelta(seconds=delay),
                               id=f"run:{run_id}:retry", args=(run_id, token, attempt),
                               replace_existing=True)
