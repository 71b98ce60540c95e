"""Links between reports of one event, and candidate duplicates (HTTP).

    $ curl -X POST -H "Authorization: Bearer $OPERATOR" \\
        -d '{"incident_id": "fr-9c1d…", "relation": "same-as"}' \\
        http://127.0.0.1:8401/api/v1/incidents/gb-3f2a…/links
    {"digest": "…", "link": {"type": "link", …}, "cluster": ["fr-9c1d…", "gb-3f2a…"]}

| endpoint | roles |
|---|---|
| ``POST /api/v1/incidents/{id}/links`` | operator, at the node that owns ``{id}`` |
| ``GET /api/v1/incidents/{id}/links`` | any: its links, its same-as cluster, candidate duplicates |

The node signs a ``link`` message (``federation.links``) that every member receives; from then
on every node's statistics count a ``same-as`` cluster once, listing every reporter. The other
report must be known here (a full report or a stub). Candidates are only suggestions.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from federation.errors import Problem, SchemaError
from federation.links import candidates, link_body
from node.core.errors import NotFound
from node.http.api import own_incident
from node.http.appkeys import NODE
from node.http.middleware import json_body, principal
from node.pipeline import flow, statistics
from node.pipeline.context import NodeContext
from node.store import records
from node.store.links import other_incident_documents
from node.store.stats import has_stat_record

routes = web.RouteTableDef()


def _known(ctx: NodeContext, incident_id: str) -> bool:
    return has_stat_record(ctx.store, incident_id)


@routes.post("/api/v1/incidents/{id}/links")
async def post_link(request: web.Request) -> web.Response:
    principal(request, "operator")
    ctx = request.app[NODE]
    own = request.match_info["id"]
    own_incident(ctx, own, "link")
    body = await json_body(request)
    other = body.get("incident_id") if isinstance(body, dict) else None
    if not isinstance(other, str) or not other:
        raise SchemaError([Problem("$.incident_id", "the id of the other report is required")],
                          "link")
    if not _known(ctx, other):
        raise NotFound(f"incident {other!r} (this node has neither its report nor its stub)")
    note = body.get("note", "")
    doc = link_body(own, other, str(body.get("relation", "")), origin=ctx.node_id,
                    now=ctx.now(), note=note if isinstance(note, str) else "")
    digest = flow.sign_and_record(ctx, doc)
    return web.json_response({"digest": digest, "link": doc,
                              "cluster": statistics.cluster_ids(ctx.store, own)}, status=201)


@routes.get("/api/v1/incidents/{id}/links")
async def get_links(request: web.Request) -> web.Response:
    principal(request)
    ctx = request.app[NODE]
    incident_id = request.match_info["id"]
    current = records.get_incident(ctx.store, incident_id)
    if current is None and not _known(ctx, incident_id):
        raise NotFound(f"incident {incident_id!r}")
    found: list[dict[str, Any]] = []
    if current is not None:
        doc = json.loads(current["document"])
        others = other_incident_documents(ctx.store, incident_id)
        found = [c.to_dict() for c in candidates(doc, others)]
    return web.json_response({"links": statistics.links_of(ctx.store, incident_id),
                              "cluster": statistics.cluster_ids(ctx.store, incident_id),
                              "candidates": found})
