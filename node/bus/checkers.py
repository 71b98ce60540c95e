"""Where a fetched batch is checked (verify, parse, schema): the node's ``check_batches`` setting.

    checker = BatchChecker(ctx, "processes"); verdicts = await checker.check(msgs)
    checker.shutdown()

* ``loop``: on the event loop. No hand-off at all; the loop is held while a batch is checked
  (≈ 250 µs a message), as it already is while the batch is stored.
* ``threads``: ``CHECK_THREADS`` threads. PyNaCl releases the GIL while it verifies, but the
  JSON and schema work does not, so the threads and the loop pass the GIL back and forth.
* ``processes``: a ``ProcessPoolExecutor`` (``forkserver``: the node has threads, so no ``fork``) of
  ``CHECK_PROCESSES`` workers (node/bus/check_worker.py). The only mode whose checking runs
  beside the loop on another core without the GIL. A worker that dies (``BrokenProcessPool``)
  costs a new pool and the batch checked again there; if that one breaks too, the batch raises,
  is not acknowledged, and JetStream redelivers it (the consumer is restarted by the supervisor).

A batch of ``INLINE_CHECK`` or fewer is checked on the loop in every mode: the hand-off costs
more than checking one or two messages (docs/performance.md, "Per-batch overhead").
Every mode gives the same verdicts in the same order (tests/pipeline/test_consumer_batches.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing
import pickle
import time
from collections.abc import Awaitable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from federation.errors import RejectedMessage
from federation.inbound import check_inbound
from federation.roster import Roster
from federation.subjects import parse_subject
from node.bus import check_worker
from node.core.config import CHECK_MODES
from node.pipeline.context import NodeContext
from node.pipeline.flow import Accepted
from node.pipeline.ingest import Refused

log = logging.getLogger("beacon.bus")

CHECK_THREADS = 2
CHECK_PROCESSES = 2
INLINE_CHECK = 2

Checked = list[Accepted | Refused | None]


class Message(Protocol):
    """What checking reads of a ``nats.aio.msg.Msg``."""

    subject: str
    data: bytes

    @property
    def metadata(self) -> Any: ...


class BatchChecker:
    def __init__(self, ctx: NodeContext, mode: str) -> None:
        if mode not in CHECK_MODES:
            raise ValueError(f"check mode {mode!r}: choose one of {', '.join(CHECK_MODES)}")
        self.ctx, self.mode = ctx, mode
        self._threads: ThreadPoolExecutor | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._roster: tuple[Roster, str] | None = None  # the roster last keyed, and its key
        if mode == "processes":
            # Start the fork server and the workers now, with the node, not on the first batch:
            # their start (seconds on a loaded host) would otherwise run down that batch's
            # ack_wait, and JetStream would redeliver it while it is still being checked.
            pool = self._process_pool()
            for _ in range(CHECK_PROCESSES):
                pool.submit(check_worker.worker_pid)

    # -- lifecycle ---------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop the threads or worker processes; waits for the workers to exit (no orphans)."""
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._threads = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def worker_pids(self) -> list[int]:
        """The pool's live worker processes (for tests and the benchmark)."""
        procs = getattr(self._pool, "_processes", None) or {}
        return sorted(procs)

    def _process_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver, not fork: the node has threads. Not spawn either: a spawned worker
            # imports federation.schema itself, ≈ 3.5 s CPU (jsonschema's format checkers build
            # a grammar at import), ≈ 5 s with init, per worker and per rebuilt pool. The fork
            # server imports it once (preload); its workers are forked from it ready.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["node.bus.check_worker"])
            self._pool = ProcessPoolExecutor(CHECK_PROCESSES, mp_context=context,
                                             initializer=check_worker.init)
        return self._pool

    def _thread_pool(self) -> ThreadPoolExecutor:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix="beacon-check")
        return self._threads

    # -- checking ----------------------------------------------------------------------------
    def check(self, msgs: Sequence[Message]) -> asyncio.Future[Checked]:
        """Every message's verdict, in order; the work starts at once and is awaited later."""
        loop = asyncio.get_running_loop()
        if self.mode == "loop" or len(msgs) <= INLINE_CHECK:
            done: asyncio.Future[Checked] = loop.create_future()
            done.set_result([self.check_one(m) for m in msgs])
            return done
        if self.mode == "threads":
            return loop.create_task(self._in_threads(loop, msgs))
        return loop.create_task(self._in_processes(msgs))

    async def _in_threads(self, loop: asyncio.AbstractEventLoop,
                          msgs: Sequence[Message]) -> Checked:
        pool: Executor = self._thread_pool()
        parts = _split(list(msgs), CHECK_THREADS)
        done: Awaitable[list[Checked]] = asyncio.gather(
            *(loop.run_in_executor(pool, self._check_part, p) for p in parts))
        return [item for part in await done for item in part]

    def _check_part(self, msgs: Sequence[Message]) -> Checked:
        return [self.check_one(m) for m in msgs]

    def check_one(self, m: Message) -> Accepted | Refused | None:
        ctx = self.ctx
        at = ctx.stamp()
        try:
            origin = parse_subject(m.subject).origin
        except RejectedMessage as e:
            return Refused(m.subject, m.data, e.reason, e.detail, at)
        if origin == ctx.node_id:
            return None  # our own message coming back: stored when we signed it
        t0 = time.perf_counter()
        try:
            verified = check_inbound(m.data, m.subject, ctx.roster, ctx.schemas,
                                     received_at=m.metadata.timestamp, policy=ctx.policy)
        except RejectedMessage as e:
            _quarantined(m.subject, e.reason, str(e))
            return Refused(m.subject, m.data, e.reason, e.detail, at)
        except Exception as e:  # a bug must not stop the consumer; keep the evidence
            log.exception("unexpected error checking a message on %s", m.subject)
            return Refused(m.subject, m.data, "internal-error", repr(e), at)
        finally:
            ctx.metrics.verify_seconds.observe(time.perf_counter() - t0)
        return Accepted(verified, m.subject, m.data, at)

    async def _in_processes(self, msgs: Sequence[Message]) -> Checked:
        ctx = self.ctx
        at = ctx.stamp()
        out: Checked = []
        todo: list[tuple[int, check_worker.Item]] = []  # (index in out, what a worker checks)
        for m in msgs:
            try:
                origin = parse_subject(m.subject).origin
            except RejectedMessage as e:
                out.append(Refused(m.subject, m.data, e.reason, e.detail, at))
                continue
            out.append(None)  # our own message coming back, or a worker's verdict below
            if origin != ctx.node_id:
                todo.append((len(out) - 1, (m.subject, m.data, m.metadata.timestamp)))
        if not todo:
            return out
        parts = _split(todo, CHECK_PROCESSES)
        verdicts = await self._submit([[item for _, item in p] for p in parts])
        for part, part_verdicts in zip(parts, verdicts, strict=True):
            for (i, (subject, data, _)), v in zip(part, part_verdicts, strict=True):
                out[i] = self._verdict(subject, data, v, at)
        return out

    async def _submit(self, parts: list[list[check_worker.Item]]) -> list[list[Any]]:
        """Each part checked by the pool; a broken pool is rebuilt once, then the error raises
        (the batch is not acknowledged: JetStream redelivers it)."""
        for attempt in (1, 2):
            try:
                return await self._submit_once(parts)
            except BrokenProcessPool:
                log.warning("a checker process died (attempt %d); starting a new pool", attempt)
                pool, self._pool = self._pool, None
                if pool is not None:
                    pool.shutdown(wait=False, cancel_futures=True)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _submit_once(self, parts: list[list[check_worker.Item]]) -> list[list[Any]]:
        loop = asyncio.get_running_loop()
        pool, key, policy = self._process_pool(), self._roster_key(), self.ctx.policy
        results: list[list[Any] | str] = list(await asyncio.gather(
            *(loop.run_in_executor(pool, check_worker.check_batch, key, None, policy, p)
              for p in parts)))
        for i, r in enumerate(results):
            if r == check_worker.NEED_ROSTER:  # a worker without this roster: send it along
                results[i] = await loop.run_in_executor(
                    pool, check_worker.check_batch, key, self.ctx.roster, policy, parts[i])
        assert all(isinstance(r, list) for r in results)  # noqa: S101 - sent with the roster
        return [r for r in results if isinstance(r, list)]

    def _roster_key(self) -> str:
        roster = self.ctx.roster
        if self._roster is None or self._roster[0] is not roster:
            key = hashlib.sha256(pickle.dumps(roster)).hexdigest()
            self._roster = (roster, f"v{roster.version}-{key[:16]}")
        return self._roster[1]

    def _verdict(self, subject: str, data: bytes, v: Sequence[Any],
                 at: str) -> Accepted | Refused:
        self.ctx.metrics.verify_seconds.observe(v[1])
        if v[0] == "a":
            return Accepted(v[2], subject, data, at)
        if v[0] == "r":
            _quarantined(subject, v[2], f"{v[2]}: {v[3]}")
            return Refused(subject, data, v[2], v[3], at)
        log.error("unexpected error checking a message on %s in a checker process: %s",
                  subject, v[2])
        return Refused(subject, data, "internal-error", v[2], at)


def _quarantined(subject: str, reason: str, text: str) -> None:
    log.warning("quarantined a message on %s: %s", subject, text,
                extra={"subject": subject, "reason": reason})


def _split(items: list[Any], n: int) -> list[list[Any]]:
    size = max(1, -(-len(items) // n))
    return [items[i:i + size] for i in range(0, len(items), size)]

