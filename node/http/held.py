"""Review before exchange: a provider's filing held at its authority's node (issue 12).

    if (answer := held.hold(ctx, who, "evaluation", body)) is not None:
        return answer          # 202: stored as pending, nothing signed, nothing published

With ``[providers] exchange_provider_filings = "after-review"`` in the node's config, a
provider token's report, declaration, evaluation or monitoring signal is checked as usual (a
bad one is still a 400 or 403 and nothing is stored) and then kept here, unsigned, as a
pending filing. Nothing pending is in the envelopes, the log or the outbox, so nothing of it can
leave the node. An operator releases it (the node then files it as if just sent, signed now)
or rejects it with a reason: ``node.http.api_provider_filings``. With ``"immediately"`` (the
default, and how nodes behaved before the policy existed) this returns None and the handler
files at once. The AI Act makes reporting the provider's duty (Art. 73(1)); whether the
authority vets a filing before other states see it is the authority's choice, hence a policy.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from aiohttp import web

from node.pipeline.context import NodeContext
from node.store import registry as q
from node.store.auth import Principal

log = logging.getLogger("beacon.provider_filings")
KINDS = ("incident", "evaluation", "training-run", "monitoring")


def hold(ctx: NodeContext, who: Principal, kind: str, body: dict[str, Any]) -> web.Response | None:
    """Keep a provider's checked filing as pending (202) under the after-review policy; None
    when it should be filed now (another role, or the policy is "immediately")."""
    if who.role != "provider" or ctx.config.exchange_provider_filings != "after-review":
        return None
    filing_id = f"{ctx.node_id}-filing-{secrets.token_hex(8)}"
    with ctx.transaction() as tx:
        q.hold_filing(tx, filing_id, kind, who.developer or "", who.token_id, ctx.now_text(),
                      body)
        ctx.emit("provider-filing", {"id": filing_id, "state": "pending"})
    log.info("provider filing %s (%s, token %s) held for review", filing_id, kind, who.token_id)
    return web.json_response(
        {"filing_id": filing_id, "kind": kind, "state": "pending",
         "message": "held for review: this node exchanges a provider's filings only after an "
                    "operator of the authority releases them"}, status=202)
