"""Parallel clocks at a node, with a clock the test drives: escalation and the regulatory clock
open at once, a person files the report, the unanswered escalation still moves a tier, every
severity starts a playbook, and a playbook started by hand on a peer's incident."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from federation.run_model import PlaybookRun
from node.core.errors import Conflict
from node.pipeline import engine, flow
from tests.integration.conftest import report
from tests.pipeline.world import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with World.create(tmp_path, ["gb", "fr", "jp"]) as w:
        yield w


def run_of(world: World, node: str, incident_id: str, playbook_id: str) -> PlaybookRun:
    [row] = world.nodes[node].store.query(
        "SELECT document, timer_at FROM runs WHERE incident_id = ? AND playbook_id = ?",
        (incident_id, playbook_id))
    run = PlaybookRun.from_dict(json.loads(row["document"]))
    assert row["timer_at"] == (run.next_timer_at.strftime("%Y-%m-%dT%H:%M:%SZ")
                               if run.next_timer_at else None)  # the earliest timer is stored
    return run


def playbooks_started(world: World, node: str, incident_id: str) -> set[str]:
    return {r["playbook_id"] for r in world.nodes[node].store.query(
        "SELECT playbook_id FROM runs WHERE incident_id = ?", (incident_id,))}


def inbox_tiers(world: World, node: str) -> list[int]:
    return [r["tier"] for r in world.nodes[node].store.query(
        "SELECT tier FROM escalations ORDER BY tier")]


def test_a_death_opens_the_escalation_and_the_10_day_clock_at_once(world: World) -> None:
    filed_at = world.clock()
    doc = world.file("gb", **report(affected_jurisdictions=["fr"],
                                    harm_quantification={"deaths": 1}))
    world.deliver()
    run = run_of(world, "gb", doc["id"], "serious-incident-cross-border")
    assert list(run.active_step_ids()) == ["escalate-affected-peers", "art73-report"]
    art73 = run.step_state("art73-report")
    assert (art73.clock_id, art73.deadline) == ("ai-act-73-4", filed_at + timedelta(days=10))
    assert inbox_tiers(world, "fr") == [1]

    gb = world.nodes["gb"]
    world.clock.advance(hours=3)
    with gb.transaction() as tx:
        t, drafts = engine.complete_step(gb, tx, run.id, "art73-report", by="alice",
                                         note="provider report received",
                                         evidence=[{"url": "https://example.org/r",
                                                    "sha256": "cd" * 32}])
        flow.issue(gb, drafts, tx=tx)
    assert t.applied
    run = run_of(world, "gb", doc["id"], "serious-incident-cross-border")
    assert run.step_state("art73-report").filed_by == "alice"
    assert "market-surveillance-measures" in run.active_step_ids()
    assert "escalate-affected-peers" in run.active_step_ids()  # still unanswered

    world.clock.to(filed_at + timedelta(hours=24))  # the tier-1 deadline: nobody acknowledged
    world.fire_due()
    world.deliver()
    assert inbox_tiers(world, "jp") == [2]
    run = run_of(world, "gb", doc["id"], "serious-incident-cross-border")
    assert run.tier == 2 and run.step_state("art73-report").status == "succeeded"


def test_every_severity_starts_a_playbook(world: World) -> None:
    started: dict[str, set[str]] = {}
    for severity in ("hazard", "serious-hazard", "incident", "serious-incident", "disaster"):
        doc = world.file("gb", **report(severity=severity, affected_jurisdictions=[]))
        world.deliver()
        started[severity] = playbooks_started(world, "gb", doc["id"])
        assert started[severity], severity
        assert playbooks_started(world, "fr", doc["id"]), f"fr answers nothing for {severity}"
    assert started["serious-hazard"] == {"serious-hazard-near-miss"}
    assert "disaster-response" in started["disaster"]


def test_a_responder_starts_a_playbook_by_hand_on_a_peers_incident(world: World) -> None:
    doc = world.file("gb", **report(severity="incident", affected_jurisdictions=["fr"]))
    world.deliver()
    fr = world.nodes["fr"]
    with fr.transaction() as tx:
        t, drafts = engine.start_by_hand(fr, tx, doc["id"], "tripwire-crossing", by="bob")
        flow.issue(fr, drafts, tx=tx)
    assert t.run.history[0].by == "bob" and "by hand" in t.run.history[0].detail
    assert "tripwire-crossing" in playbooks_started(world, "fr", doc["id"])
    with pytest.raises(Conflict, match="already runs"), fr.transaction() as tx:
        engine.start_by_hand(fr, tx, doc["id"], "tripwire-crossing", by="bob")
