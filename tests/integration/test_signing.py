"""Signing and recording is idempotent, and signed instants are precise enough that two
deliberate acts are two messages (issue 9: two snapshots signed in one second answered 500,
``UNIQUE constraint failed: log_leaves.digest``). Old whole-second messages still sort, filter
and win by time, not by text. (A real SQLite store and keys, in-process; no NATS.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from federation.messages import incident_from_report
from node.pipeline import snapshots, statistics
from node.pipeline.context import NodeContext
from node.pipeline.flow import sign_and_record
from node.store import records
from tests.integration.conftest import report
from tests.integration.local_node import open_local_node

T0 = datetime(2026, 11, 20, 9, 0, 5, tzinfo=UTC)


@pytest.fixture
def gb(tmp_path: Path) -> Iterator[NodeContext]:
    ctx, _ = open_local_node(tmp_path, "gb", peers=("fr",))
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def ib(tmp_path: Path) -> Iterator[NodeContext]:
    ctx, _ = open_local_node(tmp_path, "int", peers=("gb",), role="international-body")
    try:
        yield ctx
    finally:
        ctx.close()


def _count(ctx: NodeContext, table: str, digest: str) -> int:
    return int(ctx.store.scalar(f"SELECT COUNT(*) FROM {table} WHERE digest = ?",  # noqa: S608
                                (digest,)) or 0)


def test_signing_an_identical_document_again_returns_the_same_message(gb: NodeContext) -> None:
    doc = incident_from_report(report(title="Signed twice"), origin="gb", now=T0)
    first = sign_and_record(gb, doc)
    again = sign_and_record(gb, dict(doc))
    assert again == first
    for table in ("envelopes", "log_leaves", "outbox"):
        assert _count(gb, table, first) == 1, table


def test_two_snapshots_at_one_instant_are_one_and_a_millisecond_apart_two(
        ib: NodeContext, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [T0]
    monkeypatch.setattr(ib, "clock", lambda: clock[0])
    first = snapshots.publish_snapshot(ib, force=True)
    same_instant = snapshots.publish_snapshot(ib, force=True)  # the race: same figures, same time
    clock[0] = T0 + timedelta(milliseconds=1)
    a_moment_later = snapshots.publish_snapshot(ib, force=True)
    assert first is not None and same_instant == first
    assert a_moment_later not in (None, first)
    row = statistics.latest_snapshot_row(ib.store, "int")
    assert row is not None and row["digest"] == a_moment_later
    assert ib.store.scalar("SELECT COUNT(*) FROM log_leaves") == 2


def test_a_newer_millisecond_snapshot_replaces_an_older_whole_second_one(ib: NodeContext) -> None:
    old = statistics.build_snapshot(ib).to_dict() | {"issued_at": "2026-11-20T09:00:05Z"}
    new = old | {"issued_at": "2026-11-20T09:00:05.500Z"}
    sign_and_record(ib, old)
    newer = sign_and_record(ib, new)  # as text "…05.500Z" < "…05Z"; as time it is later
    row = statistics.latest_snapshot_row(ib.store)
    assert row is not None and row["digest"] == newer


def test_since_filters_by_time_across_precisions(gb: NodeContext) -> None:
    precise = incident_from_report(report(title="Half a second later"), origin="gb",
                                   now=T0 + timedelta(milliseconds=500))
    sign_and_record(gb, precise)
    found = records.list_incidents(gb.store, origin=None, severity=None, limit=10, cursor=None,
                                   since="2026-11-20T09:00:05.000Z")
    assert [i["id"] for i in found.items] == [precise["id"]]
    later = records.list_incidents(gb.store, origin=None, severity=None, limit=10, cursor=None,
                                   since="2026-11-20T09:00:05.501Z")
    assert later.items == []
