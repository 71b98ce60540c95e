"""TLP 2.0 rules: who receives an incident's detail, and the sealed and stub messages (DESIGN §4).

    >>> distribution("AMBER+STRICT").publish_full, distribution("AMBER+STRICT").publish_stub
    (False, True)
    >>> may_export("CLEAR"), may_export("AMBER")
    (True, False)

Sealing and opening (keys and roster from ``beacon init``)::

    recipients = recipients_for(incident_doc, roster, "gb")        # origin side
    sealed_doc = seal(inner_envelope, recipients, origin="gb", issued_at_text=t)
    verified = unseal_incident(sealed_doc, "fr", fr_key, roster, schemas,
                               received_at=t, policy=policy)      # recipient side

CLEAR and GREEN go to every member (only CLEAR may leave the federation); AMBER goes to members
and is never exported; AMBER+STRICT travels only inside a ``sealed`` message that the named
recipients can open; RED never leaves its origin. For AMBER+STRICT and RED the origin also
publishes a ``stub`` (severity, harm types, red lines, ISO week, origin) so that global
statistics stay complete; stubs and full reports share the incident id, so counts de-duplicate.

A sealed message is hybrid encryption: a fresh 32-byte key encrypts the padded inner envelope
once (``SecretBox``, XSalsa20-Poly1305) and one X25519 sealed box per recipient carries that key.
The outer message is signed by the origin like any other, so a node that cannot open it still
verifies, stores and logs it. After opening, a recipient checks (``open_sealed``) that the inner
payload's SHA-256 equals the signed ``inner_digest`` — Poly1305 does not commit to its key, so
without this an origin could give two recipients keys that decrypt one ciphertext to different
reports — and then (``check_opened``) that the inner incident, verified like any inbound one, has
the outer origin, id, revision and TLP and names this member: a recipient re-sealing someone
else's report to a third member under its own name is refused. Plaintexts are padded to
``PAD_BLOCK`` bytes (ISO/IEC 7816-4) so the ciphertext length says little about the report.
Recipients are listed by member id and key id in the clear: NATS and the hub learn who the
affected jurisdictions are, not what happened; that is the price of routing and auditing.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

import nacl.bindings
import nacl.exceptions
import nacl.public
import nacl.secret
import nacl.utils

from federation.canonical import decode, digest
from federation.envelope import Envelope, message_type_of
from federation.errors import Error, RejectedMessage, SchemaError
from federation.inbound import InboundPolicy, Verified, check_inbound
from federation.keys import EncryptionKey, b64, keyid_of, unb64
from federation.roster import Roster, RosterKey
from federation.schema import SchemaSet
from federation.subjects import subject_for
from federation.timeutil import parse_time

TLP_LABELS = ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED")
SEALED_SCHEME = "x25519-sealedbox+xsalsa20poly1305"
PAD_BLOCK = 1024

# STIX 2.1 TLP 2.0 marking definitions (DESIGN §9).
TLP_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
STIX_MARKING_IDS: Mapping[str, str] = {
    "CLEAR": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "GREEN": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "AMBER": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "AMBER+STRICT": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "RED": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}

STUB_FIELDS = ("type", "origin", "issued_at", "incident_id", "revision", "tlp", "severity",
               "harm_types", "red_lines", "week")


class TLPError(Error):
    """An origin-side TLP rule cannot be met; ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str, *, incident_id: str = "") -> None:
        self.reason = reason
        self.detail = detail
        self.incident_id = incident_id
        super().__init__(f"{reason}: {detail}")


class RecipientError(TLPError):
    """An AMBER+STRICT report cannot be sealed to its recipients (none, unknown, no key)."""

    def __init__(self, reason: str, detail: str, *, incident_id: str = "",
                 member: str = "") -> None:
        self.member = member
        super().__init__(reason, detail, incident_id=incident_id)


class SealedError(RejectedMessage):
    """A sealed message cannot be opened by ``member`` or does not match what it carries.

    A ``RejectedMessage``, so the consumer quarantines it under ``reason`` (``sealed-…``).
    """

    def __init__(self, reason: str, detail: str, *, member: str = "",
                 incident_id: str = "") -> None:
        self.member = member
        self.incident_id = incident_id
        super().__init__(reason, detail)


