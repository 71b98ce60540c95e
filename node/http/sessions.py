"""Browser sessions for the web console: server-side, in the node's SQLite store.

    secret = SessionStore(ctx.store).create(principal.token_id, now=ctx.now())
    response.set_cookie(**session_cookie(request, secret))
    who = await session_principal(request)   # None, or the token's Principal

Design (docs/decisions.md, "Web console"):

- Signing in trades an API token for a session. The cookie carries 32 random bytes; the store
  keeps only their SHA-256, so neither a copy of the database nor a log line can be replayed as a
  cookie. A session is bound to the token's row: revoking the token ends every session made with
  it, and the role is read from that row on every request, exactly as for ``Authorization:
  Bearer``.
- The cookie, ``beacon_session_<node id>``, is ``HttpOnly``, ``SameSite=Strict``, ``Path=/``,
  and ``Secure`` when the request came over HTTPS (directly, or through a proxy that says
  ``X-Forwarded-Proto: https``).
- CSRF: every state-changing request authenticated by the cookie must carry the session's CSRF
  token, in the ``X-CSRF-Token`` header (the console's fetch calls) or a ``csrf`` form field (the
  sign-out form). The token is an HMAC of the cookie secret, so it needs no storage and changes
  with the session. Bearer-token calls carry no cookie and need none.
- Sessions end after ``IDLE`` without a request or ``LIFETIME`` after sign-in, whichever is first,
  and at once when the token is revoked or expires. The cookie outlives the session, so the
  sign-in page can tell the browser user *why* it ended (``SessionStore.why_ended``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from federation.errors import Problem, SchemaError
from federation.timeutil import format_time
from node.http.appkeys import NODE
from node.store import sessions
from node.store.auth import ForbiddenError, Principal, is_expired
from node.store.db import Store

COOKIE_PREFIX = "beacon_session_"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
LIFETIME = timedelta(hours=12)
IDLE = timedelta(hours=4)
TOUCH_EVERY = timedelta(minutes=1)  # write seen_at at most this often per session
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


async def read_form(request: web.Request) -> MultiDictProxy[Any]:
    """The request's form fields; a form aiohttp cannot read is the client's error (a 400).

    aiohttp raises ``ValueError`` for a multipart body without (or with a wrong) boundary or an
    unnamed field, ``LookupError`` for an unknown charset and ``UnicodeDecodeError`` for bytes
    that are not in the declared one; none of these is the node's fault.

    Raises:
        SchemaError: the form cannot be read.
    """
    try:
        return await request.post()
    except (ValueError, LookupError) as e:
        raise SchemaError([Problem("$", f"cannot read the form ({request.content_type}): "
                                        f"{str(e)[:200]}; send a urlencoded or multipart form "
                                        "with its boundary, in UTF-8")]) from e


# Why a session that the browser still holds a cookie for has ended (see ``why_ended``).
ENDED_REVOKED = "revoked"
ENDED_TOKEN_EXPIRED = "token-expired"  # noqa: S105 - a reason code, not a secret
ENDED_LIFETIME = "expired"
ENDED_IDLE = "idle"


@dataclass(frozen=True)
class Ended:
    reason: str  # one of ENDED_*
    at: str  # when: the revocation, the token's expiry, the session's end


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf: str
    expires_at: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def csrf_token(secret: str) -> str:
    """The CSRF token of the session whose cookie secret is ``secret``."""
    return hmac.new(secret.encode(), b"beacon csrf v1", hashlib.sha256).hexdigest()


class SessionStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    def create(self, token_id: str, *, now: datetime) -> str:
        """Open a session for ``token_id``; return the cookie secret (not stored)."""
        secret = secrets.token_urlsafe(32)
        stamp = format_time(now)
        with self._store.transaction() as tx:
            sessions.prune_sessions(tx, expired_by=stamp, idle_since=format_time(now - IDLE))
            sessions.insert_session(tx, _hash(secret), token_id, created_at=stamp,
                                    expires_at=format_time(now + LIFETIME))
        return secret

    def _row(self, secret: str) -> Any:
        if not secret or len(secret) > 100:
            return None
        return sessions.session_with_token(self._store, _hash(secret))

    @staticmethod
    def _ended(row: Any, now: datetime) -> Ended | None:
        """Why the session in ``row`` is over at ``now``, or None while it is live; the
        token's fate first (it ends every session of that token), then the session's own."""
        if row["revoked_at"] is not None:
            return Ended(ENDED_REVOKED, row["revoked_at"])
        if is_expired(row["token_expires_at"], now):
            return Ended(ENDED_TOKEN_EXPIRED, row["token_expires_at"])
        if row["expires_at"] <= format_time(now):
            return Ended(ENDED_LIFETIME, row["expires_at"])
        idle_end = datetime.fromisoformat(row["seen_at"].replace("Z", "+00:00")) + IDLE
        if idle_end < now:
            return Ended(ENDED_IDLE, format_time(idle_end))
        return None

    def lookup(self, secret: str, *, now: datetime, touch: bool = True) -> Session | None:
        """The live session for a cookie secret, or None (unknown, ended, token revoked or
        expired).

        ``touch=False`` checks without counting as activity (a live stream's keep-alive)."""
        row = self._row(secret)
        if row is None or self._ended(row, now) is not None:
            return None
        stamp = format_time(now)
        if touch and row["seen_at"] < format_time(now - TOUCH_EVERY):
            with self._store.transaction() as tx:
                sessions.touch_session(tx, _hash(secret), stamp)
        # The whole principal, as for a bearer token: a provider's filings are checked against
        # its developer, an evaluator's reviews are signed under its organisation.
        return Session(Principal(row["token_id"], row["role"], row["label"], row["developer"],
                                 row["organisation"]), csrf_token(secret), row["expires_at"])

    def why_ended(self, secret: str, *, now: datetime) -> Ended | None:
        """Why the session of this cookie is over, or None (live, signed out, or unknown)."""
        row = self._row(secret)
        return None if row is None else self._ended(row, now)

    def delete(self, secret: str) -> None:
        with self._store.transaction() as tx:
            sessions.delete_session(tx, _hash(secret))


def cookie_name(request: web.Request) -> str:
    """``beacon_session_<node id>``: cookies are scoped by host, not port, so nodes sharing a
    host (the demo's loopback federation) must not overwrite each other's sessions."""
    return COOKIE_PREFIX + request.app[NODE].node_id


def is_https(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def session_cookie(request: web.Request, secret: str) -> dict[str, Any]:
    """Keyword arguments for ``response.set_cookie`` carrying a new session."""
    return {"name": cookie_name(request), "value": secret, "path": "/", "httponly": True,
            "samesite": "Strict", "secure": is_https(request),
            "max_age": int(LIFETIME.total_seconds())}


def clear_session_cookie(request: web.Request, response: web.StreamResponse) -> None:
    response.del_cookie(cookie_name(request), path="/", secure=is_https(request), httponly=True,
                        samesite="Strict")


def current_session(request: web.Request, *, touch: bool = True) -> Session | None:
    ctx = request.app[NODE]
    secret = request.cookies.get(cookie_name(request))
    return None if not secret else SessionStore(ctx.store).lookup(secret, now=ctx.now(),
                                                                  touch=touch)


async def session_principal(request: web.Request) -> Principal | None:
    """Authenticate a request by its session cookie; enforce CSRF on state-changing methods.

    ``POST /login`` is exempt: it has no session yet and is checked by origin instead.

    Raises:
        ForbiddenError: a state-changing request with the cookie but without the CSRF token.
    """
    session = current_session(request)
    if session is None:
        return None
    if request.method not in SAFE_METHODS and request.path != "/login":
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent and request.content_type in FORM_TYPES:
            form = await read_form(request)
            field = form.get(CSRF_FIELD)
            sent = field if isinstance(field, str) else ""
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise ForbiddenError(f"missing or wrong CSRF token: a request signed in by cookie "
                                 f"must send the session's token in {CSRF_HEADER}")
    return session.principal


def same_origin(request: web.Request) -> bool:
    """True unless the browser says the request came from another site (login CSRF guard)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None:  # not a browser, or one that predates Origin on POST
        return True
    scheme = "https" if is_https(request) else request.scheme
    return origin == f"{scheme}://{request.host}"


class LoginThrottle:
    """At most ``limit`` failed sign-ins per client address in ``window_s`` seconds.

    Argon2id already makes each guess slow; this stops a script from spending the node's CPU.
    """

    def __init__(self, limit: int = 10, window_s: float = 300.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)

    def _recent(self, client: str) -> deque[float]:
        q = self._failures[client]
        cutoff = time.monotonic() - self.window_s
        while q and q[0] < cutoff:
            q.popleft()
        return q

    def retry_after(self, client: str) -> int:
        """Seconds to wait before trying again, or 0 if a try is allowed now."""
        q = self._recent(client)
        if len(q) < self.limit:
            return 0
        return max(1, int(q[0] + self.window_s - time.monotonic()) + 1)

    def failed(self, client: str) -> None:
        if len(self._failures) > 10_000:  # bound memory under a spray of addresses
            self._failures.clear()
        self._recent(client).append(time.monotonic())

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)
