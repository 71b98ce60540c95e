"""The federation roster, Beacon's trust root, and the TUF rules for rotating it.

    genesis = Roster.verify_genesis(envelope, now=now)
    v2 = genesis.verify_successor(envelope_v2, now=now)

A roster lists every member (id, jurisdiction, role, Ed25519 signing keys and X25519 encryption
keys with validity windows, log origin) and a council ``{keyids, threshold}``. Following TUF root
rotation: version N+1 must be signed by a threshold of version N's council *and* a threshold of its
own; versions rise by exactly one; expiry is enforced; each key counts once toward a threshold
(python-tuf GHSA-pwqf-9h7j-7mv8: duplicate key ids once bypassed a threshold).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from federation.canonical import decode, encode
from federation.envelope import Envelope, message_type_of, payload_type
from federation.errors import RosterError, ThresholdError
from federation.keys import PublicKey
from federation.timeutil import parse_time

ROSTER_TYPE = payload_type("roster")


@dataclass(frozen=True)
class RosterKey:
    keyid: str
    scheme: str
    public: str
    not_before: datetime
    not_after: datetime | None = None
    revoked_at: datetime | None = None

    def valid_at(self, at: datetime) -> bool:
        """True if a signature made at ``at`` by this key is acceptable."""
        if at < self.not_before:
            return False
        if self.not_after is not None and at >= self.not_after:
            return False
        return self.revoked_at is None or at < self.revoked_at

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RosterKey:
        key = cls(
            keyid=d["keyid"], scheme=d["scheme"], public=d["public"],
            not_before=parse_time(d["not_before"]),
            not_after=parse_time(d["not_after"]) if d.get("not_after") else None,
            revoked_at=parse_time(d["revoked_at"]) if d.get("revoked_at") else None,
        )
        if key.scheme == "ed25519" and PublicKey.from_b64(key.public).keyid != key.keyid:
            raise RosterError(f"key id {key.keyid[:16]}… does not match its public key")
        return key


@dataclass(frozen=True)
class Member:
    id: str
    name: str
    jurisdiction: str
    role: str
    log_origin: str
    keys: tuple[RosterKey, ...]
    encryption_keys: tuple[RosterKey, ...] = ()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Member:
        return cls(
            id=d["id"], name=d["name"], jurisdiction=d["jurisdiction"], role=d["role"],
            log_origin=d["log_origin"],
            keys=tuple(RosterKey.from_dict(k) for k in d["keys"]),
            encryption_keys=tuple(RosterKey.from_dict(k) for k in d.get("encryption_keys", [])),
        )


@dataclass(frozen=True)
class ThresholdResult:
    """How a signed document fares against a set of trusted keys (python-tuf's pattern)."""

    threshold: int
    signed: frozenset[str]
    unsigned: frozenset[str]

    @property
    def verified(self) -> bool:
        return len(self.signed) >= self.threshold

    @property
    def missing(self) -> int:
        return max(0, self.threshold - len(self.signed))

    def describe(self) -> str:
        total = len(self.signed) + len(self.unsigned)
        return f"signed by {len(self.signed)}/{total} keys, threshold {self.threshold}"


@dataclass(frozen=True)
class Roster:
    federation: str
    version: int
    issued_at: datetime
    expires: datetime
    members: tuple[Member, ...]
    council_keyids: tuple[str, ...]
    threshold: int
    document: Mapping[str, Any] = field(repr=False, compare=False)

    # -- reading ------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Roster:
        """Build a roster from an already schema-validated document."""
        members = tuple(Member.from_dict(m) for m in d["members"])
        ids = [m.id for m in members]
        if len(set(ids)) != len(ids):
            raise RosterError("a member id appears twice in the roster")
        council = d["council"]
        keyids = tuple(council["keyids"])
        if len(set(keyids)) != len(keyids):
            raise RosterError("a council key id appears twice: each key counts once")
        threshold = int(council["threshold"])
        if threshold < 1 or threshold > len(keyids):
            raise RosterError(f"council threshold {threshold} must be between 1 and {len(keyids)}")
        roster = cls(d["federation"], int(d["version"]), parse_time(d["issued_at"]),
                     parse_time(d["expires"]), members, keyids, threshold, d)
        known = {k.keyid for m in members for k in m.keys}
        unknown = [k for k in keyids if k not in known]
        if unknown:
            raise RosterError(f"council key {unknown[0][:16]}… belongs to no member")
        return roster

    def to_dict(self) -> dict[str, Any]:
        return dict(self.document)

    def member(self, member_id: str) -> Member | None:
        return next((m for m in self.members if m.id == member_id), None)

    def member_ids(self, role: str | None = None) -> list[str]:
        return [m.id for m in self.members if role is None or m.role == role]

    def signing_keys(self, member_id: str, at: datetime) -> list[PublicKey]:
        """Ed25519 keys of ``member_id`` that were valid for a signature made at ``at``."""
        m = self.member(member_id)
        if m is None:
            return []
        return [PublicKey.from_b64(k.public) for k in m.keys
                if k.scheme == "ed25519" and k.valid_at(at)]

    def any_signing_keys(self, member_id: str) -> list[RosterKey]:
        m = self.member(member_id)
        return list(m.keys) if m else []

    def council_keys(self) -> list[PublicKey]:
        """The council's keys; a revoked key no longer counts toward any threshold."""
        by_id = {k.keyid: k for m in self.members for k in m.keys}
        return [PublicKey.from_b64(by_id[k].public) for k in self.council_keyids
                if by_id[k].revoked_at is None]

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires

    # -- verifying ----------------------------------------------------------------------------
    def threshold_result(self, envelope: Envelope) -> ThresholdResult:
        keys = self.council_keys()
        signed = envelope.signed_by(keys)
        return ThresholdResult(self.threshold, frozenset(signed),
                               frozenset(k.keyid for k in keys) - signed)

    @staticmethod
    def parse_envelope(envelope: Envelope) -> Roster:
        if message_type_of(envelope.payload_type) != "roster":
            raise RosterError(f"not a roster envelope: {envelope.payload_type}")
        doc = decode(envelope.payload)
        if not isinstance(doc, dict) or doc.get("type") != "roster":
            raise RosterError("the payload is not a roster document")
        return Roster.from_dict(doc)

    @classmethod
    def verify_genesis(cls, envelope: Envelope, now: datetime) -> Roster:
        """Trust a first roster: it must be signed by a threshold of its own council."""
        roster = cls.parse_envelope(envelope)
        require_threshold(roster.threshold_result(envelope), f"roster v{roster.version} (self)")
        _check_not_expired(roster, now)
        return roster

    def verify_successor(self, envelope: Envelope, now: datetime, *,
                         check_expiry: bool = True) -> Roster:
        """Accept version N+1 of this roster under the TUF rules, or raise RosterError.

        Steps (TUF spec §5.3.4), the version first so that a replayed old roster is called a
        rollback rather than a signature problem: version is exactly N+1; same federation;
        signed by a threshold of the trusted council; signed by a threshold of its own council;
        not expired. ``check_expiry=False`` walks a chain: like TUF, only the newest version
        must be unexpired; intermediate ones may have expired since.
        """
        new = self.parse_envelope(envelope)
        if new.version <= self.version:
            raise RosterError(f"rollback refused: have roster v{self.version}, got v{new.version}")
        if new.version != self.version + 1:
            raise RosterError(f"roster versions rise by one: have v{self.version}, "
                              f"got v{new.version}; fetch v{self.version + 1} first")
        if new.federation != self.federation:
            raise RosterError(f"roster is for federation {new.federation!r}, "
                              f"not {self.federation!r}")
        require_threshold(self.threshold_result(envelope),
                          f"roster v{new.version} by the council of v{self.version}")
        require_threshold(new.threshold_result(envelope), f"roster v{new.version} (self)")
        if check_expiry:
            _check_not_expired(new, now)
        return new


def require_threshold(result: ThresholdResult, what: str) -> None:
    if not result.verified:
        raise ThresholdError(f"{what}: {result.describe()}; "
                             f"{result.missing} more council signature(s) needed")


def _check_not_expired(roster: Roster, now: datetime) -> None:
    if roster.is_expired(now):
        raise RosterError(f"roster v{roster.version} expired at {roster.expires.isoformat()}; "
                          "the council must sign a new version")


def sign_roster_document(doc: Mapping[str, Any]) -> tuple[str, bytes]:
    """The payload type and canonical bytes that council members sign for a roster document."""
    return ROSTER_TYPE, encode(dict(doc))
