"""The roster trust rules (TUF root rotation): thresholds, versions, expiry, key windows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from federation.canonical import decode, encode
from federation.envelope import Envelope, Signature, payload_type
from federation.errors import RosterError, ThresholdError
from federation.roster import Roster, RosterKey, ThresholdResult
from tests.unit.factories import (
    key_entry,
    make_roster,
    member_key,
    roster_document,
    sign_roster,
)

COUNCIL = ("gb", "fr", "jp")
GB1, FR1, JP1, INT1 = (member_key(m) for m in ("gb", "fr", "jp", "int"))
GB2, FR2 = member_key("gb", 2), member_key("fr", 2)


def resigned(env: Envelope, edit: dict[str, Any]) -> Envelope:
    """The envelope with its payload edited after signing; the old signatures are kept."""
    doc = {**decode(env.payload), **edit}
    return Envelope(env.payload_type, encode(doc), env.signatures)


@pytest.fixture
def v1(now: datetime) -> Roster:
    env, _, _ = make_roster(now=now, council=COUNCIL, threshold=2)
    return Roster.verify_genesis(env, now=now)


def v2(now: datetime, signers: list[Any], **kwargs: Any) -> Envelope:
    """Version 2 with gb and fr rotated to new keys; jp keeps its key."""
    kwargs.setdefault("keys", {"gb": GB2, "fr": FR2})
    env, _, _ = make_roster(now=now, version=2, council=COUNCIL, signers=signers, **kwargs)
    return env


# -- genesis --------------------------------------------------------------------------------------
def test_genesis_signed_by_a_threshold_is_trusted(now: datetime) -> None:
    env, _, keys = make_roster(now=now, threshold=2, signers=[GB1, FR1])
    roster = Roster.verify_genesis(env, now=now)
    assert roster.version == 1
    assert roster.federation == "beacon-test"
    assert roster.member_ids() == ["gb", "fr", "jp", "int"]
    assert roster.threshold == 2
    assert roster.council_keyids == tuple(keys[m].public.keyid for m in ("gb", "fr", "jp", "int"))
    assert roster.threshold_result(env).signed == {GB1.public.keyid, FR1.public.keyid}


def test_genesis_below_threshold_is_refused(now: datetime) -> None:
    env, _, _ = make_roster(now=now, council=COUNCIL, threshold=2, signers=[GB1])
    with pytest.raises(ThresholdError, match=r"roster v1 \(self\): signed by 1/3 keys, "
                                             r"threshold 2; 1 more council signature"):
        Roster.verify_genesis(env, now=now)


@pytest.mark.parametrize("signers", [[], [INT1], [GB2, FR2]])
def test_genesis_signed_by_no_council_key_is_refused(now: datetime, signers: list[Any]) -> None:
    env, _, _ = make_roster(now=now, council=COUNCIL, threshold=2, signers=signers)
    with pytest.raises(ThresholdError, match="signed by 0/3 keys, threshold 2; 2 more"):
        Roster.verify_genesis(env, now=now)


def test_genesis_edited_after_signing_is_refused(now: datetime) -> None:
    env, _, _ = make_roster(now=now, council=COUNCIL, threshold=3)
    lowered = resigned(env, {"council": {**decode(env.payload)["council"], "threshold": 1}})
    with pytest.raises(ThresholdError, match="signed by 0/3 keys"):
        Roster.verify_genesis(lowered, now=now)


@pytest.mark.parametrize("expires_in", [timedelta(seconds=-1), timedelta(0)])
def test_expired_genesis_is_refused(now: datetime, expires_in: timedelta) -> None:
    env, _, _ = make_roster(now=now - timedelta(days=1), expires=now + expires_in)
    with pytest.raises(RosterError, match="roster v1 expired at .*the council must sign"):
        Roster.verify_genesis(env, now=now)


def test_roster_is_trusted_until_the_second_it_expires(now: datetime) -> None:
    env, _, _ = make_roster(now=now, expires=now + timedelta(seconds=1))
    roster = Roster.verify_genesis(env, now=now)
    assert not roster.is_expired(now)
    assert roster.is_expired(now + timedelta(seconds=1))


# -- each key counts once (python-tuf GHSA-pwqf-9h7j-7mv8) ----------------------------------------
def test_the_same_signature_repeated_counts_once(now: datetime) -> None:
    env, _, _ = make_roster(now=now, council=COUNCIL, threshold=2, signers=[GB1])
    repeated = Envelope(env.payload_type, env.payload, env.signatures * 3)
    with pytest.raises(ThresholdError, match="signed by 1/3 keys"):
        Roster.verify_genesis(repeated, now=now)


def test_one_keys_signature_under_other_keyid_hints_counts_once(now: datetime) -> None:
    env, _, _ = make_roster(now=now, council=COUNCIL, threshold=2, signers=[GB1])
    sig = env.signatures[0].sig
    disguised = Envelope(env.payload_type, env.payload, (
        Signature(GB1.public.keyid, sig), Signature(FR1.public.keyid, sig),
        Signature(JP1.public.keyid, sig)))
    result = Roster.parse_envelope(disguised).threshold_result(disguised)
    assert result.signed == {GB1.public.keyid}
    assert not result.verified
    with pytest.raises(ThresholdError, match="signed by 1/3 keys"):
        Roster.verify_genesis(disguised, now=now)


def test_a_council_key_listed_twice_is_refused(now: datetime) -> None:
    doc = roster_document(now=now, council=COUNCIL, threshold=2)
    doc["council"]["keyids"].append(GB1.public.keyid)
    with pytest.raises(RosterError, match="council key id appears twice: each key counts once"):
        Roster.verify_genesis(sign_roster(doc, [GB1, FR1, JP1]), now=now)


# -- document rules -------------------------------------------------------------------------------
def test_a_member_listed_twice_is_refused(now: datetime) -> None:
    doc = roster_document(now=now, threshold=2)
    doc["members"].append(doc["members"][0])
    with pytest.raises(RosterError, match="member id appears twice"):
        Roster.verify_genesis(sign_roster(doc, [GB1, FR1]), now=now)


@pytest.mark.parametrize("threshold", [0, -1, 4])
def test_threshold_outside_the_council_is_refused(now: datetime, threshold: int) -> None:
    doc = roster_document(now=now, council=COUNCIL, threshold=threshold)
    with pytest.raises(RosterError, match=f"council threshold {threshold} must be between 1 and 3"):
        Roster.verify_genesis(sign_roster(doc, [GB1, FR1, JP1]), now=now)


def test_council_key_of_no_member_is_refused(now: datetime) -> None:
    doc = roster_document(now=now, threshold=1)
    doc["council"]["keyids"].append(GB2.public.keyid)
    with pytest.raises(RosterError, match="council key .* belongs to no member"):
        Roster.verify_genesis(sign_roster(doc, [GB1]), now=now)


def test_key_id_not_matching_its_public_key_is_refused(now: datetime) -> None:
    doc = roster_document(now=now, threshold=1)
    doc["members"][1]["keys"][0]["public"] = GB1.public.to_b64()  # fr's keyid, gb's key
    with pytest.raises(RosterError, match="does not match its public key"):
        Roster.verify_genesis(sign_roster(doc, [GB1]), now=now)


def test_a_non_roster_envelope_is_refused(now: datetime) -> None:
    env, _, _ = make_roster(now=now)
    with pytest.raises(RosterError, match="not a roster envelope"):
        Roster.verify_genesis(Envelope.sign(payload_type("incident"), env.payload, [GB1]), now=now)


def test_a_roster_envelope_without_a_roster_document_is_refused(now: datetime) -> None:
    doc = roster_document(now=now, threshold=1)
    with pytest.raises(RosterError, match="payload is not a roster document"):
        Roster.verify_genesis(sign_roster({**doc, "type": "incident"}, [GB1]), now=now)


def test_roster_accessors(now: datetime) -> None:
    env, roster, _ = make_roster(now=now)
    assert roster.to_dict() == decode(env.payload)
    gb = roster.member("gb")
    assert gb is not None
    assert (gb.role, gb.log_origin) == ("member", "beacon/gb")
    assert roster.member_ids(role="international-body") == ["int"]
    assert roster.member_ids(role="member") == ["gb", "fr", "jp"]
    assert roster.member("xx") is None
    assert roster.signing_keys("xx", now) == []


# -- rotation -------------------------------------------------------------------------------------
def test_rotation_signed_by_old_and_new_councils_is_accepted(now: datetime, v1: Roster) -> None:
    new = v1.verify_successor(v2(now, [GB1, FR1, GB2, FR2]), now=now)
    assert new.version == 2
    assert set(new.council_keyids) == {GB2.public.keyid, FR2.public.keyid, JP1.public.keyid}
    assert new.signing_keys("gb", now) == [GB2.public]


def test_a_key_on_both_councils_counts_for_both(now: datetime, v1: Roster) -> None:
    # jp is on both councils: gb's old key + jp meets v1's threshold, gb's new key + jp v2's.
    assert v1.verify_successor(v2(now, [GB1, GB2, JP1]), now=now).version == 2


def test_rotation_not_signed_by_the_old_council_is_refused(now: datetime, v1: Roster) -> None:
    with pytest.raises(ThresholdError, match=r"roster v2 by the council of v1: signed by 0/3"):
        v1.verify_successor(v2(now, [GB2, FR2]), now=now)


def test_rotation_not_signed_by_its_own_council_is_refused(now: datetime, v1: Roster) -> None:
    with pytest.raises(ThresholdError, match=r"roster v2 \(self\): signed by 0/3 keys"):
        v1.verify_successor(v2(now, [GB1, FR1]), now=now)


def test_rotation_with_one_old_signature_repeated_is_refused(now: datetime, v1: Roster) -> None:
    env = v2(now, [GB1, GB2, FR2])
    old = env.signatures[0].sig
    padded = Envelope(env.payload_type, env.payload,
                      (*env.signatures, Signature(FR1.public.keyid, old)))
    with pytest.raises(ThresholdError, match="council of v1: signed by 1/3 keys"):
        v1.verify_successor(padded, now=now)


def test_rollback_to_an_older_version_is_refused(now: datetime) -> None:
    env1, _, _ = make_roster(now=now, council=COUNCIL)
    env2, _, _ = make_roster(now=now, council=COUNCIL, version=2)
    trusted = Roster.verify_genesis(env1, now=now).verify_successor(env2, now=now)
    with pytest.raises(RosterError, match="rollback refused: have roster v2, got v1") as info:
        trusted.verify_successor(env1, now=now)
    assert not isinstance(info.value, ThresholdError)


@pytest.mark.parametrize("same", [False, True])
def test_the_same_version_again_is_refused_as_rollback(now: datetime, v1: Roster,
                                                       same: bool) -> None:
    env1, _, _ = make_roster(now=now, council=COUNCIL)
    if not same:  # a different document under the same version number
        env1, _, _ = make_roster(now=now, council=COUNCIL, expires=now + timedelta(days=9))
    with pytest.raises(RosterError, match="rollback refused: have roster v1, got v1"):
        v1.verify_successor(env1, now=now)


def test_skipping_a_version_is_refused(now: datetime, v1: Roster) -> None:
    env3, _, _ = make_roster(now=now, council=COUNCIL, version=3)
    with pytest.raises(RosterError, match="versions rise by one: have v1, got v3; fetch v2"):
        v1.verify_successor(env3, now=now)


def test_rotation_to_another_federation_is_refused(now: datetime, v1: Roster) -> None:
    env, _, _ = make_roster(now=now, council=COUNCIL, version=2, federation="other")
    with pytest.raises(RosterError, match="federation 'other', not 'beacon-test'"):
        v1.verify_successor(env, now=now)


def test_expired_successor_is_refused(now: datetime, v1: Roster) -> None:
    env = v2(now, [GB1, FR1, GB2, FR2], expires=now - timedelta(seconds=1))
    with pytest.raises(RosterError, match="roster v2 expired"):
        v1.verify_successor(env, now=now)


# -- thresholds -----------------------------------------------------------------------------------
def test_threshold_result_reports_signed_unsigned_and_missing() -> None:
    result = ThresholdResult(2, frozenset({"a"}), frozenset({"b", "c"}))
    assert not result.verified
    assert result.missing == 1
    assert result.describe() == "signed by 1/3 keys, threshold 2"
    met = ThresholdResult(2, frozenset({"a", "b", "c"}), frozenset())
    assert met.verified
    assert met.missing == 0


def test_threshold_result_of_a_roster_lists_who_did_not_sign(now: datetime) -> None:
    env, roster, _ = make_roster(now=now, council=COUNCIL, threshold=2, signers=[FR1])
    result = roster.threshold_result(env)
    assert result.signed == {FR1.public.keyid}
    assert result.unsigned == {GB1.public.keyid, JP1.public.keyid}
    assert result.missing == 1


# -- key validity windows and revocation ----------------------------------------------------------
def test_key_window_is_inclusive_then_exclusive(now: datetime) -> None:
    key = RosterKey.from_dict(key_entry(GB1, not_before=now, not_after=now + timedelta(hours=2),
                                        revoked_at=now + timedelta(hours=1)))
    assert not key.valid_at(now - timedelta(seconds=1))
    assert key.valid_at(now)
    assert key.valid_at(now + timedelta(minutes=59))
    assert not key.valid_at(now + timedelta(hours=1))
    key = RosterKey.from_dict(key_entry(GB1, not_before=now, not_after=now + timedelta(hours=2)))
    assert key.valid_at(now + timedelta(hours=2) - timedelta(seconds=1))
    assert not key.valid_at(now + timedelta(hours=2))


def test_revoked_key_signs_only_before_its_revocation(now: datetime) -> None:
    revoked = now - timedelta(hours=1)
    _, roster, _ = make_roster(now=now, revoked_at={"gb": revoked})
    assert roster.signing_keys("gb", revoked - timedelta(seconds=1)) == [GB1.public]
    assert roster.signing_keys("gb", revoked) == []
    assert roster.signing_keys("gb", now) == []
    assert roster.signing_keys("fr", now) == [FR1.public]


def test_rotated_member_key_is_chosen_by_time(now: datetime) -> None:
    switch = now - timedelta(days=1)
    _, roster, _ = make_roster(
        now=now, keys={"gb": GB2},
        extra_keys={"gb": [key_entry(GB1, not_before=now - timedelta(days=60),
                                     not_after=switch)]})
    # GB2 (the member's first key) is valid from 30 days before now.
    assert roster.signing_keys("gb", now - timedelta(days=45)) == [GB1.public]
    assert roster.signing_keys("gb", switch - timedelta(seconds=1)) == [GB2.public, GB1.public]
    assert roster.signing_keys("gb", switch) == [GB2.public]
    assert roster.signing_keys("gb", now - timedelta(days=90)) == []
