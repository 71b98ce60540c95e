"""DSSE envelopes: the signed wrapper of every Beacon message (DESIGN §4).

    >>> from federation.keys import SigningKey
    >>> key = SigningKey.from_seed(bytes(32))
    >>> env = Envelope.sign(payload_type("incident"), b'{"a":1}', [key])
    >>> env.verify_with([key.public]).keyid == key.public.keyid
    True

The signature is Ed25519 over ``PAE(payloadType, payload)``; the payload bytes are signed as they
are, never re-canonicalised, so there is no canonicalisation attack surface, and the type is
signed too, so one message cannot be replayed as another type. ``pae`` is the one function that
makes signed bytes; signing and verifying both call it.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from federation.errors import Problem, SchemaError, SignatureError
from federation.jsonbounds import parse_json
from federation.keys import PublicKey, SigningKey, b64, unb64

PAYLOAD_TYPE_PREFIX = "application/vnd.beacon."
PAYLOAD_TYPE_SUFFIX = ".v1+json"


def payload_type(message_type: str) -> str:
    """``incident`` → ``application/vnd.beacon.incident.v1+json``."""
    return f"{PAYLOAD_TYPE_PREFIX}{message_type}{PAYLOAD_TYPE_SUFFIX}"


def message_type_of(ptype: str) -> str:
    """Inverse of :func:`payload_type`; raises SchemaError for a foreign payload type."""
    if not (ptype.startswith(PAYLOAD_TYPE_PREFIX) and ptype.endswith(PAYLOAD_TYPE_SUFFIX)):
        raise SchemaError([Problem("$.payloadType", f"not a Beacon payload type: {ptype!r}")])
    return ptype[len(PAYLOAD_TYPE_PREFIX):-len(PAYLOAD_TYPE_SUFFIX)]


def pae(ptype: str, body: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding: ``DSSEv1 SP len(T) SP T SP len(B) SP B``."""
    t = ptype.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope. ``payload`` holds the exact signed bytes."""

    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    @classmethod
    def sign(cls, ptype: str, body: bytes, keys: Sequence[SigningKey]) -> Envelope:
        """Sign ``body`` with every key in ``keys`` (multi-signature envelopes are for rosters)."""
        signed = pae(ptype, body)
        sigs = tuple(Signature(k.public.keyid, k.sign(signed)) for k in keys)
        return cls(ptype, body, sigs)

    def add_signature(self, key: SigningKey) -> Envelope:
        """Return a copy co-signed by ``key`` (a no-op if that key already signed)."""
        # Decide by verifying, not by the keyid hint: a forged hint must not stop a real signature.
        if self.signed_by([key.public]):
            return self
        sig = Signature(key.public.keyid, key.sign(pae(self.payload_type, self.payload)))
        return Envelope(self.payload_type, self.payload, (*self.signatures, sig))

    def signed_by(self, keys: Iterable[PublicKey]) -> set[str]:
        """Key ids among ``keys`` with a valid signature on this envelope; each key counts once.

        Every signature is tried against every candidate key: ``keyid`` is only a hint, and a
        forged hint must neither help nor hurt.
        """
        signed_bytes = pae(self.payload_type, self.payload)
        good: set[str] = set()
        for key in keys:
            for s in self.signatures:
                try:
                    key.verify(signed_bytes, s.sig)
                except SignatureError:
                    continue
                good.add(key.keyid)
                break
        return good

    def verify_with(self, keys: Iterable[PublicKey]) -> PublicKey:
        """Return the first key in ``keys`` that signed this envelope, or raise SignatureError."""
        signed_bytes = pae(self.payload_type, self.payload)
        keys = list(keys)
        # Try the hinted key first: the common case costs one Ed25519 verification.
        hinted = {s.keyid for s in self.signatures}
        keys.sort(key=lambda k: k.keyid not in hinted)
        for key in keys:
            for s in self.signatures:
                try:
                    key.verify(signed_bytes, s.sig)
                except SignatureError:
                    continue
                return key
        raise SignatureError("no signature on the envelope verifies with a key trusted for it")

    def to_dict(self) -> dict[str, Any]:
        return {
            "payloadType": self.payload_type,
            "payload": b64(self.payload),
            "signatures": [{"keyid": s.keyid, "sig": b64(s.sig)} for s in self.signatures],
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_dict(cls, doc: Any) -> Envelope:
        """Read the DSSE structure only; the payload stays opaque bytes until verified."""
        problems: list[Problem] = []
        if not isinstance(doc, dict):
            raise SchemaError([Problem("$", "an envelope is a JSON object")])
        ptype, payload, sigs = doc.get("payloadType"), doc.get("payload"), doc.get("signatures")
        if not isinstance(ptype, str):
            problems.append(Problem("$.payloadType", "required string"))
        if not isinstance(payload, str):
            problems.append(Problem("$.payload", "required base64 string"))
        if not isinstance(sigs, list) or not sigs:
            problems.append(Problem("$.signatures", "required non-empty array"))
        if problems or not (isinstance(ptype, str) and isinstance(payload, str)
                            and isinstance(sigs, list)):
            raise SchemaError(problems)
        parsed: list[Signature] = []
        for i, s in enumerate(sigs):
            if not (isinstance(s, dict) and isinstance(s.get("sig"), str)):
                problems.append(Problem(f"$.signatures[{i}]", "needs a base64 'sig'"))
                continue
            try:
                parsed.append(Signature(str(s.get("keyid", "")), unb64(s["sig"])))
            except (binascii.Error, ValueError):
                problems.append(Problem(f"$.signatures[{i}].sig", "not base64"))
        try:
            body = unb64(payload)
        except (binascii.Error, ValueError):
            problems.append(Problem("$.payload", "not base64"))
        if problems:
            raise SchemaError(problems)
        return cls(ptype, body, tuple(parsed))

    @classmethod
    def from_json(cls, data: bytes) -> Envelope:
        return cls.from_dict(parse_json(data, what="envelope", strict=True))
