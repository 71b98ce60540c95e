"""DSSE envelopes and Ed25519 keys: published vectors verbatim, then tampering.

Exact bytes are asserted only where they come from a specification: the DSSE PAE example
(secure-systems-lab/dsse protocol.md), the DSSE test vectors (testvectors/vectors.json, signed
with the RFC 8032 §7.1 keys) and RFC 8032 itself. Ed25519 is deterministic, so a signature made
here from those seeds must equal the published one byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from federation.envelope import Envelope, Signature, message_type_of, pae, payload_type
from federation.errors import SchemaError, SignatureError
from federation.keys import PublicKey, SigningKey
from tests.unit.conftest import seeded_key

# RFC 8032 §7.1 TEST 1 and TEST 2 (also keys "A" and "B" of the DSSE test vectors).
RFC8032_TEST1_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC8032_TEST1_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
RFC8032_TEST1_SIG_EMPTY = (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
    "b46bd25bf5f0595bbe24655141438e7a100b"
)
RFC8032_TEST2_SEED = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"
RFC8032_TEST2_PUBLIC = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
RFC8032_TEST2_SIG_72 = (
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f1"
    "1d8c387b2eaeb4302aeeb00d291612bb0c00"
)

# DSSE testvectors/vectors.json: payload {"_type":"https://in-toto.io/Statement/v1"}.
DSSE_TYPE = "application/vnd.in-toto+json"
DSSE_PAYLOAD_B64 = "eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEifQ=="
DSSE_PAE_HEX = (
    "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203433207b225f"
    "74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f7631227d"
)
DSSE_SIG_A = ("2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQafWm7AxBZNw5M9ix"
              "NHiCA==")
DSSE_SIG_B = ("c1+67/aT0yqEpwx8PsVY3MLHsj9D0CZ014/Fv/QlG59P+9CobUZ7xECJ/V3USG0Ob9CiE5LjReEZUzNF2"
              "l7eBw==")

KEY_A = SigningKey.from_seed(bytes.fromhex(RFC8032_TEST1_SEED))
KEY_B = SigningKey.from_seed(bytes.fromhex(RFC8032_TEST2_SEED))
INCIDENT_TYPE = "application/vnd.beacon.incident.v1+json"
BODY = b'{"origin":"gb","title":"t","type":"incident"}'


def dsse_envelope(*signatures: dict[str, str], ptype: str = DSSE_TYPE) -> Envelope:
    return Envelope.from_dict({"payload": DSSE_PAYLOAD_B64, "payloadType": ptype,
                               "signatures": list(signatures)})


def flip_bit(data: bytes, index: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


# -- PAE ------------------------------------------------------------------------------------------
def test_pae_matches_the_dsse_protocol_example_verbatim() -> None:
    # secure-systems-lab/dsse protocol.md, "Test Vectors".
    assert pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_pae_matches_the_dsse_single_signature_vector() -> None:
    body = base64.b64decode(DSSE_PAYLOAD_B64)
    assert pae(DSSE_TYPE, body) == bytes.fromhex(DSSE_PAE_HEX)


def test_pae_counts_bytes_of_a_non_ascii_type() -> None:
    # DSSE vector "non-ascii-payload-type": LEN is 29 bytes, not the 28 characters.
    assert pae("application/vnd.exämple+json", b"x").startswith(
        b"DSSEv1 29 application/vnd.ex\xc3\xa4mple+json 1 ")


def test_pae_of_an_empty_body_ends_with_a_space() -> None:
    # DSSE vector "empty-payload".
    assert pae(DSSE_TYPE, b"") == bytes.fromhex(
        "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203020")


def test_pae_keeps_the_body_verbatim() -> None:
    assert pae("t", b"a b\n\x00") == b"DSSEv1 1 t 5 a b\n\x00"


# -- Ed25519 keys ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("seed", "public", "message", "signature"), [
    (RFC8032_TEST1_SEED, RFC8032_TEST1_PUBLIC, b"", RFC8032_TEST1_SIG_EMPTY),
    (RFC8032_TEST2_SEED, RFC8032_TEST2_PUBLIC, b"\x72", RFC8032_TEST2_SIG_72),
])
def test_signing_key_matches_rfc8032_vectors(seed: str, public: str, message: bytes,
                                             signature: str) -> None:
    key = SigningKey.from_seed(bytes.fromhex(seed))
    assert key.public.raw.hex() == public
    assert key.sign(message).hex() == signature
    key.public.verify(message, bytes.fromhex(signature))


def test_keyid_is_the_sha256_of_the_raw_public_key() -> None:
    assert KEY_A.public.keyid == hashlib.sha256(bytes.fromhex(RFC8032_TEST1_PUBLIC)).hexdigest()


def test_public_key_round_trips_through_base64() -> None:
    text = KEY_A.public.to_b64()
    assert base64.b64decode(text).hex() == RFC8032_TEST1_PUBLIC
    assert PublicKey.from_b64(text) == KEY_A.public


@pytest.mark.parametrize("raw", [b"", bytes(31), bytes(33)])
def test_public_key_of_wrong_length_is_refused(raw: bytes) -> None:
    with pytest.raises(SignatureError, match=f"32 bytes, got {len(raw)}"):
        PublicKey.from_b64(base64.b64encode(raw).decode())


@pytest.mark.parametrize("seed", [b"", bytes(31), bytes(64)])
def test_seed_of_wrong_length_is_refused(seed: bytes) -> None:
    with pytest.raises(SignatureError, match=f"32 bytes, got {len(seed)}"):
        SigningKey.from_seed(seed)


def test_signing_key_repr_does_not_leak_the_seed() -> None:
    text = repr(KEY_A)
    assert RFC8032_TEST1_SEED not in text
    assert KEY_A.public.keyid[:16] in text


def test_public_key_verify_refuses_a_wrong_message() -> None:
    with pytest.raises(SignatureError, match="does not verify"):
        KEY_A.public.verify(b"\x01", bytes.fromhex(RFC8032_TEST1_SIG_EMPTY))


# -- DSSE test vectors ----------------------------------------------------------------------------
def test_signing_reproduces_the_dsse_vector_signature() -> None:
    env = Envelope.sign(DSSE_TYPE, base64.b64decode(DSSE_PAYLOAD_B64), [KEY_A])
    assert env.signatures == (Signature(KEY_A.public.keyid, base64.b64decode(DSSE_SIG_A)),)


def test_dsse_single_signature_vector_verifies() -> None:
    env = dsse_envelope({"sig": DSSE_SIG_A, "keyid": "A"})
    assert env.verify_with([KEY_B.public, KEY_A.public]) == KEY_A.public


def test_dsse_payload_type_swapped_vector_is_rejected() -> None:
    env = dsse_envelope({"sig": DSSE_SIG_A, "keyid": "A"},
                        ptype="application/vnd.example.other+json")
    with pytest.raises(SignatureError, match="no signature"):
        env.verify_with([KEY_A.public])
    assert env.signed_by([KEY_A.public]) == set()


def test_dsse_two_distinct_keys_count_twice() -> None:
    env = dsse_envelope({"sig": DSSE_SIG_A, "keyid": "A"}, {"sig": DSSE_SIG_B, "keyid": "B"})
    assert env.signed_by([KEY_A.public, KEY_B.public]) == {KEY_A.public.keyid,
                                                            KEY_B.public.keyid}


def test_dsse_one_key_signing_twice_counts_once() -> None:
    # DSSE vector "threshold-two-one-key-twice": must not meet a threshold of two.
    env = dsse_envelope({"sig": DSSE_SIG_A, "keyid": "A"}, {"sig": DSSE_SIG_A, "keyid": "A"})
    assert env.signed_by([KEY_A.public, KEY_B.public]) == {KEY_A.public.keyid}


def test_dsse_signatures_without_keyids_still_verify() -> None:
    env = dsse_envelope({"sig": DSSE_SIG_A}, {"sig": DSSE_SIG_B})
    assert env.signed_by([KEY_A.public, KEY_B.public]) == {KEY_A.public.keyid,
                                                            KEY_B.public.keyid}


# -- payload types --------------------------------------------------------------------------------
def test_payload_type_names_the_beacon_message_type() -> None:
    assert payload_type("incident") == INCIDENT_TYPE
    assert message_type_of(INCIDENT_TYPE) == "incident"


@pytest.mark.parametrize("ptype", [
    "application/json", "application/vnd.beacon.incident.v2+json", DSSE_TYPE, "",
])
def test_foreign_payload_type_is_refused(ptype: str) -> None:
    with pytest.raises(SchemaError, match=r"\$\.payloadType: not a Beacon payload type"):
        message_type_of(ptype)


# -- sign and verify ------------------------------------------------------------------------------
@pytest.fixture
def signed() -> Envelope:
    return Envelope.sign(INCIDENT_TYPE, BODY, [seeded_key(1)])


def test_signed_envelope_verifies_with_its_key(signed: Envelope) -> None:
    key = seeded_key(1).public
    assert signed.verify_with([key]) == key
    assert signed.signatures[0].keyid == key.keyid
    key.verify(pae(INCIDENT_TYPE, BODY), signed.signatures[0].sig)


def test_verify_returns_the_signer_among_many_trusted_keys(signed: Envelope) -> None:
    trusted = [seeded_key(n).public for n in (2, 3, 1, 4)]
    assert signed.verify_with(trusted) == seeded_key(1).public


@pytest.mark.parametrize("index", [0, len(BODY) // 2, len(BODY) - 1])
def test_one_bit_of_payload_changed_fails(signed: Envelope, index: int) -> None:
    tampered = Envelope(signed.payload_type, flip_bit(signed.payload, index), signed.signatures)
    with pytest.raises(SignatureError):
        tampered.verify_with([seeded_key(1).public])


@pytest.mark.parametrize("ptype", [
    "application/vnd.beacon.checkpoint.v1+json", "application/vnd.beacon.incident.v1+jsoN",
])
def test_payload_type_changed_fails(signed: Envelope, ptype: str) -> None:
    tampered = Envelope(ptype, signed.payload, signed.signatures)
    with pytest.raises(SignatureError):
        tampered.verify_with([seeded_key(1).public])


@pytest.mark.parametrize(("index", "bit"), [(0, 0), (31, 7), (32, 0), (63, 7)])
def test_one_bit_of_signature_changed_fails(signed: Envelope, index: int, bit: int) -> None:
    sig = signed.signatures[0]
    tampered = Envelope(signed.payload_type, signed.payload,
                        (Signature(sig.keyid, flip_bit(sig.sig, index, bit)),))
    with pytest.raises(SignatureError):
        tampered.verify_with([seeded_key(1).public])


@pytest.mark.parametrize("sig", [b"", bytes(63), bytes(64), bytes(65)])
def test_empty_or_malformed_signature_fails(signed: Envelope, sig: bytes) -> None:
    tampered = Envelope(signed.payload_type, signed.payload, (Signature("", sig),))
    with pytest.raises(SignatureError):
        tampered.verify_with([seeded_key(1).public])


def test_envelope_signed_by_the_wrong_key_fails() -> None:
    env = Envelope.sign(INCIDENT_TYPE, BODY, [seeded_key(2)])
    with pytest.raises(SignatureError, match="no signature on the envelope verifies"):
        env.verify_with([seeded_key(1).public])
    assert env.signed_by([seeded_key(1).public]) == set()


def test_no_trusted_keys_fails(signed: Envelope) -> None:
    with pytest.raises(SignatureError):
        signed.verify_with([])


@pytest.mark.parametrize("hint", ["", "not-a-keyid", "KEYID-OF-KEY-2"])
def test_keyid_hint_is_only_a_hint(signed: Envelope, hint: str) -> None:
    if hint == "KEYID-OF-KEY-2":
        hint = seeded_key(2).public.keyid
    forged = Envelope(signed.payload_type, signed.payload,
                      (Signature(hint, signed.signatures[0].sig),))
    # A forged hint neither helps ...
    with pytest.raises(SignatureError):
        forged.verify_with([seeded_key(2).public])
    assert forged.signed_by([seeded_key(2).public]) == set()
    # ... nor hurts.
    assert forged.verify_with([seeded_key(2).public, seeded_key(1).public]) == seeded_key(1).public
    assert forged.signed_by([seeded_key(1).public]) == {seeded_key(1).public.keyid}


def test_signed_by_counts_each_key_once_whatever_the_hints(signed: Envelope) -> None:
    sig = signed.signatures[0].sig
    repeated = Envelope(signed.payload_type, signed.payload, (
        Signature(seeded_key(1).public.keyid, sig),
        Signature(seeded_key(2).public.keyid, sig),
        Signature(seeded_key(3).public.keyid, sig),
    ))
    trusted = [seeded_key(n).public for n in (1, 2, 3)]
    assert repeated.signed_by(trusted) == {seeded_key(1).public.keyid}


def test_multi_signature_envelope_is_signed_by_each_key() -> None:
    keys = [seeded_key(n) for n in (1, 2, 3)]
    env = Envelope.sign(INCIDENT_TYPE, BODY, keys)
    assert env.signed_by([k.public for k in keys] + [seeded_key(4).public]) == \
        {k.public.keyid for k in keys}


def test_add_signature_co_signs(signed: Envelope) -> None:
    cosigned = signed.add_signature(seeded_key(2))
    assert cosigned.payload == signed.payload
    assert cosigned.signed_by([seeded_key(1).public, seeded_key(2).public]) == \
        {seeded_key(1).public.keyid, seeded_key(2).public.keyid}


def test_add_signature_is_a_no_op_for_a_key_that_signed(signed: Envelope) -> None:
    assert signed.add_signature(seeded_key(1)) == signed


def test_add_signature_is_not_fooled_by_a_forged_hint(signed: Envelope) -> None:
    # A junk signature that merely claims key 2's id must not stop key 2 from signing.
    junk = Envelope(signed.payload_type, signed.payload,
                    (*signed.signatures, Signature(seeded_key(2).public.keyid, bytes(64))))
    cosigned = junk.add_signature(seeded_key(2))
    assert seeded_key(2).public.keyid in cosigned.signed_by([seeded_key(2).public])


# -- wire form ------------------------------------------------------------------------------------
def test_json_round_trip_keeps_the_exact_bytes(signed: Envelope) -> None:
    back = Envelope.from_json(signed.to_json())
    assert back == signed
    back.verify_with([seeded_key(1).public])


def test_wire_form_is_dsse_json_with_standard_base64(signed: Envelope) -> None:
    doc = json.loads(signed.to_json())
    assert set(doc) == {"payloadType", "payload", "signatures"}
    assert doc["payloadType"] == INCIDENT_TYPE
    assert base64.b64decode(doc["payload"], validate=True) == BODY
    assert doc["signatures"] == [{"keyid": seeded_key(1).public.keyid,
                                  "sig": base64.b64encode(signed.signatures[0].sig).decode()}]


def test_envelope_that_is_not_json_is_refused() -> None:
    with pytest.raises(SchemaError, match=r"^\$: envelope is not JSON"):
        Envelope.from_json(b"{not json")


def test_envelope_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(SchemaError, match=r"^\$: envelope is not JSON"):
        Envelope.from_json(b'{"payload": "\xff"}')


def good_wire() -> dict[str, Any]:
    return Envelope.sign(INCIDENT_TYPE, BODY, [seeded_key(1)]).to_dict()


@pytest.mark.parametrize(("change", "path"), [
    ({"payloadType": None}, "$.payloadType"),
    ({"payloadType": 7}, "$.payloadType"),
    ({"payload": None}, "$.payload"),
    ({"payload": "not base64!"}, "$.payload"),
    ({"payload": "é"}, "$.payload"),
    ({"signatures": None}, "$.signatures"),
    ({"signatures": []}, "$.signatures"),
    ({"signatures": {}}, "$.signatures"),
    ({"signatures": ["x"]}, "$.signatures[0]"),
    ({"signatures": [{"keyid": "k"}]}, "$.signatures[0]"),
    ({"signatures": [{"keyid": "k", "sig": "***"}]}, "$.signatures[0].sig"),
])
def test_malformed_envelope_names_the_bad_field(change: dict[str, Any], path: str) -> None:
    doc = {**good_wire(), **change}
    doc = {k: v for k, v in doc.items() if v is not None}
    with pytest.raises(SchemaError) as info:
        Envelope.from_dict(doc)
    assert path in [p.path for p in info.value.problems]


@pytest.mark.parametrize("doc", [[], "envelope", 1, None])
def test_envelope_must_be_an_object(doc: Any) -> None:
    with pytest.raises(SchemaError, match=r"^\$: an envelope is a JSON object"):
        Envelope.from_dict(doc)
