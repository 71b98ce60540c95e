"""The one place where errors become HTTP responses, and where requests are authenticated.

    web.Application(middlewares=[error_middleware, auth_middleware])

Every error response is JSON: ``{"errors": [{"path": ..., "message": ...}, ...]}``. A bad
request is a 4xx naming each problem; an unexpected failure is logged with its traceback and
answered with a 500 that leaks nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from federation.errors import Problem, SchemaError, capped
from federation.jsonbounds import parse_json
from federation.model_registry import key
from node.core.errors import Conflict, NotFound
from node.http.appkeys import NODE
from node.http.sessions import session_principal
from node.store.auth import STAFF_ROLES, AuthError, ForbiddenError, Principal

log = logging.getLogger("beacon.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PRINCIPAL = "beacon.principal"


def error_response(status: int, problems: list[Problem],
                   headers: dict[str, str] | None = None) -> web.Response:
    """The JSON error answer, bounded: at most ``MAX_PROBLEMS`` problems of bounded length."""
    return web.json_response({"errors": [p.to_dict() for p in capped(problems)]},
                             status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except SchemaError as e:
        return error_response(400, e.problems)
    except AuthError as e:
        return error_response(401, [Problem("$.headers.Authorization", str(e))],
                              {"WWW-Authenticate": 'Bearer realm="beacon"'})
    except ForbiddenError as e:
        return error_response(403, [Problem("$", str(e))])
    except NotFound as e:
        return error_response(404, [Problem("$", f"{e.what} not found")])
    except Conflict as e:
        return error_response(409, [Problem("$", str(e))])
    except web.RequestPayloadError as e:  # e.g. a body that is not the Content-Encoding it says
        return error_response(400, [Problem("$", f"cannot read the body: {str(e)[:200]}; send "
                                                 "it plain or in the encoding it declares")])
    except web.HTTPException as e:
        if e.status < 400:
            raise
        keep = {k: v for k, v in e.headers.items() if k in ("Allow", "Retry-After")}
        return error_response(e.status, [Problem("$", e.reason)], keep)
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return error_response(500, [Problem("$", "internal error; the node's log has details")])


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        request[PRINCIPAL] = request.app[NODE].tokens.authenticate(header[7:].strip())
    elif header:
        raise AuthError("use 'Authorization: Bearer <token>'")
    elif (who := await session_principal(request)) is not None:
        request[PRINCIPAL] = who  # the web console's session cookie (CSRF-checked if unsafe)
    return await handler(request)


def principal(request: web.Request, *roles: str) -> Principal:
    """The caller, who must hold one of ``roles`` (any role if none are named)."""
    who: Principal | None = request.get(PRINCIPAL)
    if who is None:
        raise AuthError("this endpoint needs 'Authorization: Bearer <token>'")
    allowed = roles or STAFF_ROLES
    if who.role not in allowed:
        raise ForbiddenError(f"role {who.role!r} may not do this; needs {' or '.join(allowed)}")
    return who


def for_developer(who: Principal, developer: object, path: str) -> None:
    """Refuse a provider filing for a developer other than its own (403, nothing stored)."""
    if who.role != "provider":
        return
    if not isinstance(developer, str) or key(developer) != key(who.developer or ""):
        raise ForbiddenError(f"this provider token files for {who.developer!r} only; {path} is "
                             f"{developer!r}")


# Bodies larger than this are parsed in a worker thread, so other requests (``/healthz``) are
# answered meanwhile; small ones are not worth the hand-off.
THREAD_BYTES = 64 * 1024


async def json_body(request: web.Request) -> Any:
    """The request's JSON body, parsed within ``federation.jsonbounds`` (UTF-8, bounded depth).

    Raises:
        SchemaError: wrong content type or charset, not JSON, or out of bounds (a 400).
    """
    if request.content_type != "application/json":
        raise SchemaError([Problem("$", "send the body as JSON with "
                                        "'Content-Type: application/json'")])
    charset = request.charset
    if charset is not None and charset.lower().replace("-", "") != "utf8":
        raise SchemaError([Problem("$", f"charset {charset[:40]!r} is not accepted: send JSON "
                                        "as UTF-8 (RFC 8259), with no charset or charset=utf-8")])
    raw = await request.read()
    if len(raw) > THREAD_BYTES:
        return await asyncio.to_thread(parse_json, raw)
    return parse_json(raw)
