"""Roster proposals: each edit yields a roster the TUF rules accept once the council signs it,
and nonsense edits are refused with a message that says what to do."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from federation.errors import RosterError, ThresholdError
from federation.roster import Roster
from federation.roster_edit import (
    add_member,
    revoke_key,
    rotate_key,
    set_council,
    set_threshold,
    successor,
)
from tests.unit.factories import key_entry, make_roster, member_key, sign_roster

COUNCIL = ("gb", "fr", "jp")


def _v1(now: datetime) -> tuple[Roster, dict[str, object]]:
    _, roster, _ = make_roster(("gb", "fr", "jp", "int"), 2, now=now, council=COUNCIL)
    return roster, roster.to_dict()


def test_added_member_is_accepted_when_two_council_members_sign(now: datetime) -> None:
    v1, doc = _v1(now)
    entry = {"id": "de", "name": "Germany", "jurisdiction": "Germany", "role": "member",
             "log_origin": "beacon/de",
             "keys": [key_entry(member_key("de"), not_before=now)]}
    v2doc = add_member(successor(doc, now=now), entry)
    v2 = v1.verify_successor(sign_roster(v2doc, [member_key("gb"), member_key("fr")]), now)
    assert v2.version == 2 and "de" in v2.member_ids()
    with pytest.raises(ThresholdError, match="signed by 1/3 keys"):
        v1.verify_successor(sign_roster(v2doc, [member_key("gb")]), now)
    with pytest.raises(RosterError, match="already in the roster"):
        add_member(v2doc, entry)


def test_revocation_ends_a_key_at_its_time_and_frees_its_council_seat(now: datetime) -> None:
    v1, doc = _v1(now)
    jp = member_key("jp").public.keyid
    v2doc = revoke_key(successor(doc, now=now), jp[:10], at=now)
    v2 = v1.verify_successor(sign_roster(v2doc, [member_key("gb"), member_key("fr")]), now)
    assert jp not in v2.council_keyids
    assert v2.signing_keys("jp", now - timedelta(seconds=1))
    assert v2.signing_keys("jp", now) == []
    with pytest.raises(RosterError, match="already revoked"):
        revoke_key(v2doc, jp, at=now)
    with pytest.raises(RosterError, match="no key"):
        revoke_key(v2doc, "00000000deadbeef", at=now)


def test_revoking_below_the_threshold_is_refused(now: datetime) -> None:
    _, doc = _v1(now)
    doc = set_threshold(doc, 3)
    with pytest.raises(RosterError, match="lower the threshold"):
        revoke_key(doc, member_key("jp").public.keyid, at=now)


def test_rotation_moves_the_council_seat_and_keeps_history(now: datetime) -> None:
    v1, doc = _v1(now)
    new_key = member_key("fr", generation=2)
    v2doc = rotate_key(successor(doc, now=now), "fr", key_entry(new_key, not_before=now), at=now)
    # the new council (gb, fr's new key, jp) must sign too, as TUF requires
    env = sign_roster(v2doc, [member_key("gb"), member_key("fr"), new_key])
    v2 = v1.verify_successor(env, now)
    assert new_key.public.keyid in v2.council_keyids
    assert member_key("fr").public.keyid not in v2.council_keyids
    assert [k.keyid for k in v2.signing_keys("fr", now)] == [new_key.public.keyid]
    assert [k.keyid for k in v2.signing_keys("fr", now - timedelta(hours=1))] == \
        [member_key("fr").public.keyid]


def test_threshold_and_council_edits_are_bounded(now: datetime) -> None:
    _, doc = _v1(now)
    with pytest.raises(RosterError, match="between 1 and the council size 3"):
        set_threshold(doc, 4)
    with pytest.raises(RosterError, match="already on the council"):
        set_council(doc, add=[member_key("gb").public.keyid])
    with pytest.raises(RosterError, match="fewer than its threshold"):
        set_council(doc, remove=[member_key("gb").public.keyid, member_key("fr").public.keyid])
    smaller = set_council(doc, remove=[member_key("jp").public.keyid])
    assert len(smaller["council"]["keyids"]) == 2  # type: ignore[index]


def test_successor_rises_by_one_and_renews_expiry(now: datetime) -> None:
    _, doc = _v1(now)
    later = now + timedelta(days=400)
    v2 = successor(doc, now=later, valid_for=timedelta(days=30))
    # 2026-11-20 + 400 days + 30 days
    assert v2["version"] == 2 and v2["expires"] == "2028-01-24T12:00:00Z"
    assert doc["version"] == 1  # the input is not changed
