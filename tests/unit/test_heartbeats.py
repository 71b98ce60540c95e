"""federation.heartbeat: only bounded, exactly-shaped heartbeats of roster members are shown."""

from __future__ import annotations

import json
from typing import Any

import pytest

from federation.errors import MessageError
from federation.heartbeat import BadHeartbeat, Heartbeat, build_heartbeat, check_heartbeat
from tests.unit.conftest import NOW

MEMBERS = {"gb", "fr", "int"}
SUBJECT = "beacon.v1.heartbeat.gb"


def _check(data: bytes, subject: str = SUBJECT) -> Heartbeat:
    return check_heartbeat(subject, data, members=MEMBERS, local="fr", max_roster=3)


def _beat(**changes: Any) -> bytes:
    beat = {"origin": "gb", "at": "2026-11-29T10:00:00.123456Z", "roster_version": 3,
            "outbox": 7}
    beat.update(changes)
    return json.dumps(beat).encode()


def test_a_valid_heartbeat_round_trips_and_is_shown_marked_unverified() -> None:
    beat = build_heartbeat(origin="gb", at=NOW, roster_version=4, outbox=0)
    assert _check(beat.encode()) == beat
    assert beat.shown("x") == {"origin": "gb", "at": "2026-11-20T12:00:00Z",
                               "roster_version": 4, "outbox": 0, "seen_at": "x",
                               "verified": False}


@pytest.mark.parametrize(("data", "reason"), [
    (b" " * 513, "too-large"),
    (b"[1, 2", "malformed"),
    (b"[]", "schema"),
    # the bounded, strict parser every signed body goes through (federation.jsonbounds)
    (b"[" * 250 + b"]" * 250, "malformed"),
    (b'{"origin": "gb", "origin": "gb", "at": "x", "roster_version": 3, "outbox": 0}',
     "malformed"),
    (_beat(origin="\\ud800").replace(b"\\\\", b"\\"), "malformed"),
    (_beat(outbox=float("nan")), "malformed"),
    (_beat(outbox=9007199254740993), "malformed"),
    (b"\xff\xfe", "malformed"),
    (_beat(extra="<script>"), "schema"),
    (_beat(at="2026-11-29 10:00:00"), "schema"),
    (_beat(at="2026-13-29T10:00:00Z"), "schema"),
    (_beat(at=12), "schema"),
    (_beat(origin="fr"), "origin"),
    (_beat(roster_version=5), "range"),
    (_beat(roster_version=0), "range"),
    (_beat(roster_version=True), "range"),
    (_beat(outbox=-1), "range"),
    (_beat(outbox=1.5), "range"),
])
def test_junk_is_refused_with_its_reason(data: bytes, reason: str) -> None:
    with pytest.raises(BadHeartbeat) as e:
        _check(data)
    assert e.value.reason == reason


def test_subject_must_name_a_member_other_than_us() -> None:
    with pytest.raises(BadHeartbeat, match="origin"):
        _check(_beat(origin="xx"), "beacon.v1.heartbeat.xx")
    with pytest.raises(BadHeartbeat, match="origin"):
        _check(_beat(origin="fr"), "beacon.v1.heartbeat.fr")


def test_a_node_refuses_to_build_a_heartbeat_with_made_up_figures() -> None:
    with pytest.raises(MessageError, match="must be >= 0"):
        build_heartbeat(origin="gb", at=NOW, roster_version=1, outbox=-1)
    with pytest.raises(MessageError, match="must be >= 1"):
        build_heartbeat(origin="gb", at=NOW, roster_version=0, outbox=0)
