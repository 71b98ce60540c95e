"""The node's HTTP API (JSON, ``Authorization: Bearer <token>``).

    app.add_routes(routes)

| endpoint | roles |
|---|---|
| ``POST /api/v1/incidents``, ``POST /api/v1/incidents/{id}/revisions`` | operator |
| ``GET /api/v1/incidents?q=&origin=&severity=&since=``, ``GET /api/v1/incidents/{id}`` | any |
| ``GET /api/v1/incidents?where=year:2020&where=country:FR&basis=&occurred_since=`` | any |

The second form lists the events behind one bar of a statistics chart (``/api/v1/stats``
grouped the same way): one report per same-as cluster, and ``total``, the bar's count.
| ``GET /api/v1/roster``, ``GET /api/v1/peers`` | any |
| ``GET /api/v1/quarantine`` | auditor, operator |
| ``GET /healthz``, ``GET /metrics`` | none (``node.http.observe``) |
"""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from federation.envelope import Envelope
from federation.errors import MAX_PROBLEMS, Problem, RosterError, SchemaError, SignatureError
from federation.messages import SERVER_FIELDS, incident_from_report
from federation.severity import Severity
from federation.stats import check_basis, parse_where
from federation.timeutil import format_instant, parse_time
from federation.tlp import TLPError
from node.bus import roster_sync
from node.core.errors import NotFound
from node.http import held
from node.http.api_stats import date_param
from node.http.appkeys import BUS, NODE
from node.http.middleware import for_developer, json_body, principal
from node.pipeline import filing, statistics
from node.pipeline.context import NodeContext
from node.store import records
from node.store.auth import ForbiddenError

routes = web.RouteTableDef()


@routes.post("/api/v1/incidents")
async def file_incident(request: web.Request) -> web.Response:
    who = principal(request, "operator", "provider")
    ctx = request.app[NODE]
    report = await json_body(request)
    system = report.get("ai_system") if isinstance(report, dict) else None
    for_developer(who, system.get("developer") if isinstance(system, dict) else None,
                  "ai_system.developer")
    doc = await asyncio.to_thread(_checked_incident, ctx, report)
    if who.role == "provider":
        _routable(ctx, doc)  # prep: refused now, not at release, if its TLP cannot be met
    if (pending := held.hold(ctx, who, "incident", report)) is not None:
        return pending  # prep: a provider's report under review-before-exchange
    digest = _file(ctx, doc)
    return web.json_response({"id": doc["id"], "digest": digest}, status=201,
                             headers={"Location": f"/api/v1/incidents/{doc['id']}"})


def file_report(ctx: NodeContext, report: Any) -> dict[str, Any]:
    """Check, sign and file ``report`` now (a held provider report, released); the answer."""
    doc = _checked_incident(ctx, report)
    return {"id": doc["id"], "digest": _file(ctx, doc)}


@routes.post("/api/v1/incidents/{id}/revisions")
async def revise_incident(request: web.Request) -> web.Response:
    """File a new signed revision of one of this node's incidents: the body holds the report
    fields that change (e.g. ``{"severity": "disaster"}`` or ``{"status": "resolved"}``)."""
    principal(request, "operator")
    ctx = request.app[NODE]
    incident_id = request.match_info["id"]
    current = own_incident(ctx, incident_id, "revise")
    changes = await json_body(request)
    new = await asyncio.to_thread(_checked_incident, ctx, changes,
                                  previous=json.loads(current["document"]))
    digest = _file(ctx, new)
    return web.json_response({"id": incident_id, "revision": new["revision"], "digest": digest},
                             status=201)


