"""The ``stat_records`` projection: one record per incident id, newest revision, full over stub."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from federation.severity import Severity
from node.pipeline import statistics
from node.store.db import MIGRATIONS, Store

ID = "gb-0123456789abcdef"


def incident(revision: int, severity: str = "incident") -> dict[str, Any]:
    return {"type": "incident", "id": ID, "revision": revision, "origin": "gb",
            "severity": severity, "harm_types": ["physical"], "red_lines": [], "tlp": "RED",
            "occurred_at": "2026-11-20T23:30:00Z", "tripwire_ids": ["tw-1"],
            "ai_system": {"name": "X", "role": "r", "developer": "Example AI"}}


def stub(revision: int, severity: str = "incident") -> dict[str, Any]:
    return {"type": "stub", "incident_id": ID, "revision": revision, "origin": "gb",
            "severity": severity, "harm_types": ["physical"], "red_lines": ["deception"],
            "tlp": "RED", "week": "2026-W47"}


def apply(store: Store, *docs: dict[str, Any]) -> list[Any]:
    with store.transaction() as tx:
        for n, doc in enumerate(docs):
            statistics._upsert_record(tx, doc["type"], doc, f"{n:064x}", "2026-11-21T00:00:00Z")
    return statistics.load_records(store)


def test_newest_revision_wins_and_a_full_report_beats_its_stub(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.sqlite3")
    try:
        [r] = apply(store, stub(1), incident(1))
        assert not r.is_stub and r.developer == "Example AI" and r.week == "2026-W47"
        assert r.occurred_at is not None and r.occurred_at.isoformat() == "2026-11-20"
        [r] = apply(store, stub(1))                      # the same revision's stub: no change
        assert not r.is_stub
        [r] = apply(store, stub(2, "disaster"))          # a newer revision, only as a stub
        assert r.is_stub and r.severity is Severity.DISASTER and r.developer is None
        assert r.red_lines == ("deception",) and r.week == "2026-W47"
        [r] = apply(store, incident(1, "hazard"))        # an older revision arriving late
        assert r.is_stub and r.severity is Severity.DISASTER
        [r] = apply(store, incident(2, "disaster"))      # the full newer revision
        assert not r.is_stub and r.developer == "Example AI"
        assert statistics.tripwires(store) == {"tw-1": 1}
    finally:
        store.close()


def test_the_migration_counts_the_incidents_stored_before_it(tmp_path: Path) -> None:
    k = next(i for i, m in enumerate(MIGRATIONS) if "CREATE TABLE stat_records" in m)
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:k]:
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
    doc = incident(3, "serious-incident") | {"countries": ["FR"], "sector": "energy",
                                             "provenance": {"countries": "derived"}}
    conn.execute("INSERT INTO envelopes VALUES (?, 'incident', 'gb', 's', x'00', 't', 0)",
                 ("a" * 64,))
    conn.execute("INSERT INTO incidents(id, revision, digest, origin, severity, severity_rank, "
                 "tlp, status, title, occurred_at, issued_at, received_at, document) "
                 "VALUES (?, 3, ?, 'gb', 'serious-incident', 3, 'RED', 'open', 'T', ?, 'i', "
                 "'r', ?)", (ID, "a" * 64, doc["occurred_at"], json.dumps(doc)))
    conn.execute(f"PRAGMA user_version={k}")
    conn.commit()
    conn.close()
    store = Store.open(path)
    try:
        [r] = statistics.load_records(store)
        assert (r.origin, r.severity, r.developer, r.harm_types, r.is_stub) == (
            "gb", Severity.SERIOUS_INCIDENT, "Example AI", ("physical",), False)
        assert r.occurred_at is not None and r.occurred_at.isoformat() == "2026-11-20"
        assert statistics.tripwires(store) == {"tw-1": 1}
        # The later migration backfills the facets of what was stored before it.
        assert (r.countries, r.sector, r.model, dict(r.provenance)) == (
            ("FR",), "energy", "X", {"countries": "derived"})
    finally:
        store.close()


def test_a_same_as_link_makes_one_record_listing_both_reporters(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.sqlite3")
    other = incident(1) | {"id": "fr-00000000000000ff", "origin": "fr", "severity": "disaster"}
    try:
        assert len(apply(store, incident(1), other)) == 2
        link = {"type": "link", "origin": "fr", "issued_at": "2026-11-21T00:00:00Z",
                "incident_id": other["id"], "linked_id": ID, "relation": "same-as"}
        forged = link | {"incident_id": ID, "linked_id": other["id"]}   # fr speaks for gb's
        with store.transaction() as tx:
            tx.execute("INSERT INTO envelopes VALUES (?, 'link', 'fr', 's', x'00', 't', 0)",
                       ("b" * 64,))
            statistics._record_link(tx, forged, "b" * 64)
        assert len(statistics.load_records(store)) == 2   # a link about another's report: ignored
        with store.transaction() as tx:
            statistics._record_link(tx, link, "b" * 64)
        [r] = statistics.load_records(store)
        assert (r.reporters, r.severity) == (("fr", "gb"), Severity.DISASTER)
        assert statistics.cluster_ids(store, ID) == sorted([ID, other["id"]])
    finally:
        store.close()
