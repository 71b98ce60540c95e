"""A federation in one process: real keys, real signatures, real SQLite files, a clock the test
drives, and no NATS. Messages travel by reading each node's outbox and handing every row to the
other nodes through the same inbound checks and batch commit the bus uses.

    world = World.create(tmp_path, ["gb", "fr", "jp"])
    world.nodes["gb"]  # a NodeContext
    world.deliver()    # until no outbox holds anything
    world.clock.advance(hours=24); world.fire_due()   # deadlines, as the scheduler would

Tests built on it take milliseconds where a real federation takes seconds, so they can walk the
playbook engine and the witness through every branch; the integration suites prove the same
paths over NATS with real processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from federation.errors import RejectedMessage
from federation.inbound import check_inbound
from federation.messages import incident_from_report
from node.cli.provision import (
    genesis_document,
    member_entry,
    provision_node,
    sign_genesis,
    write_config,
)
from node.core.playbook_files import load_playbooks
from node.pipeline import filing, flow
from node.pipeline.context import NodeContext
from node.pipeline.flow import Accepted
from node.pipeline.ingest import Refused, ingest_batch
from node.store import records

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    t: datetime = START

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **delta: float) -> None:
        self.t += timedelta(**delta)

    def to(self, t: datetime) -> None:
        self.t = max(self.t, t)


@dataclass
class World:
    clock: Clock
    nodes: dict[str, NodeContext] = field(default_factory=dict)
    refused: list[tuple[str, Refused]] = field(default_factory=list)

    @classmethod
    @contextmanager
    def create(cls, root: Path, members: list[str], *,
               international_body: str = "int") -> Iterator[World]:
        clock = Clock()
        roles = dict.fromkeys(members, "member") | {international_body: "international-body"}
        files = {n: provision_node(root / n, n, role=role) for n, role in roles.items()}
        doc = genesis_document([member_entry(f, now=clock()) for f in files.values()],
                               council=[f.signing_key.public.keyid for f in files.values()],
                               threshold=1, now=clock())
        (root / "roster.json").write_bytes(
            sign_genesis(doc, [f.signing_key for f in files.values()]).to_json())
        world = cls(clock)
        playbooks = load_playbooks()
        try:
            for n, f in files.items():
                config = write_config(f, roster_file=root / "roster.json",
                                      nats_url="nats://127.0.0.1:1", http_port=1)
                ctx = NodeContext.open(config, clock=clock)
                ctx.playbooks = playbooks
                world.nodes[n] = ctx
            yield world
        finally:
            for ctx in world.nodes.values():
                ctx.close()

    def file(self, at: str, **report: Any) -> dict[str, Any]:
        """File a report at node ``at`` as ``POST /api/v1/incidents`` does; return its body."""
        ctx = self.nodes[at]
        doc = incident_from_report(report, origin=at, now=ctx.now())
        filing.file_incident(ctx, doc)
        return doc

    def say(self, at: str, doc: dict[str, Any], qualifier: str = "") -> str:
        """Sign and record a message at node ``at`` (a command's last step)."""
        ctx = self.nodes[at]
        return flow.sign_and_record(ctx, {"origin": at, "issued_at": ctx.now_text(), **doc},
                                    qualifier=qualifier)

    def deliver(self, *, rounds: int = 20) -> int:
        """Hand every pending outbox row to every other node until all outboxes are empty;
        return how many messages travelled."""
        moved = 0
        for _ in range(rounds):
            batch = [(n, row) for n, ctx in self.nodes.items()
                     for row in records.pending_outbox(ctx.store, 10_000)]
            if not batch:
                return moved
            for sender, row in batch:
                with self.nodes[sender].store.transaction() as tx:
                    records.mark_sent(tx, [row["seq"]], self.nodes[sender].stamp())
                for receiver, ctx in self.nodes.items():
                    if receiver != sender:
                        self._receive(receiver, ctx, row["subject"], bytes(row["data"]))
                moved += 1
        raise AssertionError(f"messages still pending after {rounds} rounds (a reaction loop?)")

    def _receive(self, name: str, ctx: NodeContext, subject: str, data: bytes) -> None:
        try:
            verified = check_inbound(data, subject, ctx.roster, ctx.schemas,
                                     received_at=self.clock(), policy=ctx.policy)
        except RejectedMessage as e:
            refused = Refused(subject, data, e.reason, e.detail, ctx.stamp())
            self.refused.append((name, refused))
            ingest_batch(ctx, [], [refused])
            return
        ingest_batch(ctx, [Accepted(verified, subject, data, ctx.stamp())], [])

    def due_timers(self) -> list[tuple[str, str, int, datetime]]:
        """Every armed run timer: (node, run id, token, when)."""
        out = []
        for n, ctx in self.nodes.items():
            for r in ctx.store.query("SELECT id, token, timer_at FROM runs "
                                     "WHERE state = 'running' AND timer_at IS NOT NULL"):
                at = datetime.fromisoformat(r["timer_at"].replace("Z", "+00:00"))
                out.append((n, r["id"], int(r["token"]), at))
        return sorted(out, key=lambda x: x[3])

    def fire_due(self) -> list[str]:
        """Fire every timer whose time has come, as the scheduler would; return the outcomes."""
        return [flow.on_deadline(self.nodes[n], run_id, token)
                for n, run_id, token, at in self.due_timers() if at <= self.clock()]

    def run_to_next_deadline(self) -> list[str]:
        """Advance the clock to the earliest armed timer and fire what is due."""
        timers = self.due_timers()
        assert timers, "no timer is armed"
        self.clock.to(timers[0][3])
        return self.fire_due()
