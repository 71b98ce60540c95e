"""Training-run declarations and the regulatory deadlines they start (HTTP).

    $ curl -X POST -H "Authorization: Bearer $OPERATOR" -H 'Content-Type: application/json' \\
        -d '{"developer": "Example AI", "model": "ExampleLM-4", "compute_flop": 2e26,
             "started_at": "2026-11-01T00:00:00Z"}' http://127.0.0.1:8401/api/v1/training-runs
    {"id": "gb-run-…", "thresholds_crossed": ["ai-act-51-2", "frontier-1e26"],
     "clocks": [{"clock": "ai-act-52-1", "due_at": "2026-11-15T00:00:00Z", …}], …}

| endpoint | roles |
|---|---|
| ``POST /api/v1/training-runs`` | operator |
| ``GET /api/v1/training-runs?developer=`` | any |
| ``GET /api/v1/deadlines?state=due|overdue|met`` | any: every node's copy of every clock |

The node signs a ``training-run`` message (``federation.training_runs``) carrying each clock it
starts and its due time; every node projects the deadlines and turns them overdue once
(``node.pipeline.deadlines``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from federation.errors import Problem, SchemaError
from federation.regimes import Clock, RegimeError
from federation.training_runs import STATES, training_run_body
from node.core.playbook_files import DEFAULT_DIR, load_regimes
from node.http import api, held
from node.http.appkeys import NODE
from node.http.middleware import for_developer, json_body, principal
from node.pipeline import deadlines, flow
from node.pipeline.context import NodeContext

routes = web.RouteTableDef()


@routes.post("/api/v1/training-runs")
async def post_training_run(request: web.Request) -> web.Response:
    who = principal(request, "operator", "provider")
    ctx = request.app[NODE]
    body = await json_body(request)
    for_developer(who, body.get("developer") if isinstance(body, dict) else None, "developer")
    _declaration(ctx, body)  # refused now if bad, whether filed now or held for review
    if (pending := held.hold(ctx, who, "training-run", body)) is not None:
        return pending
    return web.json_response(file_declaration(ctx, body), status=201)


def _declaration(ctx: NodeContext, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise SchemaError([Problem("$", "a declaration is a JSON object")], "training-run")
    regimes, _ = load_regimes(ctx.config.playbooks_dir or DEFAULT_DIR)

    def clock_of(name: str) -> Clock | None:
        try:
            return regimes.clock(name)
        except RegimeError:
            return None  # a threshold naming no known clock starts none
    return training_run_body(body, ctx.tripwires.compute_thresholds, clock_of,
                             origin=ctx.node_id, now=ctx.now())


def file_declaration(ctx: NodeContext, body: Any) -> dict[str, Any]:
    """Sign and record the declaration ``body`` (its clocks start everywhere); the answer."""
    doc = _declaration(ctx, body)
    return doc | {"digest": flow.sign_and_record(ctx, doc)}


@routes.get("/api/v1/training-runs")
async def list_training_runs(request: web.Request) -> web.Response:
    principal(request)
    return web.json_response({"items": deadlines.training_runs(
        request.app[NODE].store, request.query.get("developer") or None)})


@routes.get("/api/v1/deadlines")
async def list_deadlines(request: web.Request) -> web.Response:
    principal(request)
    state = api.choice_param(request, "state", STATES)
    return web.json_response({"items": deadlines.listing(request.app[NODE].store, state)})
