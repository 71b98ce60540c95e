"""The operators' audit trail: every state-changing action, who took it, when, and its outcome.

    web.Application(middlewares=[audit_middleware, error_middleware, auth_middleware])
    app.add_routes(routes)                 # GET /api/v1/audit (auditor, operator)
    record(store, via="cli", method="CLI", path="users add", status=0, target=token_id,
           at=now, label="root")

Every request with a method other than GET, HEAD or OPTIONS that reaches a route is recorded
with its outcome, whether it succeeded or was refused (401, 403, 400 …): a refused attempt is as
much a part of an audit trail as an accepted one. The row names the token that made it (id,
role, label — never the secret), the request path and route, the id acted on or created, the
digest of the envelope it signed, the HTTP status and the remote address. Token creation and
revocation through ``beacon users`` are recorded here too, with ``via = 'cli'``.

The middleware sits *outside* the error middleware, so it sees the status the client got, not an
exception; the principal it names is the one the auth middleware put on the request. The row is
written after the action committed, in its own transaction: a failure to write it is logged and
does not turn a committed action into an error (the signed envelope and the transparency log
remain the tamper-evident record of what the node said).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from node.http.api import int_param
from node.http.appkeys import NODE
from node.http.middleware import PRINCIPAL, Handler, principal
from node.store import audit
from node.store.auth import Principal
from node.store.db import Store

log = logging.getLogger("beacon.audit")

routes = web.RouteTableDef()

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Keys of a 2xx JSON answer that name what the action created or acted on, in order of preference.
_TARGET_KEYS = ("id", "escalation_id", "emergency_id", "size")
_MAX_PARSED_BODY = 64 * 1024


def record(store: Store, *, at: str, via: str, method: str, path: str, status: int,
           who: Principal | None = None, label: str | None = None, route: str | None = None,
           target: str | None = None, digest: str | None = None,
           remote: str | None = None) -> int:
    """Append one action to the audit trail and return its sequence number.

    Args:
        store: the node's store.
        at: when (RFC 3339 UTC).
        via: ``api`` or ``cli``.
        method: the HTTP method, or ``CLI``.
        path: the request path, or the CLI command (``users add``).
        status: the HTTP status of the outcome; 0 for a CLI action that succeeded.
        who: the authenticated caller, if any.
        label: who, when there is no token (the OS user of a CLI action).
        route: the route template the path matched.
        target: the id acted on or created.
        digest: the digest of the envelope the action signed.
        remote: the client address.
    """
    with store.transaction() as tx:
        return audit.append_action(
            tx, at=at, via=via, token_id=who.token_id if who else None,
            role=who.role if who else None, label=who.label if who else label, method=method,
            path=path, route=route, target=target, digest=digest, status=status, remote=remote)


def _answer_json(response: web.StreamResponse | None) -> dict[str, Any]:
    if not isinstance(response, web.Response) or response.content_type != "application/json":
        return {}
    body = response.body
    if not isinstance(body, bytes) or len(body) > _MAX_PARSED_BODY:
        return {}
    try:
        doc = json.loads(body)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _describe(request: web.Request, status: int,
              response: web.StreamResponse | None) -> tuple[str | None, str | None, str | None]:
    """The route template, the target id and the signed digest of one request."""
    info = request.match_info
    route = info.route.resource.canonical if info.route.resource is not None else None
    answer = _answer_json(response) if 200 <= status < 300 else {}
    target = next((str(answer[k]) for k in _TARGET_KEYS if answer.get(k) is not None), None)
    if info.get("id"):
        target = info["id"]
    elif target is None and info:
        target = ",".join(f"{k}={v}" for k, v in sorted(info.items()))
    digest = answer.get("digest")
    return route, target, digest if isinstance(digest, str) else None


def _record_request(request: web.Request, status: int,
                    response: web.StreamResponse | None) -> None:
    if request.match_info.http_exception is not None:
        return  # no route (404) or method not allowed (405): nothing was attempted
    try:
        ctx = request.app[NODE]
        route, target, digest = _describe(request, status, response)
        record(ctx.store, at=ctx.stamp(), via="api", method=request.method, path=request.path,
               status=status, who=request.get(PRINCIPAL), route=route, target=target,
               digest=digest, remote=request.remote)
    except Exception:  # the action itself is committed; say loudly that its record is missing
        log.exception("could not record %s %s (status %d) in the audit trail",
                      request.method, request.path, status)


@web.middleware
async def audit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record every state-changing request's outcome (place it before the error middleware)."""
    if request.method in SAFE_METHODS:
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPException as e:
        _record_request(request, e.status, None)
        raise
    except Exception:
        _record_request(request, 500, None)
        raise
    _record_request(request, response.status, response)
    return response


def _item(row: Any) -> dict[str, Any]:
    who = None
    if row["token_id"] is not None or row["label"] is not None:
        who = {"token_id": row["token_id"], "role": row["role"], "label": row["label"]}
    return {"seq": row["seq"], "at": row["at"], "via": row["via"], "who": who,
            "method": row["method"], "path": row["path"], "route": row["route"],
            "target": row["target"], "digest": row["digest"], "status": row["status"],
            "remote": row["remote"]}


@routes.get("/api/v1/audit")
async def list_audit(request: web.Request) -> web.Response:
    """The audit trail, newest first: ``?limit=1..500&cursor=<next>&token=<token id>``."""
    principal(request, "auditor", "operator")
    store = request.app[NODE].store
    limit = int_param(request, "limit", 50, 1, 500)
    cursor = int_param(request, "cursor", 0, 0, 2**62) if request.query.get("cursor") else None
    rows, nxt = audit.list_actions(store, token_id=request.query.get("token") or None,
                                   cursor=cursor, limit=limit)
    return web.json_response({"items": [_item(r) for r in rows],
                              "next": None if nxt is None else str(nxt)})