class Audience(StrEnum):
    PUBLIC = "public"            # anyone, also outside the federation
    FEDERATION = "federation"    # every roster member, the international body included
    RECIPIENTS = "recipients"    # the named affected jurisdictions only
    ORIGIN = "origin"            # nobody but the reporting authority


@dataclass(frozen=True)
class Distribution:
    """What travels for one TLP label.

    Attributes:
        publish_full: the signed incident is published in the clear to every member.
        seal_to_recipients: the signed incident travels only inside a ``sealed`` message.
        publish_stub: a statistical ``stub`` is published to every member.
        exportable: the incident may leave the federation (STIX/TAXII, public feeds).
    """

    tlp: str
    audience: Audience
    publish_full: bool
    seal_to_recipients: bool
    publish_stub: bool
    exportable: bool


_DISTRIBUTIONS = {
    "CLEAR": Distribution("CLEAR", Audience.PUBLIC, True, False, False, True),
    "GREEN": Distribution("GREEN", Audience.FEDERATION, True, False, False, False),
    "AMBER": Distribution("AMBER", Audience.FEDERATION, True, False, False, False),
    "AMBER+STRICT": Distribution("AMBER+STRICT", Audience.RECIPIENTS, False, True, True, False),
    "RED": Distribution("RED", Audience.ORIGIN, False, False, True, False),
}


class RecipientKey(NamedTuple):
    """The X25519 key a recipient's box is sealed to: key id (hex SHA-256) and base64 public."""

    keyid: str
    public: str


def distribution(tlp: str) -> Distribution:
    """Return what travels for a report labelled ``tlp``.

    Raises:
        TLPError: ``tlp`` is not a TLP 2.0 label.
    """
    try:
        return _DISTRIBUTIONS[tlp]
    except KeyError:
        raise TLPError("unknown-tlp", f"{tlp!r} is not a TLP 2.0 label; expected one of "
                       f"{', '.join(TLP_LABELS)}") from None


def may_export(tlp: str) -> bool:
    """True if a report labelled ``tlp`` may leave the federation (only TLP:CLEAR)."""
    return distribution(tlp).exportable


def stix_marking_ref(tlp: str) -> str:
    """The STIX 2.1 ``marking-definition`` id of a TLP 2.0 label (for ``object_marking_refs``)."""
    return STIX_MARKING_IDS[distribution(tlp).tlp]


# -- stubs ------------------------------------------------------------------------------------
def iso_week(t: datetime) -> str:
    """``YYYY-Www`` in ISO 8601 week numbering (2027-01-01 is ``2026-W53``)."""
    year, week, _ = t.isocalendar()
    return f"{year:04d}-W{week:02d}"


def make_stub(incident_doc: Mapping[str, Any], *, issued_at_text: str | None = None
              ) -> dict[str, Any]:
    """Build the statistical stub that stands in for a RED or AMBER+STRICT incident.

    Only the fields in ``STUB_FIELDS`` are copied: no title, description, system or submitter.
    The week is that of ``occurred_at``, or of the incident's ``issued_at`` without one.

    Args:
        incident_doc: the (schema-valid) incident document the origin signs.
        issued_at_text: the stub's own ``issued_at``; defaults to the incident's.

    Raises:
        TLPError: the label needs no stub, or a field a stub needs is missing.

    Returns:
        The stub message body, ready for ``sign_and_record``.
    """
    incident_id = str(incident_doc.get("id", ""))
    tlp = str(incident_doc.get("tlp"))
    if not distribution(tlp).publish_stub:
        raise TLPError("no-stub", f"TLP:{tlp} reports travel in full; only AMBER+STRICT and "
                       "RED reports are replaced by a stub", incident_id=incident_id)
    try:
        when = incident_doc.get("occurred_at") or incident_doc["issued_at"]
        return {
            "type": "stub", "origin": incident_doc["origin"],
            "issued_at": issued_at_text or incident_doc["issued_at"],
            "incident_id": incident_doc["id"], "revision": int(incident_doc["revision"]),
            "tlp": tlp, "severity": incident_doc["severity"],
            "harm_types": list(incident_doc["harm_types"]),
            "red_lines": list(incident_doc.get("red_lines", ())),
            "week": iso_week(parse_time(str(when))),
        }
    except (KeyError, SchemaError) as e:
        raise TLPError("incomplete-incident", f"cannot build a stub: {e}",
                       incident_id=incident_id) from e


