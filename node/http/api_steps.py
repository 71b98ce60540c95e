"""HTTP endpoints people use to work a run: complete a step, start a playbook, take an item.

| endpoint | roles |
|---|---|
| ``POST /api/v1/runs/{id}/steps/{step}/complete`` | responder, operator |
| ``POST /api/v1/runs`` ``{"incident_id", "playbook_id"}`` | responder, operator |
| ``POST /api/v1/escalations/{id}/assign`` ``{"assignee"}`` | responder, operator |

Each change is applied in one transaction with the signed messages it causes (a ``step``
message for a completed step, the escalations a started run sends), so a completion is in this
node's transparency log and reaches the peers the run asked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from aiohttp import web

from federation.errors import Problem, SchemaError
from federation.messages import Draft
from federation.run_model import RunError, Transition, run_view
from federation.step_messages import evidence_problems
from node.core.errors import Conflict, NotFound
from node.http.appkeys import NODE
from node.http.middleware import json_body, principal
from node.pipeline import engine, flow
from node.pipeline.context import NodeContext
from node.store import runs
from node.store.auth import Principal
from node.store.envelopes import peer_documents_of_type

routes = web.RouteTableDef()
WORKERS = ("responder", "operator")


async def _worker_request(request: web.Request) -> tuple[Principal, NodeContext, dict[str, Any]]:
    """Who asks (a responder or operator, checked first), the node, and the JSON object sent."""
    who = principal(request, *WORKERS)
    return who, request.app[NODE], await _object(request)


async def _object(request: web.Request) -> dict[str, Any]:
    body = await json_body(request) if request.can_read_body else {}
    if not isinstance(body, dict):
        raise SchemaError([Problem("$", "send a JSON object")])
    return body


def _string(body: dict[str, Any], key: str, *, required: bool, limit: int) -> str:
    value = body.get(key, "" if not required else None)
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise SchemaError([Problem(f"$.{key}", f"a{' non-empty' if required else ''} string "
                                               f"of at most {limit} characters")])
    return value


def _apply(ctx: NodeContext, path: str,
           change: Callable[[sqlite3.Connection], tuple[Transition, list[Draft]]]) -> Transition:
    """Change a run and issue the messages the change causes, in one transaction; a change the
    run refuses outright is a 400 about ``path``."""
    try:
        with ctx.transaction() as tx:
            t, drafts = change(tx)
            flow.issue(ctx, drafts, tx=tx)
    except RunError as e:
        raise SchemaError([Problem(path, str(e))]) from e
    ctx.outbox_wakeup.set()
    return t


@routes.post("/api/v1/runs/{id}/steps/{step}/complete")
async def complete(request: web.Request) -> web.Response:
    who = principal(request, *WORKERS)
    ctx = request.app[NODE]
    run_id, step_id = request.match_info["id"], request.match_info["step"]
    body = await _object(request)
    note = _string(body, "note", required=False, limit=5000)
    evidence = body.get("evidence", [])
    problems = evidence_problems(evidence)
    if problems:
        raise SchemaError([Problem(p, m) for p, m in problems])
    run = runs.find_run(ctx.store, run_id)
    if run is None:
        raise NotFound(f"run {run_id!r} at this node (a peer's run is read-only here)")
    if step_id not in {s.step_id for s in run.steps}:
        raise NotFound(f"step {step_id!r} in run {run_id} (steps: "
                       f"{', '.join(s.step_id for s in run.steps)})")
    t = _apply(ctx, "$", lambda tx: engine.complete_step(
        ctx, tx, run_id, step_id, by=who.label[:300], note=note, evidence=evidence))
    if t.outcome != "applied":
        # The refusal is recorded in the run's history (committed above); the caller learns why.
        raise Conflict(f"step {step_id} cannot be completed: {t.run.history[-1].detail}")
    return web.json_response(run_view(t.run), status=200)


@routes.post("/api/v1/runs")
async def start(request: web.Request) -> web.Response:
    who, ctx, body = await _worker_request(request)
    incident_id = _string(body, "incident_id", required=True, limit=200)
    playbook_id = _string(body, "playbook_id", required=True, limit=200)
    t = _apply(ctx, "$.playbook_id", lambda tx: engine.start_by_hand(
        ctx, tx, incident_id, playbook_id, by=who.label[:300]))
    return web.json_response(run_view(t.run), status=201)


@routes.post("/api/v1/escalations/{id}/assign")
async def assign(request: web.Request) -> web.Response:
    who, ctx, body = await _worker_request(request)
    # No assignee: the caller takes it.
    assignee = (_string(body, "assignee", required=True, limit=200) if "assignee" in body
                else who.label[:200])
    escalation_id = request.match_info["id"]
    with ctx.transaction() as tx:
        assigned = runs.assign_escalation(tx, escalation_id, assignee, ctx.stamp())
    if not assigned:
        raise NotFound(f"escalation {escalation_id!r} in this node's inbox")
    return web.json_response({"escalation_id": escalation_id, "assignee": assignee})


def peer_run(ctx: NodeContext, run_id: str) -> dict[str, Any] | None:
    """The newest view a peer published of its run ``run_id`` (``step`` messages), read-only."""
    newest: dict[str, Any] | None = None
    for doc in peer_documents_of_type(ctx.store, "step", not_from=ctx.node_id, limit=2000):
        ours = doc.get("run_id") == run_id and isinstance(doc.get("run"), dict)
        if ours and (newest is None or str(doc["issued_at"]) > str(newest["issued_at"])):
            newest = doc
    if newest is None:
        return None
    return {**newest["run"], "owner": newest["origin"], "read_only": True}
