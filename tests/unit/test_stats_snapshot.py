"""The statistics snapshot model (federation/stats_snapshot.py)."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from federation.errors import MessageError
from federation.schema import SchemaSet
from federation.stats_snapshot import StatsSnapshot, build_stats_snapshot
from tests.unit.conftest import NOW
from tests.unit.test_run_messages import round_trips
from tests.unit.test_stats_summary import record, stub


def test_a_snapshot_round_trips_and_validates(schemas: SchemaSet) -> None:
    snap = build_stats_snapshot([record("gb", "incident", 2024), stub()], origin="int",
                                issued_at=NOW, ack=[], escalations={"seen": 1},
                                tripwires={"tw-1": 1}, top=5)
    body = snap.to_dict()
    schemas.validate("stats", body)
    assert (snap.total, snap.stubs, body["top"]) == (2, 1, 5)
    round_trips(body, StatsSnapshot)
    assert StatsSnapshot.from_dict(body).to_dict() == body


@pytest.mark.parametrize(("changes", "why"), [
    ({"top": 0}, "top 0 is not between 1 and 100"),
    ({"escalations": {"open": -1}}, "negative escalation counts"),
])
def test_a_snapshot_refuses_figures_outside_the_schema(changes: dict[str, Any],
                                                       why: str) -> None:
    snapshot = partial(build_stats_snapshot, [], origin="int", issued_at=NOW, ack=[],
                       escalations={}, tripwires={})
    with pytest.raises(MessageError, match=why):
        snapshot(**changes)
