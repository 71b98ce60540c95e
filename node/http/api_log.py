"""HTTP endpoints of the transparency log (RFC 9162 proofs, C2SP checkpoints).

| endpoint | roles |
|---|---|
| ``GET /api/v1/log/checkpoint`` | none: the signed note as text, with cosignature lines |
| ``POST /api/v1/log/checkpoint`` | operator: publish a checkpoint now |
| ``GET /api/v1/log/proof/inclusion?digest=&size=`` | any |
| ``GET /api/v1/log/proof/consistency?from=&to=`` | any |
| ``GET /api/v1/log/checkpoints/{origin}`` | any: what this node saw and cosigned of a peer |
| ``GET /api/v1/log/entries?start=&limit=`` | auditor, operator: envelopes by leaf index |
| ``GET /api/v1/log/equivocations`` | any |
"""

from __future__ import annotations

import json
import re

from aiohttp import web

from federation.errors import Problem, SchemaError
from federation.keys import b64
from federation.merkle import ProofError
from node.http.api import int_param
from node.http.appkeys import LOG, NODE
from node.http.middleware import principal
from node.store import witness as checkpoints
from node.store.log import log_entries

routes = web.RouteTableDef()
WITHHELD_TLP = ("RED", "AMBER+STRICT")
DIGEST = re.compile(r"^[0-9a-f]{64}$")


@routes.get("/api/v1/log/checkpoint")
async def get_checkpoint(request: web.Request) -> web.Response:
    origin = request.query.get("origin") or None
    return web.Response(text=request.app[LOG].note_with_cosignatures(origin),
                        content_type="text/plain")


@routes.post("/api/v1/log/checkpoint")
async def post_checkpoint(request: web.Request) -> web.Response:
    principal(request, "operator")
    cp = request.app[LOG].publish_checkpoint(force=True)
    assert cp is not None  # noqa: S101 - force=True always yields one
    return web.json_response({"size": cp["size"], "root": b64(cp["root"]),
                              "note": cp["note"]}, status=201)


@routes.get("/api/v1/log/proof/inclusion")
async def inclusion(request: web.Request) -> web.Response:
    principal(request)
    digest = request.query.get("digest", "")
    if not DIGEST.match(digest):
        raise SchemaError([Problem("$.query.digest", "a message digest: 64 lowercase hex")])
    size = None
    if request.query.get("size"):
        size = int_param(request, "size", 0, 1, 2**62)
    try:
        proof = request.app[LOG].inclusion_proof(digest, size)
    except ProofError as e:  # a size the log has not reached, or that predates the entry
        raise SchemaError([Problem("$.query.size", e.detail)]) from e
    return web.json_response(proof)


@routes.get("/api/v1/log/proof/consistency")
async def consistency(request: web.Request) -> web.Response:
    principal(request)
    old = int_param(request, "from", -1, 0, 2**62)
    new = int_param(request, "to", -1, 0, 2**62)
    if old < 0 or new < 0:
        raise SchemaError([Problem("$.query", "both 'from' and 'to' sizes are required")])
    try:
        path = request.app[LOG].consistency_proof(old, new)
    except ProofError as e:  # from > to, or a size the log has not reached
        raise SchemaError([Problem("$.query", e.detail)]) from e
    return web.json_response({"path": path})


@routes.get("/api/v1/log/checkpoints/{origin}")
async def seen_checkpoints(request: web.Request) -> web.Response:
    principal(request)
    ctx = request.app[NODE]
    origin = request.match_info["origin"]
    rows = checkpoints.checkpoints_of(ctx.store, origin,
                                      limit=int_param(request, "limit", 50, 1, 1000))
    items = []
    for r in rows:
        cos = checkpoints.cosignatures_of(ctx.store, origin, r["size"])
        witnesses = [c["witness"] for c in cos]
        items.append({"size": r["size"], "root": b64(r["root"]), "note": r["note"],
                      "issued_at": r["issued_at"], "received_at": r["received_at"],
                      "status": r["status"], "detail": r["detail"],
                      "cosigned_by": witnesses,
                      "cosignatures": [c["line"] for c in cos],  # C2SP lines, for auditors
                      "cosigned_by_me": ctx.node_id in witnesses,
                      "witnessed": len([w for w in witnesses if w != origin])
                      >= ctx.config.witness_threshold})
    return web.json_response({"origin": origin, "items": items})


@routes.get("/api/v1/log/entries")
async def entries(request: web.Request) -> web.Response:
    principal(request, "auditor", "operator")
    ctx = request.app[NODE]
    start = int_param(request, "start", 0, 0, 2**62)
    limit = int_param(request, "limit", 500, 1, 5000)
    # An incident labelled RED or AMBER+STRICT is withheld (digest only): its text must not
    # leave this node, yet its leaf still counts in every root an auditor recomputes.
    rows = log_entries(ctx.store, start, limit)
    items: list[dict[str, object]] = [
        {"index": r["idx"], "digest": r["digest"], "withheld": f"TLP:{r['tlp']}"}
        if r["tlp"] in WITHHELD_TLP else
        {"index": r["idx"], "digest": r["digest"], "envelope": json.loads(r["envelope"])}
        for r in rows]
    nxt = start + len(items) if len(items) == limit else None
    return web.json_response({"items": items, "next": nxt})


@routes.get("/api/v1/log/equivocations")
async def equivocations(request: web.Request) -> web.Response:
    principal(request)
    rows = checkpoints.list_equivocations(request.app[NODE].store)
    return web.json_response({"items": [{"origin": r["origin"], "size": r["size"],
                                         "evidence": json.loads(r["evidence"]),
                                         "detected_at": r["detected_at"],
                                         "incident_id": r["incident_id"]} for r in rows]})
