"""Steps people complete and one truth across nodes, with a clock the test drives: a completed
step is a signed ``step`` message in the owner's log that reaches the peers; an ack by one
recipient of a tier that needs any one ack closes the others' inbox items as answered by it;
a recipient reads the owner's run, read-only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from federation.canonical import decode
from federation.envelope import Envelope
from node.http.api_steps import peer_run
from node.pipeline import engine, flow, statistics
from tests.integration.conftest import report
from tests.pipeline.world import World

EVIDENCE = [{"url": "https://example.org/art73.pdf", "sha256": "ab" * 32}]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with World.create(tmp_path, ["gb", "fr", "jp"]) as w:
        yield w


def inbox(world: World, node: str) -> dict[int, dict[str, Any]]:
    return {r["tier"]: dict(r) for r in world.nodes[node].store.query(
        "SELECT id, tier, status, answered_by FROM escalations")}


def step_messages(world: World, node: str) -> list[dict[str, Any]]:
    rows = world.nodes[node].store.query(
        "SELECT envelope FROM envelopes WHERE message_type = 'step' ORDER BY rowid")
    return [decode(Envelope.from_json(r["envelope"]).payload) for r in rows]


def run_id_of(world: World, incident_id: str) -> str:
    [row] = world.nodes["gb"].store.query(
        "SELECT id FROM runs WHERE incident_id = ? AND playbook_id = ?",
        (incident_id, "serious-incident-cross-border"))
    return str(row["id"])


def test_a_completed_report_step_is_signed_logged_and_reaches_the_peers(world: World) -> None:
    doc = world.file("gb", **report(affected_jurisdictions=["fr"],
                                    harm_quantification={"deaths": 1}))
    world.deliver()
    run_id, gb = run_id_of(world, doc["id"]), world.nodes["gb"]
    world.clock.advance(hours=3)
    with gb.transaction() as tx:
        t, drafts = engine.complete_step(gb, tx, run_id, "art73-report", by="alice",
                                         note="provider report received", evidence=EVIDENCE)
        flow.issue(gb, drafts, tx=tx)
    world.deliver()
    [filed] = [m for m in step_messages(world, "fr") if m["step_id"] == "art73-report"]
    assert (filed["origin"], filed["by"], filed["note"], filed["evidence"]) == (
        "gb", "alice", "provider report received", EVIDENCE)
    logged = gb.store.query("SELECT 1 FROM log_leaves l JOIN envelopes e ON e.digest = l.digest "
                            "WHERE e.message_type = 'step'")
    assert logged, "the completion is in gb's transparency log"
    shared = peer_run(world.nodes["fr"], run_id)
    assert shared is not None and (shared["owner"], shared["read_only"]) == ("gb", True)
    [art73] = [s for s in shared["steps"] if s["id"] == "art73-report"]
    assert art73["status"] == "succeeded" and art73["filed"]["by"] == "alice"
    assert peer_run(world.nodes["gb"], run_id) is None  # the owner reads its own run


def test_one_ack_of_a_tier_that_needs_any_one_closes_it_everywhere(world: World) -> None:
    doc = world.file("gb", **report(affected_jurisdictions=["fr"]))
    world.deliver()
    world.clock.advance(hours=24)  # nobody acknowledged tier 1
    world.fire_due()
    world.deliver()
    tier2 = inbox(world, "jp")[2]
    assert inbox(world, "int")[2]["status"] == "open"
    shared = peer_run(world.nodes["jp"], run_id_of(world, doc["id"]))
    assert shared is not None and shared["tier"] == 2  # jp can open the run that asks it

    world.say("fr", {"type": "ack", "escalation_id": tier2["id"], "incident_id": doc["id"],
                     "run_id": tier2["id"].split(".", 1)[0], "responder": "fr duty officer"},
              qualifier="gb")
    world.deliver()
    for node in ("jp", "int"):
        assert (inbox(world, node)[2]["status"], inbox(world, node)[2]["answered_by"]) == (
            "answered", "fr"), node
    _, figures = statistics.escalation_figures(world.nodes["int"])
    assert tier2["id"] not in json.dumps(figures["open_items"] + figures["overdue_items"])
