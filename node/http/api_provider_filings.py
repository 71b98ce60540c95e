"""Provider filings held for review before exchange (HTTP; the policy: ``node.http.held``).

    $ curl -H "Authorization: Bearer $VIEWER" \\
        'http://127.0.0.1:8401/api/v1/provider-filings?state=pending'
    {"items": [{"id": "gb-filing-…", "kind": "monitoring", "developer": "Example AI",
                "state": "pending", "body": {…}, …}]}
    $ curl -X POST -H "Authorization: Bearer $OPERATOR" -H 'Content-Type: application/json' \\
        -d '{"reason": "checked with the provider"}' \\
        http://127.0.0.1:8401/api/v1/provider-filings/gb-filing-…/release
    {"id": "gb-filing-…", "state": "released", "message_id": "gb-mon-…", "digest": "…", …}

| endpoint | roles |
|---|---|
| ``GET /api/v1/provider-filings?state=pending|released|rejected`` | any staff role |
| ``GET /api/v1/provider-filings/{id}`` | any staff role |
| ``POST /api/v1/provider-filings/{id}/release`` ``{"reason"?}`` | operator: sign and publish |
| ``POST /api/v1/provider-filings/{id}/reject`` ``{"reason"}`` | operator: never exchanged |

A filing is decided once: the first decision moves it out of ``pending`` (a second gets 409).
Released, it is filed exactly as if the provider had sent it now (checked again, signed now, so
its ``issued_at`` is within every peer's skew window); if that check fails now (say the model's
registration was withdrawn) it stays pending and the answer says why.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from federation.errors import Problem, SchemaError
from node.core.errors import Conflict, NotFound
from node.http import api, api_evaluations, api_training
from node.http.api_spec import FILING_STATES as STATES
from node.http.appkeys import NODE
from node.http.held import KINDS
from node.http.middleware import json_body, principal
from node.pipeline.context import NodeContext
from node.store import registry as q

log = logging.getLogger("beacon.provider_filings")
routes = web.RouteTableDef()

# kind -> file it now (check, sign, record, publish); returns the answer the provider would
# have had, with the signed message's "id" and "digest"
FILERS: dict[str, Callable[[NodeContext, Any], dict[str, Any]]] = {
    "incident": api.file_report,
    "evaluation": api_evaluations.file_evaluation,
    "training-run": api_training.file_declaration,
    "monitoring": api_evaluations.file_monitoring,
}
assert set(FILERS) == set(KINDS)  # noqa: S101 - a kind held must be a kind that can be released


def _shown(row: Any) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "kind", "developer", "filed_by", "filed_at", "state",
                                "decided_at", "decided_by", "reason", "message_id", "digest")
            } | {"body": json.loads(row["body"])}


def _found(ctx: NodeContext, filing_id: str) -> Any:
    row = q.filing(ctx.store, filing_id)
    if row is None:
        raise NotFound(f"provider filing {filing_id!r}; GET /api/v1/provider-filings?state="
                       "pending lists those waiting for review")
    return row


@routes.get("/api/v1/provider-filings")
async def list_filings(request: web.Request) -> web.Response:
    principal(request)
    state = api.choice_param(request, "state", STATES)
    ctx = request.app[NODE]
    return web.json_response({"policy": ctx.config.exchange_provider_filings,
                              "items": [_shown(r) for r in q.filings(ctx.store, state)]})


@routes.get("/api/v1/provider-filings/{id}")
async def get_filing(request: web.Request) -> web.Response:
    principal(request)
    return web.json_response(_shown(_found(request.app[NODE], request.match_info["id"])))


async def _reason(request: web.Request, required: bool) -> str:
    body = await json_body(request) if request.can_read_body else {}
    reason = body.get("reason") if isinstance(body, dict) else None
    if reason is None and not required:
        return ""
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 2000:
        raise SchemaError([Problem("$.reason", "give a reason of 1-2000 characters: the "
                                               "audit trail keeps why it was decided")])
    return reason.strip()


def _claim(ctx: NodeContext, filing_id: str, state: str, by: str, reason: str) -> None:
    with ctx.transaction() as tx:
        if not q.decide_filing(tx, filing_id, state, at=ctx.now_text(), by=by, reason=reason):
            row = q.filing(ctx.store, filing_id)
            raise Conflict(f"provider filing {filing_id} is already {row and row['state']} "
                           f"(by {row and row['decided_by']}); a filing is decided once")
        ctx.emit("provider-filing", {"id": filing_id, "state": state})


async def _decision(request: web.Request, *, reason_required: bool
                    ) -> tuple[str, NodeContext, Any, str]:
    """What deciding a filing needs: the operator's label, the node, the pending filing's row
    and the reason given (required to reject: the audit trail keeps why)."""
    who = principal(request, "operator")
    ctx = request.app[NODE]
    row = _found(ctx, request.match_info["id"])
    return who.label, ctx, row, await _reason(request, required=reason_required)


@routes.post("/api/v1/provider-filings/{id}/release")
async def release(request: web.Request) -> web.Response:
    who, ctx, row, reason = await _decision(request, reason_required=False)
    # Claimed first, so two operators cannot both sign it; put back if filing it fails now.
    _claim(ctx, row["id"], "released", who, reason)
    try:
        done = FILERS[row["kind"]](ctx, json.loads(row["body"]))
    except BaseException:
        with ctx.transaction() as tx:
            q.undo_release(tx, row["id"])
        raise
    with ctx.transaction() as tx:
        q.record_release(tx, row["id"], str(done["id"]), str(done["digest"]))
    log.info("provider filing %s released by %s as %s", row["id"], who, done["id"])
    return web.json_response(_shown(_found(ctx, row["id"])) | {"filed": done})


@routes.post("/api/v1/provider-filings/{id}/reject")
async def reject(request: web.Request) -> web.Response:
    who, ctx, row, reason = await _decision(request, reason_required=True)
    _claim(ctx, row["id"], "rejected", who, reason)
    log.info("provider filing %s rejected by %s", row["id"], who)
    return web.json_response(_shown(_found(ctx, row["id"])))
