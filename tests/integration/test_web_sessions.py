"""Web console sessions in a real SQLite store: expiry, revocation, sign-out, CSRF tokens.

The browser tests (tests/browser) drive the same code through Chromium; these pin the rules
that take hours to observe there (idle and absolute lifetimes) with an explicit clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from node.http.appkeys import NODE
from node.http.sessions import (
    IDLE,
    LIFETIME,
    LoginThrottle,
    SessionStore,
    csrf_token,
    session_cookie,
)
from node.store.auth import issue_token, revoke_token
from node.store.db import Store

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "node.sqlite3")
    yield s
    s.close()


def _token_id(store: Store, role: str = "responder") -> str:
    token = issue_token(store, role, label="duty responder", now="2026-11-20T08:00:00Z",
                        expires=None)
    return token.split("_")[1]


def test_a_session_carries_the_tokens_role_and_only_its_hash_is_stored(store: Store) -> None:
    sessions = SessionStore(store)
    token_id = _token_id(store)
    secret = sessions.create(token_id, now=T0)
    found = sessions.lookup(secret, now=T0 + timedelta(minutes=5))
    assert found is not None
    assert (found.principal.token_id, found.principal.role) == (token_id, "responder")
    assert found.csrf == csrf_token(secret) and found.csrf != csrf_token(secret + "x")
    stored = [tuple(r) for r in store.query("SELECT * FROM web_sessions")]
    assert not any(secret in str(v) for row in stored for v in row)
    assert sessions.lookup(secret + "x", now=T0) is None
    assert sessions.lookup("", now=T0) is None


def test_sessions_end_when_idle_at_their_lifetime_and_at_sign_out(store: Store) -> None:
    sessions = SessionStore(store)
    token_id = _token_id(store)
    idle = sessions.create(token_id, now=T0)
    assert sessions.lookup(idle, now=T0 + IDLE + timedelta(seconds=1)) is None

    busy = sessions.create(token_id, now=T0)
    t = T0
    while t + IDLE / 2 < T0 + LIFETIME:  # used every two hours: never idle ...
        t += IDLE / 2
        assert sessions.lookup(busy, now=t) is not None
    assert sessions.lookup(busy, now=T0 + LIFETIME) is None  # ... but it still ends

    gone = sessions.create(token_id, now=T0)
    sessions.delete(gone)
    assert sessions.lookup(gone, now=T0) is None


def test_revoking_the_token_ends_its_sessions(store: Store) -> None:
    sessions = SessionStore(store)
    token_id = _token_id(store, "operator")
    secret = sessions.create(token_id, now=T0)
    assert revoke_token(store, token_id, now="2026-11-20T09:01:00Z")
    assert sessions.lookup(secret, now=T0 + timedelta(minutes=2)) is None


def test_failed_sign_ins_are_throttled_per_address() -> None:
    throttle = LoginThrottle(limit=3, window_s=60)
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1") == 0
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") > 0
    assert throttle.retry_after("10.0.0.2") == 0
    throttle.succeeded("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 0


def test_the_cookie_is_secure_under_tls_and_named_for_the_node() -> None:
    app = web.Application()
    app[NODE] = SimpleNamespace(node_id="gb")  # type: ignore[assignment]
    plain = make_mocked_request("POST", "/login", app=app)
    behind_tls = make_mocked_request("POST", "/login", app=app,
                                     headers={"X-Forwarded-Proto": "https"})
    for request, secure in ((plain, False), (behind_tls, True)):
        cookie = session_cookie(request, "s3cret")
        assert cookie["name"] == "beacon_session_gb" and cookie["secure"] is secure
        assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
