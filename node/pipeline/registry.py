"""The model registry at a node: the ``model_revisions`` projection and its queries.

    inside the transaction that stores a message (node.pipeline.flow):
    registry.on_model(tx, doc, digest, received_at)
    current = registry.current(ctx.store, model_id)      # the newest revision, or None
    doc = registry.enrich(ctx.store, report_doc, members)  # a report naming a registered model

Every signed revision is kept (a version is a revision, DESIGN.md §10); the current
registration is the highest revision. Reports are matched against every revision, so a report
naming an older version still finds that version's deployment jurisdictions.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from federation.model_registry import Registration, enrich_report, key, matching
from node.store.db import Store


def on_model(tx: sqlite3.Connection, doc: dict[str, Any], digest: str, received_at: str) -> bool:
    """Project one ``model`` message; False if that revision was stored before."""
    cur = tx.execute(
        "INSERT INTO model_revisions(id, revision, origin, developer_key, model_key, "
        "version_key, digest, received_at, document) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        (doc["id"], int(doc["revision"]), doc["origin"], key(doc["developer"]),
         key(doc["model"]), key(doc["version"]), digest, received_at, json.dumps(doc)))
    return cur.rowcount > 0


def on_review(tx: sqlite3.Connection, doc: dict[str, Any], digest: str) -> bool:
    """Project one ``safety-case-review`` message; False if it was stored before."""
    cur = tx.execute(
        "INSERT INTO safety_case_reviews(id, model_id, origin, verdict, digest, issued_at, "
        "document) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (doc["id"], doc["model_id"], doc["origin"], doc["verdict"], digest, doc["issued_at"],
         json.dumps(doc)))
    return cur.rowcount > 0


def reviews_of(store: Store, model_id: str) -> list[dict[str, Any]]:
    """The reviews of ``model_id``, oldest first, each with its verbatim envelope."""
    return [json.loads(r["document"]) | {"digest": r["digest"], "envelope": bytes(r["envelope"])}
            for r in store.query(
                "SELECT r.document, r.digest, e.envelope FROM safety_case_reviews r "
                "JOIN envelopes e ON e.digest = r.digest WHERE r.model_id = ? "
                "ORDER BY r.issued_at, r.id", (model_id,))]


def _row(row: sqlite3.Row) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(row["document"])
    return doc | {"digest": row["digest"], "received_at": row["received_at"]}


def current(store: Store, model_id: str) -> dict[str, Any] | None:
    """The newest revision of ``model_id`` (its document, digest and received_at)."""
    found = store.query("SELECT document, digest, received_at FROM model_revisions "
                        "WHERE id = ? ORDER BY revision DESC LIMIT 1", (model_id,))
    return _row(found[0]) if found else None


def next_revision(store: Store, model_id: str) -> int:
    return int(store.scalar("SELECT COALESCE(MAX(revision), 0) FROM model_revisions "
                            "WHERE id = ?", (model_id,))) + 1


def versions(store: Store, model_id: str) -> list[dict[str, Any]]:
    """Every revision of ``model_id``, oldest first: revision, version, digest, issued_at."""
    return [{"revision": d["revision"], "version": d["version"], "digest": d["digest"],
             "issued_at": d["issued_at"]}
            for d in (_row(r) for r in store.query(
                "SELECT document, digest, received_at FROM model_revisions WHERE id = ? "
                "ORDER BY revision", (model_id,)))]


def listing(store: Store, developer: str | None = None) -> list[dict[str, Any]]:
    """The current revision of every registration (optionally of one developer), by id."""
    rows = store.query(
        "SELECT m.document, m.digest, m.received_at FROM model_revisions m WHERE m.revision = "
        "(SELECT MAX(revision) FROM model_revisions n WHERE n.id = m.id) "
        "AND (? IS NULL OR m.developer_key = ?) ORDER BY m.id",
        (None if developer is None else key(developer),
         None if developer is None else key(developer)))
    return [_row(r) for r in rows]


def incidents_of(store: Store, model_id: str) -> list[dict[str, Any]]:
    """The reports linked to ``model_id`` (``ai_system.model_ref``), newest first."""
    return [{k: r[k] for k in ("id", "origin", "severity", "title", "issued_at")}
            for r in store.query(
                "SELECT id, origin, severity, title, issued_at FROM incidents "
                "WHERE json_extract(document, '$.ai_system.model_ref') = ? ORDER BY seq DESC",
                (model_id,))]


def _named(store: Store, system: dict[str, Any]) -> Iterable[Registration]:
    if not all(isinstance(system.get(k), str) for k in ("developer", "name", "version")):
        return []
    return [Registration.from_dict(json.loads(r["document"])) for r in store.query(
        "SELECT document FROM model_revisions WHERE developer_key = ? AND model_key = ? "
        "AND version_key = ?",
        (key(system["developer"]), key(system["name"]), key(system["version"])))]


def unapproved(store: Store) -> list[str]:
    """Models without an approved safety case: the newest review's verdict decides; with no
    review, the status the registration states (missing counts as not approved)."""
    out = []
    for m in listing(store):
        reviews = store.query("SELECT verdict FROM safety_case_reviews WHERE model_id = ? "
                              "ORDER BY issued_at DESC, id DESC LIMIT 1", (m["id"],))
        status = reviews[0]["verdict"] if reviews else (m.get("safety_case") or {}).get("status")
        if status != "approved":
            out.append(str(m["id"]))
    return out


def named(store: Store, developer: str, model: str, version: str, prefer: str) -> str | None:
    """The id of a registration of this developer, model and version (``prefer``'s first)."""
    system = {"developer": developer, "name": model, "version": version}
    found = matching(_named(store, system), system, prefer)
    return found[0].id if found else None


def enrich(store: Store, doc: dict[str, Any], members: Iterable[str]) -> dict[str, Any]:
    """``doc`` (an incident about to be filed) linked to the registered model it names, with
    that model's deployment jurisdictions (members only) among its affected ones."""
    return enrich_report(doc, _named(store, doc.get("ai_system") or {}), members)
