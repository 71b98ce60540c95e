"""HTTP endpoints of webhooks: register, list with delivery status, read the log, delete.

| endpoint | roles |
|---|---|
| ``POST /api/v1/webhooks`` ``{"url", "roles": [...], "secret"}`` | operator → 201 |
| ``GET /api/v1/webhooks`` | operator: each with delivery counts and its last attempt |
| ``GET /api/v1/webhooks/{id}/deliveries?limit=`` | operator: the delivery log, newest first |
| ``DELETE /api/v1/webhooks/{id}`` | operator → 204 (its log goes with it) |

    curl -X POST -H 'Authorization: Bearer …' -H 'Content-Type: application/json' \\
         -d '{"url": "https://oncall.example/beacon", "roles": ["responder"],
              "secret": "a long shared secret"}' http://127.0.0.1:8101/api/v1/webhooks

The secret is stored to sign deliveries and never answered, logged or put in the audit trail
(the trail keeps method, path and the new id only).
"""

from __future__ import annotations

from aiohttp import web

from federation.errors import SchemaError
from federation.webhooks import check_registration
from node.core.errors import NotFound
from node.http.api import int_param
from node.http.appkeys import NODE
from node.http.middleware import json_body, principal
from node.pipeline import webhook_store as ws

routes = web.RouteTableDef()


@routes.post("/api/v1/webhooks")
async def add(request: web.Request) -> web.Response:
    principal(request, "operator")
    body = await json_body(request)
    if not isinstance(body, dict):
        body = {}
    problems = check_registration(body.get("url"), body.get("roles"), body.get("secret"))
    if problems:
        raise SchemaError(problems)
    ctx = request.app[NODE]
    roles = list(dict.fromkeys(body["roles"]))
    with ctx.transaction() as tx:
        hook = ws.add_webhook(tx, url=body["url"], roles=roles, secret=body["secret"],
                              now=ctx.stamp())
    return web.json_response(hook, status=201)


@routes.get("/api/v1/webhooks")
async def list_all(request: web.Request) -> web.Response:
    principal(request, "operator")
    return web.json_response({"items": ws.list_webhooks(request.app[NODE].store)})


@routes.get("/api/v1/webhooks/{id}/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    principal(request, "operator")
    store, webhook_id = request.app[NODE].store, request.match_info["id"]
    limit = int_param(request, "limit", 100, 1, 1000)
    if not ws.webhook_exists(store, webhook_id):
        raise NotFound(f"webhook {webhook_id}")
    return web.json_response({"webhook_id": webhook_id,
                              "items": ws.delivery_log(store, webhook_id, limit)})


@routes.delete("/api/v1/webhooks/{id}")
async def delete(request: web.Request) -> web.Response:
    principal(request, "operator")
    ctx = request.app[NODE]
    with ctx.transaction() as tx:
        found = ws.delete_webhook(tx, request.match_info["id"])
    if not found:
        raise NotFound(f"webhook {request.match_info['id']}")
    return web.Response(status=204)
