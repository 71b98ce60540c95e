"""HTTP endpoints of global incident statistics, and the international body's snapshot timer.

    $ curl -H "Authorization: Bearer $T" 'http://127.0.0.1:8404/api/v1/stats?by=origin,year'
    {"total": 1367, "groups": [{"key": {"origin": "fr", "year": 1983}, "count": 1}, ...]}
    $ curl -H "Authorization: Bearer $T" -H 'Accept: text/csv' '.../api/v1/stats?by=year'
    year,count
    1983,1

| endpoint | roles |
|---|---|
| ``GET /api/v1/stats?by=&since=&until=&basis=`` | any: group counts, JSON or CSV |
| ``GET /api/v1/stats/summary?since=&until=`` | any: red lines, tripwires, ack times, clocks |
| ``GET /api/v1/stats/snapshot`` | any: the newest snapshot signed by the international body |
| ``POST /api/v1/stats/snapshot`` | operator, at the international body: sign one now |

CSV with ``Accept: text/csv`` or ``format=csv``. The summary holds red-line and tripwire
crossings, acknowledgement times per tier (median, p90), and open and overdue escalations. A
snapshot comes with its signer, digest, ``verified`` (re-checked against the roster now) and the
verbatim envelope; ``POST`` at a member node is a 409.

``by`` is a comma-separated list of ``origin, severity, harm_type, red_line, developer, year,
month, week, country, sector, model`` (``federation.stats.DIMENSIONS``; ``country`` is the
affected country); ``since`` and ``until`` are occurrence dates (``YYYY-MM-DD``, or an RFC 3339
timestamp whose UTC date counts), both inclusive; undated records are left out of a range and
counted in ``undated``. ``basis`` — ``observed``, ``derived`` or ``all`` (default) — says which
values count as known: a value an import rule derived, or a default, is "unknown" (``null``) under
a stricter basis (``docs/aiid-mapping.md``). Reports linked ``same-as`` count once, as one event,
in the group of every reporter (``federation.links``).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
from datetime import date

from aiohttp import web

from federation.errors import Error, Problem, SchemaError
from federation.stats import check_basis, to_csv_rows
from federation.timeutil import parse_time
from node.core.errors import Conflict, NotFound
from node.http.appkeys import NODE
from node.http.middleware import principal
from node.pipeline import snapshots, statistics
from node.pipeline.context import NodeContext

log = logging.getLogger("beacon.stats")
routes = web.RouteTableDef()


def date_param(request: web.Request, name: str) -> date | None:
    """A ``YYYY-MM-DD`` (or RFC 3339) query parameter as a date, or ``None`` if absent."""
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else parse_time(raw).date()
    except (ValueError, SchemaError) as e:
        raise SchemaError([Problem(f"$.query.{name}", f"not a date (YYYY-MM-DD) or RFC 3339 "
                                                      f"timestamp: {raw!r}")]) from e


def _range(request: web.Request) -> tuple[date | None, date | None]:
    since, until = date_param(request, "since"), date_param(request, "until")
    if since and until and since > until:
        raise SchemaError([Problem("$.query.since", f"{since} is after until {until}")])
    return since, until


def _wants_csv(request: web.Request) -> bool:
    fmt = request.query.get("format", "")
    if fmt not in ("", "json", "csv"):
        raise SchemaError([Problem("$.query.format", "json or csv")])
    return fmt == "csv" or (not fmt and "text/csv" in request.headers.get("Accept", ""))


@routes.get("/api/v1/stats")
async def stats(request: web.Request) -> web.Response:
    principal(request)
    ctx = request.app[NODE]
    by = [d.strip() for d in request.query.get("by", "").split(",") if d.strip()]
    since, until = _range(request)
    basis = check_basis(request.query.get("basis", "all"))
    result = statistics.counts(ctx.store, by, since, until, basis)
    if not _wants_csv(request):
        return web.json_response(result)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(to_csv_rows(result, by))
    name = "beacon-stats-" + ("-".join(by) or "total") + ".csv"
    return web.Response(text=out.getvalue(), content_type="text/csv", charset="utf-8",
                        headers={"X-Total-Count": str(result["total"]),
                                 "Content-Disposition": f'attachment; filename="{name}"'})


@routes.get("/api/v1/stats/summary")
async def stats_summary(request: web.Request) -> web.Response:
    principal(request)
    since, until = _range(request)
    return web.json_response(statistics.summary(request.app[NODE], since, until))


@routes.get("/api/v1/stats/snapshot")
async def get_snapshot(request: web.Request) -> web.Response:
    principal(request)
    ctx = request.app[NODE]
    row = statistics.latest_snapshot_row(ctx.store)
    if row is None:
        raise NotFound("statistics snapshot from the international body")
    return web.json_response(statistics.snapshot_view(ctx, row))


@routes.post("/api/v1/stats/snapshot")
async def post_snapshot(request: web.Request) -> web.Response:
    principal(request, "operator")
    ctx = request.app[NODE]
    if ctx.config.role != statistics.INTERNATIONAL_BODY:
        raise Conflict(f"{ctx.node_id} is a {ctx.config.role}; only the international body "
                       "signs statistics snapshots")
    digest = snapshots.publish_snapshot(ctx, force=True)
    row = statistics.latest_snapshot_row(ctx.store, ctx.node_id)
    assert row is not None and digest is not None  # noqa: S101 - just signed and stored
    return web.json_response(statistics.snapshot_view(ctx, row), status=201)


def snapshot_interval(ctx: NodeContext) -> float:
    """Seconds between snapshots: the configured interval scaled by ``time_scale``, ≥ 1 s."""
    return max(1.0, ctx.config.stats_snapshot_interval_seconds * ctx.config.time_scale)


async def snapshot_loop(ctx: NodeContext) -> None:
    """At the international body: publish a snapshot whenever the figures have changed."""
    interval = snapshot_interval(ctx)
    while True:
        try:
            snapshots.publish_snapshot(ctx)
        except Error:
            log.exception("could not publish a statistics snapshot")
        except Exception:  # keep trying later: the figures are safe in the store
            log.exception("unexpected error publishing a statistics snapshot")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.sleep(interval)
