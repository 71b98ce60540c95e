"""Wire a node together and run it.

    app = init_app(NodeConfig.load(Path("gb/node.toml")))
    web.run_app(app, host=..., port=...)

The store, the keys and the roster are opened in a ``cleanup_ctx`` together with the NATS bus,
so that a failing start-up closes what it opened, and SIGTERM drains NATS before the store closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from node.bus import roster_sync
from node.bus.trace import Tracer
from node.bus.transport import Bus
from node.core.config import NodeConfig
from node.core.playbook_files import load_playbooks, load_tripwires
from node.http import (
    api,
    api_evaluations,
    api_links,
    api_log,
    api_models,
    api_provider_filings,
    api_runs,
    api_stats,
    api_steps,
    api_training,
    api_webhooks,
    audit_trail,
    observe,
    taxii,
)
from node.http.appkeys import BUS, LOG, NODE, TIMERS, WEBHOOKS
from node.http.middleware import auth_middleware, error_middleware
from node.notify.webhooks import WebhookDispatcher
from node.pipeline import deadlines, statistics
from node.pipeline.context import NodeContext
from node.pipeline.timers import RunTimers
from node.pipeline.translog import TransparencyLog, checkpoint_loop
from node.store import search
from node.web import console as web_console
from node.web import dashboard, openapi

log = logging.getLogger("beacon.app")


def init_app(config: NodeConfig) -> web.Application:
    # The audit trail is outermost: it records the status the client got (see audit_trail).
    app = web.Application(middlewares=[audit_trail.audit_middleware, error_middleware,
                                       auth_middleware],
                          client_max_size=1024 * 1024)
    ctx = NodeContext.open(config)
    roster_sync.load_chain(ctx)
    app[NODE] = ctx
    app[BUS] = Bus(ctx)
    app[LOG] = TransparencyLog(ctx)
    app[TIMERS] = RunTimers(ctx)
    app[WEBHOOKS] = WebhookDispatcher(ctx)
    ctx.playbooks = load_playbooks(config.playbooks_dir) if config.playbooks_dir \
        else load_playbooks()
    if config.playbooks_dir:
        ctx.tripwires = load_tripwires(config.playbooks_dir)
    app.cleanup_ctx.append(_lifecycle)
    app.add_routes(api.routes)
    app.add_routes(api_log.routes)
    app.add_routes(api_runs.routes)
    app.add_routes(api_steps.routes)
    app.add_routes(audit_trail.routes)
    app.add_routes(observe.routes)
    app.add_routes(openapi.routes)
    app.add_routes(api_stats.routes)
    app.add_routes(api_links.routes)
    app.add_routes(api_models.routes)
    app.add_routes(api_evaluations.routes)
    app.add_routes(api_training.routes)
    app.add_routes(api_provider_filings.routes)
    app.add_routes(api_webhooks.routes)
    app.add_routes(dashboard.routes)
    taxii.setup(app)  # TAXII 2.1 at /taxii2/
    web_console.setup(app)  # pages, sessions, /console assets, /api/v1/events
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    ctx, bus = app[NODE], app[BUS]
    timers, sup = app[TIMERS], ctx.supervisor
    # Undone in reverse order, each step however the one before it ended: the loops stop, then
    # the scheduler, then NATS closes, then the store — always, even if a loop had failed.
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(ctx.close)
        stack.push_async_callback(bus.stop)
        stack.callback(timers.stop)
        stack.push_async_callback(sup.stop)
        ctx.timer_sync = timers.sync
        timers.start()  # re-arms every running run's timer from the store, overdue ones at once
        await bus.start()
        sup.spawn("checkpoints", lambda: checkpoint_loop(ctx, app[LOG]))
        sup.spawn("webhooks", app[WEBHOOKS].run)
        sup.spawn("deadlines", lambda: deadline_loop(ctx))
        sup.spawn("search-index", lambda: search_index_loop(ctx, quiet=lambda: bus.consumer_quiet))
        sup.spawn("statistics", lambda: statistics.statistics_loop(ctx))
        if ctx.config.role == "international-body":
            sup.spawn("stats-snapshots", lambda: api_stats.snapshot_loop(ctx))
        log.info("node %s (%s) up; roster v%d", ctx.node_id, ctx.config.role,
                 ctx.roster.version)
        yield


async def deadline_loop(ctx: NodeContext, every_s: float = 5.0) -> None:
    """Turn regulatory deadlines overdue as their time comes (once each: the store says which)."""
    while True:
        deadlines.sweep(ctx)  # one small UPDATE; on the loop, as every other store write
        await asyncio.sleep(every_s)


async def search_index_loop(ctx: NodeContext, batch: int = 16, idle_s: float = 1.0,
                            quiet: Callable[[], asyncio.Event | None] = lambda: None,
                            defer_s: float = 0.25, backlog_batch: int = 64) -> None:
    """Keep the incident search index up with the store, off the storing transaction.

    Small batches, the event loop free between them: a burst of reports is indexed behind the
    ingest instead of inside it, and a search meanwhile scans only the rows above the watermark
    (node/store/search.py), so nothing stored is ever missing from it. Below a full batch it
    waits ``idle_s`` first, so a trickle of reports costs one index transaction a second, not
    one per stored batch. The index is derived (rebuilt from ``incidents`` if a power cut undoes
    a commit): its commits skip the fsync.

    A steady stream: each slice of ``batch`` rows (≈2–4 ms) waits until the consumer holds no
    batch (``quiet()``, the bus's ``consumer_quiet``), since a slice run while a batch is being
    checked or stored delays that batch by the slice (docs/performance.md, "Latency at 200/s").
    A backlog (the consumer not quiet within ``defer_s``: a catch-up): slices of
    ``backlog_batch`` rows between the consumer's batches, without waiting, as before, so that
    the index keeps up with the drain, until the consumer is quiet again.
    """
    tracer = Tracer.from_env(ctx.node_id)
    behind = False  # the consumer was busy for defer_s: a backlog, do not wait for it
    while True:
        if search.pending(ctx.store):
            gap = quiet()
            if gap is not None and not gap.is_set() and not behind:
                try:
                    await asyncio.wait_for(gap.wait(), timeout=defer_s)
                except TimeoutError:
                    behind = True
            elif gap is None or gap.is_set():
                behind = False
            size = backlog_batch if behind else batch
            t0 = time.perf_counter()
            with ctx.store.transaction(durable=False) as tx:
                done = search.index_pending(tx, size)
            if tracer is not None:
                tracer.write("index", at=time.time(), rows=done,
                             ms=round(1000 * (time.perf_counter() - t0), 2))
            await asyncio.sleep(0 if done >= size else idle_s)
        else:
            behind = False
            await asyncio.sleep(idle_s)


def run(config: NodeConfig) -> None:
    """Serve until SIGINT/SIGTERM (aiohttp's run_app handles both and runs the cleanup)."""
    web.run_app(init_app(config), host=config.http_host, port=config.http_port,
                print=None, shutdown_timeout=5.0, handle_signals=True,
                loop=asyncio.new_event_loop())
