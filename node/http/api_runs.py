"""HTTP endpoints of playbook runs, the escalation inbox and the emergency state.

| endpoint | roles |
|---|---|
| ``GET /api/v1/runs?incident=``, ``GET /api/v1/runs/{id}`` | any |
| ``GET /api/v1/escalations?status=`` | any: this node's inbox, with deadlines |
| ``POST /api/v1/escalations/{id}/ack``, ``.../decline`` | responder |
| ``POST /api/v1/runs/{id}/declare`` | operator: co-sign a pending emergency (quorum step) |
| ``GET /api/v1/emergency`` | any |
| ``GET /api/v1/notifications`` | any: what runs asked this node's roles to do |
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from federation.answers import Ack, Decline, build_ack, build_declaration, build_decline
from federation.errors import Problem, SchemaError
from federation.run_model import run_view
from federation.timeutil import format_time
from node.core.errors import Conflict, NotFound
from node.http.api import int_param
from node.http.api_steps import peer_run
from node.http.appkeys import NODE
from node.http.middleware import json_body, principal
from node.pipeline import flow
from node.store import runs

routes = web.RouteTableDef()


@routes.get("/api/v1/runs")
async def list_runs(request: web.Request) -> web.Response:
    principal(request)
    ctx = request.app[NODE]
    found = runs.list_runs(ctx.store, incident_id=request.query.get("incident"),
                           limit=int_param(request, "limit", 100, 1, 1000))
    return web.json_response({"items": [run_view(run) for run in found]})


@routes.get("/api/v1/runs/{id}")
async def get_run(request: web.Request) -> web.Response:
    principal(request)
    run = runs.find_run(request.app[NODE].store, request.match_info["id"])
    if run is None:
        shared = peer_run(request.app[NODE], request.match_info["id"])
        if shared is not None:  # a run that asked this node: its owner's view, read-only
            return web.json_response(shared)
        raise NotFound(f"run {request.match_info['id']!r}")
    return web.json_response(run_view(run))


def _inbox_item(row: Any, now: str) -> dict[str, Any]:
    doc = json.loads(row["document"])
    return {"id": row["id"], "origin": row["origin"], "incident_id": row["incident_id"],
            "run_id": row["run_id"], "tier": row["tier"], "deadline": row["deadline"],
            "status": row["status"], "overdue": row["status"] == "open" and row["deadline"] <= now,
            "reason": doc.get("reason"), "severity": doc.get("severity"),
            "request": doc.get("request"), "to": doc.get("to"),
            "received_at": row["received_at"], "answered_at": row["answered_at"],
            "answered_by": row["answered_by"], "assignee": row["assignee"],
            "assigned_at": row["assigned_at"], "title": row["title"],
            "red_lines": doc.get("red_lines") or []}


@routes.get("/api/v1/escalations")
async def inbox(request: web.Request) -> web.Response:
    principal(request)
    ctx = request.app[NODE]
    status = request.query.get("status")
    if status and status not in runs.INBOX_STATUSES:
        raise SchemaError([Problem("$.query.status", f"one of {', '.join(runs.INBOX_STATUSES)}")])
    # The incident's title, for triage; grouped by incident, newest first.
    rows = runs.list_inbox(ctx.store, status=status)
    # Deadlines are whole seconds: a deadline d has passed once floor(now) >= d.
    now = format_time(ctx.now())
    return web.json_response({"items": [_inbox_item(r, now) for r in rows]})


async def _answer(request: web.Request, message_type: str) -> web.Response:
    who = principal(request, "responder")
    ctx = request.app[NODE]
    escalation_id = request.match_info["id"]
    body: dict[str, Any] = {}
    if request.can_read_body:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise SchemaError([Problem("$", "send a JSON object (or no body)")])
    row = runs.find_escalation(ctx.store, escalation_id)
    if row is None:
        raise NotFound(f"escalation {escalation_id!r} in this node's inbox")
    if row["status"] != "open":
        raise Conflict(f"escalation {escalation_id} is already {row['status']}"
                       + (f" by {row['answered_by']}" if row["answered_by"] else ""))
    origin, at, responder = ctx.node_id, ctx.now(), who.label[:200]
    answer: Ack | Decline
    if message_type == "decline":
        reason = body.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise SchemaError([Problem("$.reason", "say why you decline (a non-empty string)")])
        answer = build_decline(origin=origin, issued_at=at, escalation_id=escalation_id,
                               incident_id=row["incident_id"], run_id=row["run_id"],
                               responder=responder, reason=reason)
    else:
        note = body.get("note")
        answer = build_ack(origin=origin, issued_at=at, escalation_id=escalation_id,
                           incident_id=row["incident_id"], run_id=row["run_id"],
                           responder=responder, note=note if isinstance(note, str) else None)
    doc = answer.to_dict()
    digest = flow.sign_and_record(ctx, doc, qualifier=row["origin"])
    return web.json_response({"escalation_id": escalation_id, "digest": digest,
                              "status": "acked" if message_type == "ack" else "declined"},
                             status=201)


@routes.post("/api/v1/escalations/{id}/ack")
async def ack(request: web.Request) -> web.Response:
    return await _answer(request, "ack")


@routes.post("/api/v1/escalations/{id}/decline")
async def decline(request: web.Request) -> web.Response:
    return await _answer(request, "decline")


@routes.post("/api/v1/runs/{id}/declare")
async def declare(request: web.Request) -> web.Response:
    principal(request, "operator")
    ctx = request.app[NODE]
    run_id = request.match_info["id"]
    body: dict[str, Any] = {}
    if request.can_read_body:
        body = await json_body(request)
    em = runs.emergency_of_run(ctx.store, run_id)
    if em is None:
        raise NotFound(f"emergency proposed by run {run_id!r}")
    if em["state"] != "pending":
        raise Conflict(f"emergency {em['id']} is {em['state']}, not pending: nothing to declare")
    members = json.loads(em["document"]).get("members", [])
    if ctx.node_id not in members:
        raise Conflict(f"{ctx.node_id} is not among the members asked to declare: "
                       f"{', '.join(members)}")
    if runs.has_declared(ctx.store, em["id"], ctx.node_id):
        raise Conflict(f"{ctx.node_id} has already declared emergency {em['id']}")
    statement = body.get("statement") if isinstance(body, dict) else None
    declaration = build_declaration(
        origin=ctx.node_id, issued_at=ctx.now(), emergency_id=em["id"], run_id=run_id,
        incident_id=em["incident_id"],
        statement=statement if isinstance(statement, str) else None)
    digest = flow.sign_and_record(ctx, declaration.to_dict())
    return web.json_response({"emergency_id": em["id"], "digest": digest}, status=201)


@routes.get("/api/v1/emergency")
async def emergency(request: web.Request) -> web.Response:
    principal(request)
    ctx = request.app[NODE]
    em = runs.current_emergency(ctx.store)
    if em is None or em["state"] == "none":
        return web.json_response({"state": "none", "threshold": None, "declarations": []})
    doc = json.loads(em["document"])
    decls = [{"by": r["origin"], "at": r["issued_at"], "digest": r["digest"],
              "statement": r["statement"]} for r in runs.list_declarations(ctx.store, em["id"])]
    return web.json_response({
        "state": em["state"], "id": em["id"], "origin": em["origin"],
        "incident_id": em["incident_id"], "run_id": em["run_id"],
        "threshold": doc["threshold"]["k"], "of": doc["threshold"]["n"],
        "members": doc.get("members", []), "deadline": doc.get("deadline"),
        "declared_at": doc.get("declared_at"), "declarations": decls, "count": len(decls),
        "updated_at": em["updated_at"]})


@routes.get("/api/v1/notifications")
async def notifications(request: web.Request) -> web.Response:
    principal(request)
    return web.json_response({"items": runs.list_notifications(request.app[NODE].store)})