# -- recipients -------------------------------------------------------------------------------
def recipients_for(incident_doc: Mapping[str, Any], roster: Roster, origin: str, *,
                   at: datetime | None = None) -> dict[str, RecipientKey]:
    """The members an AMBER+STRICT report is sealed to, with the X25519 key for each.

    Recipients are the incident's ``affected_jurisdictions`` minus the origin; the international
    body receives it only if named there. Each gets its newest x25519 key valid at ``at``.

    Args:
        incident_doc: the incident document the origin signs.
        roster: the trusted roster.
        origin: the reporting member.
        at: when the keys must be valid; defaults to the incident's ``issued_at``.

    Raises:
        RecipientError: not AMBER+STRICT, no recipient named, a recipient is not a member or has
            no valid encryption key.

    Returns:
        ``{member id: RecipientKey}`` in member-id order.
    """
    incident_id = str(incident_doc.get("id", ""))
    if not distribution(str(incident_doc.get("tlp"))).seal_to_recipients:
        raise RecipientError("not-sealed", f"TLP:{incident_doc.get('tlp')} is not sealed to "
                             "recipients; only AMBER+STRICT is", incident_id=incident_id)
    when = at or parse_time(str(incident_doc.get("issued_at")), "$.issued_at")
    names = sorted(set(incident_doc.get("affected_jurisdictions", ())) - {origin})
    if not names:
        raise RecipientError("no-recipients", "AMBER+STRICT needs at least one affected "
                             f"jurisdiction other than the origin {origin!r}: name one in "
                             "affected_jurisdictions, or use TLP:AMBER or TLP:RED",
                             incident_id=incident_id)
    return {name: _recipient_key(roster, name, when, incident_id) for name in names}


def _recipient_key(roster: Roster, name: str, at: datetime, incident_id: str) -> RecipientKey:
    member = roster.member(name)
    if member is None:
        raise RecipientError("unknown-recipient", f"affected jurisdiction {name!r} is not a "
                             f"member in roster v{roster.version}; nobody could open it",
                             incident_id=incident_id, member=name)
    usable = [k for k in member.encryption_keys
              if k.scheme == "x25519" and k.valid_at(at) and _well_formed(k)]
    if not usable:
        raise RecipientError("no-encryption-key", f"member {name!r} has no valid x25519 key "
                             f"at {at.isoformat()} in roster v{roster.version}; it must add one "
                             "before it can receive AMBER+STRICT reports",
                             incident_id=incident_id, member=name)
    newest = max(usable, key=lambda k: (k.not_before, k.keyid))
    return RecipientKey(newest.keyid, newest.public)


def _well_formed(key: RosterKey) -> bool:
    try:
        raw = unb64(key.public)
    except (binascii.Error, ValueError):
        return False
    return len(raw) == 32 and keyid_of(raw) == key.keyid


