"""The playbook engine walked with a clock the test drives: real signatures, real SQLite, no
NATS and no waiting. Each test takes milliseconds; tests/integration proves the same paths with
real processes over JetStream."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from node.pipeline import flow
from tests.integration.conftest import report
from tests.pipeline.world import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with World.create(tmp_path, ["gb", "fr", "jp"]) as w:
        yield w


def inbox(world: World, node: str) -> list[dict[str, Any]]:
    return [dict(r) for r in world.nodes[node].store.query(
        "SELECT id, tier, status, origin FROM escalations ORDER BY tier")]


def run_state(world: World, node: str, incident_id: str) -> dict[str, Any]:
    [row] = world.nodes[node].store.query(
        "SELECT id, state, token, timer_at FROM runs WHERE incident_id = ? AND playbook_id = ?",
        (incident_id, "serious-incident-cross-border"))
    return dict(row)


def test_silence_moves_the_escalation_to_the_next_tier_at_its_deadline(world: World) -> None:
    doc = world.file("gb", **report(affected_jurisdictions=["fr"]))
    world.deliver()
    assert [e["tier"] for e in inbox(world, "fr")] == [1]
    assert inbox(world, "jp") == [] and inbox(world, "int") == []

    before = run_state(world, "gb", doc["id"])
    world.clock.advance(hours=23, minutes=59)
    world.fire_due()
    world.deliver()
    assert run_state(world, "gb", doc["id"]) == before  # a minute early: nothing moves
    assert inbox(world, "jp") == []

    world.run_to_next_deadline()
    world.deliver()
    assert [e["tier"] for e in inbox(world, "jp")] == [2]
    assert [e["tier"] for e in inbox(world, "int")] == [2]
    assert run_state(world, "gb", doc["id"])["token"] > before["token"]


def test_a_deadline_fires_once_however_often_the_timer_goes_off(world: World) -> None:
    doc = world.file("gb", **report(affected_jurisdictions=["fr"]))
    world.deliver()
    run = run_state(world, "gb", doc["id"])
    run_id, token = run["id"], int(run["token"])
    world.clock.to(datetime.fromisoformat(run["timer_at"].replace("Z", "+00:00")))
    first = flow.on_deadline(world.nodes["gb"], run_id, token)
    again = flow.on_deadline(world.nodes["gb"], run_id, token)
    world.deliver()
    assert first != "stale" and again == "stale"
    assert [e["tier"] for e in inbox(world, "jp")] == [2]  # one tier-2 escalation, not two


def test_an_acknowledgement_stops_the_chain(world: World) -> None:
    doc = world.file("gb", **report(affected_jurisdictions=["fr"]))
    world.deliver()
    [esc] = inbox(world, "fr")
    world.clock.advance(hours=2)
    world.say("fr", {"type": "ack", "escalation_id": esc["id"], "incident_id": doc["id"],
                     "run_id": esc["id"].split(".", 1)[0], "responder": "fr duty officer"},
              qualifier="gb")
    world.deliver()
    assert inbox(world, "fr")[0]["status"] == "acked"

    world.clock.advance(days=3)
    world.fire_due()
    world.deliver()
    assert inbox(world, "jp") == [] and inbox(world, "int") == []


def test_a_red_line_goes_to_every_member_at_once_and_asks_for_a_quorum(world: World) -> None:
    doc = world.file("gb", **report(affected_jurisdictions=["fr"],
                                    red_lines=["assisting-weapon-development"]))
    world.deliver()
    for peer in ("fr", "jp", "int"):
        assert inbox(world, peer), f"{peer} was not asked"
    rows = world.nodes["fr"].store.query("SELECT state FROM emergencies WHERE incident_id = ?",
                                         (doc["id"],))
    states = {r["state"] for r in rows}
    # The emergency is proposed only once tier 3 is reached: walk the clock until it is.
    for _ in range(6):
        if "pending" in states:
            break
        world.run_to_next_deadline()
        world.deliver()
        states = {r["state"] for r in world.nodes["fr"].store.query(
            "SELECT state FROM emergencies WHERE incident_id = ?", (doc["id"],))}
    assert "pending" in states


def test_every_message_a_reaction_causes_is_signed_stored_and_logged_once(world: World) -> None:
    world.file("gb", **report(affected_jurisdictions=["fr"]))
    world.deliver()
    gb = world.nodes["gb"].store
    own = gb.query("SELECT digest, message_type FROM envelopes WHERE local = 1")
    logged = {r["digest"] for r in gb.query("SELECT digest FROM log_leaves")}
    assert {r["message_type"] for r in own} >= {"incident", "escalation"}
    assert {r["digest"] for r in own} == logged
    assert world.refused == []
