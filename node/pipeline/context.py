"""Everything a running node holds, in one place that adapters share.

    ctx = NodeContext.open(config)   # keys, roster, store, schemas
    ctx.close()
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from federation.envelope import Envelope
from federation.inbound import InboundPolicy
from federation.keys import EncryptionKey, SigningKey
from federation.playbook import Playbook
from federation.roster import Roster
from federation.run_model import RunContext
from federation.schema import SchemaSet
from federation.timeutil import format_instant
from federation.tripwires import Tripwires
from node.core.config import NodeConfig
from node.core.identity import KeyFileError, load_encryption_key, load_roster, load_signing_key
from node.core.metrics import Metrics
from node.core.playbook_files import default_tripwires
from node.core.schemas import default_schemas
from node.core.supervisor import Supervisor
from node.store.auth import TokenVerifier
from node.store.db import Store

LiveEvent = tuple[str, dict[str, Any]]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class NodeContext:
    config: NodeConfig
    store: Store
    schemas: SchemaSet
    signing_key: SigningKey
    encryption_key: EncryptionKey | None
    roster: Roster
    roster_envelope: Envelope
    genesis_envelope: Envelope
    tokens: TokenVerifier
    metrics: Metrics = field(default_factory=Metrics)
    outbox_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    nats_state: str = "connecting"
    started_at: datetime = field(default_factory=utcnow)
    playbooks: list[Playbook] = field(default_factory=list)
    tripwires: Tripwires = field(default_factory=default_tripwires)
    # The node's only source of "now": tests pass a clock they drive (deadlines, skew, expiry).
    clock: Callable[[], datetime] = utcnow
    # Runs whose timers must be brought in line with the store after the current commit.
    dirty_runs: set[str] = field(default_factory=set)
    timer_sync: Callable[[set[str]], None] | None = None
    # What the current transaction changed, as live-update hints (kind, ids); handed to every
    # listener after the commit, never before, so a console never sees a rolled-back change.
    pending_events: list[LiveEvent] = field(default_factory=list)
    commit_listeners: list[Callable[[list[LiveEvent]], None]] = field(default_factory=list)
    # Deadlines whose firing failed and is being retried (node.pipeline.timers), by run id.
    late_clocks: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Every long-running task of the node runs under this (see node.core.supervisor).
    supervisor: Supervisor = field(init=False)
    # run_context() for the roster and config it was built from (a fresh one per report was a
    # hundredth of storing it); rebuilt when either is replaced.
    _run_context: tuple[Roster, NodeConfig, RunContext] | None = field(
        default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.supervisor = Supervisor(self.metrics.task_restarts)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A store transaction; after it commits, the scheduler follows the runs it changed.

        If the process dies between the commit and the timer update, start-up reconciliation
        re-arms every timer from the store: the database, not the scheduler, holds deadlines.
        """
        try:
            with self.store.transaction() as tx:
                yield tx
        except BaseException:
            self.dirty_runs.clear()
            self.pending_events.clear()
            raise
        events, self.pending_events = self.pending_events, []
        if self.dirty_runs:
            changed, self.dirty_runs = self.dirty_runs, set()
            events += [("run", {"id": run_id}) for run_id in sorted(changed)]
            if self.timer_sync is not None:
                self.timer_sync(changed)
        if events:
            for listener in self.commit_listeners:
                listener(events)

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        """Note a change for live updates; delivered when the current transaction commits."""
        self.pending_events.append((kind, data))

    def run_context(self) -> RunContext:
        cached = self._run_context
        if cached is not None and cached[0] is self.roster and cached[1] is self.config:
            return cached[2]
        members = tuple(m.id for m in self.roster.members if m.role == "member")
        ib = next((m.id for m in self.roster.members if m.role == "international-body"), "int")
        rc = RunContext(local_id=self.node_id, members=members, international_body=ib,
                        time_scale=self.config.time_scale)
        self._run_context = (self.roster, self.config, rc)
        return rc

    @property
    def node_id(self) -> str:
        return self.config.node_id

    @property
    def policy(self) -> InboundPolicy:
        return InboundPolicy(max_bytes=self.config.max_message_bytes,
                             max_skew=timedelta(seconds=self.config.max_skew_seconds))

    def now(self) -> datetime:
        return self.clock()

    def now_text(self) -> str:
        """Millisecond precision, as signed messages carry it in ``issued_at``
        (``federation.timeutil``: two acts a moment apart are two messages)."""
        return format_instant(self.now())

    def stamp(self, at: datetime | None = None) -> str:
        """Microsecond precision, for local records (received_at, sent_at): of ``at`` if the
        caller read the clock already (a run's transition and its rows share one instant)."""
        t = self.now() if at is None else at
        return t.isoformat(timespec="microseconds").replace("+00:00", "Z")

    @classmethod
    def open(cls, config: NodeConfig, *, clock: Callable[[], datetime] = utcnow) -> NodeContext:
        signing_key = load_signing_key(config.signing_key_file)
        enc = (load_encryption_key(config.encryption_key_file)
               if config.encryption_key_file else None)
        roster, envelope = load_roster(config.roster_file, now=clock())
        own = {k.keyid for k in roster.any_signing_keys(config.node_id)}
        if not own:
            raise KeyFileError(f"node {config.node_id!r} is not a member of roster "
                               f"v{roster.version}; ask the council to add it")
        if signing_key.public.keyid not in own:
            raise KeyFileError(f"the signing key in {config.signing_key_file} is not one of "
                               f"{config.node_id!r}'s keys in roster v{roster.version}")
        store = Store.open(config.db_path)
        return cls(config=config, store=store, schemas=default_schemas(),
                   signing_key=signing_key, encryption_key=enc, roster=roster,
                   roster_envelope=envelope, genesis_envelope=envelope,
                   tokens=TokenVerifier(store), clock=clock, started_at=clock())

    def close(self) -> None:
        self.store.close()
