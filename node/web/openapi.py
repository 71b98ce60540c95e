"""The OpenAPI 3.1 description of the node's HTTP API, served at ``GET /api/v1/openapi.json``.

    doc = build_document(app)          # walks app.router; one operation per route
    undocumented(app)                   # routes with no entry in api_spec/web_spec: []

The document is built from what is registered on the running app (``app.router``) and described
in ``node.http.api_spec`` (the JSON API) and ``node.web.web_spec`` (console pages, assets), so it
cannot
list an endpoint that does not exist, and a test fails when a route has no description.

The message schemas of ``schemas/`` are embedded under ``components/schemas`` as ``<name>.v1``
(OpenAPI 3.1 schemas are JSON Schema 2020-12): each keeps its content, loses its ``$id`` (its
relative ``$ref`` s would otherwise resolve against it) and has every ``$ref`` rewritten to a
local pointer (``common.v1.json#/$defs/tlp`` becomes ``#/components/schemas/common.v1/$defs/tlp``),
so a client resolves everything inside the document and never fetches a URL. The original
``$id`` stays visible as ``x-schema-id``.

``report`` is what ``POST /api/v1/incidents`` takes: the incident schema without the fields the
node sets (``type, origin, issued_at, id, revision``), without ``status``, ``red_lines`` and
``affected_jurisdictions`` among the required (they have defaults), refusing unknown top-level
fields, and with ``affected_jurisdictions`` limited to the roster's members — as the handler
checks it. ``report-changes`` (a revision's body) is the same with nothing required.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import web

from federation.messages import SERVER_FIELDS
from federation.schema import SchemaSet
from node.http.api_spec import ENDPOINTS as API_ENDPOINTS
from node.http.api_spec import SCHEMAS, Endpoint, Param
from node.http.appkeys import NODE
from node.http.sessions import COOKIE_PREFIX
from node.http.taxii_spec import ENDPOINTS as TAXII_ENDPOINTS
from node.store.auth import ROLES
from node.web.web_spec import ENDPOINTS as WEB_ENDPOINTS

routes = web.RouteTableDef()

# Every operation the node serves: the JSON API, and the web console's pages and assets.
ENDPOINTS: dict[tuple[str, str], Endpoint] = {**API_ENDPOINTS, **WEB_ENDPOINTS,
                                              **TAXII_ENDPOINTS}

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
SCHEMA_PREFIX = "#/components/schemas/"
# Fields a report may leave out: the node fills them in (incident_from_report).
REPORT_DEFAULTS = frozenset({"status", "red_lines", "affected_jurisdictions"})
ERROR_TEXT = {
    400: "the request is malformed; `errors` names each problem by JSONPath",
    401: "no valid token: none was sent where one is needed, or a malformed, unknown or "
         "revoked one was sent (even a public endpoint refuses a bad token)",
    403: "the token's role may not do this",
    404: "not found",
    409: "the request contradicts the current state",
    413: "the body is larger than 1 MiB",
    503: "the node cannot serve (store or scheduler down)",
}


@routes.get("/api/v1/openapi.json")
async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(build_document(request.app))


def registered_operations(app: web.Application) -> list[tuple[str, str]]:
    """Every (method, path template) registered on ``app``; HEAD is implied by GET. A static
    folder at ``/prefix`` is the operation ``/prefix/{filename}``."""
    found: set[tuple[str, str]] = set()
    for resource in app.router.resources():
        path = resource.canonical
        if isinstance(resource, web.StaticResource):
            path += "/{filename}"
        for route in resource:
            if route.method != "HEAD":
                found.add((route.method, path))
    return sorted(found, key=lambda op: (op[1], op[0]))


def undocumented(app: web.Application) -> list[tuple[str, str]]:
    """Registered operations that neither ``node.http.api_spec`` nor ``node.web.web_spec``
    describes."""
    return [op for op in registered_operations(app) if op not in ENDPOINTS]


def build_document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the operations registered on ``app``."""
    ctx = app[NODE]
    schemas = embed_schemas(ctx.schemas)
    incident = schemas["incident.v1"]
    schemas["report"] = report_schema(incident, ctx.roster.member_ids())
    schemas["report-changes"] = report_changes_schema(schemas["report"])
    schemas.update(copy.deepcopy(SCHEMAS))
    paths: dict[str, dict[str, Any]] = {}
    for method, path in registered_operations(app):
        endpoint = ENDPOINTS.get((method, path))
        if endpoint is not None:
            paths.setdefault(path, {})[method.lower()] = operation(method, path, endpoint)
    return {
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": f"Beacon node {ctx.node_id}", "version": API_VERSION,
                 "description": "Signed AI-incident reports exchanged between national AI "
                                "safety authorities. Send `Authorization: Bearer <token>`; "
                                "each operation's `x-roles` lists the roles that may call it "
                                f"(roles: {', '.join(ROLES)}; empty: no token needed)."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "bearerFormat": "bkn_<token id>_<secret>"},
                "session": {"type": "apiKey", "in": "cookie",
                            "name": f"{COOKIE_PREFIX}{ctx.node_id}",
                            "description": "the web console's session, from POST /login; "
                                           "unsafe methods also need X-CSRF-Token"}},
            "schemas": schemas,
        },
    }


