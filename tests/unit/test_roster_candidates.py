"""Choosing roster v(N+1) among members' copies: junk and under-signed copies are refused with a
reason and never hide a valid one; two valid versions are an equivocation, chosen by digest."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from federation.canonical import digest
from federation.envelope import Envelope
from federation.roster import Roster
from federation.roster_candidates import (
    Candidate,
    candidate_keys,
    select_successor,
)
from tests.unit.factories import make_roster, member_key

COUNCIL = ("gb", "fr", "jp")
GB1, FR1, JP1 = (member_key(m) for m in COUNCIL)


@pytest.fixture
def v1(now: datetime) -> Roster:
    env, _, _ = make_roster(now=now, council=COUNCIL, threshold=2)
    return Roster.verify_genesis(env, now=now)


def v2(now: datetime, *signers: object, threshold: int = 2) -> Envelope:
    env, _, _ = make_roster(now=now, version=2, council=COUNCIL, threshold=threshold,
                            signers=list(signers))  # type: ignore[arg-type]
    return env


def test_candidates_are_read_from_every_member_then_the_legacy_key(v1: Roster) -> None:
    assert candidate_keys(v1) == ["v2.fr", "v2.gb", "v2.int", "v2.jp", "v2"]


def test_junk_and_under_signed_copies_do_not_hide_the_valid_one(v1: Roster,
                                                                now: datetime) -> None:
    good = v2(now, GB1, FR1)
    squat = v2(now + timedelta(seconds=1), JP1)
    sel = select_successor(v1, [Candidate("v2.fr", b"\x00garbage"),
                                Candidate("v2.gb", b'{"payloadType": 1}'),
                                Candidate("v2.jp", squat.to_json()),
                                Candidate("v2.int", good.to_json())], now=now)
    assert sel.roster is not None and sel.roster.version == 2
    assert sel.envelope == good and sel.source == "v2.int"
    assert sel.rivals == ()
    reasons = {r.source: r.reason for r in sel.refused}
    assert set(reasons) == {"v2.fr", "v2.gb", "v2.jp"}
    assert "not JSON" in reasons["v2.fr"]
    assert "signed by 1/3 keys" in reasons["v2.jp"]


def test_a_refusal_is_identified_by_the_digest_of_its_bytes(v1: Roster, now: datetime) -> None:
    a = select_successor(v1, [Candidate("v2.jp", b"junk")], now=now)
    b = select_successor(v1, [Candidate("v2.gb", b"junk"), Candidate("v2.fr", b"other")],
                         now=now)
    assert a.envelope is None and a.roster is None
    assert a.refused[0].blob_digest == b.refused[0].blob_digest != b.refused[1].blob_digest


def test_a_replayed_or_skipping_version_is_refused(v1: Roster, now: datetime) -> None:
    genesis, _, _ = make_roster(now=now, council=COUNCIL, threshold=2)
    v3, _, _ = make_roster(now=now, version=3, council=COUNCIL, threshold=2)
    sel = select_successor(v1, [Candidate("v2.jp", genesis.to_json()),
                                Candidate("v2.gb", v3.to_json())], now=now)
    assert sel.envelope is None
    assert ["rollback refused" in r.reason for r in sel.refused] == [True, False]
    assert "rise by one" in sel.refused[1].reason


def test_copies_of_one_version_with_different_signatures_are_no_equivocation(
        v1: Roster, now: datetime) -> None:
    two = v2(now, GB1, FR1)
    three = v2(now, GB1, FR1, JP1)
    sel = select_successor(v1, [Candidate("v2.fr", two.to_json()),
                                Candidate("v2.gb", three.to_json())], now=now)
    assert sel.envelope == two and sel.rivals == () and sel.refused == ()


def test_two_valid_versions_are_an_equivocation_resolved_by_lowest_digest(
        v1: Roster, now: datetime) -> None:
    a, b = v2(now, GB1, FR1), v2(now, GB1, FR1, JP1, threshold=3)
    low, high = sorted([a, b], key=lambda e: digest(e.payload))
    for order in ([a, b], [b, a]):
        sel = select_successor(v1, [Candidate(f"v2.{i}", e.to_json())
                                    for i, e in enumerate(order)], now=now)
        assert sel.envelope == low
        assert sel.rivals == (digest(high.payload),)


def test_an_expired_successor_is_refused(v1: Roster, now: datetime) -> None:
    env = v2(now, GB1, FR1)
    sel = select_successor(v1, [Candidate("v2.gb", env.to_json())],
                           now=now + timedelta(days=400))
    assert sel.envelope is None and "expired" in sel.refused[0].reason