# -- sealing ----------------------------------------------------------------------------------
def seal(inner: Envelope, recipients: Mapping[str, tuple[str, str]], *, origin: str,
         issued_at_text: str, key: bytes | None = None) -> dict[str, Any]:
    """Encrypt a signed AMBER+STRICT incident envelope to its recipients.

    Args:
        inner: the origin's signed incident envelope (never published itself).
        recipients: ``{member id: (x25519 key id, base64 public key)}``, see ``recipients_for``.
        origin: the origin; must equal the inner incident's.
        issued_at_text: the sealed message's ``issued_at`` (RFC 3339).
        key: the symmetric key; a fresh random one unless a test pins it.

    Raises:
        RecipientError: no recipients, or a public key that is malformed or not its key id's.
        TLPError: the inner envelope is not an AMBER+STRICT incident by ``origin``.

    Returns:
        The ``sealed`` message body, ready for ``sign_and_record``.
    """
    doc = _inner_document(inner, origin)
    if not recipients:
        raise RecipientError("no-recipients", "a sealed message needs at least one recipient",
                             incident_id=doc["id"])
    sym = key if key is not None else nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE)
    padded = nacl.bindings.sodium_pad(inner.to_json(), PAD_BLOCK)
    return {
        "type": "sealed", "origin": origin, "issued_at": issued_at_text,
        "id": doc["id"], "revision": doc["revision"], "tlp": "AMBER+STRICT",
        "scheme": SEALED_SCHEME,
        "inner_digest": digest(inner.payload),
        "ciphertext": b64(bytes(nacl.secret.SecretBox(sym).encrypt(padded))),
        "recipients": [{"member": m, "keyid": k, "sealed_key": _seal_key(sym, m, k, pub, doc)}
                       for m, (k, pub) in sorted(recipients.items())],
    }


def _inner_document(inner: Envelope, origin: str) -> dict[str, Any]:
    # The origin built and signed this envelope itself: reading it here is not untrusted parsing.
    doc = decode(inner.payload) if message_type_of(inner.payload_type) == "incident" else None
    if not isinstance(doc, dict) or doc.get("type") != "incident":
        raise TLPError("not-an-incident", "only incident envelopes are sealed")
    if doc.get("origin") != origin or doc.get("tlp") != "AMBER+STRICT":
        raise TLPError("not-sealable", f"expected an AMBER+STRICT incident by {origin!r}, got "
                       f"TLP:{doc.get('tlp')} by {doc.get('origin')!r}",
                       incident_id=str(doc.get("id", "")))
    return doc


def _seal_key(sym: bytes, member: str, keyid: str, public: str, doc: Mapping[str, Any]) -> str:
    try:
        raw = unb64(public)
        if len(raw) != 32 or keyid_of(raw) != keyid:
            raise ValueError(f"key id {keyid[:16]}… is not that of a 32-byte public key")
        return b64(nacl.public.SealedBox(nacl.public.PublicKey(raw)).encrypt(sym))
    except (binascii.Error, ValueError, nacl.exceptions.CryptoError) as e:
        raise RecipientError("bad-encryption-key", f"cannot seal to {member!r}: {e}",
                             incident_id=str(doc["id"]), member=member) from e


# -- opening ----------------------------------------------------------------------------------
def is_recipient(sealed_doc: Mapping[str, Any], member_id: str) -> bool:
    """True if ``sealed_doc`` carries a key sealed to ``member_id``."""
    return any(r.get("member") == member_id for r in sealed_doc.get("recipients", ()))


