"""The checks every inbound message passes before a node stores it (DESIGN §4).

    verified = check_inbound(data, subject, roster, schemas, received_at=t, policy=p)
    verified.digest, verified.document["origin"]

Order matters: size, envelope shape, subject, **signature before parsing**, then origin =
signer = subject token, clock skew, schema, and that a member speaks only for its own reports (a
``link`` names the linking member's report first). Each failure raises ``RejectedMessage`` with a
stable ``reason`` code that the node stores in its quarantine and counts in metrics.

The skew check compares ``issued_at`` with the time the JetStream server stored the message, not
with the receiver's clock: a node catching up after a day offline must accept day-old messages,
while a sender still cannot back- or forward-date what it publishes now. The same server time
decides whether the signing key was valid (not yet revoked) when the message was sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from federation.canonical import decode, digest
from federation.envelope import Envelope, message_type_of
from federation.errors import RejectedMessage, SchemaError, SignatureError
from federation.keys import PublicKey
from federation.roster import Roster
from federation.schema import SchemaSet
from federation.subjects import parse_subject
from federation.timeutil import parse_time


@dataclass(frozen=True)
class InboundPolicy:
    max_bytes: int = 256 * 1024
    max_skew: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class Verified:
    message_type: str
    origin: str
    digest: str
    envelope: Envelope
    document: dict[str, Any] = field(repr=False)


def check_inbound(data: bytes, subject: str, roster: Roster, schemas: SchemaSet, *,
                  received_at: datetime, policy: InboundPolicy) -> Verified:
    """Verify one message as it arrived on ``subject``; return it verified or raise."""
    _check_size(data, policy)
    envelope = _check_envelope(data)
    message_type, origin = _check_subject(envelope, subject)
    _check_signature(envelope, origin, roster, received_at)
    doc = _check_payload(envelope)
    _check_origin(doc, message_type, origin)
    _check_skew(doc, received_at, policy)
    _check_schema(doc, message_type, schemas)
    _check_owner(doc, message_type, origin)
    return Verified(message_type, origin, digest(envelope.payload), envelope, doc)


def _check_size(data: bytes, policy: InboundPolicy) -> None:
    if len(data) > policy.max_bytes:
        raise RejectedMessage("oversize", f"{len(data)} bytes, limit {policy.max_bytes}")


def _check_envelope(data: bytes) -> Envelope:
    try:
        return Envelope.from_json(data)
    except SchemaError as e:
        raise RejectedMessage("malformed-envelope", str(e)) from e


def _check_subject(envelope: Envelope, subject: str) -> tuple[str, str]:
    parsed = parse_subject(subject)
    try:
        message_type = message_type_of(envelope.payload_type)
    except SchemaError as e:
        raise RejectedMessage("bad-payload-type", str(e)) from e
    if message_type != parsed.message_type:
        raise RejectedMessage("subject-mismatch", f"payload type {message_type!r} published on "
                              f"subject for {parsed.message_type!r}")
    return message_type, parsed.origin


def _check_signature(envelope: Envelope, origin: str, roster: Roster, at: datetime) -> None:
    if roster.member(origin) is None:
        raise RejectedMessage("unknown-origin", f"{origin!r} is not in roster v{roster.version}")
    keys = roster.signing_keys(origin, at)
    if not keys:
        raise RejectedMessage("revoked-key", f"{origin!r} has no key valid at {at.isoformat()}")
    try:
        envelope.verify_with(keys)
    except SignatureError as e:
        # A signature by a key of this origin that was revoked (or expired) by then is a
        # distinct, more alarming reason than a plain forgery: say which.
        every = [k for k in roster.any_signing_keys(origin) if not k.valid_at(at)]
        if every and envelope.signed_by(PublicKey.from_b64(k.public) for k in every):
            raise RejectedMessage("revoked-key", f"signed by a key of {origin!r} that was "
                                  f"not valid at {at.isoformat()}") from e
        # Signed by another member (origin ≠ signer) is not a forgery: say who signed.
        signer = _other_signer(envelope, origin, roster, at)
        if signer is not None:
            raise RejectedMessage("origin-mismatch", f"signed by {signer!r} but published as "
                                  f"{origin!r}") from e
        raise RejectedMessage("bad-signature", f"no valid signature by {origin!r}: {e}") from e


def _other_signer(envelope: Envelope, origin: str, roster: Roster, at: datetime) -> str | None:
    """The member other than ``origin`` whose key, valid at ``at``, signed ``envelope``, if any."""
    for member_id in roster.member_ids():
        if member_id != origin and envelope.signed_by(roster.signing_keys(member_id, at)):
            return member_id
    return None


def _check_payload(envelope: Envelope) -> dict[str, Any]:
    try:
        doc = decode(envelope.payload)
    except SchemaError as e:
        raise RejectedMessage("malformed-payload", str(e)) from e
    if not isinstance(doc, dict):
        raise RejectedMessage("malformed-payload", "payload is not a JSON object")
    return doc


def _check_origin(doc: dict[str, Any], message_type: str, origin: str) -> None:
    if doc.get("origin") != origin:
        raise RejectedMessage("origin-mismatch", f"signed by and published as {origin!r} but "
                              f"claims origin {doc.get('origin')!r}")
    if doc.get("type") != message_type:
        raise RejectedMessage("type-mismatch", f"payload type {message_type!r} but body type "
                              f"{doc.get('type')!r}")


def _check_skew(doc: dict[str, Any], received_at: datetime, policy: InboundPolicy) -> None:
    try:
        issued = parse_time(str(doc.get("issued_at")), "$.issued_at")
    except SchemaError as e:
        raise RejectedMessage("schema", str(e)) from e
    if abs(issued - received_at) > policy.max_skew:
        raise RejectedMessage("clock-skew", f"issued_at {doc['issued_at']} is more than "
                              f"{policy.max_skew} from the server's receipt time "
                              f"{received_at.isoformat()}")


def _check_schema(doc: dict[str, Any], message_type: str, schemas: SchemaSet) -> None:
    try:
        schemas.validate(message_type, doc, bounded=True)  # decode() bounded it
    except SchemaError as e:
        raise RejectedMessage("schema", str(e)) from e


# The messages about a thing only its owner may sign: the member whose id prefixes the thing's
# id (incident ids are origin-prefixed, incident.v1.json; a registry id names its registrant).
# type -> (the field with the id, the id's kind after "<origin>-", what the origin did, whose).
_OWNED: dict[str, tuple[str, str, str, str]] = {
    "link": ("incident_id", "", "linked",
             "a report it did not issue; only its origin may link it"),
    "model": ("id", "model-", "signed model registration", "which another member registered"),
    "evaluation": ("id", "eval-", "signed evaluation", "whose id names another member"),
    "training-run": ("id", "run-", "signed training run", "whose id names another member"),
    "safety-case-review": ("id", "review-", "signed review", "whose id names another member"),
    "monitoring": ("id", "signal-", "signed monitoring signal", "whose id names another member"),
}


def _check_owner(doc: dict[str, Any], message_type: str, origin: str) -> None:
    owned = _OWNED.get(message_type)
    if owned is None:
        return
    key, kind, did, whose = owned
    if not str(doc[key]).startswith(f"{origin}-{kind}"):
        raise RejectedMessage("not-owner", f"{origin!r} {did} {doc[key]!r}, {whose}")
