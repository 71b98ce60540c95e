"""The model registry at a node: the ``model_revisions`` projection and its queries.

    inside the transaction that stores a message (node.pipeline.flow):
    registry.on_model(tx, doc, digest, received_at)
    current = registry.current(ctx.store, model_id)      # the newest revision, or None
    doc = registry.enrich(ctx.store, report_doc, members)  # a report naming a registered model
    flags = registry.flags(ctx.store, ctx.tripwires)       # model id -> its assurance flag

Every signed revision is kept (a version is a revision, DESIGN.md §10); the current
registration is the highest revision. Reports are matched against every revision, so a report
naming an older version still finds that version's deployment jurisdictions.

A model above a threshold (training compute, a declared run, an evaluation at early warning or
red line) without an approved safety case is flagged (``federation.model_registry
.assurance_flag``); the flag is computed when read, never stored, so a new review or evaluation
changes it at once at every node. The SQL is in ``node.store.registry``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from federation.model_registry import (
    Registration,
    assurance_flag,
    enrich_report,
    key,
    matching,
)
from federation.tripwires import Tripwires
from node.store import registry as q
from node.store.db import Store


def _keys(doc: dict[str, Any]) -> tuple[str, str, str]:
    return key(doc["developer"]), key(doc["model"]), key(doc["version"])


def on_model(tx: sqlite3.Connection, doc: dict[str, Any], digest: str, received_at: str) -> bool:
    """Project one ``model`` message; False if that revision was stored before."""
    return q.insert_model_revision(tx, doc, _keys(doc), digest, received_at)


def on_review(tx: sqlite3.Connection, doc: dict[str, Any], digest: str) -> bool:
    """Project one ``safety-case-review`` message; False if it was stored before."""
    return q.insert_review(tx, doc, digest)


def reviews_of(store: Store, model_id: str) -> list[dict[str, Any]]:
    """The reviews of ``model_id``, oldest first, each with its verbatim envelope."""
    return [json.loads(r["document"]) | {"digest": r["digest"], "envelope": bytes(r["envelope"])}
            for r in q.reviews_with_envelopes(store, model_id)]


def _row(row: sqlite3.Row) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(row["document"])
    return doc | {"digest": row["digest"], "received_at": row["received_at"]}


def current(store: Store, model_id: str) -> dict[str, Any] | None:
    """The newest revision of ``model_id`` (its document, digest and received_at)."""
    found = q.newest_revision(store, model_id)
    return _row(found) if found else None


def next_revision(store: Store, model_id: str) -> int:
    return q.max_revision(store, model_id) + 1


def versions(store: Store, model_id: str) -> list[dict[str, Any]]:
    """Every revision of ``model_id``, oldest first: revision, version, digest, issued_at."""
    return [{"revision": d["revision"], "version": d["version"], "digest": d["digest"],
             "issued_at": d["issued_at"]}
            for d in (_row(r) for r in q.revisions(store, model_id))]


def listing(store: Store, developer: str | None = None) -> list[dict[str, Any]]:
    """The current revision of every registration (optionally of one developer), by id."""
    return [_row(r) for r in q.current_revisions(
        store, None if developer is None else key(developer))]


def incidents_of(store: Store, model_id: str) -> list[dict[str, Any]]:
    """The reports linked to ``model_id`` (``ai_system.model_ref``), newest first."""
    return [{k: r[k] for k in ("id", "origin", "severity", "title", "issued_at")}
            for r in q.incidents_of_model(store, model_id)]


def _named(store: Store, system: dict[str, Any]) -> Iterable[Registration]:
    if not all(isinstance(system.get(k), str) for k in ("developer", "name", "version")):
        return []
    return [Registration.from_dict(json.loads(r["document"])) for r in q.revisions_named(
        store, key(system["developer"]), key(system["name"]), key(system["version"]))]


def flags(store: Store, tripwires: Tripwires,
          models: list[dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """The assurance flag (``federation.model_registry.assurance_flag``) of every current
    registration (or of ``models``), by model id: a few queries, whatever the number of models."""
    verdicts = q.newest_verdicts(store)
    crossed: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for r in q.crossings(store):
        crossed.setdefault((r["developer_key"], r["model_key"]), []).append(
            (r["domain"], r["level"]))
    declared: dict[tuple[str, str], list[float]] = {}
    for r in q.training_runs(store, None):
        doc = json.loads(r["document"])
        declared.setdefault((r["developer_key"], key(str(doc.get("model", "")))), []).append(
            float(r["compute_flop"]))
    thresholds = [(t.id, t.title, t.flop) for t in tripwires.compute_thresholds]
    out = {}
    for m in listing(store) if models is None else models:
        names = (key(m["developer"]), key(m["model"]))
        out[m["id"]] = assurance_flag(m, verdicts.get(m["id"]), thresholds,
                                      crossed.get(names, []), declared.get(names, []))
    return out


def flag_of(store: Store, tripwires: Tripwires, model: dict[str, Any]) -> dict[str, Any]:
    return flags(store, tripwires, [model])[model["id"]]


def unapproved(store: Store) -> list[str]:
    """Models without an approved safety case: the newest review's verdict decides; with no
    review, the status the registration states (missing counts as not approved)."""
    verdicts = q.newest_verdicts(store)
    return [str(m["id"]) for m in listing(store)
            if (verdicts.get(m["id"]) or (m.get("safety_case") or {}).get("status"))
            != "approved"]


def named(store: Store, developer: str, model: str, version: str, prefer: str) -> str | None:
    """The id of a registration of this developer, model and version (``prefer``'s first)."""
    system = {"developer": developer, "name": model, "version": version}
    found = matching(_named(store, system), system, prefer)
    return found[0].id if found else None


def enrich(store: Store, doc: dict[str, Any], members: Iterable[str]) -> dict[str, Any]:
    """``doc`` (an incident about to be filed) linked to the registered model it names, with
    that model's deployment jurisdictions (members only) among its affected ones."""
    return enrich_report(doc, _named(store, doc.get("ai_system") or {}), members)
