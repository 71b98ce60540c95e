"""TLP rules: what travels per label, stubs, recipients, and sealing to them end to end."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from federation.canonical import encode
from federation.envelope import Envelope, payload_type
from federation.errors import Error, RejectedMessage
from federation.inbound import InboundPolicy, check_inbound
from federation.keys import EncryptionKey, b64, keyid_of, unb64
from federation.roster import Roster
from federation.schema import SchemaSet
from federation.subjects import subject_for
from federation.timeutil import format_time
from federation.tlp import (
    PAD_BLOCK,
    STIX_MARKING_IDS,
    STUB_FIELDS,
    TLP_LABELS,
    Audience,
    RecipientError,
    RecipientKey,
    SealedError,
    TLPError,
    check_opened,
    distribution,
    is_recipient,
    iso_week,
    make_stub,
    may_export,
    open_sealed,
    recipients_for,
    seal,
    stix_marking_ref,
    unseal_incident,
)
from tests.unit.factories import (
    MEMBERS,
    OMIT,
    incident_document,
    member_key,
    roster_document,
    sign_roster,
    signed_incident,
)

POLICY = InboundPolicy()
STRICT = "AMBER+STRICT"


def enc_key(member: str, generation: int = 1) -> EncryptionKey:
    """The fixed-seed X25519 key of ``member``."""
    return EncryptionKey(hashlib.sha256(f"beacon-test-x25519/{member}/{generation}".encode())
                         .digest())


def enc_entry(key: EncryptionKey, *, not_before: datetime,
              revoked_at: datetime | None = None) -> dict[str, Any]:
    entry = {"keyid": keyid_of(unb64(key.public_b64)), "scheme": "x25519",
             "public": key.public_b64, "not_before": format_time(not_before)}
    if revoked_at is not None:
        entry["revoked_at"] = format_time(revoked_at)
    return entry


def make_enc_roster(now: datetime, *, members: Sequence[str] = MEMBERS,
                    without: Sequence[str] = (), revoked: Sequence[str] = (),
                    extra: dict[str, list[dict[str, Any]]] | None = None) -> Roster:
    """A verified roster whose members (except ``without``) carry one x25519 key each."""
    doc = roster_document(members, 2, now=now)
    since = now - timedelta(days=30)
    for m in doc["members"]:
        if m["id"] not in without:
            m["encryption_keys"] = [enc_entry(enc_key(m["id"]), not_before=since,
                                              revoked_at=now - timedelta(days=1)
                                              if m["id"] in revoked else None)]
        m["encryption_keys"] = [*m.get("encryption_keys", []), *(extra or {}).get(m["id"], [])]
    env = sign_roster(doc, [member_key(m) for m in members])
    return Roster.verify_genesis(env, now=now)


@pytest.fixture
def roster(now: datetime) -> Roster:
    return make_enc_roster(now)


def strict_incident(now: datetime, affected: Sequence[str] = ("fr",), **overrides: Any
                    ) -> tuple[Envelope, dict[str, Any]]:
    """gb's signed AMBER+STRICT incident and its document."""
    env, _ = signed_incident(member_key("gb"), "gb", now, tlp=STRICT,
                             affected_jurisdictions=list(affected), **overrides)
    return env, json.loads(env.payload)


def sealed_for(roster: Roster, now: datetime, affected: Sequence[str] = ("fr",)
               ) -> tuple[dict[str, Any], Envelope]:
    env, doc = strict_incident(now, affected)
    recipients = recipients_for(doc, roster, "gb")
    return seal(env, recipients, origin="gb", issued_at_text=format_time(now)), env


def unseal(sealed_doc: dict[str, Any], member: str, roster: Roster, schemas: SchemaSet,
           now: datetime, key: EncryptionKey | None = None) -> Any:
    return unseal_incident(sealed_doc, member, key or enc_key(member), roster, schemas,
                           received_at=now, policy=POLICY)


# -- routing rules ------------------------------------------------------------------------------
@pytest.mark.parametrize(("tlp", "audience", "full", "sealed", "stub", "export"), [
    ("CLEAR", Audience.PUBLIC, True, False, False, True),
    ("GREEN", Audience.FEDERATION, True, False, False, False),
    ("AMBER", Audience.FEDERATION, True, False, False, False),
    ("AMBER+STRICT", Audience.RECIPIENTS, False, True, True, False),
    ("RED", Audience.ORIGIN, False, False, True, False),
])
def test_distribution_per_label(tlp: str, audience: Audience, full: bool, sealed: bool,
                                stub: bool, export: bool) -> None:
    d = distribution(tlp)
    assert (d.tlp, d.audience, d.publish_full, d.seal_to_recipients, d.publish_stub,
            d.exportable) == (tlp, audience, full, sealed, stub, export)
    assert may_export(tlp) is export


