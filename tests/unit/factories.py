"""Builders for signed test documents: rosters and incident envelopes.

    >>> from tests.unit.conftest import NOW
    >>> env, roster, keys = make_roster(("gb", "fr", "jp", "int"), threshold=2, now=NOW)
    >>> Roster.verify_genesis(env, now=NOW).version
    1
    >>> incident, subject = signed_incident(keys["gb"], "gb", NOW)
    >>> subject
    'beacon.v1.incident.gb.serious-incident'

Every key comes from a fixed seed (``member_key``), so envelopes, digests and signatures are the
same on every run. The builders make *untrusted* documents on purpose: ``make_roster`` returns
the roster parsed without checking its signatures, so a test can build one that breaks the rules
(too few signers, wrong version, expired) and then assert that verification refuses it.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from federation.canonical import encode
from federation.envelope import Envelope, payload_type
from federation.keys import SigningKey
from federation.messages import incident_from_report
from federation.roster import Roster, sign_roster_document
from federation.subjects import subject_for
from federation.timeutil import format_time

FEDERATION = "beacon-test"
MEMBERS = ("gb", "fr", "jp", "int")
INTERNATIONAL_BODIES = frozenset({"int"})

# The minimal report a client files (OECD common reporting framework mandatory fields).
MINIMAL_REPORT: dict[str, Any] = {
    "title": "Chatbot gave dangerous medical advice",
    "description": "…",
    "severity": "serious-incident",
    "harm_types": ["physical"],
    "ai_system": {
        "name": "ExampleLM", "version": "2.1", "developer": "Example AI",
        "deployer": "Example Health",
        "role": "The model produced the advice that the patient followed.",
    },
    "submitter": {"organisation": "UK AI Security Institute", "contact": "incidents@example.org"},
    "supporting_materials": [{"url": "https://example.org/report", "description": "press report"}],
    "occurred_at": "2026-11-20T09:00:00Z",
    "affected_jurisdictions": ["fr"],
    "tlp": "GREEN",
    "red_lines": [],
}


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()
"""Pass as an override value to drop a field from the document."""


def minimal_report(**overrides: Any) -> dict[str, Any]:
    """A fresh copy of ``MINIMAL_REPORT`` with ``overrides`` applied (``OMIT`` removes a field)."""
    return _apply(copy.deepcopy(MINIMAL_REPORT), overrides)


def member_key(member: str, generation: int = 1) -> SigningKey:
    """The fixed-seed signing key of ``member``; a higher ``generation`` is a rotated key."""
    seed = hashlib.sha256(f"beacon-test/{member}/{generation}".encode()).digest()
    return SigningKey.from_seed(seed)


def key_entry(key: SigningKey, *, not_before: datetime, not_after: datetime | None = None,
              revoked_at: datetime | None = None) -> dict[str, Any]:
    """A roster ``keys[]`` entry for an Ed25519 key with its validity window."""
    entry: dict[str, Any] = {"keyid": key.public.keyid, "scheme": "ed25519",
                             "public": key.public.to_b64(), "not_before": format_time(not_before)}
    if not_after is not None:
        entry["not_after"] = format_time(not_after)
    if revoked_at is not None:
        entry["revoked_at"] = format_time(revoked_at)
    return entry


def roster_document(members: Sequence[str] = MEMBERS, threshold: int = 2, *, now: datetime,
                    version: int = 1, keys: Mapping[str, SigningKey] | None = None,
                    council: Iterable[str] | None = None, expires: datetime | None = None,
                    revoked_at: Mapping[str, datetime] | None = None,
                    extra_keys: Mapping[str, Sequence[dict[str, Any]]] | None = None,
                    federation: str = FEDERATION) -> dict[str, Any]:
    """A roster document (unsigned): see ``make_roster`` for the arguments."""
    keys = {m: (keys or {}).get(m) or member_key(m) for m in members}
    revoked_at = revoked_at or {}
    not_before = now - timedelta(days=30)
    entries = [{
        "id": m, "name": f"Member {m}", "jurisdiction": m,
        "role": "international-body" if m in INTERNATIONAL_BODIES else "member",
        "log_origin": f"beacon/{m}",
        "keys": [key_entry(keys[m], not_before=not_before, revoked_at=revoked_at.get(m)),
                 *(extra_keys or {}).get(m, ())],
    } for m in members]
    return {
        "type": "roster", "federation": federation, "version": version,
        "issued_at": format_time(now),
        "expires": format_time(expires or now + timedelta(days=365)),
        "members": entries,
        "council": {"keyids": [keys[m].public.keyid for m in (council or members)],
                    "threshold": threshold},
    }


def sign_roster(doc: Mapping[str, Any], signers: Sequence[SigningKey]) -> Envelope:
    """Sign a roster document as council members do."""
    ptype, body = sign_roster_document(doc)
    return Envelope.sign(ptype, body, signers)


def make_roster(members: Sequence[str] = MEMBERS, threshold: int = 2, *, now: datetime,
                version: int = 1, keys: Mapping[str, SigningKey] | None = None,
                council: Iterable[str] | None = None,
                signers: Sequence[SigningKey] | None = None, expires: datetime | None = None,
                revoked_at: Mapping[str, datetime] | None = None,
                extra_keys: Mapping[str, Sequence[dict[str, Any]]] | None = None,
                federation: str = FEDERATION,
                ) -> tuple[Envelope, Roster, dict[str, SigningKey]]:
    """Build and sign a roster; return ``(envelope, roster, {member: signing key})``.

    Args:
        members: member ids; ``int`` is an international body, the rest are members.
        threshold: the council threshold.
        now: the roster's ``issued_at``; keys are valid from 30 days before it.
        version: the roster version.
        keys: per-member signing keys replacing the default ``member_key(m)``.
        council: members whose key sits on the council (default: all of them).
        signers: keys that sign the envelope (default: every council key).
        expires: expiry (default: a year after ``now``).
        revoked_at: per-member revocation time of its (first) key.
        extra_keys: per-member extra ``key_entry`` dicts (rotated or expired keys).
        federation: the federation name.

    Returns:
        The signed envelope, the roster parsed from it *without* checking signatures, expiry or
        version, and each member's (first) signing key.
    """
    chosen = {m: (keys or {}).get(m) or member_key(m) for m in members}
    council = list(council or members)
    doc = roster_document(members, threshold, now=now, version=version, keys=chosen,
                          council=council, expires=expires, revoked_at=revoked_at,
                          extra_keys=extra_keys, federation=federation)
    envelope = sign_roster(doc, [chosen[m] for m in council] if signers is None else signers)
    return envelope, Roster.parse_envelope(envelope), chosen


def incident_document(origin: str, now: datetime, /, **overrides: Any) -> dict[str, Any]:
    """The incident message ``origin`` signs for the minimal report, with a fixed id.

    ``overrides`` replace fields (``OMIT`` drops one), including ``origin`` and ``id``.
    """
    doc = incident_from_report(minimal_report(), origin=origin, now=now,
                               incident_id=f"{origin}-0123456789abcdef")
    return _apply(doc, overrides)


def signed_incident(key: SigningKey, origin: str, now: datetime, /, *,
                    subject: str | None = None, **overrides: Any) -> tuple[Envelope, str]:
    """Sign the minimal report's incident message as ``origin`` at ``now``.

    ``overrides`` replace body fields (``OMIT`` drops one); since ``origin`` is positional-only,
    ``origin="gb"`` overrides the *body's* origin while the subject stays on ``origin``.

    Returns:
        The envelope and the subject it is published on (by default
        ``beacon.v1.incident.<origin>.<severity>``).
    """
    doc = incident_document(origin, now, **overrides)
    envelope = Envelope.sign(payload_type("incident"), encode(doc), [key])
    return envelope, subject or subject_for("incident", origin, str(doc.get("severity", "")))


def _apply(doc: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    for name, value in overrides.items():
        if value is OMIT:
            doc.pop(name, None)
        else:
            doc[name] = value
    return doc
