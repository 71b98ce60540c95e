"""Wake-ups for playbook deadlines: APScheduler follows the store, never the other way round.

    timers = RunTimers(ctx); timers.start()      # re-arms every running run's timer
    ctx.timer_sync = timers.sync                  # after each commit, follow changed runs

The database holds every deadline and token: the run document keeps each waiting step's
deadline (several at once in parallel branches) and ``runs.timer_at`` the earliest of them. One
job per run, id ``run:<id>:next`` (``PlaybookRun.wake_job_id``), wakes the run at
``runs.timer_at``; ``federation.runs.on_deadline`` then fires every step that is due. Jobs are
added with ``replace_existing=True``, ``misfire_grace_time=None`` (run however late: a node that
was down past a deadline fires it on start-up) and ``coalesce=True``. A job carries the run's
token; ``node.pipeline.flow.on_deadline`` treats an older token as stale, so a duplicate or late
firing
is a recorded no-op and a deadline fires exactly once.

A firing that fails (a transient ``database is locked``) is retried with backoff under the job id
``run:<id>:retry`` — never left for the next restart, which would silently skip an escalation
tier. Until it succeeds the clock is *late*: ``ctx.late_clocks``, ``beacon_clocks_late``,
``beacon_deadline_retries_total``, ``/healthz`` ``late_clocks`` and an error in the log.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from federation.run_model import wake_job_for
from federation.timeutil import format_time, parse_time
from node.pipeline import flow
from node.pipeline.context import NodeContext

log = logging.getLogger("beacon.timers")
RETRY_MIN_S = 0.5  # a failed firing is retried after 0.5 s, 1 s, 2 s … at most every minute
RETRY_MAX_S = 60.0


class RunTimers:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.scheduler = AsyncIOScheduler(timezone="UTC", job_defaults={
            "misfire_grace_time": None, "coalesce": True, "max_instances": 1})
        self._jobs: dict[str, str] = {}  # run id -> job id armed for it

    def start(self) -> None:
        self.scheduler.start()
        rows = self.ctx.store.query("SELECT id FROM runs WHERE state = 'running'")
        self.sync({r["id"] for r in rows})
        log.info("reconciled timers of %d running runs", len(rows))

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def sync(self, run_ids: set[str]) -> None:
        """Make the scheduler hold exactly the timer each of ``run_ids`` has in the store."""
        for run_id in run_ids:
            # The columns are enough: parsing the run's document here, after every commit that
            # started a run, was an eighth of a draining node's CPU (docs/performance.md).
            rows = self.ctx.store.query("SELECT state, token, timer_at FROM runs WHERE id = ?",
                                        (run_id,))
            wanted = None
            if rows and rows[0]["state"] == "running" and rows[0]["timer_at"]:
                wanted = (wake_job_for(run_id), parse_time(rows[0]["timer_at"]),
                          int(rows[0]["token"]))
            old = self._jobs.pop(run_id, None)
            if old and (wanted is None or old != wanted[0]) and self.scheduler.get_job(old):
                self.scheduler.remove_job(old)
            if wanted is None:
                continue
            job_id, at, token = wanted
            self.scheduler.add_job(self._fire, "date", run_date=at, id=job_id,
                                   args=(run_id, token), replace_existing=True)
            self._jobs[run_id] = job_id

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
