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
from federation.tripwires import crossing_report
from node.pipeline import registry
from node.pipeline.context import NodeContext
from node.store.db import Store


def on_evaluation(ctx: NodeContext, tx: sqlite3.Connection, doc: dict[str, Any], digest: str,
                  received_at: str, *, local: bool) -> list[Draft]:
    """Project one ``evaluation`` message; at its origin, return the report a crossing files."""
    report = crossing_report(doc, digest, ctx.tripwires) if local else None
    incident = None
    if report is not None:
        incident = incident_from_report(report, origin=ctx.node_id, now=ctx.now())
        incident = registry.enrich(ctx.store, incident, ctx.roster.member_ids())
    cur = tx.execute(
        "INSERT INTO evaluations(id, origin, developer_key, model_key, version_key, domain, "
        "score, level, incident_id, digest, received_at, document) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (doc["id"], doc["origin"], key(doc["developer"]), key(doc["model"]),
         key(doc["version"]), doc["domain"], float(doc["score"]), doc["level"],
         incident and incident["id"], digest, received_at, json.dumps(doc)))
    if cur.rowcount == 0 or incident is None:
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
    cur = tx.execute(
        "INSERT INTO monitoring_signals(id, origin, developer_key, incident_id, digest, "
        "received_at, document) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (doc["id"], doc["origin"], key(doc["developer"]), incident and incident["id"], digest,
         received_at, json.dumps(doc)))
    if cur.rowcount == 0 or incident is None:
        return []
    return [Draft(incident, qualifier=str(incident["severity"]))]


def monitoring_signal(store: Store, signal_id: str) -> dict[str, Any] | None:
    rows = store.query("SELECT document, digest, incident_id FROM monitoring_signals "
                       "WHERE id = ?", (signal_id,))
    return (json.loads(rows[0]["document"]) | {"digest": rows[0]["digest"],
                                                "incident_id": rows[0]["incident_id"]}
            if rows else None)


def summary(store: Store) -> dict[str, Any]:
    """The preparedness figures of the international body's dashboard."""
    crossings = store.query(
        "SELECT domain, level, COUNT(*) AS n FROM evaluations WHERE level IN "
        "('early-warning', 'red-line') GROUP BY domain, level ORDER BY domain, level")
    declared = store.query(
        "SELECT j.value AS threshold, COUNT(*) AS n FROM training_runs t, "
        "json_each(json_extract(t.document, '$.thresholds_crossed')) j GROUP BY j.value "
        "ORDER BY j.value")
    unapproved = registry.unapproved(store)
    return {"tripwire_crossings": [dict(r) for r in crossings],
            "declarations_above_threshold": {r["threshold"]: r["n"] for r in declared},
            "models_without_approved_safety_case": len(unapproved),
            "unapproved_models": unapproved}


def evaluations_of(store: Store, developer: str, model: str,
                   version: str | None = None) -> list[dict[str, Any]]:
    """The evaluations of a model (of one version, if given), newest first."""
    rows = store.query(
        "SELECT document, digest, incident_id FROM evaluations WHERE developer_key = ? "
        "AND model_key = ? AND (? IS NULL OR version_key = ?) ORDER BY received_at DESC, id",
        (key(developer), key(model), version and key(version), version and key(version)))
    return [json.loads(r["document"]) | {"digest": r["digest"], "incident_id": r["incident_id"]}
            for r in rows]


def evaluation(store: Store, evaluation_id: str) -> dict[str, Any] | None:
    rows = store.query("SELECT document, digest, incident_id FROM evaluations WHERE id = ?",
                       (evaluation_id,))
    return (json.loads(rows[0]["document"]) | {"digest": rows[0]["digest"],
                                                "incident_id": rows[0]["incident_id"]}
            if rows else None)
