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
| ``POST /api/v1/safety-cases/{id}/reviews`` | operator of another member, or an independent |
|  | evaluator registered at this node (``evaluator`` role): a signed verdict |

Every model answer carries ``assurance_flag``: ``flagged`` is true when the model is above a
threshold (training compute greater than a ``compute_thresholds`` entry of tripwires.yaml, e.g.
10^25 FLOP, AI Act Art. 51(2); or an evaluation at early warning or red line) and its safety
case is not approved; ``reason`` says why in a sentence (``node.pipeline.registry.flags``).

An independent evaluator's review is signed by this node and names the evaluator's
organisation (``reviewer_kind: "independent"``): every node verifies it against this node's
key, so the verdict is as verifiable as a member's (docs/decisions.md, "Independent
evaluators").

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
from node.http.api_spec import REGISTRY_READERS
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
    who = principal(request, "operator", "evaluator")
    ctx = request.app[NODE]
    wanted = request.match_info["id"]
    model = registry.current(ctx.store, wanted)
    if model is None:
        raise NotFound(f"model {wanted!r}; GET /api/v1/models lists the registered models")
    body = await json_body(request)
    if not isinstance(body, dict):
        raise SchemaError([Problem("$", "a review is a JSON object")], "safety-case-review")
    if who.role == "evaluator":
        organisation = who.organisation or who.label
        doc = review_body(model, body, origin=ctx.node_id, now=ctx.now(),
                          reviewer=f"{organisation} (independent, registered at {ctx.node_id})",
                          organisation=organisation)
    else:
        doc = review_body(model, body, origin=ctx.node_id,
                          reviewer=f"{ctx.node_id}: {who.label}", now=ctx.now())
    digest = flow.sign_and_record(ctx, doc, qualifier=doc["verdict"])
    return web.json_response(doc | {"digest": digest}, status=201)


@routes.get("/api/v1/models")
async def list_models(request: web.Request) -> web.Response:
    principal(request, *REGISTRY_READERS)
    developer = request.query.get("developer") or None
    ctx = request.app[NODE]
    items = registry.listing(ctx.store, developer)
    flags = registry.flags(ctx.store, ctx.tripwires, items)
    return web.json_response({"items": [i | {"assurance_flag": flags[i["id"]]}
                                        for i in items]})


@routes.get("/api/v1/models/{id}")
async def get_model(request: web.Request) -> web.Response:
    principal(request, *REGISTRY_READERS)
    ctx = request.app[NODE]
    store = ctx.store
    wanted = request.match_info["id"]
    found = registry.current(store, wanted)
    if found is None:
        raise NotFound(f"model {wanted!r}; GET /api/v1/models lists the registered models")
    evaluations = assurance.evaluations_of(store, found["developer"], found["model"])
    case = dict(found.get("safety_case") or {"status": "missing"})
    case["reviews"] = [_review(ctx, r) for r in registry.reviews_of(store, wanted)]
    return web.json_response(found | {
        "safety_case": case, "assurance_flag": registry.flag_of(store, ctx.tripwires, found),
        "versions": registry.versions(store, wanted),
        "incidents": registry.incidents_of(store, wanted), "evaluations": evaluations,
        # a result within the configured margin below early warning (tripwires.yaml)
        "approaching": [e["id"] for e in evaluations if e["level"] == "approaching"]})

