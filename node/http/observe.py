"""Observability endpoints: ``GET /healthz`` and ``GET /metrics`` (Prometheus), no auth.

    app.add_routes(routes)
    curl -s http://127.0.0.1:8401/healthz   # {"status": "ok", "nats": "connected", ...}

Counters and histograms (messages in, out, quarantined by reason; verification and end-to-end
latency) are updated where things happen (``node.bus.transport``, ``node.pipeline.ingest``). The
gauges that
describe state — outbox depth, consumer lag, open runs, overdue and missed clocks, overdue
escalations, scheduler — are refreshed here, at scrape time, from cheap reads of the store and
one JetStream consumer-info request (which the node's NATS user is allowed: its own consumer's
``INFO`` only). A scrape never fails because NATS is away: the lag is then NaN.

``/healthz`` answers 200 while the node can serve (store readable, scheduler running) and 503
otherwise; ``status`` is ``degraded`` when anything is wrong, including a lost NATS connection
(the node still accepts reports into its outbox then), a background task waiting to be
restarted (``tasks``: each task's state, restarts and last error) or a late deadline
(``late_clocks``: firings that failed and are being retried).
"""

from __future__ import annotations

import logging
import math
import weakref
from collections import Counter
from typing import Any

import nats.errors
from aiohttp import web
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from federation.subjects import STREAM
from federation.timeutil import format_time
from node.http.appkeys import BUS, NODE, TIMERS, WEBHOOKS
from node.pipeline import webhook_store
from node.pipeline.context import NodeContext
from node.store import records, runs
from node.store.db import Store

log = logging.getLogger("beacon.observe")

routes = web.RouteTableDef()
LAG_TIMEOUT_S = 1.0
# /healthz's two counts, kept until the store's change mark moves (``Store.changes``): a poller
# asking hundreds of times a second (bench/latency.py) reads them once per commit, not per call.
_counts: weakref.WeakKeyDictionary[Store, tuple[tuple[int, int], int, int]] = \
    weakref.WeakKeyDictionary()


def store_counts(store: Store) -> tuple[int, int]:
    """(unsent outbox messages, stored incidents), as committed now."""
    mark = store.changes()
    kept = _counts.get(store)
    if kept is not None and kept[0] == mark:
        return kept[1], kept[2]
    outbox, incidents = records.outbox_depth(store), records.count_incidents(store)
    _counts[store] = (mark, outbox, incidents)
    return outbox, incidents


def scheduler_state(app: web.Application) -> str:
    """``running``, ``paused``, ``stopped``, or ``absent`` if the app has no timers."""
    timers = app.get(TIMERS)
    if timers is None:
        return "absent"
    state = timers.scheduler.state
    return "running" if state == STATE_RUNNING else "paused" if state == STATE_PAUSED \
        else "stopped"


async def consumer_lag(app: web.Application) -> tuple[int, int] | None:
    """(pending, ack pending) of this node's durable consumer, or None if NATS cannot say."""
    ctx, bus = app[NODE], app[BUS]
    if bus.js is None or ctx.nats_state != "connected":
        return None
    try:
        info = await bus.js.consumer_info(STREAM, ctx.config.durable_name, timeout=LAG_TIMEOUT_S)
    except (TimeoutError, nats.errors.Error) as e:
        log.debug("consumer info unavailable: %s", e)
        return None
    return int(info.num_pending or 0), int(info.num_ack_pending or 0)


def refresh_store_gauges(ctx: NodeContext) -> None:
    """Outbox depth, open runs, overdue and missed clocks, overdue escalations."""
    m = ctx.metrics
    now_text = format_time(ctx.now())  # whole seconds, as deadlines: passed once <= floor(now)
    m.outbox_depth.set(records.outbox_depth(ctx.store))
    m.overdue_escalations.set(runs.count_open_escalations(ctx.store, due_by=now_text))
    now = ctx.now()
    open_runs = overdue = 0
    missed: Counter[str] = Counter()
    for run in runs.running_runs(ctx.store):
        open_runs += 1
        nxt = run.next_timer_at
        if nxt is not None and nxt < now:
            overdue += 1
        actions = {s.id: s.action for s in run.playbook.steps}
        missed.update(actions.get(h.step, "unknown") for h in run.history
                      if h.event == "deadline-missed")
    m.open_runs.set(open_runs)
    m.overdue_clocks.set(overdue)
    m.missed_clocks.clear()
    for action, n in missed.items():
        m.missed_clocks.labels(action=action).set(n)
    queue = webhook_store.delivery_counts(ctx.store)
    for status in ("pending", "delivered", "failed"):
        m.webhook_queue.labels(status=status).set(queue.get(status, 0))


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    refresh_store_gauges(ctx)
    lag = await consumer_lag(request.app)
    ctx.metrics.consumer_lag.set(math.nan if lag is None else lag[0])
    ctx.metrics.consumer_ack_pending.set(math.nan if lag is None else lag[1])
    ctx.metrics.scheduler_running.set(1 if scheduler_state(request.app) == "running" else 0)
    return web.Response(body=generate_latest(ctx.metrics.registry),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    body: dict[str, Any] = {"node": ctx.node_id, "role": ctx.config.role, "nats": ctx.nats_state,
                            "roster_version": ctx.roster.version}
    try:
        outbox, incidents = store_counts(ctx.store)
        body.update(outbox_depth=outbox, incidents=incidents, store="ok")
    except Exception:  # report, don't raise: health must answer even when the store is sick
        log.exception("store health check failed")
        body.update(outbox_depth=-1, incidents=None, store="error")
    body["scheduler"] = scheduler_state(request.app)
    body["tasks"] = ctx.supervisor.status()
    body["late_clocks"] = list(ctx.late_clocks.values())
    if WEBHOOKS in request.app:
        body["webhooks"] = request.app[WEBHOOKS].state
    serving = body["store"] == "ok" and body["scheduler"] == "running"
    sound = ctx.nats_state == "connected" and not ctx.late_clocks \
        and not ctx.supervisor.failing()
    body["status"] = "ok" if serving and sound else "degraded"
    return web.json_response(body, status=200 if serving else 503)
