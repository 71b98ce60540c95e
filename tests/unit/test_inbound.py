"""check_inbound: a good message passes; each bad one is refused with the right reason code."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from federation.canonical import encode
from federation.envelope import Envelope, Signature, payload_type
from federation.errors import Error, RejectedMessage
from federation.inbound import InboundPolicy, Verified, check_inbound
from federation.keys import SigningKey
from federation.links import link_body
from federation.roster import Roster
from federation.schema import SchemaSet
from federation.subjects import subject_for
from tests.unit.factories import (
    OMIT,
    incident_document,
    key_entry,
    make_roster,
    member_key,
    signed_incident,
)

POLICY = InboundPolicy()
STRANGER = SigningKey.from_seed(hashlib.sha256(b"not in any roster").digest())


@pytest.fixture
def roster(now: datetime) -> Roster:
    env, _, _ = make_roster(now=now)
    return Roster.verify_genesis(env, now=now)


@pytest.fixture
def check(roster: Roster, schemas: SchemaSet, now: datetime) -> Any:
    def run(message: Envelope | bytes, subject: str, *, received_at: datetime = now,
            policy: InboundPolicy = POLICY, trusted: Roster = roster) -> Verified:
        data = message.to_json() if isinstance(message, Envelope) else message
        return check_inbound(data, subject, trusted, schemas, received_at=received_at,
                             policy=policy)
    return run


def rejected(check: Any, reason: str, message: Envelope | bytes, subject: str,
             **kwargs: Any) -> RejectedMessage:
    with pytest.raises(RejectedMessage, match=f"^{reason}: ") as info:
        check(message, subject, **kwargs)
    assert info.value.reason == reason
    return info.value


def wire(env: Envelope, **changes: Any) -> bytes:
    return json.dumps({**env.to_dict(), **changes}).encode()


# -- the good message -----------------------------------------------------------------------------
def test_a_good_message_passes(check: Any, now: datetime) -> None:
    env, subject = signed_incident(member_key("gb"), "gb", now)
    verified = check(env, subject)
    assert (verified.message_type, verified.origin) == ("incident", "gb")
    assert verified.digest == hashlib.sha256(env.payload).hexdigest()
    assert verified.envelope == env
    assert verified.document == incident_document("gb", now)


def test_each_member_passes_on_its_own_subject(check: Any, now: datetime) -> None:
    for member in ("gb", "fr", "jp", "int"):
        env, subject = signed_incident(member_key(member), member, now)
        assert check(env, subject).origin == member


def test_a_rejection_is_a_beacon_error_with_reason_and_detail(check: Any) -> None:
    with pytest.raises(Error) as info:
        check(b"{}", "beacon.v1.incident.gb")
    assert isinstance(info.value, RejectedMessage)
    assert info.value.reason == "malformed-envelope"
    assert "$.payloadType" in info.value.detail


# -- size and shape -------------------------------------------------------------------------------
def test_oversize_message_is_refused_before_anything_else(check: Any, now: datetime) -> None:
    env, subject = signed_incident(STRANGER, "gb", now)
    data = env.to_json()
    small = InboundPolicy(max_bytes=len(data) - 1)
    error = rejected(check, "oversize", data, subject, policy=small)
    assert error.detail == f"{len(data)} bytes, limit {len(data) - 1}"


def test_a_message_of_exactly_the_limit_passes(check: Any, now: datetime) -> None:
    env, subject = signed_incident(member_key("gb"), "gb", now)
    check(env, subject, policy=InboundPolicy(max_bytes=len(env.to_json())))


@pytest.mark.parametrize("data", [
    b"", b"not json", b"[]", b'"envelope"', b"{}", b"\xff\xfe",
    b'{"signatures": ' + b"[" * 1000 + b"]" * 1000 + b"}",  # a RecursionError once
    b'{"payloadType": "application/vnd.beacon.incident.v1+json", "payload": "e30="}',
])
def test_malformed_envelope(check: Any, data: bytes) -> None:
    rejected(check, "malformed-envelope", data, "beacon.v1.incident.gb")


@pytest.mark.parametrize("change", [
    {"signatures": []},  # envelope.v1.json: minItems 1
    {"payload": "not base64!"},
    {"signatures": [{"keyid": "x"}]},
    {"signatures": [{"keyid": "x", "sig": "***"}]},
])
def test_malformed_envelope_fields(check: Any, now: datetime, change: dict[str, Any]) -> None:
    env, subject = signed_incident(member_key("gb"), "gb", now)
    rejected(check, "malformed-envelope", wire(env, **change), subject)


# -- subject --------------------------------------------------------------------------------------
@pytest.mark.parametrize("subject", [
    "incident.gb", "beacon.v2.incident.gb", "other.v1.incident.gb", "beacon.v1.incident", "",
])
def test_bad_subject(check: Any, now: datetime, subject: str) -> None:
    env, _ = signed_incident(member_key("gb"), "gb", now)
    rejected(check, "bad-subject", env, subject)


def test_payload_type_published_on_another_types_subject(check: Any, now: datetime) -> None:
    env, _ = signed_incident(member_key("gb"), "gb", now)
    error = rejected(check, "subject-mismatch", env, subject_for("checkpoint", "gb"))
    assert "'incident'" in error.detail and "'checkpoint'" in error.detail


def test_foreign_payload_type(check: Any, now: datetime) -> None:
    body = encode(incident_document("gb", now))
    env = Envelope.sign("application/json", body, [member_key("gb")])
    rejected(check, "bad-payload-type", env, subject_for("incident", "gb"))


def test_unknown_origin(check: Any, now: datetime) -> None:
    env, subject = signed_incident(STRANGER, "xx", now)
    error = rejected(check, "unknown-origin", env, subject)
    assert error.detail == "'xx' is not in roster v1"


# -- signature ------------------------------------------------------------------------------------
def test_tampered_payload(check: Any, now: datetime) -> None:
    env, subject = signed_incident(member_key("gb"), "gb", now)
    edited = encode(incident_document("gb", now, severity="disaster"))
    rejected(check, "bad-signature", Envelope(env.payload_type, edited, env.signatures), subject)


def test_one_bit_of_the_signature_flipped(check: Any, now: datetime) -> None:
    env, subject = signed_incident(member_key("gb"), "gb", now)
    sig = bytearray(env.signatures[0].sig)
    sig[10] ^= 0x01
    tampered = Envelope(env.payload_type, env.payload,
                        (Signature(env.signatures[0].keyid, bytes(sig)),))
    rejected(check, "bad-signature", tampered, subject)


@pytest.mark.parametrize("sig", ["", base64.b64encode(bytes(64)).decode()])
def test_unsigned_message(check: Any, now: datetime, sig: str) -> None:
    env, subject = signed_incident(member_key("gb"), "gb", now)
    data = wire(env, signatures=[{"keyid": member_key("gb").public.keyid, "sig": sig}])
    rejected(check, "bad-signature", data, subject)


def test_signed_by_a_key_outside_the_roster(check: Any, now: datetime) -> None:
    env, subject = signed_incident(STRANGER, "gb", now)
    error = rejected(check, "bad-signature", env, subject)
    assert "'gb'" in error.detail


def test_signature_is_checked_before_the_payload_is_parsed(check: Any, now: datetime) -> None:
    env = Envelope.sign(payload_type("incident"), b"{not json", [STRANGER])
    rejected(check, "bad-signature", env, subject_for("incident", "gb"))


# -- origin = signer = subject --------------------------------------------------------------------
def test_body_claiming_another_origin(check: Any, now: datetime) -> None:
    # Signed by fr, published on fr's subject, but the body says gb.
    env, subject = signed_incident(member_key("fr"), "fr", now, origin="gb")
    error = rejected(check, "origin-mismatch", env, subject)
    assert "'fr'" in error.detail and "'gb'" in error.detail


@pytest.mark.parametrize("body_origin", ["gb", "fr"])
def test_signed_by_one_member_published_as_another(check: Any, now: datetime,
                                                   body_origin: str) -> None:
    env, _ = signed_incident(member_key("gb"), "gb", now, origin=body_origin)
    error = rejected(check, "origin-mismatch", env, subject_for("incident", "fr"))
    assert error.detail == "signed by 'gb' but published as 'fr'"


def test_body_type_differs_from_the_payload_type(check: Any, now: datetime) -> None:
    env, subject = signed_incident(member_key("gb"), "gb", now, type="checkpoint")
    rejected(check, "type-mismatch", env, subject)


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b"\xff",
                                  b'{"a":' * 1000 + b"1" + b"}" * 1000,  # RecursionError once
                                  b"[" * 5000 + b"]" * 5000, b'{"t": "\\ud800"}'])
def test_signed_payload_that_is_not_a_json_object(check: Any, body: bytes) -> None:
    env = Envelope.sign(payload_type("incident"), body, [member_key("gb")])
    rejected(check, "malformed-payload", env, subject_for("incident", "gb"))


# -- clock skew -----------------------------------------------------------------------------------
@pytest.mark.parametrize("offset", [timedelta(minutes=6), timedelta(minutes=-6),
                                    timedelta(minutes=5, seconds=1), timedelta(days=-1)])
def test_issued_at_too_far_from_receipt(check: Any, now: datetime, offset: timedelta) -> None:
    env, subject = signed_incident(member_key("gb"), "gb", now + offset)
    error = rejected(check, "clock-skew", env, subject, received_at=now)
    assert "0:05:00" in error.detail


@pytest.mark.parametrize("offset", [timedelta(minutes=5), timedelta(minutes=-5), timedelta(0)])
def test_issued_at_within_the_skew_passes(check: Any, now: datetime, offset: timedelta) -> None:
    env, subject = signed_incident(member_key("gb"), "gb", now + offset)
    check(env, subject, received_at=now)


def test_skew_is_measured_against_the_servers_receipt_time(check: Any, now: datetime) -> None:
    # A node catching up a day later passes the JetStream time of the message, not its clock.
    day_ago = now - timedelta(days=1)
    env, subject = signed_incident(member_key("gb"), "gb", day_ago)
    check(env, subject, received_at=day_ago + timedelta(seconds=2))


def test_skew_is_configurable(check: Any, now: datetime) -> None:
    env, subject = signed_incident(member_key("gb"), "gb", now - timedelta(minutes=30))
    check(env, subject, policy=InboundPolicy(max_skew=timedelta(hours=1)))
    rejected(check, "clock-skew", env, subject,
             policy=InboundPolicy(max_skew=timedelta(minutes=29)))


@pytest.mark.parametrize("issued_at", [OMIT, "yesterday", 5, "2026-11-20T12:00:00"])
def test_missing_or_unreadable_issued_at(check: Any, now: datetime, issued_at: Any) -> None:
    env, subject = signed_incident(member_key("gb"), "gb", now, issued_at=issued_at)
    error = rejected(check, "schema", env, subject)
    assert "$.issued_at" in error.detail


# -- schema ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("change", "path"), [
    ({"severity": "catastrophic"}, "$.severity"),
    ({"title": OMIT}, "$.title"),
    ({"tlp": "PINK"}, "$.tlp"),
    ({"harm_types": ["boredom"]}, "$.harm_types[0]"),
])
def test_schema_failure(check: Any, now: datetime, change: dict[str, Any], path: str) -> None:
    env, subject = signed_incident(member_key("gb"), "gb", now, **change)
    error = rejected(check, "schema", env, subject)
    assert error.detail.startswith(f"{path}: ")


# -- revoked keys ---------------------------------------------------------------------------------
@pytest.fixture
def revoked_roster(now: datetime) -> Roster:
    """gb's only key was revoked an hour before ``now``."""
    env, _, _ = make_roster(now=now, revoked_at={"gb": now - timedelta(hours=1)})
    return Roster.verify_genesis(env, now=now)


