"""API tokens expire: ``--expires`` parsing, refusal with a reason, old stores, ended sessions.

Real SQLite stores and an injected clock (no sleeping); ``test_users_cli.py`` drives the same
through the ``beacon users`` command and a running node.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from federation.errors import Error
from node.cli.users import expiry, list_tokens
from node.http.sessions import IDLE, LIFETIME, Ended, SessionStore
from node.store.auth import (  # _hash: what the software before expiry stored, too
    AuthError,
    TokenExpiredError,
    TokenVerifier,
    _hash,
    issue_token,
    revoke_token,
)
from node.store.db import MIGRATIONS, Store
from node.web.web_pages import ended_notice

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "node.sqlite3")
    yield s
    s.close()


@pytest.mark.parametrize(("text", "expected"), [
    ("30d", "2026-12-20T09:00:00Z"), ("12h", "2026-11-20T21:00:00Z"),
    ("P1W", "2026-11-27T09:00:00Z"), ("2027-06-30", "2027-06-30T00:00:00Z"),
    ("2027-06-30T12:30:00+02:00", "2027-06-30T10:30:00Z"), ("never", None), ("NEVER", None),
])
def test_expires_accepts_a_duration_a_date_or_never(text: str, expected: str | None) -> None:
    assert expiry(text, T0) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("2026-11-19", "in the past"), ("2026-11-20T09:00:00Z", "in the past"),
    ("soon", "not a duration"), ("", "not a duration"), ("0d", "not a duration"),
    ("1y", "not a duration"), ("2026-13-01", "not a duration"),
])
def test_expires_refuses_the_past_and_nonsense(text: str, message: str) -> None:
    with pytest.raises(Error, match=message):
        expiry(text, T0)


def test_a_token_works_until_it_expires_then_is_refused_with_when_and_what_to_do(
        store: Store) -> None:
    clock = Clock(T0)
    verifier = TokenVerifier(store, clock)
    token = issue_token(store, "responder", label="duty", now="2026-11-20T09:00:00Z",
                        expires="2026-11-20T21:00:00Z")
    assert verifier.authenticate(token).role == "responder"
    clock.now = T0 + timedelta(hours=12) - timedelta(seconds=1)
    assert verifier.authenticate(token).role == "responder"  # remembered hash: still checked
    clock.now = T0 + timedelta(hours=12)
    with pytest.raises(TokenExpiredError, match=r"expired at 2026-11-20T21:00:00Z; ask a node "
                                                r"operator for a new one") as info:
        verifier.authenticate(token)
    assert isinstance(info.value, AuthError)  # so the middleware answers 401
    assert info.value.token_id == token.split("_")[1]


def test_expiry_is_revealed_only_to_the_holder_of_the_whole_token(store: Store) -> None:
    token = issue_token(store, "viewer", label="v", now="2020-01-01T00:00:00Z",
                        expires="2020-02-01T00:00:00Z")
    guess = token[:-4] + "AAAA"
    with pytest.raises(AuthError, match="unknown or revoked") as info:
        TokenVerifier(store, Clock(T0)).authenticate(guess)
    assert not isinstance(info.value, TokenExpiredError)


def test_list_shows_expiry_and_whether_it_has_passed(store: Store) -> None:
    issue_token(store, "viewer", label="old", now="2026-01-01T00:00:00Z",
                expires="2026-02-01T00:00:00Z")
    issue_token(store, "auditor", label="forever", now="2026-01-02T00:00:00Z", expires=None)
    listed = {t["label"]: t for t in list_tokens(store, T0)}
    assert (listed["old"]["expires"], listed["old"]["expired"]) == ("2026-02-01T00:00:00Z", True)
    assert (listed["forever"]["expires"], listed["forever"]["expired"]) == (None, False)


def test_tokens_of_a_store_made_before_expiry_existed_keep_working(tmp_path: Path) -> None:
    added = next(i for i, m in enumerate(MIGRATIONS)
                 if "ALTER TABLE tokens ADD COLUMN expires_at" in m)
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    for script in MIGRATIONS[:added]:
        old.executescript(script)
    old.execute(f"PRAGMA user_version={added}")
    token = "bkn_0123456789ab_" + "s" * 32
    old.execute("INSERT INTO tokens(token_id, role, label, hash, created_at) VALUES "
                "('0123456789ab', 'operator', 'old', ?, '2025-01-01T00:00:00Z')", (_hash(token),))
    old.commit()
    old.close()
    store = Store.open(path)  # migrates
    try:
        far_future = Clock(datetime(2099, 1, 1, tzinfo=UTC))
        assert TokenVerifier(store, far_future).authenticate(token).role == "operator"
        assert list_tokens(store)[0]["expires"] is None
    finally:
        store.close()


def _session(store: Store, expires: str | None) -> tuple[str, str]:
    token = issue_token(store, "responder", label="r", now="2026-11-20T08:00:00Z",
                        expires=expires)
    token_id = token.split("_")[1]
    return token_id, SessionStore(store).create(token_id, now=T0)


def test_a_session_ends_when_its_token_expires_and_says_why(store: Store) -> None:
    sessions = SessionStore(store)
    _, secret = _session(store, "2026-11-20T10:00:00Z")
    assert sessions.lookup(secret, now=T0 + timedelta(minutes=59)) is not None
    at = T0 + timedelta(hours=1)
    assert sessions.lookup(secret, now=at) is None
    assert sessions.why_ended(secret, now=at) == Ended("token-expired", "2026-11-20T10:00:00Z")


def test_why_a_session_ended_revoked_idle_lifetime_or_still_live(store: Store) -> None:
    sessions = SessionStore(store)
    token_id, revoked = _session(store, None)
    assert sessions.why_ended(revoked, now=T0) is None  # live
    assert revoke_token(store, token_id, now="2026-11-20T09:05:00Z")
    assert sessions.why_ended(revoked, now=T0) == Ended("revoked", "2026-11-20T09:05:00Z")

    _, idle = _session(store, None)
    assert sessions.why_ended(idle, now=T0 + IDLE + timedelta(seconds=1)) == \
        Ended("idle", "2026-11-20T13:00:00Z")
    _, busy = _session(store, None)
    for hours in range(2, 12, 2):  # used every two hours: never idle, but the lifetime ends it
        assert sessions.lookup(busy, now=T0 + timedelta(hours=hours)) is not None
    assert sessions.why_ended(busy, now=T0 + LIFETIME) == Ended("expired", "2026-11-20T21:00:00Z")
    assert sessions.why_ended("no such cookie", now=T0) is None


@pytest.mark.parametrize(("reason", "words"), [
    ("revoked", "revoked your API token at 2026-11-20T09:05:00Z. Ask an operator"),
    ("token-expired", "your API token expired at 2026-11-20T09:05:00Z. Ask a node operator"),
    ("idle", "after 4 hours without activity"), ("expired", "at most 12 hours"),
])
def test_the_sign_in_page_says_why_and_what_to_do(reason: str, words: str) -> None:
    assert words in ended_notice(Ended(reason, "2026-11-20T09:05:00Z"))
