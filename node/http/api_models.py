"""The model registry (HTTP).

    $ curl -X POST -H "Authorization: Bearer $OPERATOR" -H 'Content-Type: application/json' \\
        -d '{"developer": "Example AI", "model": "ExampleLM", "version": "3.0",
             "deployment_jurisdictions": ["fr", "jp"]}' http://127.0.0.1:8401/api/v1/models
    {"id": "gb-model-…", "revision": 1, "digest": "…", "model": {"type": "model", …}}

| endpoint | roles |
|---|---|
| ``POST /api/v1/models`` | operator: registers a model, or a new version of one (a revision) |
| ``GET /api/v1/models?developer=`` | any: the current revision of every registration |
| ``GET /api/v1/models/{id}`` | any: its current revision, versions, incidents, evaluations |
| ``POST /api/v1/safety-cases/{id}/reviews`` | operator of another member: a signed verdict |

The node signs a ``model`` message (``federation.model_registry``) that every member receives.
Only the node that registered a model can register its next version (the id names the origin).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from federation.envelope import Envelope
from federation.errors import Problem, RosterError, SchemaError, SignatureError
from federation.model_registry import model_body, review_body
from federation.timeutil import parse_time
from node.core.errors import NotFound
from node.http.appkeys import NODE
from node.http.middleware import json_body, principal
from node.pipeline import assurance, flow, registry
from node.pipeline.context import NodeContext

routes = web.RouteTableDef()


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []  # the schema reports any other type


def _checked(ctx: NodeContext, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise SchemaError([Problem("$", "a model registration is a JSON object")], "model")
    draft = model_body(body, origin=ctx.node_id, now=ctx.now(), revision=1)
    problems = ctx.schemas.problems("model", draft)
    members = ctx.roster.member_ids()
    problems += [Problem(f"$.deployment_jurisdictions[{i}]",
                         f"{j!r} is not a member of the federation ({', '.join(members)})")
                 for i, j in enumerate(_listed(draft.get("deployment_jurisdictions")))
                 if isinstance(j, str) and j not in members]
    if problems:
        raise SchemaError(sorted(problems, key=lambda p: p.path), "model")
    return draft


@routes.post("/api/v1/models")
async def post_model(request: web.Request) -> web.Response:
    principal(request, "operator")
    ctx = request.app[NODE]
    draft = _checked(ctx, await json_body(request))
    doc = draft | {"revision": registry.next_revision(ctx.store, draft["id"])}
    digest = flow.sign_and_record(ctx, doc)
    return web.json_response({"id": doc["id"], "revision": doc["revision"], "digest": digest,
                              "model": doc}, status=201,
                             headers={"Location": f"/api/v1/models/{doc['id']}"})


def _review(ctx: NodeContext, review: dict[str, Any]) -> dict[str, Any]:
    """A review as the model page shows it: re-verified now against the roster's keys."""
    envelope = Envelope.from_json(review.pop("envelope"))
    try:
        envelope.verify_with(ctx.roster.signing_keys(review["origin"],
                                                     parse_time(review["issued_at"])))
        verified = True
    except (SignatureError, RosterError):
        verified = False
    return review | {"verified": verified}


@routes.post("/api/v1/safety-cases/{id}/reviews")
async def post_review(request: web.Request) -> web.Response:
    who = principal(request, "operator")
    ctx = request.app[NODE]
    wanted = request.match_info["id"]
    model = registry.current(ctx.store, wanted)
    if model is None:
        raise NotFound(f"model {wanted!r}; GET /api/v1/models lists the registered models")
    body = await json_body(request)
    if not isinstance(body, dict):
        raise SchemaError([Problem("$", "a review is a JSON object")], "safety-case-review")
    doc = review_body(model, body, origin=ctx.node_id, reviewer=f"{ctx.node_id}: {who.label}",
                      now=ctx.now())
    digest = flow.sign_and_record(ctx, doc, qualifier=doc["verdict"])
    return web.json_response(doc | {"digest": digest}, status=201)


@routes.get("/api/v1/models")
async def list_models(request: web.Request) -> web.Response:
    principal(request)
    developer = request.query.get("developer") or None
    return web.json_response({"items": registry.listing(request.app[NODE].store, developer)})


@routes.get("/api/v1/models/{id}")
async def get_model(request: web.Request) -> web.Response:
    principal(request)
    store = request.app[NODE].store
    wanted = request.match_info["id"]
    found = registry.current(store, wanted)
    if found is None:
        raise NotFound(f"model {wanted!r}; GET /api/v1/models lists the registered models")
    evaluations = assurance.evaluations_of(store, found["developer"], found["model"])
    case = dict(found.get("safety_case") or {"status": "missing"})
    case["reviews"] = [_review(request.app[NODE], r) for r in registry.reviews_of(store, wanted)]
    return web.json_response(found | {
        "safety_case": case,
        "versions": registry.versions(store, wanted),
        "incidents": registry.incidents_of(store, wanted), "evaluations": evaluations,
        # a result within the configured margin below early warning (tripwires.yaml)
        "approaching": [e["id"] for e in evaluations if e["level"] == "approaching"]})

