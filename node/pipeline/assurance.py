"""Capability evaluations at a node: the ``evaluations`` projection and what a crossing files.

    inside the transaction that stores a message (node.pipeline.flow):
    drafts = assurance.on_evaluation(ctx, tx, doc, digest, received_at, local=True)
    rows = assurance.evaluations_of(ctx.store, "Example AI", "ExampleLM", "3.0")

At the node that signed it, an evaluation at or above a tripwire's red line (or early warning)
returns the report it files (``federation.tripwires.crossing_report``), linked to the
registered model and its deployment jurisdictions (``node.pipeline.registry``): the pipeline
signs it in the same transaction and the playbooks answer it (tripwire-crossing matches its
``tripwire_ids``). Peers store the evaluation and the report, which travel separately.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from federation.messages import Draft, incident_from_report
from federation.model_registry import key
from federation.monitoring import failure_report
from federation.tripwires import Tripwires, crossing_report
from node.pipeline import registry
from node.pipeline.context import NodeContext
from node.store import registry as q
from node.store.db import Store


def on_evaluation(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
                  received_at: str, *, local: bool) -> list[Draft]:
    """Project one ``evaluation`` message; at its origin, return the report a crossing files."""
    report = crossing_report(doc, digest, ctx.tripwires) if local else None
    incident = None
    if report is not None:
        incident = incident_from_report(report, origin=ctx.node_id, now=ctx.now())
        incident = registry.enrich(ctx.store, incident, ctx.roster.member_ids())
    new = q.insert_evaluation(tx, doc, (key(doc["developer"]), key(doc["model"]),
                                        key(doc["version"])),
                              incident["id"] if incident else None, digest, received_at)
    if not new or incident is None:
        return []
    ctx.emit("evaluation", {"id": doc["id"], "level": doc["level"]})
    return [Draft(incident, qualifier=str(incident["severity"]))]


def on_monitoring(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
                  received_at: str, *, local: bool) -> list[Draft]:
    """Project one ``monitoring`` message; at its origin, return the incident it files."""
    incident = None
    if local:
        incident = incident_from_report(failure_report(doc, digest), origin=ctx.node_id,
                                        now=ctx.now())
        incident = registry.enrich(ctx.store, incident, ctx.roster.member_ids())
    new = q.insert_monitoring(tx, doc, key(doc["developer"]),
                              incident["id"] if incident else None, digest, received_at)
    if not new or incident is None:
        return []
    return [Draft(incident, qualifier=str(incident["severity"]))]


def _with_incident(row: sqlite3.Row | None) -> dict[str, Any] | None:
    return (json.loads(row["document"]) | {"digest": row["digest"],
                                           "incident_id": row["incident_id"]}
            if row is not None else None)


def monitoring_signal(store: Store, signal_id: str) -> dict[str, Any] | None:
    return _with_incident(q.monitoring_signal(store, signal_id))


def summary(store: Store, tripwires: Tripwires) -> dict[str, Any]:
    """The preparedness figures of the international body's dashboard."""
    crossings = q.crossings_by_domain(store)
    declared = q.declarations_by_threshold(store)
    unapproved = registry.unapproved(store)
    flagged = sorted(i for i, f in registry.flags(store, tripwires).items() if f["flagged"])
    return {"tripwire_crossings": [dict(r) for r in crossings],
            "declarations_above_threshold": {r["threshold"]: r["n"] for r in declared},
            "models_without_approved_safety_case": len(unapproved),
            "unapproved_models": unapproved,
            # above a threshold and not approved: the flag every page shows
            "models_above_threshold_without_approved_safety_case": len(flagged),
            "flagged_models": flagged}


def evaluations_of(store: Store, developer: str, model: str,
                   version: str | None = None) -> list[dict[str, Any]]:
    """The evaluations of a model (of one version, if given), newest first."""
    rows = q.evaluations_of(store, key(developer), key(model), version and key(version))
    return [json.loads(r["document"]) | {"digest": r["digest"], "incident_id": r["incident_id"]}
            for r in rows]


def evaluation(store: Store, evaluation_id: str) -> dict[str, Any] | None:
    return _with_incident(q.evaluation(store, evaluation_id))
