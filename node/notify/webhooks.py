"""Delivering webhooks: a supervised background task that POSTs queued deliveries, signed.

    dispatcher = WebhookDispatcher(ctx)          # app.py does this
    task = asyncio.create_task(dispatcher.run())  # ... and cancels it on shutdown

Each round (woken by any commit, by a due retry, or by a step entering its warning window)
first queues new events (``webhook_store.collect``), then starts one task per due delivery, up
to ``CONCURRENCY`` at a time, each with its own ``REQUEST_TIMEOUT``: a dead or slow endpoint
holds one slot for at most that long and never delays the others. A 2xx answer is delivered;
anything else (an error status, a refused connection, a timeout, a redirect) is retried after
``federation.webhooks.retry_delay`` until ``MAX_ATTEMPTS``, then marked failed. Outcomes are
counted in ``/metrics`` and kept per delivery (``GET /api/v1/webhooks/{id}/deliveries``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

import aiohttp

from federation.timeutil import parse_time
from federation.webhooks import (
    MAX_ATTEMPTS,
    SIGNATURE_HEADER,
    gives_up,
    retry_delay,
    signature,
)
from node.notify import mail
from node.pipeline import webhook_store as ws
from node.pipeline.context import LiveEvent, NodeContext

log = logging.getLogger("beacon.webhooks")

CONCURRENCY = 16
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=10)
WARN_FRACTION = 0.25  # "approaching": the last quarter of a step's time to its deadline
IDLE_SECONDS = 5.0    # the longest sleep between rounds with nothing due
ROUND_GAP = 0.05      # the shortest pause between rounds
RESTART_SECONDS = (0.5, 30.0)  # supervision: first and longest pause after a failed round


class WebhookDispatcher:
    """Queues and delivers webhook notifications; ``state`` is shown in ``/healthz``."""

    def __init__(self, ctx: NodeContext, *, warn_fraction: float = WARN_FRACTION) -> None:
        self.ctx = ctx
        self.warn_fraction = warn_fraction
        self.state = "stopped"
        self.in_flight: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        ctx.commit_listeners.append(self.on_commit)

    def on_commit(self, events: list[LiveEvent]) -> None:
        """Something was committed: look for new events now (from any thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Deliver until cancelled; a failed round is logged, counted and retried with backoff."""
        self._loop = asyncio.get_running_loop()
        pause = RESTART_SECONDS[0]
        async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session:
            try:
                while True:
                    self.state = "running"
                    try:
                        await self._round(session)
                        pause = RESTART_SECONDS[0]
                    except Exception:
                        self.state = "restarting"
                        self.ctx.metrics.webhook_round_errors.inc()
                        log.exception("webhook round failed; retrying in %.1f s", pause)
                        await asyncio.sleep(pause)
                        pause = min(pause * 2, RESTART_SECONDS[1])
            finally:
                self.state = "stopped"
                for t in list(self.in_flight.values()):
                    t.cancel()
                for t in list(self.in_flight.values()):
                    with contextlib.suppress(asyncio.CancelledError):
                        await t

    async def _round(self, session: aiohttp.ClientSession) -> None:
        self._wake.clear()
        ctx = self.ctx
        queued = 0
        if ws.has_webhooks(ctx.store):  # else no write transaction between inbound batches
            with ctx.transaction() as tx:
                queued = ws.collect(ctx, tx, warn_fraction=self.warn_fraction)
        if queued:
            log.info("queued %d webhook deliveries", queued)
        free = CONCURRENCY - len(self.in_flight)
        for d in ws.due_deliveries(ctx.store, now=ctx.stamp(), exclude=set(self.in_flight),
                                   limit=max(free, 0)):
            self.in_flight[d.seq] = asyncio.create_task(self._deliver(session, d),
                                                        name=f"webhook-{d.seq}")
        # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that
        # arrives as the event is set (a commit wakes us often), and shutdown would wait forever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._sleep_seconds()):
                await self._wake.wait()
        await asyncio.sleep(ROUND_GAP)  # a burst of commits (an import) makes one round

    def _sleep_seconds(self) -> float:
        """Until the next retry or warning is due, at most ``IDLE_SECONDS``."""
        store, now = self.ctx.store, self.ctx.now()
        if not ws.has_webhooks(store):
            return IDLE_SECONDS
        times: list[datetime] = []
        due = ws.next_due(store, exclude=set(self.in_flight))
        if due is not None and len(self.in_flight) < CONCURRENCY:
            times.append(parse_time(due))
        if (warn := ws.next_warning(store, now, self.warn_fraction)) is not None:
            times.append(warn)
        wait = min((t - now for t in times), default=timedelta(seconds=IDLE_SECONDS))
        return min(max(wait.total_seconds(), 0.0), IDLE_SECONDS)

    async def _deliver(self, session: aiohttp.ClientSession, d: ws.Due) -> None:
        seq, body = d.seq, d.body
        code: int | None = None
        error: str | None = None
        sig = signature(d.secret.encode(), body)
        try:
            if d.url.startswith("mailto:"):
                await asyncio.to_thread(mail.send, self.ctx.config, d.url[7:], body, sig)
                code = 250  # SMTP: accepted for delivery
            else:
                code = await self._post(session, d.url, body, sig)
                error = None if 200 <= code < 300 else f"HTTP {code}"
        except Exception as e:  # any failure of one attempt is that delivery's, never ours
            if not isinstance(e, aiohttp.ClientError | TimeoutError | OSError | mail.MailError):
                log.exception("webhook delivery %d: unexpected error", seq)
            error = f"{type(e).__name__}: {e}"[:500]
        finally:
            self.in_flight.pop(seq, None)
            self._wake.set()
        try:
            self._record(d, code, error)
        except Exception:  # the row stays pending and is attempted again next round
            self.ctx.metrics.webhook_round_errors.inc()
            log.exception("could not record the outcome of webhook delivery %d", seq)

    async def _post(self, session: aiohttp.ClientSession, url: str, body: bytes,
                    sig: str) -> int:
        async with session.post(url, data=body, allow_redirects=False,
                                headers={"Content-Type": "application/json",
                                         SIGNATURE_HEADER: sig,
                                         "User-Agent": f"Beacon-Webhook/1 ({self.ctx.node_id})"}
                                ) as r:
            await r.read()
            return r.status

    def _record(self, d: ws.Due, code: int | None, error: str | None) -> None:
        ctx, m = self.ctx, self.ctx.metrics
        seq, attempts = d.seq, d.attempts + 1
        now = ctx.now()
        if error is None:
            status, next_at = "delivered", now
            m.webhook_deliveries.labels(outcome="delivered").inc()
        else:
            m.webhook_attempt_errors.inc()
            status = "failed" if gives_up(attempts) else "pending"
            next_at = now + retry_delay(attempts, time_scale=ctx.config.time_scale)
            if status == "failed":
                m.webhook_deliveries.labels(outcome="failed").inc()
                log.warning("webhook delivery %d failed after %d attempts: %s", seq,
                            MAX_ATTEMPTS, error)
        with ctx.transaction() as tx:
            ws.record_attempt(tx, seq, at=ws.stamp(now), status=status, attempts=attempts,
                              next_at=ws.stamp(next_at), code=code, error=error)
            if status != "pending":  # the console's webhook list shows the outcome live
                ctx.emit("webhook", {"id": d.webhook_id, "status": status})
