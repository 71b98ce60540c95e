"""Ed25519 signing keys and their key ids.

    >>> key = SigningKey.from_seed(bytes(32))
    >>> key.public.keyid == keyid_of(key.public.raw)
    True
    >>> key.public.verify(b"msg", key.sign(b"msg"))

A key id is the hex SHA-256 of the raw 32-byte public key. It is only a hint for finding the key:
verification always tries the bytes against the keys the roster lists for the claimed origin.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass

import nacl.exceptions
import nacl.public
import nacl.signing

from federation.errors import SignatureError


@functools.lru_cache(maxsize=4096)  # the roster's few keys, asked on every inbound message
def keyid_of(raw_public: bytes) -> str:
    """Return the key id of a raw Ed25519 public key."""
    return hashlib.sha256(raw_public).hexdigest()


def b64(data: bytes) -> str:
    """Standard base64 with padding, as DSSE and C2SP notes use."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Decode standard base64, strictly (no stray characters)."""
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 verification key."""

    raw: bytes

    @property
    def keyid(self) -> str:
        return keyid_of(self.raw)

    @classmethod
    def from_b64(cls, text: str) -> PublicKey:
        """Decode a base64 public key; raises SignatureError unless it holds 32 bytes."""
        return _public_key(text) if cls is PublicKey else cls(_public_key(text).raw)

    def to_b64(self) -> str:
        return b64(self.raw)

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise SignatureError unless ``signature`` is this key's signature over ``message``."""
        try:
            nacl.signing.VerifyKey(self.raw).verify(message, signature)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError,
                nacl.exceptions.TypeError) as e:
            raise SignatureError(f"signature does not verify with key {self.keyid[:16]}") from e


@functools.lru_cache(maxsize=4096)
def _public_key(text: str) -> PublicKey:
    """``PublicKey.from_b64``, kept: the roster's keys are decoded for every inbound message
    (a key is immutable, so one object serves every caller; a refusal is not cached)."""
    raw = unb64(text)
    if len(raw) != 32:
        raise SignatureError(f"an Ed25519 public key has 32 bytes, got {len(raw)}")
    return PublicKey(raw)


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key; ``seed`` is the 32-byte secret. Never log or repr it."""

    seed: bytes

    def __repr__(self) -> str:
        return f"SigningKey(keyid={self.public.keyid[:16]}…)"

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        if len(seed) != 32:
            raise SignatureError(f"an Ed25519 seed has 32 bytes, got {len(seed)}")
        return cls(seed)

    @property
    def public(self) -> PublicKey:
        return PublicKey(bytes(nacl.signing.SigningKey(self.seed).verify_key))

    def sign(self, message: bytes) -> bytes:
        return nacl.signing.SigningKey(self.seed).sign(message).signature


@dataclass(frozen=True)
class EncryptionKey:
    """An X25519 private key for sealed boxes (AMBER+STRICT payloads). Never log it."""

    secret: bytes

    def __repr__(self) -> str:
        return "EncryptionKey(…)"

    @property
    def public_b64(self) -> str:
        return b64(bytes(nacl.public.PrivateKey(self.secret).public_key))