def test_detail_never_travels_both_in_clear_and_sealed() -> None:
    for tlp in TLP_LABELS:
        d = distribution(tlp)
        assert not (d.publish_full and d.seal_to_recipients), tlp
        # Every label reaches the global statistics: in full, or through a stub.
        assert d.publish_full or d.publish_stub, tlp


@pytest.mark.parametrize("label", ["WHITE", "amber", "", "AMBER STRICT"])
def test_unknown_label_is_refused(label: str) -> None:
    with pytest.raises(TLPError, match="is not a TLP 2.0 label") as info:
        distribution(label)
    assert info.value.reason == "unknown-tlp"
    with pytest.raises(TLPError):
        may_export(label)


def test_stix_marking_ids_match_tlp_2() -> None:
    assert stix_marking_ref("AMBER+STRICT") == (
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003")
    assert stix_marking_ref("CLEAR") == "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
    assert set(STIX_MARKING_IDS) == set(TLP_LABELS)
    assert len(set(STIX_MARKING_IDS.values())) == 5


# -- stubs --------------------------------------------------------------------------------------
@pytest.mark.parametrize("tlp", ["RED", "AMBER+STRICT"])
def test_stub_carries_only_the_statistical_fields(tlp: str, now: datetime,
                                                  schemas: SchemaSet) -> None:
    doc = incident_document("gb", now, tlp=tlp, red_lines=["deception"],
                            affected_jurisdictions=["fr"])
    stub = make_stub(doc)
    assert set(stub) == set(STUB_FIELDS)
    assert stub == {
        "type": "stub", "origin": "gb", "issued_at": doc["issued_at"],
        "incident_id": "gb-0123456789abcdef", "revision": 1, "tlp": tlp,
        "severity": "serious-incident", "harm_types": ["physical"],
        "red_lines": ["deception"], "week": "2026-W47",
    }
    text = json.dumps(stub)
    for secret in (doc["title"], doc["ai_system"]["name"], doc["ai_system"]["developer"],
                   doc["submitter"]["organisation"], "fr", doc["occurred_at"]):
        assert secret not in text
    schemas.validate("stub", stub)


def test_stub_week_falls_back_to_issued_at(now: datetime) -> None:
    doc = incident_document("gb", datetime(2027, 1, 1, 10, tzinfo=UTC), tlp="RED",
                            occurred_at=OMIT)
    assert make_stub(doc)["week"] == "2026-W53"   # ISO week-numbering year, not calendar year
    assert make_stub(doc, issued_at_text=format_time(now))["issued_at"] == format_time(now)


def test_iso_week_numbering() -> None:
    assert iso_week(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-W01"
    assert iso_week(datetime(2024, 12, 30, tzinfo=UTC)) == "2025-W01"


@pytest.mark.parametrize("tlp", ["CLEAR", "GREEN", "AMBER"])
def test_labels_that_travel_in_full_have_no_stub(tlp: str, now: datetime) -> None:
    with pytest.raises(TLPError, match="travel in full") as info:
        make_stub(incident_document("gb", now, tlp=tlp))
    assert info.value.reason == "no-stub"


def test_stub_needs_severity(now: datetime) -> None:
    with pytest.raises(TLPError, match="cannot build a stub"):
        make_stub(incident_document("gb", now, tlp="RED", severity=OMIT))


def test_stub_schema_refuses_any_extra_field(now: datetime, schemas: SchemaSet) -> None:
    stub = make_stub(incident_document("gb", now, tlp="RED"))
    problems = schemas.problems("stub", {**stub, "title": "leak"})
    assert problems and "title" in problems[0].message
    assert schemas.problems("stub", {**stub, "tlp": "GREEN"})
    assert schemas.problems("stub", {**stub, "week": "2026-47"})


# -- recipients ---------------------------------------------------------------------------------
def test_recipients_are_affected_jurisdictions_minus_origin(roster: Roster,
                                                            now: datetime) -> None:
    _, doc = strict_incident(now, ("jp", "gb", "fr"))
    got = recipients_for(doc, roster, "gb")
    assert list(got) == ["fr", "jp"]
    assert got["fr"] == RecipientKey(keyid_of(unb64(enc_key("fr").public_b64)),
                                     enc_key("fr").public_b64)


def test_international_body_only_when_named(roster: Roster, now: datetime) -> None:
    _, doc = strict_incident(now, ("fr",))
    assert "int" not in recipients_for(doc, roster, "gb")
    _, doc = strict_incident(now, ("fr", "int"))
    assert "int" in recipients_for(doc, roster, "gb")


@pytest.mark.parametrize("affected", [(), ("gb",)])
def test_no_recipient_is_an_error(affected: Sequence[str], roster: Roster,
                                  now: datetime) -> None:
    _, doc = strict_incident(now, affected)
    with pytest.raises(RecipientError, match="at least one affected jurisdiction") as info:
        recipients_for(doc, roster, "gb")
    assert info.value.reason == "no-recipients"
    assert info.value.incident_id == "gb-0123456789abcdef"


def test_recipient_without_encryption_key(now: datetime) -> None:
    roster = make_enc_roster(now, without=("jp",))
    _, doc = strict_incident(now, ("fr", "jp"))
    with pytest.raises(RecipientError, match="'jp' has no valid x25519 key") as info:
        recipients_for(doc, roster, "gb")
    assert (info.value.reason, info.value.member) == ("no-encryption-key", "jp")


def test_revoked_encryption_key_is_not_used(now: datetime) -> None:
    roster = make_enc_roster(now, revoked=("fr",))
    _, doc = strict_incident(now)
    with pytest.raises(RecipientError, match="no valid x25519 key"):
        recipients_for(doc, roster, "gb")


def test_encryption_key_whose_keyid_lies_is_not_used(now: datetime) -> None:
    entry = {**enc_entry(enc_key("jp", 2), not_before=now - timedelta(days=1)),
             "keyid": keyid_of(unb64(enc_key("jp").public_b64))}
    roster = make_enc_roster(now, without=("jp",), extra={"jp": [entry]})
    _, doc = strict_incident(now, ("jp",))
    with pytest.raises(RecipientError, match="no valid x25519 key"):
        recipients_for(doc, roster, "gb")


def test_newest_valid_encryption_key_is_chosen(now: datetime) -> None:
    rotated = enc_entry(enc_key("fr", 2), not_before=now - timedelta(days=1))
    roster = make_enc_roster(now, extra={"fr": [rotated]})
    _, doc = strict_incident(now)
    assert recipients_for(doc, roster, "gb")["fr"].keyid == rotated["keyid"]


def test_unknown_recipient(roster: Roster, now: datetime) -> None:
    _, doc = strict_incident(now, ("de",))
    with pytest.raises(RecipientError, match="'de' is not a member") as info:
        recipients_for(doc, roster, "gb")
    assert info.value.reason == "unknown-recipient"


def test_recipients_only_for_amber_strict(roster: Roster, now: datetime) -> None:
    with pytest.raises(RecipientError, match="only AMBER\\+STRICT"):
        recipients_for(incident_document("gb", now, tlp="AMBER"), roster, "gb")


# -- seal and open ------------------------------------------------------------------------------
def test_round_trip_one_recipient(roster: Roster, schemas: SchemaSet, now: datetime) -> None:
    sealed_doc, inner = sealed_for(roster, now)
    schemas.validate("sealed", sealed_doc)
    assert [r["member"] for r in sealed_doc["recipients"]] == ["fr"]
    assert open_sealed(sealed_doc, "fr", enc_key("fr")) == inner.to_json()
    verified = unseal(sealed_doc, "fr", roster, schemas, now)
    assert verified.digest == sealed_doc["inner_digest"]
    assert verified.document["tlp"] == STRICT
    assert verified.origin == "gb"


def test_sealed_body_hides_the_report(roster: Roster, now: datetime) -> None:
    sealed_doc, inner = sealed_for(roster, now)
    text = json.dumps(sealed_doc)
    doc = json.loads(inner.payload)
    for secret in (doc["title"], doc["ai_system"]["name"], doc["submitter"]["organisation"],
                   doc["severity"], b64(inner.payload)[:40]):
        assert secret not in text
    # Padding: the ciphertext is a whole number of blocks plus nonce and MAC.
    assert (len(base64.b64decode(sealed_doc["ciphertext"])) - 24 - 16) % PAD_BLOCK == 0


def test_round_trip_several_recipients(roster: Roster, schemas: SchemaSet,
                                       now: datetime) -> None:
    sealed_doc, inner = sealed_for(roster, now, ("fr", "jp", "int"))
    schemas.validate("sealed", sealed_doc)
    assert [r["member"] for r in sealed_doc["recipients"]] == ["fr", "int", "jp"]
    for member in ("fr", "jp", "int"):
        assert is_recipient(sealed_doc, member)
        assert open_sealed(sealed_doc, member, enc_key(member)) == inner.to_json()
        assert unseal(sealed_doc, member, roster, schemas, now).document["id"] == (
            "gb-0123456789abcdef")


@pytest.mark.parametrize("member", ["jp", "int", "gb"])
def test_non_recipient_cannot_open(member: str, roster: Roster, now: datetime) -> None:
    sealed_doc, _ = sealed_for(roster, now)
    assert not is_recipient(sealed_doc, member)
    with pytest.raises(SealedError, match="not to '") as info:
        open_sealed(sealed_doc, member, enc_key(member))
    assert (info.value.reason, info.value.member) == ("sealed-not-recipient", member)
    assert isinstance(info.value, RejectedMessage) and isinstance(info.value, Error)


def test_non_recipient_posing_as_recipient_cannot_decrypt(roster: Roster,
                                                          now: datetime) -> None:
    sealed_doc, _ = sealed_for(roster, now)
    with pytest.raises(SealedError, match="sealed to key") as info:
        open_sealed(sealed_doc, "fr", enc_key("jp"))
    assert info.value.reason == "sealed-wrong-key"
    # Even with the key id check bypassed, jp's secret does not open fr's box.
    jp_as_fr = {**sealed_doc, "recipients": [
        {**sealed_doc["recipients"][0], "keyid": keyid_of(unb64(enc_key("jp").public_b64))}]}
    with pytest.raises(SealedError, match="cannot decrypt") as info:
        open_sealed(jp_as_fr, "fr", enc_key("jp"))
    assert info.value.reason == "sealed-undecryptable"


def flip(text: str, at: int = 10) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[at] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def test_tampered_box_fails(roster: Roster, now: datetime) -> None:
    sealed_doc, _ = sealed_for(roster, now)
    box = {**sealed_doc["recipients"][0]}
    box["sealed_key"] = flip(box["sealed_key"], 40)
    with pytest.raises(SealedError, match="cannot decrypt") as info:
        open_sealed({**sealed_doc, "recipients": [box]}, "fr", enc_key("fr"))
    assert info.value.reason == "sealed-undecryptable"


def test_tampered_ciphertext_fails(roster: Roster, now: datetime) -> None:
    sealed_doc, _ = sealed_for(roster, now)
    tampered = {**sealed_doc, "ciphertext": flip(sealed_doc["ciphertext"], 100)}
    with pytest.raises(SealedError, match="cannot decrypt"):
        open_sealed(tampered, "fr", enc_key("fr"))


def test_inner_digest_mismatch_is_detected(roster: Roster, now: datetime) -> None:
    sealed_doc, _ = sealed_for(roster, now)
    wrong = {**sealed_doc, "inner_digest": hashlib.sha256(b"another report").hexdigest()}
    with pytest.raises(SealedError, match="signed inner_digest") as info:
        open_sealed(wrong, "fr", enc_key("fr"))
    assert info.value.reason == "sealed-digest-mismatch"


def test_recipients_given_different_plaintexts_are_caught(roster: Roster, now: datetime) -> None:
    # An origin that seals another report under the same announced digest is caught on opening.
    sealed_doc, _ = sealed_for(roster, now)
    other_env, doc = strict_incident(now, title="A different report entirely")
    other = seal(other_env, recipients_for(doc, roster, "gb"), origin="gb",
                 issued_at_text=format_time(now))
    with pytest.raises(SealedError, match="inner payload digest"):
        open_sealed({**other, "inner_digest": sealed_doc["inner_digest"]}, "fr", enc_key("fr"))


def test_seal_with_a_pinned_key_is_deterministic_apart_from_boxes(roster: Roster,
                                                                  now: datetime) -> None:
    env, doc = strict_incident(now)
    a = seal(env, recipients_for(doc, roster, "gb"), origin="gb",
             issued_at_text=format_time(now), key=bytes(32))
    assert open_sealed(a, "fr", enc_key("fr")) == env.to_json()


def test_seal_refuses_what_is_not_sealable(roster: Roster, now: datetime) -> None:
    env, doc = strict_incident(now)
    recipients = recipients_for(doc, roster, "gb")
    with pytest.raises(TLPError, match="by 'fr'"):
        seal(env, recipients, origin="fr", issued_at_text=format_time(now))
    amber, _ = signed_incident(member_key("gb"), "gb", now, tlp="AMBER")
    with pytest.raises(TLPError, match="got TLP:AMBER") as info:
        seal(amber, recipients, origin="gb", issued_at_text=format_time(now))
    assert info.value.reason == "not-sealable"
    with pytest.raises(RecipientError, match="at least one recipient"):
        seal(env, {}, origin="gb", issued_at_text=format_time(now))


def test_seal_refuses_a_key_that_is_not_its_keyid(roster: Roster, now: datetime) -> None:
    env, doc = strict_incident(now)
    fr = recipients_for(doc, roster, "gb")["fr"]
    with pytest.raises(RecipientError, match="cannot seal to 'fr'") as info:
        seal(env, {"fr": (fr.keyid, enc_key("jp").public_b64)}, origin="gb",
             issued_at_text=format_time(now))
    assert (info.value.reason, info.value.member) == ("bad-encryption-key", "fr")


# -- binding of the inner incident to its sealed message ---------------------------------------
def test_inner_must_match_the_sealed_header(roster: Roster, now: datetime) -> None:
    sealed_doc, inner = sealed_for(roster, now)
    doc = json.loads(inner.payload)
    check_opened(sealed_doc, doc, "fr")
    for name, value in (("origin", "fr"), ("id", "gb-ffffffffffffffff"), ("revision", 2),
                        ("tlp", "AMBER")):
        with pytest.raises(SealedError, match=f"says {name}") as info:
            check_opened({**sealed_doc, name: value}, doc, "fr")
        assert info.value.reason == "sealed-mismatch"


def test_recipients_must_be_the_named_jurisdictions(roster: Roster, now: datetime) -> None:
    sealed_doc, inner = sealed_for(roster, now, ("fr", "jp"))
    doc = json.loads(inner.payload)
    with pytest.raises(SealedError, match="does not name 'int'"):
        check_opened(sealed_doc, doc, "int")
    only_fr = {**sealed_doc, "recipients": sealed_doc["recipients"][:1]}
    with pytest.raises(SealedError, match="sealed to \\['fr'\\]"):
        check_opened(only_fr, doc, "fr")


def test_a_recipient_cannot_forward_a_report_as_its_origin(roster: Roster, schemas: SchemaSet,
                                                           now: datetime) -> None:
    # fr opens gb's report, then re-seals gb's signed envelope to jp under its own name.
    sealed_doc, _ = sealed_for(roster, now, ("fr", "jp"))
    inner = Envelope.from_json(open_sealed(sealed_doc, "fr", enc_key("fr")))
    jp = RecipientKey(keyid_of(unb64(enc_key("jp").public_b64)), enc_key("jp").public_b64)
    # seal() itself refuses another origin's envelope, so fr builds the body by hand.
    resealed = {**seal(inner, {"jp": jp}, origin="gb", issued_at_text=format_time(now)),
                "origin": "fr"}
    with pytest.raises(RejectedMessage, match="origin-mismatch"):
        unseal(resealed, "jp", roster, schemas, now)


def test_inner_envelope_is_verified_like_any_inbound_incident(roster: Roster,
                                                              schemas: SchemaSet,
                                                              now: datetime) -> None:
    # A sealed payload signed by a key that is not the origin's is refused before parsing.
    forged_inner = Envelope.sign(payload_type("incident"),
                                 encode(incident_document("gb", now, tlp=STRICT,
                                                          affected_jurisdictions=["fr"])),
                                 [member_key("gb", generation=9)])
    fr = recipients_for(json.loads(forged_inner.payload), roster, "gb")
    sealed_doc = seal(forged_inner, fr, origin="gb", issued_at_text=format_time(now))
    with pytest.raises(RejectedMessage, match="bad-signature"):
        unseal(sealed_doc, "fr", roster, schemas, now)
    # The same checks accept the genuine one.
    genuine, _ = sealed_for(roster, now)
    subject = subject_for("incident", "gb")
    data = open_sealed(genuine, "fr", enc_key("fr"))
    assert check_inbound(data, subject, roster, schemas, received_at=now,
                         policy=POLICY).digest == genuine["inner_digest"]


def test_sealed_schema_refuses_plaintext_fields(roster: Roster, schemas: SchemaSet,
                                                now: datetime) -> None:
    sealed_doc, _ = sealed_for(roster, now)
    assert schemas.problems("sealed", {**sealed_doc, "title": "leak"})
    assert schemas.problems("sealed", {**sealed_doc, "recipients": []})
    assert schemas.problems("sealed", {**sealed_doc, "tlp": "AMBER"})