def operation(method: str, path: str, ep: Endpoint) -> dict[str, Any]:
    """One OpenAPI operation object."""
    op: dict[str, Any] = {
        "operationId": method.lower() + "".join(
            "_" + part.strip("{}").replace(".", "_").replace("-", "_")
            for part in path.split("/") if part),
        "summary": ep.summary, "tags": [ep.tag], "x-roles": list(ep.roles),
        "security": [{ep.auth: []}] if ep.roles else [],
    }
    if ep.description:
        op["description"] = ep.description
    params = [_parameter(p) for p in ep.params]
    named = {p.name for p in ep.params if p.where == "path"}
    params += [_parameter(Param(part[1:-1], {"type": "string", "minLength": 1}, "the id",
                                where="path", required=True))
               for part in path.split("/") if part.startswith("{") and part[1:-1] not in named]
    if params:
        op["parameters"] = params
    if ep.body is not None:
        op["requestBody"] = {"required": ep.body_required, "content": {
            ep.body_media: {"schema": dict(ep.body)}}}
    op["responses"] = _responses(ep)
    return op


def _parameter(p: Param) -> dict[str, Any]:
    return {"name": p.name, "in": p.where, "required": p.required or p.where == "path",
            "description": p.description, "schema": dict(p.schema)}


def _responses(ep: Endpoint) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": HTTPStatus(ep.status).phrase}
    if ep.answer is not None:
        ok["content"] = {ep.media: {"schema": dict(ep.answer)}}
        ok["content"].update({m: {"schema": {"type": "string"}} for m in ep.alt_media})
    if ep.headers:
        ok["headers"] = {name: {"description": text, "required": True,
                                "schema": {"type": "string"}}
                         for name, text in ep.headers.items()}
    out: dict[str, Any] = {str(ep.status): ok}
    statuses = {401, *ep.errors}
    if ep.roles and set(ep.roles) != set(ROLES) and ep.auth == "bearer":
        statuses.add(403)
    if ep.params or ep.body is not None:
        statuses.add(400)
    for status in sorted(statuses):
        if status == 503 and ep.answer is not None:  # same body as the success answer
            out["503"] = {"description": ERROR_TEXT[503],
                          "content": {ep.media: {"schema": dict(ep.answer)}}}
            continue
        response: dict[str, Any] = {"description": ERROR_TEXT.get(status, "error"),
                                    "content": {"application/json": {
                                        "schema": {"$ref": SCHEMA_PREFIX + "Errors"}}}}
        if status == 401:
            response["headers"] = {"WWW-Authenticate": {
                "description": 'Bearer realm="beacon"', "required": True,
                "schema": {"type": "string"}}}
        out[str(status)] = response
    for status, (text, media) in ep.other.items():
        other: dict[str, Any] = {"description": text}
        if media:
            other["content"] = {media: {"schema": {"type": "string"}}}
        if 300 <= status < 400:
            other["headers"] = {"Location": {"description": "where to go", "required": True,
                                             "schema": {"type": "string"}}}
        out[str(status)] = other
    return out


# -- the message schemas, embedded ----------------------------------------------------------
def component_name(schema_id: str) -> str:
    """``https://beacon.example/schemas/incident.v1.json`` (or ``incident.v1.json``) →
    ``incident.v1``."""
    return schema_id.rsplit("/", 1)[-1].removesuffix(".json")


def local_ref(ref: str, within: str) -> str:
    """Rewrite a ``$ref`` found in schema ``within`` (a component name) to a local pointer."""
    target, _, pointer = ref.partition("#")
    name = component_name(target) if target else within
    return f"{SCHEMA_PREFIX}{name}{pointer}"


def _rewrite(node: Any, within: str) -> Any:
    if isinstance(node, Mapping):
        return {k: local_ref(v, within) if k == "$ref" and isinstance(v, str)
                else _rewrite(v, within) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, within) for v in node]
    return node


def embed_schemas(schemas: SchemaSet) -> dict[str, dict[str, Any]]:
    """Every message schema as a self-contained OpenAPI component, keyed ``<name>.v1``."""
    out: dict[str, dict[str, Any]] = {}
    for name in schemas.names():
        doc = schemas.document(name)
        key = component_name(str(doc["$id"]))
        body = {k: v for k, v in doc.items() if k not in ("$id", "$schema")}
        out[key] = {"x-schema-id": doc["$id"], **_rewrite(body, key)}
    return out


def report_schema(incident: Mapping[str, Any], members: list[str]) -> dict[str, Any]:
    """What a client files: the embedded incident schema less what the node sets."""
    props = {k: copy.deepcopy(v) for k, v in incident["properties"].items()
             if k not in SERVER_FIELDS}
    props["affected_jurisdictions"] = {
        "type": "array", "uniqueItems": True, "items": {"enum": sorted(members)},
        "description": "members of the federation (the roster) affected"}
    return {
        "title": "Incident report as filed (the node adds type, origin, issued_at, id, "
                 "revision)",
        "type": "object",
        "required": [k for k in incident["required"]
                     if k not in SERVER_FIELDS and k not in REPORT_DEFAULTS],
        "properties": props,
        "additionalProperties": False,
    }


def report_changes_schema(report: Mapping[str, Any]) -> dict[str, Any]:
    """A revision's body: any report fields, none required; the TLP label must not change."""
    return {"title": "The report fields a revision changes (the TLP label cannot change)",
            "type": "object", "properties": copy.deepcopy(report["properties"]),
            "additionalProperties": False}