def open_sealed(sealed_doc: Mapping[str, Any], member_id: str, key: EncryptionKey) -> bytes:
    """Decrypt a (signature-verified, schema-valid) sealed message with this member's key.

    Args:
        sealed_doc: the ``sealed`` message body.
        member_id: this node's member id.
        key: this node's X25519 private key.

    Raises:
        SealedError: not a recipient (``sealed-not-recipient``), sealed to another key of this
            member (``sealed-wrong-key``), decryption failed (``sealed-undecryptable``), or the
            plaintext is not the envelope whose digest was signed (``sealed-digest-mismatch``).

    Returns:
        The inner envelope's JSON bytes: verify them like any inbound incident
        (``unseal_incident`` does, then ``check_opened``).
    """
    incident_id = str(sealed_doc.get("id", ""))

    def fail(reason: str, detail: str) -> SealedError:
        return SealedError(f"sealed-{reason}", detail, member=member_id, incident_id=incident_id)

    entry = next((r for r in sealed_doc.get("recipients", ()) if r.get("member") == member_id),
                 None)
    if entry is None:
        raise fail("not-recipient", f"{incident_id} is sealed to "
                   f"{[r.get('member') for r in sealed_doc.get('recipients', ())]}, "
                   f"not to {member_id!r}")
    own_keyid = keyid_of(unb64(key.public_b64))
    if entry.get("keyid") != own_keyid:
        raise fail("wrong-key", f"sealed to key {str(entry.get('keyid'))[:16]}…, this node "
                   f"holds {own_keyid[:16]}…; load that key to read it")
    try:
        private = nacl.public.PrivateKey(key.secret)
        sym = nacl.public.SealedBox(private).decrypt(unb64(str(entry.get("sealed_key"))))
        box = nacl.secret.SecretBox(sym)
        plain = nacl.bindings.sodium_unpad(box.decrypt(unb64(str(sealed_doc.get("ciphertext")))),
                                           PAD_BLOCK)
    except (binascii.Error, ValueError, nacl.exceptions.CryptoError) as e:
        raise fail("undecryptable", f"cannot decrypt {incident_id} with key "
                   f"{own_keyid[:16]}…: {e}") from e
    try:
        got = digest(Envelope.from_json(plain).payload)
    except SchemaError as e:
        raise fail("digest-mismatch", f"the decrypted payload is not an envelope: {e}") from e
    if got != sealed_doc.get("inner_digest"):
        raise fail("digest-mismatch", f"inner payload digest {got[:16]}… but the signed "
                   f"inner_digest is {str(sealed_doc.get('inner_digest'))[:16]}…")
    return plain


def check_opened(sealed_doc: Mapping[str, Any], inner_doc: Mapping[str, Any],
                 member_id: str) -> None:
    """Check that a verified inner incident is what its signed sealed message announced.

    Raises:
        SealedError: ``sealed-mismatch`` if origin, id, revision or TLP differ, or if the
            recipients are not exactly the inner incident's affected jurisdictions other than
            its origin — e.g. a report re-sealed by someone other than its origin, or to a
            member it does not name.
    """
    def fail(detail: str) -> SealedError:
        return SealedError("sealed-mismatch", detail, member=member_id,
                           incident_id=str(sealed_doc.get("id", "")))

    for name in ("origin", "id", "revision", "tlp"):
        if sealed_doc.get(name) != inner_doc.get(name):
            raise fail(f"sealed message says {name} {sealed_doc.get(name)!r}, the incident "
                       f"inside says {inner_doc.get(name)!r}")
    named = set(inner_doc.get("affected_jurisdictions", ())) - {inner_doc.get("origin")}
    members = [r.get("member") for r in sealed_doc.get("recipients", ())]
    if member_id not in named:
        raise fail(f"the incident inside does not name {member_id!r} as an affected jurisdiction")
    if len(set(members)) != len(members) or set(members) != named:
        raise fail(f"sealed to {sorted(map(str, members))}, but the incident inside names "
                   f"{sorted(named)}")


def unseal_incident(sealed_doc: Mapping[str, Any], member_id: str, key: EncryptionKey,
                    roster: Roster, schemas: SchemaSet, *, received_at: datetime,
                    policy: InboundPolicy) -> Verified:
    """Open a sealed message and verify the incident inside like any inbound incident.

    Args:
        sealed_doc: a sealed message body that already passed ``check_inbound``.
        member_id: this node's member id.
        key: this node's X25519 private key.
        roster: the trusted roster.
        schemas: the schema set.
        received_at: the JetStream server time of the *sealed* message.
        policy: the inbound policy.

    Raises:
        SealedError: see ``open_sealed`` and ``check_opened``.
        RejectedMessage: the inner envelope fails the inbound checks (signature by the sealed
            message's origin before parsing, origin, skew, schema).

    Returns:
        The verified inner incident; its ``digest`` equals the sealed ``inner_digest``.
    """
    plain = open_sealed(sealed_doc, member_id, key)
    subject = subject_for("incident", str(sealed_doc.get("origin")))
    verified = check_inbound(plain, subject, roster, schemas, received_at=received_at,
                             policy=policy)
    check_opened(sealed_doc, verified.document, member_id)
    return verified
