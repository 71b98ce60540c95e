"""Hostile input to ``check_inbound``, property-based: every mutation of a good message is either
refused with a specific reason or verifies; nothing else ever escapes (DESIGN §4).

Each property starts from the same valid, signed incident and mutates one thing: the raw bytes,
one envelope field (``payloadType``, ``payload``, ``signatures`` and each ``keyid``/``sig``), the
body (re-signed with the member's real key, so the mutation reaches parsing and the schema: every
field, nested objects included), or the subject. Hand-written hostile bodies (deep nesting,
invalid UTF-8, NaN, duplicate keys, big integers, lone surrogates) must be refused as
``malformed-payload`` — never as a ``RecursionError`` or ``ValueError``. A message that verifies
must also be one the node can store: JCS-encodable (no NaN, no lone surrogates, no big integers).
No I/O: thousands of examples in seconds.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from federation.canonical import encode
from federation.envelope import Envelope, payload_type
from federation.errors import RejectedMessage
from federation.inbound import InboundPolicy, Verified, check_inbound
from federation.keys import b64
from federation.roster import Roster
from federation.schema import SchemaSet
from node.core.schemas import default_schemas
from tests.unit.conftest import NOW
from tests.unit.factories import incident_document, make_roster, member_key
from tests.unit.hostile import hostile_bodies, json_values, paths, replaced

REASONS = frozenset({
    "oversize", "malformed-envelope", "bad-subject", "bad-payload-type", "subject-mismatch",
    "unknown-origin", "revoked-key", "origin-mismatch", "bad-signature", "malformed-payload",
    "type-mismatch", "clock-skew", "schema",
})
FUZZ = settings(max_examples=1000, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ROSTER = Roster.verify_genesis(make_roster(now=NOW)[0], now=NOW)
SCHEMAS: SchemaSet = default_schemas()
POLICY = InboundPolicy()
GB = member_key("gb")
DOC = incident_document("gb", NOW)
SUBJECT = "beacon.v1.incident.gb.serious-incident"
GOOD = Envelope.sign(payload_type("incident"), encode(DOC), [GB])

def check(data: bytes, subject: str = SUBJECT, *, at: datetime = NOW) -> Verified | str:
    """The verified message, or the reason it was refused; any other exception propagates."""
    try:
        verified = check_inbound(data, subject, ROSTER, SCHEMAS, received_at=at, policy=POLICY)
    except RejectedMessage as e:
        assert e.reason in REASONS, e
        return e.reason
    encode(verified.document)  # what verifies can be stored: JCS can encode it
    return verified


def signed(body: bytes) -> bytes:
    return Envelope.sign(payload_type("incident"), body, [GB]).to_json()


BODY_PATHS = paths(DOC)


def test_the_unmutated_message_verifies() -> None:
    assert isinstance(check(GOOD.to_json()), Verified)  # the baseline the mutations start from


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_are_a_malformed_envelope(data: bytes) -> None:
    assert check(data) == "malformed-envelope"


@FUZZ
@given(st.sampled_from(["payloadType", "payload", "signatures"]), json_values,
       st.booleans())
def test_each_envelope_field_mutated(name: str, value: Any, delete: bool) -> None:
    env = GOOD.to_dict()
    if delete:
        del env[name]
    else:
        env[name] = value
    result = check(json.dumps(env).encode())
    # Without the signer's key the mutation cannot produce a new valid message; at most it
    # reproduces the good one (e.g. the same payload type string).
    assert result in REASONS or (isinstance(result, Verified) and result.envelope == GOOD)


@FUZZ
@given(st.sampled_from(["keyid", "sig"]), json_values, st.integers(0, 3))
def test_each_signature_field_mutated(name: str, value: Any, copies: int) -> None:
    env = GOOD.to_dict()
    sig = {**env["signatures"][0], name: value}
    env["signatures"] = [sig] * max(1, copies)
    result = check(json.dumps(env).encode())
    if name == "keyid":  # only a hint: the signature still verifies
        assert isinstance(result, Verified) or result == "malformed-envelope"
    else:
        assert result in {"malformed-envelope", "bad-signature"}


@FUZZ
@given(st.sampled_from(BODY_PATHS), json_values, st.booleans())
def test_each_body_field_mutated_and_resigned(path: tuple[Any, ...], value: Any,
                                              delete: bool) -> None:
    doc = replaced(DOC, path, value, delete=delete)
    result = check(signed(json.dumps(doc, allow_nan=True).encode()))
    assert isinstance(result, Verified) or result in {
        "malformed-payload", "schema", "origin-mismatch", "type-mismatch", "clock-skew"}


@FUZZ
@given(st.binary(max_size=500) | st.text(max_size=200).map(lambda t: t.encode("utf-8",
                                                                             "surrogatepass")))
def test_arbitrary_signed_bodies(body: bytes) -> None:
    assert check(signed(body)) in {"malformed-payload", "origin-mismatch"}


@FUZZ
@given(st.text(max_size=60), st.booleans())
def test_the_subject_mutated(subject: str, dotted: bool) -> None:
    result = check(GOOD.to_json(), f"beacon.v1.{subject}" if dotted else subject)
    assert result in REASONS or (isinstance(result, Verified) and result.origin == "gb")


@FUZZ
@given(st.integers(-20 * 86400, 20 * 86400))  # inside the key's validity window
def test_issued_at_against_receipt_time(offset: int) -> None:
    result = check(GOOD.to_json(), at=NOW + timedelta(seconds=offset))
    within = abs(offset) <= POLICY.max_skew.total_seconds()
    assert (isinstance(result, Verified) if within else result == "clock-skew")


HOSTILE_BODIES = hostile_bodies(encode(DOC))


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
def test_hostile_bodies_are_malformed_payloads(name: str) -> None:
    assert HOSTILE_BODIES[name] != encode(DOC)
    assert check(signed(HOSTILE_BODIES[name])) == "malformed-payload"


@pytest.mark.parametrize("name", ["deep array", "NaN", "duplicate key", "big integer"])
def test_hostile_envelopes_are_malformed(name: str) -> None:
    # The same hostility one level up, in the envelope's own JSON around a valid payload.
    hostile = HOSTILE_BODIES[name].replace(b'"title"', b'"extra"')
    data = hostile[:-1] + b',' + GOOD.to_json()[1:]
    assert check(data) == "malformed-envelope"


def test_a_huge_message_is_oversize() -> None:
    huge = encode({**DOC, "title": "x" * 300_000})
    assert check(signed(huge)) == "oversize"


def test_a_payload_of_another_type_is_a_subject_mismatch() -> None:
    env = Envelope.sign(payload_type("escalation"), encode(DOC), [GB])
    assert check(env.to_json()) == "subject-mismatch"
    raw = {**GOOD.to_dict(), "payload": b64(b"\x00" * 10)}
    assert check(json.dumps(raw).encode()) == "bad-signature"
