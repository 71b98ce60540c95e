"""federation.tripwires and federation.training_runs: levels, bad input, the reports a
crossing files, and the clocks a declaration starts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from federation.errors import SchemaError
from federation.training_runs import deadline_state, training_run_body
from federation.tripwires import TripwireError, Tripwires, crossing_report, evaluation_body
from node.core.playbook_files import load_regimes, load_tripwires

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 25, tzinfo=UTC)
WIRES = load_tripwires(REPO / "playbooks")
RESULT = {"developer": "Example AI", "model": "ExampleLM", "version": "3.0", "suite": "s",
          "domain": "cbrn", "score": 0.91, "evaluator": "UK AISI",
          "evaluated_at": "2026-11-25T00:00:00Z"}


def test_the_shipped_tripwires_cover_the_six_domains() -> None:
    assert {t.domain for t in WIRES.items} == {
        "cbrn", "cyber-offence", "autonomous-replication", "persuasion", "ai-rnd-automation",
        "deception"}
    assert all(0 <= t.early_warning <= t.red_line <= 1 for t in WIRES.items)
    assert [c.flop for c in WIRES.compute_thresholds] == [1e25, 1e26]


def test_a_red_line_below_its_early_warning_is_refused() -> None:
    wire = {"id": "x", "domain": "cbrn", "title": "t", "early_warning": 0.9, "red_line": 0.5,
            "protocol": "p", "protocol_version": "1"}
    with pytest.raises(TripwireError, match="swap"):
        Tripwires.from_dict({"version": 1, "tripwires": [wire]})


@pytest.mark.parametrize(("changes", "path"), [
    ({"score": 1.01}, "$.score"), ({"score": -0.1}, "$.score"), ({"score": "high"}, "$.score"),
    ({"score": True}, "$.score"), ({"domain": "astrology"}, "$.domain"),
    ({"origin": "fr"}, "$.origin")])
def test_bad_evaluations_name_the_field(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(SchemaError) as e:
        evaluation_body(RESULT | changes, WIRES, origin="gb", now=NOW)
    assert path in [p.path for p in e.value.problems]


@pytest.mark.parametrize(("domain", "red_line"), [
    ("cbrn", "assisting-weapon-development"), ("cyber-offence", "cyberattacks"),
    ("autonomous-replication", "autonomous-replication-or-improvement"),
    ("deception", "deception"), ("persuasion", None)])
def test_a_red_line_crossing_files_an_incident_under_the_idais_red_line(
        domain: str, red_line: str | None) -> None:
    wire = WIRES.for_domain(domain)
    assert wire is not None
    doc = evaluation_body(RESULT | {"domain": domain, "score": wire.red_line}, WIRES,
                          origin="gb", now=NOW, token=bytes(8))
    report = crossing_report(doc, "ab" * 32, WIRES)
    assert report is not None and report["severity"] == "incident"
    assert report["red_lines"] == ([red_line] if red_line else [])
    assert report["tripwire_ids"] == [wire.id]
    assert report["evaluation"]["id"] == "gb-eval-0000000000000000"


def test_early_warning_files_a_serious_hazard_and_approaching_nothing() -> None:
    wire = WIRES.for_domain("cbrn")
    assert wire is not None
    early = evaluation_body(RESULT | {"score": wire.early_warning}, WIRES, origin="gb", now=NOW)
    near = evaluation_body(RESULT | {"score": wire.early_warning - WIRES.approaching_margin},
                           WIRES, origin="gb", now=NOW)
    assert crossing_report(early, "ab" * 32, WIRES)["severity"] == "serious-hazard"  # type: ignore[index]
    assert near["level"] == "approaching" and crossing_report(near, "ab" * 32, WIRES) is None


def test_a_declaration_starts_the_art_52_clock_two_weeks_after_it_is_known() -> None:
    regimes, _ = load_regimes(REPO / "playbooks")
    run = {"developer": "Example AI", "model": "M", "compute_flop": 3e25,
           "started_at": "2026-11-01T00:00:00Z", "threshold_known_at": "2026-10-20T00:00:00Z"}
    doc = training_run_body(run, WIRES.compute_thresholds, regimes.clock, origin="gb", now=NOW)
    assert doc["thresholds_crossed"] == ["ai-act-51-2"]
    assert [(c["clock"], c["due_at"]) for c in doc["clocks"]] == [
        ("ai-act-52-1", "2026-11-03T00:00:00Z")]
    for bad, path in (({"compute_flop": -1}, "$.compute_flop"),
                      ({"started_at": "yesterday"}, "$.started_at")):
        with pytest.raises(SchemaError) as e:
            training_run_body(run | bad, WIRES.compute_thresholds, regimes.clock, origin="gb",
                              now=NOW)
        assert path in [p.path for p in e.value.problems]


@pytest.mark.parametrize(("met", "now", "state"), [
    (None, datetime(2026, 11, 14, tzinfo=UTC), "due"),
    (None, datetime(2026, 11, 15, tzinfo=UTC), "overdue"),
    ("2026-11-20T00:00:00Z", datetime(2026, 11, 30, tzinfo=UTC), "met")])
def test_deadline_state(met: str | None, now: datetime, state: str) -> None:
    assert deadline_state("2026-11-15T00:00:00Z", met, now) == state
