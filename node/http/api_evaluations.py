"""Capability evaluations against the shared tripwires (HTTP).

    $ curl -X POST -H "Authorization: Bearer $OPERATOR" -H 'Content-Type: application/json' \\
        -d '{"developer": "Example AI", "model": "ExampleLM", "version": "3.0", "suite": "s",
             "domain": "cbrn", "score": 0.91, "evaluator": "UK AI Security Institute",
             "evaluated_at": "2026-11-25T00:00:00Z"}' http://127.0.0.1:8401/api/v1/evaluations
    {"id": "gb-eval-…", "level": "red-line", "incident_id": "gb-…", "digest": "…", …}

| endpoint | roles |
|---|---|
| ``POST /api/v1/evaluations`` | operator: the model must be registered (``POST /api/v1/models``) |
| ``GET /api/v1/evaluations?developer=&model=&version=`` | any |
| ``GET /api/v1/tripwires`` | any: the shared tripwires (``playbooks/tripwires.yaml``) |
| ``POST /api/v1/monitoring``, ``GET /api/v1/monitoring/{id}`` | operator or provider; any |

The node signs an ``evaluation`` message (``federation.tripwires``) that every member receives;
at the red line it also files an incident carrying the evaluation, at early warning a serious
hazard (``node.pipeline.assurance``), in the same transaction.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from federation.errors import Problem, SchemaError
from federation.monitoring import monitoring_body
from federation.tripwires import evaluation_body
from node.core.errors import NotFound
from node.http import held
from node.http.appkeys import NODE
from node.http.middleware import for_developer, json_body, principal
from node.pipeline import assurance, flow, registry
from node.pipeline.context import NodeContext

routes = web.RouteTableDef()


def _checked(ctx: NodeContext, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise SchemaError([Problem("$", "an evaluation is a JSON object")], "evaluation")
    return _registered(ctx, evaluation_body(body, ctx.tripwires, origin=ctx.node_id,
                                            now=ctx.now()))


def _registered(ctx: NodeContext, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` (an evaluation or a monitoring signal) checked against its schema and linked to
    the registered model it names (``model_ref``).

    Raises:
        SchemaError: it breaks its schema, or names no registered model.
    """
    problems = ctx.schemas.problems(doc["type"], doc)
    if not problems:
        named = registry.named(ctx.store, doc["developer"], doc["model"], doc["version"],
                                 ctx.node_id)
        if named is None:
            problems.append(Problem("$.model", f"no registered model {doc['developer']} "
                                               f"{doc['model']} {doc['version']}; register it "
                                               "first with POST /api/v1/models"))
        else:
            doc["model_ref"] = named
    if problems:
        raise SchemaError(sorted(problems, key=lambda p: p.path), doc["type"])
    return doc


@routes.post("/api/v1/evaluations")
async def post_evaluation(request: web.Request) -> web.Response:
    who = principal(request, "operator", "provider")
    ctx = request.app[NODE]
    body = await json_body(request)
    for_developer(who, body.get("developer") if isinstance(body, dict) else None, "developer")
    _checked(ctx, body)  # refused now if bad, whether filed now or held for review
    if (pending := held.hold(ctx, who, "evaluation", body)) is not None:
        return pending
    done = file_evaluation(ctx, body)
    return web.json_response(done, status=201,
                             headers={"Location": f"/api/v1/evaluations/{done['id']}"})


def file_evaluation(ctx: NodeContext, body: Any) -> dict[str, Any]:
    """Sign and record the evaluation ``body`` (and the report a crossing files); the answer."""
    doc = _checked(ctx, body)
    digest = flow.sign_and_record(ctx, doc, qualifier=doc["level"])
    stored = assurance.evaluation(ctx.store, doc["id"]) or {}
    return doc | {"digest": digest, "incident_id": stored.get("incident_id")}


@routes.get("/api/v1/evaluations")
async def list_evaluations(request: web.Request) -> web.Response:
    principal(request)
    q = request.query
    if not q.get("developer") or not q.get("model"):
        raise SchemaError([Problem("$.developer", "give ?developer=…&model=… (and optionally "
                                                  "&version=…)")], "evaluation")
    return web.json_response({"items": assurance.evaluations_of(
        request.app[NODE].store, q["developer"], q["model"], q.get("version") or None)})


@routes.get("/api/v1/evaluations/{id}")
async def get_evaluation(request: web.Request) -> web.Response:
    principal(request)
    found = assurance.evaluation(request.app[NODE].store, request.match_info["id"])
    if found is None:
        raise NotFound(f"evaluation {request.match_info['id']!r}")
    return web.json_response(found)


@routes.post("/api/v1/monitoring")
async def post_monitoring(request: web.Request) -> web.Response:
    who = principal(request, "operator", "provider")
    ctx = request.app[NODE]
    body = await json_body(request)
    if not isinstance(body, dict):
        raise SchemaError([Problem("$", "a monitoring signal is a JSON object")], "monitoring")
    for_developer(who, body.get("developer"), "developer")
    _registered(ctx, monitoring_body(body, origin=ctx.node_id, now=ctx.now()))
    if (pending := held.hold(ctx, who, "monitoring", body)) is not None:
        return pending
    return web.json_response(file_monitoring(ctx, body), status=201)


def file_monitoring(ctx: NodeContext, body: dict[str, Any]) -> dict[str, Any]:
    """Sign and record the monitoring signal ``body`` and the incident it files; the answer."""
    doc = _registered(ctx, monitoring_body(body, origin=ctx.node_id, now=ctx.now()))
    digest = flow.sign_and_record(ctx, doc)
    stored = assurance.monitoring_signal(ctx.store, doc["id"]) or {}
    return doc | {"digest": digest, "incident_id": stored.get("incident_id")}


@routes.get("/api/v1/monitoring/{id}")
async def get_monitoring(request: web.Request) -> web.Response:
    principal(request)
    found = assurance.monitoring_signal(request.app[NODE].store, request.match_info["id"])
    if found is None:
        raise NotFound(f"monitoring signal {request.match_info['id']!r}")
    return web.json_response(found)


@routes.get("/api/v1/preparedness/summary")
async def preparedness_summary(request: web.Request) -> web.Response:
    principal(request)
    ctx = request.app[NODE]
    return web.json_response(assurance.summary(ctx.store, ctx.tripwires))


@routes.get("/api/v1/tripwires")
async def list_tripwires(request: web.Request) -> web.Response:
    principal(request)
    wires = request.app[NODE].tripwires
    return web.json_response({"version": wires.version,
                              "approaching_margin": wires.approaching_margin,
                              "items": [t.to_dict() for t in wires.items]})
