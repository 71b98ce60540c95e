"""The international body's signed statistics snapshot: a command that calls the pipeline.

    digest = publish_snapshot(ctx, force=True)    # POST /api/v1/stats/snapshot, or the schedule

The figures come from ``node.pipeline.statistics``; signing, storing and publishing go through
``node.pipeline.flow`` like every other message this node says.
"""

from __future__ import annotations

import logging

from federation.canonical import decode
from federation.envelope import Envelope
from federation.errors import Error
from federation.stats_snapshot import same_figures
from node.pipeline import flow
from node.pipeline.context import NodeContext
from node.pipeline.statistics import INTERNATIONAL_BODY, build_snapshot, latest_snapshot_row

log = logging.getLogger("beacon.stats")


def publish_snapshot(ctx: NodeContext, *, force: bool = False) -> str | None:
    """Sign and publish a ``stats`` snapshot; without ``force`` only if the figures changed.

    Raises:
        Error: this node is not the international body.

    Returns:
        The snapshot's digest, or None if nothing changed since the last one.
    """
    if ctx.config.role != INTERNATIONAL_BODY:
        raise Error(f"{ctx.node_id} is a {ctx.config.role}; only the international body "
                    "publishes statistics snapshots")
    snapshot = build_snapshot(ctx)
    body = snapshot.to_dict()
    if not force:
        last = latest_snapshot_row(ctx.store, ctx.node_id)
        previous = None if last is None else decode(Envelope.from_json(last["envelope"]).payload)
        if same_figures(previous, body):
            return None
    digest = flow.sign_and_record(ctx, body)
    log.info("published a statistics snapshot of %d incidents", snapshot.total,
             extra={"digest": digest})
    return digest
