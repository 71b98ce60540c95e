"""Wake-ups for playbook deadlines: APScheduler follows the store, never the other way round.

    timers = RunTimers(ctx); timers.start()      # re-arms every running run's timer
    ctx.timer_sync = timers.sync                  # after each commit, follow changed runs

The database holds every deadline and token: the run document keeps each waiting step's
deadline (several at once in parallel branches) and ``runs.timer_at`` the earliest of them. One
job per run, id ``run:<id>:next`` (``PlaybookRun.wake_job_id``), wakes the run at
``runs.timer_at``; ``federation.runs.on_deadline`` then fires every step that is due. Jobs are
added with ``replace_existing=True``, ``misfire_grace_time=None`` (run however late: a node that
was down past a deadline fires it on start-up) and ``coalesce=True``. A job carries the run's
token; ``node.flow.on_deadline`` treats an older token as stale, so a duplicate or late firing
is a recorded no-op and a deadline fires exactly once.
"""

from __future__ import annotations

import json
import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from federation.run_model import PlaybookRun
from federation.timeutil import parse_time
from node import flow
from node.context import NodeContext

log = logging.getLogger("beacon.timers")


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
            rows = self.ctx.store.query("SELECT state, token, timer_at, document FROM runs "
                                        "WHERE id = ?", (run_id,))
            wanted = None
            if rows and rows[0]["state"] == "running" and rows[0]["timer_at"]:
                run = PlaybookRun.from_dict(json.loads(rows[0]["document"]))
                wanted = (run.wake_job_id(), parse_time(rows[0]["timer_at"]),
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

    async def _fire(self, run_id: str, token: int) -> None:
        try:
            flow.on_deadline(self.ctx, run_id, token)
        except Exception:  # a failed firing must not kill the scheduler; the store is intact
            log.exception("deadline of run %s failed; it will be retried at start-up", run_id)