def test_message_signed_with_a_revoked_key(check: Any, now: datetime,
                                           revoked_roster: Roster) -> None:
    env, subject = signed_incident(member_key("gb"), "gb", now)
    rejected(check, "revoked-key", env, subject, trusted=revoked_roster)


def test_message_received_before_the_revocation_still_passes(check: Any, now: datetime,
                                                             revoked_roster: Roster) -> None:
    sent = now - timedelta(hours=2)
    env, subject = signed_incident(member_key("gb"), "gb", sent)
    assert check(env, subject, received_at=sent, trusted=revoked_roster).origin == "gb"


def test_back_dating_does_not_evade_the_revocation(check: Any, now: datetime,
                                                   revoked_roster: Roster) -> None:
    # issued_at claims before the revocation, but the server received it after.
    sent = now - timedelta(hours=1, seconds=1)
    env, subject = signed_incident(member_key("gb"), "gb", sent)
    rejected(check, "revoked-key", env, subject, received_at=now, trusted=revoked_roster)


def test_old_key_after_rotation_is_reported_as_revoked(check: Any, now: datetime) -> None:
    revoked = now - timedelta(hours=1)
    old = key_entry(member_key("gb"), not_before=now - timedelta(days=60), revoked_at=revoked)
    env, _, _ = make_roster(now=now, keys={"gb": member_key("gb", 2)}, extra_keys={"gb": [old]})
    rotated = Roster.verify_genesis(env, now=now)
    stale, subject = signed_incident(member_key("gb"), "gb", now)
    error = rejected(check, "revoked-key", stale, subject, trusted=rotated)
    assert "signed by a key of 'gb' that was not valid" in error.detail
    fresh, subject = signed_incident(member_key("gb", 2), "gb", now)
    assert check(fresh, subject, trusted=rotated).origin == "gb"


# -- a member speaks only for its own reports ------------------------------------------------------
def test_a_link_about_another_members_report_is_refused(check: Any, now: datetime) -> None:
    def link(incident_id: str) -> Envelope:
        doc = link_body(incident_id, "jp-00000000000000aa", "same-as", origin="fr", now=now)
        return Envelope.sign(payload_type("link"), encode(doc), [member_key("fr")])
    assert check(link("fr-00000000000000bb"), subject_for("link", "fr")).message_type == "link"
    error = rejected(check, "not-owner", link("gb-00000000000000bb"), subject_for("link", "fr"))
    assert "'gb-00000000000000bb'" in error.detail

