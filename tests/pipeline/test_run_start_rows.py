"""Starting runs the faster way stores exactly what the old way stored (branch perf-start).

One node's store is copied; the same scenario — a batch of random signed reports from two peers
through ``ingest_batch``, its own filings, revisions, deadlines fired — runs once on the copy
with the current code and once on the copy with the old code path kept here (a run's JSON
encoded step by step, the clock read again for the run's row and its step messages, the run id
hashed again in ``start_run``), under the same clock. Every row of every table must be
byte-identical: runs, notifications, history, escalations, outbox, timers, webhooks, statistics.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from federation import runs
from federation.errors import MessageError
from federation.inbound import check_inbound
from federation.messages import Draft, incident_from_report
from federation.run_model import _JSON_OPTIONS, PlaybookRun, Transition, _json_default
from federation.step_messages import step_updates
from node.pipeline import engine, filing
from node.pipeline.context import NodeContext
from node.pipeline.flow import Accepted
from node.pipeline.ingest import ingest_batch
from node.store import records
from tests.integration.conftest import report
from tests.pipeline.world import START, World

SEVERITIES = ("hazard", "serious-hazard", "incident", "serious-incident", "disaster")
RED_LINES = ("assisting-weapon-development", "power-seeking")


def _random_report(rng: random.Random) -> dict[str, Any]:
    return report(title=f"Report {rng.randrange(10**6)}",
                  severity=rng.choice(SEVERITIES),
                  affected_jurisdictions=rng.sample(["gb", "fr", "jp"], rng.randrange(3)),
                  red_lines=rng.sample(RED_LINES, rng.choice((0, 0, 0, 1))))


def _old_to_json(run: PlaybookRun) -> str:
    """``PlaybookRun.to_json`` before perf-start: every step state encoded per run."""
    return orjson.dumps(run._as_dict(orjson.Fragment(run.playbook.document_json), run.steps),
                        default=_json_default, option=_JSON_OPTIONS).decode()


def _old_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run start path before perf-start, for the reference store."""
    start_run = engine.runs.start_run

    def old_apply(ctx: NodeContext, tx: Any, before: PlaybookRun | None, t: Transition,
                  now: datetime | None = None) -> list[Draft]:
        """``engine.apply`` before perf-start: the clock read again for the row and the step
        messages (``now`` ignored)."""
        at = ctx.stamp()
        engine.save_run(ctx, tx, t.run, None if before is None else before.token, at=at)
        drafts: list[Draft] = []
        skipped = set()
        for effect in t.effects:
            try:
                drafts += engine._execute(ctx, tx, t.run, effect, at)
            except MessageError as e:
                engine._refused(ctx, tx, t.run, effect, e)
                skipped.add(str(effect.to_dict().get("step_id", "")))
        shared = any(st.targets for st in t.run.steps)
        return drafts + [Draft(m.to_dict(), publish=shared)
                         for m in step_updates(before, t.run, origin=ctx.node_id, now=ctx.now())
                         if m.step_id not in skipped]

    def old_start_run(*args: Any, run_id: str | None = None, **kw: Any) -> Any:
        return start_run(*args, **kw)  # hashes the run id again, as before

    monkeypatch.setattr(PlaybookRun, "to_json", _old_to_json)
    monkeypatch.setattr(engine, "apply", old_apply)
    monkeypatch.setattr(runs, "start_run", old_start_run)


def _dump(ctx: NodeContext) -> dict[str, list[tuple[Any, ...]]]:
    conn = ctx.store.conn
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name")]  # a virtual table's rows: its shadows
    out = {}
    for t in tables:
        try:
            rows = conn.execute(f'SELECT * FROM "{t}" ORDER BY rowid').fetchall()  # noqa: S608
        except Exception:  # a WITHOUT ROWID or virtual table: in its own order
            rows = conn.execute(f'SELECT * FROM "{t}"').fetchall()  # noqa: S608
        out[t] = [tuple(r) for r in rows]
    return out


def _scenario(world: World, ctx: NodeContext, inbound: list[bytes],
              subjects: list[str]) -> None:
    """What gb does: store the peers' reports in batches, file and revise its own, fire."""
    world.clock.t = START
    rng = random.Random(7)  # noqa: S311 - test data, not secrets
    batch = [Accepted(check_inbound(m, s, ctx.roster, ctx.schemas, received_at=world.clock(),
                                    policy=ctx.policy), s, m, ctx.stamp())
             for m, s in zip(inbound, subjects, strict=True)]
    for i in range(0, len(batch), 16):
        ingest_batch(ctx, batch[i:i + 16], [])
        world.clock.advance(seconds=1)
    own = []
    for k in range(8):
        doc = incident_from_report(_random_report(rng), origin="gb", now=ctx.now(),
                                   incident_id=f"gb-own{k:08d}")
        filing.file_incident(ctx, doc)
        own.append(doc)
    for k, doc in enumerate(own[:4]):  # revisions: an upgrade and a resolution
        world.clock.advance(minutes=5)
        changes = {"severity": "disaster"} if k % 2 else {"status": "resolved"}
        filing.file_incident(ctx, {**doc, **changes, "revision": 2, "issued_at": ctx.now_text()})
    for _ in range(4):
        timers = [t for t in world.due_timers() if t[0] == "gb"]
        if not timers:
            break
        world.clock.to(timers[0][3])
        world.fire_due()


def test_every_stored_row_is_what_the_old_path_stored(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with World.create(tmp_path, ["gb", "fr", "jp"]) as world:
        rng = random.Random(13)  # noqa: S311 - test data, not secrets
        for peer in ("fr", "jp"):
            for _ in range(30):
                world.file(peer, **_random_report(rng))
        inbound, subjects = [], []
        for peer in ("fr", "jp"):
            for row in records.pending_outbox(world.nodes[peer].store, 10_000):
                inbound.append(bytes(row["data"]))
                subjects.append(row["subject"])
        assert len(inbound) >= 50
        gb = world.nodes["gb"]
        config = gb.config
        gb.close()
        db = config.db_path
        saved = tmp_path / "gb-before.sqlite3"
        shutil.copyfile(db, saved)

        def run(patch: Callable[[], None] | None) -> dict[str, list[tuple[Any, ...]]]:
            for suffix in ("-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(saved, db)
            ctx = NodeContext.open(config, clock=world.clock)
            ctx.playbooks = world.nodes["fr"].playbooks
            world.nodes["gb"] = ctx
            try:
                if patch is not None:
                    patch()
                _scenario(world, ctx, inbound, subjects)
                return _dump(ctx)
            finally:
                monkeypatch.undo()
                ctx.close()

        new = run(None)
        old = run(lambda: _old_path(monkeypatch))
        world.nodes["gb"] = NodeContext.open(config, clock=world.clock)  # World closes it

    assert new.keys() == old.keys()
    assert len(new["runs"]) >= 20 and new["notifications"], "the scenario started no runs"
    started = {r for t in ("runs",) for r in new[t]}
    assert len(started) == len(new["runs"])
    for table in new:
        assert new[table] == old[table], f"table {table} differs from the old path"
