"""The node's NATS side: connection, outbox publisher, durable pull consumer, heartbeats.

    bus = Bus(ctx); await bus.start(); ...; await bus.stop()

Delivery guarantees, end to end:

* **Out.** ``flow.issue`` commits a message and its outbox row together. The
  publisher sends pending rows with ``Nats-Msg-Id`` = digest, waits for JetStream's PubAck and only
  then marks them sent. A crash between PubAck and the mark re-sends; JetStream's duplicate window
  drops the copy, and receivers are idempotent on the digest beyond it.
* **In.** A durable pull consumer fetches batches; each message is verified (signature before
  parsing), then the whole batch — accepted and quarantined alike — is committed in one
  transaction, and only then acknowledged. A crash before the commit means redelivery, not loss.
  (A batch of only this node's own messages coming back stores nothing: it is acknowledged
  without a transaction.) A steady stream is coalesced into batches of several (``COALESCE_S``).
* **Outages.** The client reconnects forever; a node started while NATS is down keeps trying, and
  its API keeps accepting reports into the outbox meanwhile.
* **Failures.** The connect step, the publisher, the consumer, the heartbeat and the roster
  follower each run under ``ctx.supervisor``: one that raises (a store error, a malformed roster
  value) is logged, counted, shown in ``/healthz`` and restarted; the others go on.
* **Heartbeats** (core NATS, unsigned) are checked and bounded by ``federation.heartbeat``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from federation.heartbeat import BadHeartbeat, build_heartbeat, check_heartbeat, heartbeat_subject
from federation.subjects import HEARTBEAT, PREFIX, STREAM, parse_subject
from federation.timeutil import parse_time
from node.bus import roster_sync
from node.bus.checkers import BatchChecker
from node.bus.stream_setup import consumer_config
from node.bus.trace import Tracer
from node.pipeline.context import NodeContext
from node.pipeline.flow import Accepted
from node.pipeline.ingest import Refused, ingest_batch
from node.store import records

log = logging.getLogger("beacon.bus")

FETCH_BATCH = 256
PUBLISH_BATCH = 256
HEARTBEAT_SECONDS = 2.0
PREFETCH_TIMEOUT = 0.2  # after a full batch, how long the next fetch may wait (a backlog: no wait)
# Reports arriving steadily (a fetch found some already waiting, but not a full batch): wait this
# long before the next fetch so that it takes several at once. Each batch costs a commit with its
# fsync, a fetch and the timers' and listeners' turn whatever its size, so at 200/s batches of one
# cost three times the CPU per report of batches of a few; a trickle (the fetch had to wait) and a
# backlog (full batches) never wait here.
COALESCE_S = 0.010
QUICK_FETCH_S = 0.005  # a fetch that returned within this found reports already waiting


class Bus:
    # Set while the consumer holds no batch (it waits in a fetch or a coalescing pause); clear
    # from a fetch returning messages until they are acknowledged. Background work that can wait
    # (the search indexer, ``node.app``) runs its slices in these gaps, so that a report is not
    # held behind it: on the event loop directly, or in the checker threads, which then wait for
    # the GIL the loop holds (docs/performance.md, "Latency at 200/s").
    consumer_quiet: asyncio.Event | None = None

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.peers: dict[str, dict[str, Any]] = {}
        self._heartbeat_sub: Subscription | None = None
        self._stopping = asyncio.Event()
        self._connected = asyncio.Event()
        # Where a fetched batch is checked: the loop, threads or worker processes (the node's
        # ``check_batches`` setting; node/bus/checkers.py). Checking is pure (no store access).
        self._checkers = BatchChecker(ctx, ctx.config.check_batches)

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect in the background, then run the loops, each under ``ctx.supervisor``."""
        self.ctx.supervisor.spawn("nats-connect", self._connect_and_spawn, once=True)

    async def stop(self) -> None:
        """Close NATS whatever state the loops are in (the caller stops the supervisor first)."""
        self._stopping.set()
        if self.nc is not None and not self.nc.is_closed:
            # Everything that matters is committed (outbox rows, stored batches); an ack lost
            # here only means a redelivery, which the digest makes harmless. So close, with a
            # flush, rather than a drain that can hang a shutdown on an open pull request.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.flush(), timeout=1.0)
            with contextlib.suppress(Exception):
                await self.nc.close()
        # Waits for the worker processes, if any, to exit: none outlives the node.
        await asyncio.to_thread(self._checkers.shutdown)

    async def _connect_and_spawn(self) -> None:
        if self.nc is None:
            await self._connect()
        if self.nc is None or self.js is None:
            return  # stopping
        if self._heartbeat_sub is None:
            self._heartbeat_sub = await self.nc.subscribe(f"{PREFIX}.{HEARTBEAT}.*",
                                                          cb=self._on_heartbeat)
        js, sup = self.js, self.ctx.supervisor
        sup.spawn("outbox-publisher", self._publisher)
        sup.spawn("consumer", self._consumer)
        sup.spawn("heartbeat", self._heartbeat)
        sup.spawn("roster-follow", lambda: roster_sync.follow(self.ctx, js))

    async def _connect(self) -> None:
        cfg = self.ctx.config
        delay = 0.2
        while not self._stopping.is_set():
            try:
                self.nc = await nats.connect(
                    servers=cfg.nats_servers, name=f"beacon-{cfg.node_id}",
                    nkeys_seed=str(cfg.nkey_seed_file) if cfg.nkey_seed_file else None,
                    inbox_prefix=cfg.inbox_prefix, connect_timeout=2, drain_timeout=2,
                    allow_reconnect=True, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                    error_cb=self._on_error, disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected, closed_cb=self._on_closed)
            except (TimeoutError, OSError, nats.errors.Error) as e:
                log.warning("NATS at %s not reachable (%s); retrying in %.1fs",
                            cfg.nats_url, type(e).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.js = self.nc.jetstream()
            self._set_state("connected")
            return

    def _set_state(self, state: str) -> None:
        self.ctx.nats_state = state
        self.ctx.metrics.nats_connected.set(1 if state == "connected" else 0)
        if state == "connected":
            self._connected.set()
            self.ctx.outbox_wakeup.set()
        else:
            self._connected.clear()

    async def _on_error(self, e: Exception) -> None:
        log.warning("NATS error: %s", e)

    async def _on_disconnected(self) -> None:
        log.warning("disconnected from NATS; reports are kept in the outbox")
        self._set_state("disconnected")

    async def _on_reconnected(self) -> None:
        log.info("reconnected to NATS")
        self._set_state("connected")

    async def _on_closed(self) -> None:
        self._set_state("closed")

    # -- outbox ------------------------------------------------------------------------------
    async def _publisher(self) -> None:
        backoff = 0.2
        while True:
            if not await self._publish_pending():
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.2
            self.ctx.metrics.outbox_depth.set(records.outbox_depth(self.ctx.store))
            if records.pending_outbox(self.ctx.store, 1):
                continue
            self.ctx.outbox_wakeup.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.ctx.outbox_wakeup.wait(), timeout=1.0)

    async def _publish_pending(self) -> bool:
        """Publish one batch of the outbox; False if anything failed (the caller backs off)."""
        rows = records.pending_outbox(self.ctx.store, PUBLISH_BATCH)
        if not rows:
            return True
        if self.js is None or not self._connected.is_set():
            return False
        js = self.js
        results = await asyncio.gather(
            *(js.publish(r["subject"], r["data"], timeout=5.0,
                         headers={"Nats-Msg-Id": r["digest"]}) for r in rows),
            return_exceptions=True)
        sent = [r["seq"] for r, res in zip(rows, results, strict=True)
                if not isinstance(res, BaseException)]
        failed = [(r["seq"], res) for r, res in zip(rows, results, strict=True)
                  if isinstance(res, BaseException)]
        with self.ctx.store.transaction() as tx:
            records.mark_sent(tx, sent, self.ctx.stamp())
            if failed:
                records.mark_failed(tx, [s for s, _ in failed], repr(failed[0][1]))
        for r in rows:
            if r["seq"] in sent:
                self.ctx.metrics.messages_out.labels(type=parse_subject(r["subject"]).message_type).inc()
        if failed:
            log.warning("%d of %d outbox messages not yet published (%s); will retry",
                        len(failed), len(rows), type(failed[0][1]).__name__)
        return not failed

    # -- inbound -----------------------------------------------------------------------------
    async def _consumer(self) -> None:
        cfg = self.ctx.config
        psub = None
        while psub is None:
            assert self.js is not None  # noqa: S101 - _connect returned
            try:
                psub = await self.js.pull_subscribe(
                    f"{PREFIX}.>", durable=cfg.durable_name, stream=STREAM,
                    config=consumer_config(cfg.durable_name))
            except (TimeoutError, nats.errors.Error) as e:
                log.warning("cannot bind consumer %s yet (%s); retrying", cfg.durable_name, e)
                await asyncio.sleep(1.0)
        try:
            await self._fetch_forever(psub)
        finally:  # a restart subscribes again: do not leave this one behind
            with contextlib.suppress(Exception):
                await psub.unsubscribe()

    async def _fetch_forever(self, psub: JetStreamContext.PullSubscription) -> None:
        # While a batch is stored (on the event loop), the next one is already being checked
        # when ``check_batches`` puts checking off the loop (threads or processes,
        # node/bus/checkers.py): a node catching up keeps both cores busy. Only after a full
        # batch (a backlog): otherwise the next fetch would wait for new messages before this
        # batch is stored, and delay it. With ``loop`` (the default) the check runs first.
        checking: asyncio.Future[list[Accepted | Refused | None]] | None = None
        msgs: list[Msg] = []
        steady = False  # the last fetch found reports waiting, fewer than a full batch
        tracer = Tracer.from_env(self.ctx.node_id)
        quiet = self.consumer_quiet = self.consumer_quiet or asyncio.Event()
        watching = asyncio.ensure_future(tracer.watch_loop()) if tracer is not None else None
        asked = fetched = 0.0
        try:
            while True:
                if checking is None:
                    quiet.set()
                    if steady:
                        await asyncio.sleep(COALESCE_S)
                    t0 = time.monotonic()
                    asked = time.time()
                    msgs = await self._fetch(psub, wait_s=1.0)
                    fetched = time.time()
                    quiet.clear()
                    steady = 0 < len(msgs) < FETCH_BATCH \
                        and time.monotonic() - t0 < QUICK_FETCH_S
                    if not msgs:
                        continue
                    checking = self._check_all(msgs)
                checked = await checking
                checking, batch = None, msgs
                checked_at, batch_asked, batch_fetched = time.time(), asked, fetched
                if len(batch) == FETCH_BATCH:
                    asked = time.time()
                    msgs = await self._fetch(psub, wait_s=PREFETCH_TIMEOUT)
                    fetched = time.time()
                    if msgs:
                        checking = self._check_all(msgs)
                committed = await self._store_batch(batch, checked)
                if tracer is not None:
                    tracer.write("batch", n=len(batch), asked=batch_asked, fetched=batch_fetched,
                                 checked=checked_at, committed=committed, acked=time.time(),
                                 first=batch[0].metadata.sequence.stream,
                                 last=batch[-1].metadata.sequence.stream)
        finally:  # a restart or shutdown: the prefetched batch is redelivered, not stored
            if checking is not None:
                checking.cancel()
            if watching is not None:
                watching.cancel()
            quiet.set()  # nothing in hand: whatever waits for the consumer need not

    async def _fetch(self, psub: JetStreamContext.PullSubscription, *,
                     wait_s: float) -> list[Msg]:
        try:
            return await psub.fetch(batch=FETCH_BATCH, timeout=wait_s)
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        except nats.errors.Error as e:
            log.warning("fetch failed (%s); retrying", type(e).__name__)
            await asyncio.sleep(0.5)
            return []

    async def _store_batch(self, msgs: list[Msg],
                           checked: list[Accepted | Refused | None]) -> float:
        """Commit the batch, then acknowledge it; return when it was committed (``time.time``,
        for the trace), or 0.0 when it could not be and is left for redelivery."""
        ctx = self.ctx
        accepted: list[Accepted] = []
        refused: list[Refused] = []
        for item in checked:
            if isinstance(item, Accepted):
                accepted.append(item)
            elif isinstance(item, Refused):
                refused.append(item)
        try:
            if accepted or refused:  # else only our own messages came back: nothing to store
                ingest_batch(ctx, accepted, refused)
        except Exception:
            # Not acknowledged: JetStream redelivers after ack_wait. Nothing is lost.
            log.exception("could not commit a batch of %d messages; will be redelivered",
                          len(msgs))
            await asyncio.sleep(1.0)
            return 0.0
        now = time.time()
        for a in accepted:
            issued = parse_time(a.verified.document["issued_at"]).timestamp()
            ctx.metrics.end_to_end_seconds.observe(max(0.0, now - issued))
        for m in msgs:
            with contextlib.suppress(nats.errors.Error):
                await m.ack()
        return now

    def _check_all(self, msgs: list[Msg]) -> asyncio.Future[list[Accepted | Refused | None]]:
        """Every message's verdict, in order, where the node's ``check_batches`` setting says
        (node/bus/checkers.py); the work starts at once and the result is awaited later."""
        return self._checkers.check(msgs)

    # -- heartbeats (core NATS) --------------------------------------------------------------
    async def _heartbeat(self) -> None:
        assert self.nc is not None  # noqa: S101 - spawned after _connect
        nc, ctx = self.nc, self.ctx
        while True:
            if nc.is_connected:
                beat = build_heartbeat(origin=ctx.node_id, at=ctx.now(),
                                       roster_version=ctx.roster.version,
                                       outbox=records.outbox_depth(ctx.store))
                with contextlib.suppress(nats.errors.Error):
                    await nc.publish(heartbeat_subject(ctx.node_id), beat.encode())
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _on_heartbeat(self, m: Msg) -> None:
        ctx = self.ctx
        if m.subject == heartbeat_subject(ctx.node_id):
            return  # our own, coming back
        members = {p.id for p in ctx.roster.members}
        try:
            beat = check_heartbeat(m.subject, m.data, members=members, local=ctx.node_id,
                                   max_roster=ctx.roster.version)
        except BadHeartbeat as e:
            ctx.metrics.heartbeats_refused.labels(reason=e.reason).inc()
            log.debug("heartbeat on %s dropped: %s", m.subject, e)
            return
        self.peers[beat.origin] = beat.shown(ctx.stamp())