def _checked_incident(ctx: NodeContext, report: Any,
                      previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The incident message for a filed ``report`` (or for the changes to ``previous``).

    CPU-bound on a large body, so callers run it in a worker thread: other requests (``/healthz``
    among them) are answered meanwhile. It reads the store nowhere.

    Raises:
        SchemaError: every problem with the report (the answer lists the first 50).
    """
    report = _check_report_shape(report, ctx.schemas.document("incident"))
    if previous is None:
        new = incident_from_report(report, origin=ctx.node_id, now=ctx.now())
    else:
        merged = {k: v for k, v in previous.items() if k not in SERVER_FIELDS} | report
        new = incident_from_report(merged, origin=ctx.node_id, now=ctx.now(),
                                   incident_id=previous["id"],
                                   revision=int(previous["revision"]) + 1)
    problems = ctx.schemas.problems("incident", new)
    problems += _check_jurisdictions(new, ctx.roster.member_ids())
    problems += _check_times(new, ctx.now())
    if previous is not None and new.get("tlp") != previous.get("tlp"):
        problems.append(Problem("$.tlp", "a revision cannot change the TLP label; file a new "
                                         "report instead"))
    if problems:
        raise SchemaError(sorted(problems, key=lambda p: p.path), "incident")
    return new


def own_incident(ctx: NodeContext, incident_id: str, action: str) -> dict[str, Any]:
    """This node's own incident ``incident_id`` (its stored row), for a command on it.

    Raises:
        NotFound: no such incident here.
        ForbiddenError: another member issued it; only its origin may ``action`` it.
    """
    current = records.get_incident(ctx.store, incident_id)
    if current is None:
        raise NotFound(f"incident {incident_id!r}")
    if current["origin"] != ctx.node_id:
        raise ForbiddenError(f"only {current['origin']} can {action} {incident_id}; "
                             f"this node is {ctx.node_id}")
    return current


def _routable(ctx: NodeContext, doc: dict[str, Any]) -> None:
    try:
        filing.check_routable(ctx, doc)
    except TLPError as e:
        raise SchemaError([Problem("$.affected_jurisdictions", e.detail)], "incident") from e


def _file(ctx: NodeContext, doc: dict[str, Any]) -> str:
    _routable(ctx, doc)
    return filing.file_incident(ctx, doc)


def _check_report_shape(report: Any, schema: Any) -> dict[str, Any]:
    if not isinstance(report, dict):
        raise SchemaError([Problem("$", "a report is a JSON object")])
    known = set(schema.get("properties", {}))
    problems = [Problem(f"$.{k}", "set by the node; leave it out") for k in report
                if k in SERVER_FIELDS]
    unknown = itertools.islice((k for k in report if k not in known and k not in SERVER_FIELDS),
                               MAX_PROBLEMS + 1)  # the answer lists no more (errors.capped)
    problems += [Problem(f"$.{k}", f"unknown field; known fields are {', '.join(sorted(known))}")
                 for k in unknown]
    if problems:
        raise SchemaError(problems, "incident")
    return report


def _check_times(doc: dict[str, Any], now: datetime) -> list[Problem]:
    """Occurrence and awareness cannot lie in the future: reporting clocks start at awareness,
    and a deadline computed from year 9999 would overflow (a day of slack for time zones)."""
    problems = []
    for field in ("occurred_at", "aware_at"):
        value = doc.get(field)
        if not isinstance(value, str):
            continue
        try:
            when = parse_time(value, f"$.{field}")
        except SchemaError:
            continue  # the schema check reports the format
        if when > now + timedelta(days=1):
            problems.append(Problem(f"$.{field}", f"{value} is in the future; give the time "
                                                  "it happened or became known"))
    return problems


def _check_jurisdictions(doc: dict[str, Any], members: list[str]) -> list[Problem]:
    affected = doc.get("affected_jurisdictions")
    if not isinstance(affected, list):
        return []
    return [Problem(f"$.affected_jurisdictions[{i}]",
                    f"{j!r} is not a member of the federation ({', '.join(members)})")
            for i, j in enumerate(affected) if isinstance(j, str) and j not in members]


def int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter in ``lo..hi``, or ``default`` when absent."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        raise SchemaError([Problem(f"$.query.{name}", f"must be an integer {lo}..{hi}")])
    return value


def choice_param(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    """A query parameter that must be one of ``choices``, or ``None`` when absent or empty.

    >>> from aiohttp.test_utils import make_mocked_request
    >>> choice_param(make_mocked_request("GET", "/?state=open"), "state", ("open", "closed"))
    'open'
    """
    value = request.query.get(name) or None
    if value is not None and value not in choices:
        raise SchemaError([Problem(f"$.query.{name}",
                                   f"{value[:40]!r}: use {', '.join(choices)}")])
    return value


def _cursor(request: web.Request) -> int | None:
    raw = request.query.get("cursor")
    return None if not raw else int_param(request, "cursor", 0, 0, 2**62)


@routes.get("/api/v1/incidents")
async def list_incidents(request: web.Request) -> web.Response:
    principal(request)
    q = request.query
    severity = q.get("severity") or None
    if severity is not None and severity not in {s.value for s in Severity}:
        raise SchemaError([Problem("$.query.severity", "one of " +
                                   ", ".join(s.value for s in Severity))])
    since = q.get("since") or None
    if since is not None:
        since = format_instant(parse_time(since, "$.query.since"))
    text = q.get("q") or None
    if text is not None and len(text) > 200:
        raise SchemaError([Problem("$.query.q", "search text of at most 200 characters")])
    events = _chart_events(request, origin=q.get("origin") or None, severity=severity,
                           filtered=since is not None)
    page = records.list_incidents(
        request.app[NODE].store, origin=q.get("origin") or None, severity=severity, since=since,
        limit=int_param(request, "limit", 50, 1, 500), cursor=_cursor(request), text=text,
        match=None if events is None else events.condition)
    body: dict[str, Any] = {"items": page.items, "next": None if page.next_cursor is None
                            else str(page.next_cursor)}
    if events is not None:
        body["total"] = events.total
    return web.json_response(body)


def _chart_events(request: web.Request, *, origin: str | None, severity: str | None,
                  filtered: bool) -> statistics.BarEvents | None:
    """The events of one statistics group (``where=dim:value``, ``basis``, ``occurred_since``,
    ``occurred_until``: a chart's bar), or ``None`` when the list is not filtered so. Their
    count and an SQL condition: the list reads one page of them, never all of a large bar."""
    q = request.query
    keys = ("where", "basis", "occurred_since", "occurred_until")
    if not any(k in q for k in keys):
        return None
    return statistics.bar_events(
        request.app[NODE].store, parse_where(q.getall("where", [])),
        check_basis(q.get("basis") or "all"), date_param(request, "occurred_since"),
        date_param(request, "occurred_until"), origin=origin, severity=severity,
        filtered=filtered)


@routes.get("/api/v1/incidents/{id}")
async def get_incident(request: web.Request) -> web.Response:
    principal(request)
    ctx = request.app[NODE]
    row = records.get_incident(ctx.store, request.match_info["id"])
    if row is None:
        raise NotFound(f"incident {request.match_info['id']!r}")
    envelope = Envelope.from_json(row["envelope"])
    # Re-verify at read time against the roster this node trusts now.
    try:
        envelope.verify_with(ctx.roster.signing_keys(row["origin"],
                                                     parse_time(row["issued_at"])))
        verified = True
    except SignatureError:
        verified = False
    body: dict[str, Any] = json.loads(row["document"])
    body.update(origin=row["origin"], digest=row["digest"], verified=verified,
                received_at=row["received_at"], revisions=row["revisions"],
                envelope=envelope.to_dict())
    return web.json_response(body)


@routes.get("/api/v1/roster")
async def get_roster(request: web.Request) -> web.Response:
    principal(request)
    ctx = request.app[NODE]
    return web.json_response({"roster": ctx.roster.to_dict(),
                              "envelope": ctx.roster_envelope.to_dict()})


@routes.get("/api/v1/roster/chain")
async def get_roster_chain(request: web.Request) -> web.Response:
    principal(request)
    ctx = request.app[NODE]
    return web.json_response({"items": [e.to_dict() for e in roster_sync.chain(ctx)]})


@routes.post("/api/v1/roster")
async def post_roster(request: web.Request) -> web.Response:
    """Publish the next roster version (a DSSE envelope signed by a threshold of the council)."""
    principal(request, "operator")
    ctx = request.app[NODE]
    envelope = Envelope.from_dict(await json_body(request))
    try:
        new = await roster_sync.publish(ctx, request.app[BUS].js, envelope)
    except RosterError as e:
        raise SchemaError([Problem("$", str(e))], "roster") from e
    return web.json_response({"version": new.version, "members": new.member_ids(),
                              "threshold": new.threshold}, status=201)


@routes.get("/api/v1/peers")
async def get_peers(request: web.Request) -> web.Response:
    principal(request)
    ctx = request.app[NODE]
    bus = request.app[BUS]
    peers = [{"id": m.id, "role": m.role, "jurisdiction": m.jurisdiction,
              "heartbeat": bus.peers.get(m.id)}
             for m in ctx.roster.members if m.id != ctx.node_id]
    return web.json_response({"items": peers})


@routes.get("/api/v1/quarantine")
async def list_quarantine(request: web.Request) -> web.Response:
    principal(request, "auditor", "operator")
    ctx = request.app[NODE]
    page = records.list_quarantine(ctx.store, reason=request.query.get("reason") or None,
                                   limit=int_param(request, "limit", 50, 1, 500),
                                   cursor=_cursor(request))
    return web.json_response({"items": page.items, "counts": records.quarantine_counts(ctx.store),
                              "next": None if page.next_cursor is None else str(page.next_cursor)})
