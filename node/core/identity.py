"""Key and roster files of a node: create them once, load them at start.

    key = load_signing_key(Path("gb/signing.key"))
    roster, envelope = load_roster(Path("roster.json"), now=now)

Secret key files hold one base64 line and are created with mode 0600; their contents never reach
a log or a repr.
"""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from pathlib import Path

import nacl.public

from federation.envelope import Envelope
from federation.errors import Error
from federation.keys import EncryptionKey, SigningKey, b64, unb64
from federation.roster import Roster


class KeyFileError(Error):
    """A key or roster file is missing or malformed."""


def write_secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def create_signing_key(path: Path) -> SigningKey:
    key = SigningKey.from_seed(secrets.token_bytes(32))
    write_secret(path, (b64(key.seed) + "\n").encode())
    return key


def create_encryption_key(path: Path) -> EncryptionKey:
    key = EncryptionKey(bytes(nacl.public.PrivateKey.generate()))
    write_secret(path, (b64(key.secret) + "\n").encode())
    return key


def _read_b64(path: Path, what: str) -> bytes:
    try:
        return unb64(path.read_text(encoding="ascii").strip())
    except FileNotFoundError as e:
        raise KeyFileError(f"{what} file {path} not found; create it with `beacon init`") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise KeyFileError(f"{what} file {path} is not one line of base64") from e


def load_signing_key(path: Path) -> SigningKey:
    return SigningKey.from_seed(_read_b64(path, "signing key"))


def load_encryption_key(path: Path) -> EncryptionKey:
    return EncryptionKey(_read_b64(path, "encryption key"))


def load_roster(path: Path, *, now: datetime) -> tuple[Roster, Envelope]:
    """Load and verify a signed roster file (genesis rules: its own council's threshold)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise KeyFileError(f"roster file {path} not found") from e
    envelope = Envelope.from_json(data)
    return Roster.verify_genesis(envelope, now=now), envelope
