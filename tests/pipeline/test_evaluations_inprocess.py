"""Capability evaluations across a federation in one process: a red-line result files an
incident carrying the evaluation, the tripwire playbook answers it, and every node has both."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from federation.monitoring import monitoring_body
from federation.tripwires import evaluation_body
from node.pipeline import assurance, flow
from tests.pipeline.test_registry_inprocess import register
from tests.pipeline.world import World

RESULT = {"developer": "Example AI", "model": "ExampleLM", "version": "3.0",
          "suite": "shared CBRN uplift v1", "domain": "cbrn", "evaluator": "UK AISI",
          "evaluated_at": "2026-11-19T00:00:00Z"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with World.create(tmp_path, ["gb", "fr", "jp"]) as w:
        yield w


def evaluate(world: World, at: str, **changes: Any) -> dict[str, Any]:
    ctx = world.nodes[at]
    doc = evaluation_body(RESULT | changes, ctx.tripwires, origin=at, now=ctx.now())
    flow.sign_and_record(ctx, doc, qualifier=doc["level"])
    found = assurance.evaluation(ctx.store, doc["id"])
    assert found is not None
    return found


def incident(world: World, node: str, incident_id: str) -> dict[str, Any]:
    [row] = world.nodes[node].store.query("SELECT document FROM incidents WHERE id = ?",
                                          (incident_id,))
    doc: dict[str, Any] = json.loads(row["document"])
    return doc


def runs(world: World, node: str, incident_id: str) -> set[str]:
    return {r["playbook_id"] for r in world.nodes[node].store.query(
        "SELECT playbook_id FROM runs WHERE incident_id = ?", (incident_id,))}


def test_a_red_line_result_files_an_incident_that_every_node_holds(world: World) -> None:
    model = register(world, "gb")
    world.deliver()
    red = world.nodes["gb"].tripwires.for_domain("cbrn")
    assert red is not None
    found = evaluate(world, "gb", score=red.red_line)
    world.deliver()
    assert found["level"] == "red-line" and found["incident_id"]
    for node in ("gb", "fr", "jp", "int"):
        doc = incident(world, node, found["incident_id"])
        assert doc["evaluation"]["id"] == found["id"] and doc["evaluation"]["score"] == red.red_line
        assert doc["tripwire_ids"] == ["cbrn"]
        assert doc["red_lines"] == ["assisting-weapon-development"]
        assert doc["ai_system"]["model_ref"] == model
        assert doc["affected_jurisdictions"] == ["fr", "jp"]
        assert assurance.evaluation(world.nodes[node].store, found["id"]) is not None, node
    assert "tripwire-crossing" in runs(world, "gb", found["incident_id"])


@pytest.mark.parametrize(("offset", "level", "severity"), [
    (0.0, "early-warning", "serious-hazard"), (-0.01, "approaching", None),
    (-0.5, "below", None)])
def test_below_the_red_line(world: World, offset: float, level: str,
                            severity: str | None) -> None:
    register(world, "gb")
    wire = world.nodes["gb"].tripwires.for_domain("cyber-offence")
    assert wire is not None
    found = evaluate(world, "gb", domain="cyber-offence",
                     score=round(max(0.0, wire.early_warning + offset), 3))
    world.deliver()
    assert found["level"] == level
    if severity is None:
        assert found["incident_id"] is None
        assert world.nodes["fr"].store.scalar("SELECT COUNT(*) FROM incidents") == 0
    else:
        doc = incident(world, "fr", found["incident_id"])
        assert doc["severity"] == severity and doc["red_lines"] == []
        assert "tripwire-crossing" in runs(world, "gb", found["incident_id"])


def test_a_failed_run_time_check_files_an_incident_every_node_holds(world: World) -> None:
    model = register(world, "gb")
    world.deliver()
    ctx = world.nodes["gb"]
    signal = monitoring_body({"developer": "Example AI", "model": "ExampleLM", "version": "3.0",
                              "check": "refusal-classifier", "assumption": "CBRN is refused",
                              "environment": "production EU", "action": "model shut down"},
                             origin="gb", now=ctx.now())
    flow.sign_and_record(ctx, signal)
    world.deliver()
    found = assurance.monitoring_signal(ctx.store, signal["id"])
    assert found is not None and found["incident_id"]
    for node in ("fr", "jp", "int"):
        doc = incident(world, node, found["incident_id"])
        assert doc["monitoring"]["id"] == signal["id"] and doc["ai_system"]["model_ref"] == model
        assert doc["actions_taken"] == "model shut down"
        peer = assurance.monitoring_signal(world.nodes[node].store, signal["id"])
        assert peer is not None and peer["incident_id"] is None  # filed once, at its origin


def test_the_summary_counts_crossings_declarations_and_unapproved_models(world: World) -> None:
    register(world, "gb")
    wire = world.nodes["gb"].tripwires.for_domain("deception")
    assert wire is not None
    evaluate(world, "gb", domain="deception", score=wire.red_line)
    evaluate(world, "gb", domain="deception", score=wire.early_warning)
    evaluate(world, "gb", domain="cbrn", score=0.0)
    world.deliver()
    got = assurance.summary(world.nodes["int"].store, world.nodes["int"].tripwires)
    assert got["tripwire_crossings"] == [
        {"domain": "deception", "level": "early-warning", "n": 1},
        {"domain": "deception", "level": "red-line", "n": 1}]
    assert got["models_without_approved_safety_case"] == 1  # no safety case stated
    # ... and above a threshold (the deception crossings), so flagged on every page
    assert got["models_above_threshold_without_approved_safety_case"] == 1
    assert got["declarations_above_threshold"] == {}
