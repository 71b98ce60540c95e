"""A read-only TAXII 2.1 server on every node, under the node's bearer tokens.

    app.add_routes(routes)
    $ curl -H 'Authorization: Bearer bkn_…' -H 'Accept: application/taxii+json;version=2.1' \\
        http://127.0.0.1:8401/taxii2/api/collections/

| endpoint (TAXII 2.1 §4-5) | |
|---|---|
| ``GET /taxii2/`` | discovery |
| ``GET /taxii2/api/`` | the API root |
| ``GET /taxii2/api/collections/``, ``…/collections/{id}/`` | one per TLP label the caller reads |
| ``GET …/{id}/objects/``, ``…/objects/{object_id}/`` | STIX objects, filtered and paged |
| ``GET …/{id}/manifest/``, ``…/objects/{object_id}/versions/`` | manifest and versions |

Which collections a caller sees is ``federation.taxii.visible_labels`` (AMBER for operational
roles only; AMBER+STRICT and RED never). Answers are ``application/taxii+json;version=2.1`` with
``X-TAXII-Date-Added-First``/``-Last`` on object pages; errors keep Beacon's JSON error shape,
which TAXII clients treat as an HTTP error like any other. An ``Accept`` header that admits
neither TAXII 2.1 nor JSON is answered 406. Objects are built from the stored signed revisions
and kept per label until a revision is stored or the roster changes (building them for 1,500
reports takes about 0.6 s; a page from the cache, milliseconds).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from federation import taxii
from node.core.errors import NotFound
from node.http.appkeys import NODE
from node.http.middleware import principal
from node.store import records

routes = web.RouteTableDef()
Stamp = tuple[int, int, int]
CACHE = web.AppKey("taxii_entries", dict[str, tuple[Stamp, list[taxii.Entry]]])
ROOT = "/taxii2/api/"
ACCEPTABLE = ("application/taxii+json", "application/json", "application/*", "*/*")


def _answer(body: Any, headers: dict[str, str] | None = None) -> web.Response:
    # Bytes, so that aiohttp sends the media type exactly as TAXII 2.1 spells it.
    return web.Response(body=json.dumps(body, ensure_ascii=False).encode(),
                        headers={"Content-Type": taxii.TAXII_MEDIA, **(headers or {})})


def _check_accept(request: web.Request) -> None:
    accept = request.headers.get("Accept", "")
    if not accept:
        return
    ranges = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if not any(r in ACCEPTABLE for r in ranges):
        raise web.HTTPNotAcceptable(reason=f"send Accept: {taxii.TAXII_MEDIA}")


def _labels(request: web.Request) -> tuple[str, ...]:
    _check_accept(request)
    return taxii.visible_labels(principal(request).role)


def _label_of(request: web.Request) -> str:
    """The TLP label of the collection in the path, if the caller may see it (else 404)."""
    node_id = request.app[NODE].node_id
    wanted = request.match_info["id"]
    for label in _labels(request):
        if taxii.collection_id(node_id, label) == wanted:
            return label
    raise NotFound(f"collection {wanted!r}")


def setup(app: web.Application) -> None:
    """Add the TAXII routes and their cache to the app."""
    app[CACHE] = {}
    app.add_routes(routes)


def _entries(request: web.Request, label: str) -> list[taxii.Entry]:
    ctx = request.app[NODE]
    stamp = (*records.revisions_stamp(ctx.store), ctx.roster.version)
    cached = request.app[CACHE].get(label)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    versions = [(doc, at) for doc, at in records.incident_versions(ctx.store, (label,))
                if doc.get("tlp") == label]  # a label never changes; checked all the same
    jurisdictions = {m.id: m.jurisdiction for m in ctx.roster.members}
    entries = taxii.collect(versions, jurisdictions)
    request.app[CACHE][label] = (stamp, entries)
    return entries


def _page_headers(page: taxii.Page) -> dict[str, str]:
    if not page.entries:
        return {}
    added = [e.date_added for e in page.entries]
    return {"X-TAXII-Date-Added-First": min(added), "X-TAXII-Date-Added-Last": max(added)}


def _envelope(page: taxii.Page, key: str, items: list[Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"more": page.more}
    if page.next:
        body["next"] = page.next
    if items:
        body[key] = items
    return body


@routes.get("/taxii2/")
async def discovery(request: web.Request) -> web.Response:
    _labels(request)
    root = f"{request.url.origin()}{ROOT}"
    return _answer({"title": f"Beacon node {request.app[NODE].node_id}",
                    "description": "AI incident reports as STIX 2.1, by TLP label",
                    "default": root, "api_roots": [root]})


@routes.get(ROOT)
async def api_root(request: web.Request) -> web.Response:
    _labels(request)
    return _answer({"title": f"Beacon incidents at {request.app[NODE].node_id}",
                    "versions": [taxii.TAXII_MEDIA], "max_content_length": 0})


@routes.get(ROOT + "collections/")
async def collections(request: web.Request) -> web.Response:
    node_id = request.app[NODE].node_id
    return _answer({"collections": [taxii.collection_resource(node_id, label)
                                    for label in _labels(request)]})


@routes.get(ROOT + "collections/{id}/")
async def collection(request: web.Request) -> web.Response:
    return _answer(taxii.collection_resource(request.app[NODE].node_id, _label_of(request)))


@routes.get(ROOT + "collections/{id}/objects/")
async def objects(request: web.Request) -> web.Response:
    label = _label_of(request)
    page = taxii.select(_entries(request, label), taxii.parse_query(request.query))
    return _answer(_envelope(page, "objects", [dict(e.obj) for e in page.entries]),
                   _page_headers(page))


@routes.get(ROOT + "collections/{id}/objects/{object_id}/")
async def one_object(request: web.Request) -> web.Response:
    label = _label_of(request)
    page = taxii.select(_entries(request, label), taxii.parse_query(request.query),
                        request.match_info["object_id"])
    if not page.entries and request.query.get("next") is None:
        raise NotFound(f"object {request.match_info['object_id']!r}")
    return _answer(_envelope(page, "objects", [dict(e.obj) for e in page.entries]),
                   _page_headers(page))


@routes.get(ROOT + "collections/{id}/manifest/")
async def manifest(request: web.Request) -> web.Response:
    label = _label_of(request)
    page = taxii.select(_entries(request, label), taxii.parse_query(request.query))
    return _answer(_envelope(page, "objects", [e.manifest() for e in page.entries]),
                   _page_headers(page))


@routes.get(ROOT + "collections/{id}/objects/{object_id}/versions/")
async def versions(request: web.Request) -> web.Response:
    label = _label_of(request)
    query = taxii.parse_query({**request.query, "match[version]": "all"})
    page = taxii.select(_entries(request, label), query, request.match_info["object_id"])
    if not page.entries and request.query.get("next") is None:
        raise NotFound(f"object {request.match_info['object_id']!r}")
    return _answer(_envelope(page, "versions", [e.version for e in page.entries]),
                   _page_headers(page))
