"""Heartbeats (federation/heartbeat.py): bounded, typed, origin tied to the subject."""

from __future__ import annotations

import json

import pytest

from federation.errors import MessageError, RejectedMessage
from federation.heartbeat import Heartbeat, build_heartbeat, parse_heartbeat
from tests.unit.conftest import NOW


def test_a_heartbeat_round_trips_with_unknown_fields() -> None:
    beat = build_heartbeat(origin="gb", at=NOW, roster_version=4, outbox=2)
    body = {**beat.to_dict(), "version": "1.2"}
    assert body == {"origin": "gb", "at": "2026-11-20T12:00:00Z", "roster_version": 4,
                    "outbox": 2, "version": "1.2"}
    parsed = parse_heartbeat(json.dumps(body).encode(), subject_origin="gb")
    assert parsed == beat and parsed.to_dict() == body
    assert parse_heartbeat(beat.encode(), subject_origin="gb") == beat


@pytest.mark.parametrize(("data", "reason", "why"), [
    (b"x" * 5000, "too-large", "5000 bytes"),
    (b"{", "bad-heartbeat", "not JSON"),
    (b"[1]", "bad-heartbeat", "not a JSON object"),
    (b'{"origin": "gb", "at": "2026-11-20T12:00:00Z", "roster_version": "4", "outbox": 0}',
     "bad-heartbeat", "roster_version must be an integer"),
    (b'{"origin": "gb", "at": "2026-11-20T12:00:00Z", "roster_version": 4, "outbox": true}',
     "bad-heartbeat", "outbox must be an integer"),
    (b'{"origin": "gb", "at": "yesterday", "roster_version": 4, "outbox": 0}',
     "bad-heartbeat", "not an RFC 3339 timestamp"),
    (b'{"origin": "fr", "at": "2026-11-20T12:00:00Z", "roster_version": 4, "outbox": 0}',
     "origin-mismatch", "subject of gb claims origin fr"),
])
def test_a_bad_heartbeat_is_rejected_with_a_reason(data: bytes, reason: str, why: str) -> None:
    with pytest.raises(RejectedMessage, match=why) as caught:
        parse_heartbeat(data, subject_origin="gb")
    assert caught.value.reason == reason


def test_a_heartbeat_refuses_negative_figures() -> None:
    with pytest.raises(MessageError, match="must be >= 0"):
        build_heartbeat(origin="gb", at=NOW, roster_version=1, outbox=-1)
    assert Heartbeat("gb", NOW, 1, 0).extra == {}
