"""Table ``tokens``: API tokens ``bkn_<token id>_<secret>``, stored only as Argon2id hashes,
and the roles.

    token = issue_token(store, "operator", label="gb duty officer", now=now,
                        expires="2027-11-20T00:00:00Z")
    principal = tokens.authenticate(token)   # Principal(token_id=..., role="operator")

Argon2id is deliberately slow (tens of milliseconds), so a verified token is remembered in memory
by its SHA-256 for the life of the process; a revoked or expired token is refused at once because
every request still checks the token's row (a cheap indexed read).

Tokens expire (``expires_at``; NULL means never, which ``beacon users add --expires never`` must
ask for, and which tokens issued before expiry existed keep). An expired token is refused with a
message that says so, when, and what to do — but only to whoever holds the whole token: expiry is
checked after the hash, so a guessed token id learns nothing.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import nacl.exceptions
import nacl.pwhash

from federation.errors import Error
from federation.timeutil import format_time
from node.store.db import Store

ROLES = ("operator", "responder", "auditor", "viewer", "provider", "evaluator")
# Every role but provider: a provider (an AI developer filing through its authority's node, AI Act
# Art. 73) reads nothing of the federation; it files for its own developer name only.
STAFF_ROLES = ("operator", "responder", "auditor", "viewer")
# An independent evaluator (not a member authority) registered at this node: it records signed
# safety-case reviews under its organisation's name, which the node signs and attributes
# (docs/decisions.md, "Independent evaluators"); it reads the model registry and nothing else.
TOKEN_PREFIX = "bkn"  # noqa: S105 - a label, not a secret


class AuthError(Error):
    """No valid credentials (HTTP 401)."""


class TokenExpiredError(AuthError):
    """The token was valid but its ``expires_at`` has passed (HTTP 401)."""

    def __init__(self, token_id: str, expired_at: str) -> None:
        self.token_id = token_id
        self.expired_at = expired_at
        super().__init__(f"token {token_id} expired at {expired_at}; ask a node operator for a "
                         f"new one ('beacon users add')")


class ForbiddenError(Error):
    """Valid credentials, but the role may not do this (HTTP 403)."""


@dataclass(frozen=True)
class Principal:
    token_id: str
    role: str
    label: str
    developer: str | None = None  # a provider's developer name; None for every other role
    organisation: str | None = None  # an evaluator's organisation; None for every other role


def _hash(token: str) -> str:
    return nacl.pwhash.argon2id.str(
        token.encode(), opslimit=nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
        memlimit=nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE).decode()


def issue_token(store: Store, role: str, *, label: str, now: str, expires: str | None,
                developer: str | None = None, organisation: str | None = None) -> str:
    """Create a token for ``role`` and return it; only its hash is stored.

    Args:
        expires: RFC 3339 UTC time after which the token is refused; None for never.
    """
    if role not in ROLES:
        raise Error(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if (role == "provider") != bool(developer and developer.strip()):
        raise Error("a provider token names its developer (--developer 'Example AI'), and only "
                    "a provider token does")
    if (role == "evaluator") != bool(organisation and organisation.strip()):
        raise Error("an evaluator token names its organisation (--organisation 'Example "
                    "Evaluations Ltd'), and only an evaluator token does")
    token_id = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(24)}"
    with store.transaction() as tx:
        tx.execute("INSERT INTO tokens(token_id, role, label, hash, created_at, expires_at, "
                   "developer, organisation) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (token_id, role, label, _hash(token), now, expires,
                    developer.strip() if developer else None,
                    " ".join(organisation.split()) if organisation else None))
    return token


def revoke_token(store: Store, token_id: str, *, now: str) -> bool:
    with store.transaction() as tx:
        cur = tx.execute("UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND "
                         "revoked_at IS NULL", (now, token_id))
    return cur.rowcount == 1


def list_token_rows(store: Store) -> list[sqlite3.Row]:
    """Every token (token_id, role, label, created_at, revoked_at, expires_at; never its hash),
    oldest first."""
    return store.query("SELECT token_id, role, label, created_at, revoked_at, expires_at "
                       "FROM tokens ORDER BY created_at, token_id")


def token_revoked_at(store: Store, token_id: str) -> tuple[bool, str | None]:
    """Whether the token exists, and when it was revoked (None while it is not)."""
    rows = store.query("SELECT revoked_at FROM tokens WHERE token_id = ?", (token_id,))
    return (True, rows[0]["revoked_at"]) if rows else (False, None)


def is_expired(expires_at: str | None, now: datetime) -> bool:
    """Whether a token row's ``expires_at`` (RFC 3339 UTC, or None for never) has passed."""
    return expires_at is not None and expires_at <= format_time(now)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TokenVerifier:
    def __init__(self, store: Store, clock: Callable[[], datetime] = _utcnow) -> None:
        self._store = store
        self._clock = clock  # injected: tests move time instead of sleeping
        self._verified: dict[str, str] = {}  # sha256(token) -> token_id

    def authenticate(self, token: str) -> Principal:
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            raise AuthError("malformed token; expected 'Authorization: Bearer bkn_<id>_<secret>'")
        token_id = parts[1]
        rows = self._store.query("SELECT role, label, hash, revoked_at, expires_at, developer, "
                                 "organisation "
                                 "FROM tokens WHERE token_id = ?", (token_id,))
        if not rows or rows[0]["revoked_at"] is not None:
            raise AuthError("unknown or revoked token")
        row = rows[0]
        fingerprint = hashlib.sha256(token.encode()).hexdigest()
        if self._verified.get(fingerprint) != token_id:
            try:
                nacl.pwhash.argon2id.verify(row["hash"].encode(), token.encode())
            except nacl.exceptions.InvalidkeyError as e:
                raise AuthError("unknown or revoked token") from e
            self._verified[fingerprint] = token_id
        if is_expired(row["expires_at"], self._clock()):
            raise TokenExpiredError(token_id, row["expires_at"])
        return Principal(token_id, row["role"], row["label"], row["developer"],
                         row["organisation"])
