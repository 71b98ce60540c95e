"""File one signed version of an incident at its origin, routed by its TLP 2.0 label.

    digest = file_incident(ctx, incident_doc)      # raises TLPError (→ HTTP 400)

| TLP | what leaves this node |
|---|---|
| CLEAR, GREEN, AMBER | the signed report, to every member |
| AMBER+STRICT | a ``sealed`` message only the named jurisdictions can open, and a ``stub`` |
| RED | only a signed ``stub`` (severity, harm types, red lines, ISO week, origin) |

A report whose ``ai_system`` names a registered model is first linked to it and gets the
model's deployment jurisdictions among its affected ones (``node.pipeline.registry``), so the
routing, the recipients of a sealed copy and the playbooks all see them.

The report itself is always signed, stored, logged and matched against the playbooks here; the
sealed message and the stub commit in the same transaction, so nothing is half-published.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from federation.envelope import Envelope
from federation.tlp import distribution, make_stub, recipients_for, seal
from node.pipeline import registry
from node.pipeline.context import NodeContext
from node.pipeline.flow import sign_and_record
from node.store.db import StoreError
from node.store.envelopes import envelope_by_digest


def check_routable(ctx: NodeContext, doc: Mapping[str, Any]) -> None:
    """Raise TLPError (before anything is stored) if the label's rules cannot be met."""
    doc = registry.enrich(ctx.store, dict(doc), ctx.roster.member_ids())
    if distribution(str(doc["tlp"])).seal_to_recipients:
        recipients_for(doc, ctx.roster, ctx.node_id, at=ctx.now())


def file_incident(ctx: NodeContext, doc: Mapping[str, Any]) -> str:
    """Sign and record ``doc``, then publish what its TLP allows; return the report's digest."""
    doc = registry.enrich(ctx.store, dict(doc), ctx.roster.member_ids())
    route = distribution(str(doc["tlp"]))
    with ctx.transaction() as tx:
        digest = sign_and_record(ctx, doc, qualifier=str(doc["severity"]),
                                 publish=route.publish_full, tx=tx)
        if route.seal_to_recipients:
            keys = recipients_for(doc, ctx.roster, ctx.node_id, at=ctx.now())
            sealed = seal(_envelope(tx, digest), {m: (k.keyid, k.public) for m, k in keys.items()},
                          origin=ctx.node_id, issued_at_text=ctx.now_text())
            sign_and_record(ctx, sealed, qualifier=str(doc["severity"]), tx=tx)
        if route.publish_stub:
            sign_and_record(ctx, make_stub(doc, issued_at_text=ctx.now_text()), tx=tx)
    return digest


def _envelope(tx: sqlite3.Connection, digest: str) -> Envelope:
    envelope = envelope_by_digest(tx, digest)
    if envelope is None:  # it was signed and stored in this very transaction
        raise StoreError(f"the envelope {digest} just stored cannot be read back; check the "
                         "store's disk and retry")
    return envelope
