"""CACAO 2.0 export: every shipped playbook validates against the official schemas, soundly."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from federation.cacao import CacaoValidator, check_step_graph, export_cacao, playbook_uuid
from federation.playbook import Playbook, parse_playbook_yaml
from federation.schema import SchemaSet
from node.core.playbook_files import load_regimes

REPO = Path(__file__).resolve().parents[2]
CACAO_DIR = Path(__file__).resolve().parents[3] / "shared" / "schemas-external" / "cacao-2.0"
PLAYBOOK_FILES = sorted(p for p in (REPO / "playbooks").glob("*.yaml")
                        if p.name not in ("regimes.yaml", "tripwires.yaml"))
REGIMES, _ = load_regimes(REPO / "playbooks")
PLAYBOOK_SCHEMA = (
    "https://raw.githubusercontent.com/oasis-open/cacao-json-schemas/main/schemas/playbook.json")


def cacao_documents() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(CACAO_DIR.rglob("*.json"))]


@pytest.fixture(scope="module")
def validator() -> CacaoValidator:
    return CacaoValidator(cacao_documents())


@pytest.fixture(scope="module")
def as_declared() -> jsonschema.Draft202012Validator:
    """The schemas exactly as published: a registry keyed by each file's ``$id``."""
    docs = cacao_documents()
    registry: Registry[Any] = Registry().with_resources(
        (d["$id"], Resource.from_contents(d, default_specification=DRAFT202012)) for d in docs)
    root = next(d for d in docs if d["$id"] == PLAYBOOK_SCHEMA)
    return jsonschema.Draft202012Validator(root, registry=registry)


def load(path: Path, schemas: SchemaSet) -> Playbook:
    return parse_playbook_yaml(path.read_text(encoding="utf-8"), str(path), schemas=schemas,
                               regimes=REGIMES)


@pytest.mark.parametrize("path", PLAYBOOK_FILES, ids=lambda p: p.stem)
def test_every_shipped_playbook_exports_valid_sound_cacao(
        path: Path, schemas: SchemaSet, validator: CacaoValidator,
        as_declared: jsonschema.Draft202012Validator) -> None:
    doc = export_cacao(load(path, schemas))
    assert validator.schema_problems(doc) == []  # every file read as 2020-12 (strict)
    assert [e.message for e in as_declared.iter_errors(doc)] == []  # as published
    assert check_step_graph(doc) == []
    for step_id, step in doc["workflow"].items():
        assert not ("on_completion" in step and ("on_success" in step or "on_failure" in step))
        for key in ("on_completion", "on_success", "on_failure", "on_true"):
            assert step.get(key, step_id) in doc["workflow"]
        if step["type"] == "action":
            assert uuid.UUID(step_id.split("--", 1)[1]).version == 4  # CACAO: steps use v4
    assert doc["spec_version"] == "cacao-2.0" and doc["type"] == "playbook"


def test_export_is_deterministic_and_versions_share_an_id(schemas: SchemaSet) -> None:
    path = REPO / "playbooks" / "hazard-watch.yaml"
    first, second = export_cacao(load(path, schemas)), export_cacao(load(path, schemas))
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert first["id"] == f"playbook--{playbook_uuid('hazard-watch')}"
    assert uuid.UUID(first["id"].split("--", 1)[1]).version == 5
    assert first["created"] == first["modified"] == "2026-11-01T00:00:00.000Z"
    v2 = path.read_text().replace("version: 1", "version: 2").replace(
        'created: "2026-11-01T00:00:00Z"',
        'created: "2026-11-01T00:00:00Z"\nmodified: "2026-12-01T08:30:00Z"')
    bumped = export_cacao(parse_playbook_yaml(v2, "hazard-watch.yaml", schemas=schemas))
    # CACAO: one id for every version of a playbook; `modified` tells them apart.
    assert bumped["id"] == first["id"] and bumped["modified"] == "2026-12-01T08:30:00.000Z"
    assert "beacon-version:2" in bumped["labels"]


def step_named(doc: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    return next((k, v) for k, v in doc["workflow"].items() if v.get("name") == name)


def test_deadlines_are_timeouts_and_tiers_are_failure_branches(schemas: SchemaSet) -> None:
    doc = export_cacao(load(REPO / "playbooks" / "serious-incident-cross-border.yaml", schemas))
    _, tier1 = step_named(doc, "Affected peers acknowledge")
    tier2_id, tier2 = step_named(doc, "All members and the international body acknowledge")
    end_id, end = step_named(doc, "End of branch Affected peers acknowledge")
    assert end["type"] == "end"
    assert tier1["timeout"] == 24 * 3600 * 1000  # milliseconds
    assert tier1["on_failure"] == tier2_id  # unacknowledged: next tier
    assert tier1["on_success"] == end_id  # acknowledged: the chain (and its branch) ends
    assert tier2["timeout"] == 48 * 3600 * 1000 and tier2["on_failure"] == end_id
    _, report = step_named(doc, "Provider's Art. 73 report received (provider's duty)")
    assert report["timeout"] == 15 * 24 * 3600 * 1000  # Art. 73(2), from regimes.yaml
    assert "EU AI Act Art. 73(2)" in report["description"]
    assert "provider's duty" in report["description"]
    group = doc["target_definitions"][tier1["targets"][0]]
    assert group == {"type": "group", "name": "Affected peers (tier 1)"}
    assert doc["markings"] == ["marking-tlp--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]  # GREEN
    assert doc["severity"] == 80


def test_parallel_branches_export_as_a_cacao_parallel_step(schemas: SchemaSet) -> None:
    doc = export_cacao(load(REPO / "playbooks" / "critical-infrastructure-disruption.yaml",
                            schemas))
    wf = doc["workflow"]
    _, top = step_named(doc, "Take the case, escalate, and run the regulatory clocks side by "
                             "side")
    assert top["type"] == "parallel" and len(top["next_steps"]) == 4
    assert [wf[r]["name"] for r in top["next_steps"]] == [
        "A responder takes the case", "Affected peers acknowledge",
        "Provider's Art. 73(3) report received (provider's duty, 2 days)",
        "The essential entity's NIS2 reports (entity's duty, to the CSIRT)"]
    assert wf[top["on_completion"]]["name"] == "Close"  # the join
    nested = wf[top["next_steps"][3]]
    assert nested["type"] == "parallel" and len(nested["next_steps"]) == 2
    assert wf[nested["on_completion"]]["type"] == "end"  # its branch of the outer one ends
    _, final = step_named(doc, "NIS2 final report received (entity's duty, one month after "
                               "the notification)")
    assert "timeout" not in final  # a calendar month has no fixed length in milliseconds
    assert "P1M after notification-submitted" in final["description"]


def test_graph_checker_wants_an_end_of_its_own_for_each_branch(schemas: SchemaSet) -> None:
    doc = export_cacao(load(REPO / "playbooks" / "incident-review.yaml", schemas))
    _, review = step_named(doc, "Review the incident")
    _, esc = step_named(doc, "Affected peers acknowledge (if any)")
    esc["on_success"] = esc["on_failure"] = review["on_completion"]  # share one end step
    assert any("reaches no end step of its own" in p for p in check_step_graph(doc))


def test_periodic_reports_loop_through_a_while_condition(schemas: SchemaSet) -> None:
    doc = export_cacao(load(REPO / "playbooks" / "federation-emergency.yaml", schemas))
    loops = [(k, v) for k, v in doc["workflow"].items() if v["type"] == "while-condition"]
    assert len(loops) == 1
    loop_id, loop = loops[0]
    body = doc["workflow"][loop["on_true"]]
    assert body["on_completion"] == loop_id and body["delay"] == 24 * 3600 * 1000
    assert doc["playbook_processing_summary"]["while_logic"] is True


@pytest.fixture
def sound(schemas: SchemaSet) -> dict[str, Any]:
    return export_cacao(load(REPO / "playbooks" / "tripwire-crossing.yaml", schemas))


def first_action(doc: dict[str, Any]) -> dict[str, Any]:
    step: dict[str, Any] = doc["workflow"][doc["workflow"][doc["workflow_start"]]["on_completion"]]
    return step


def test_graph_checker_finds_dangling_and_conflicting_pointers(sound: dict[str, Any]) -> None:
    doc = copy.deepcopy(sound)
    action = first_action(doc)
    action["on_failure"] = "action--00000000-0000-4000-8000-000000000000"
    problems = check_step_graph(doc)
    assert any("on_completion beside on_success/on_failure" in p for p in problems)
    assert any("not in the workflow" in p for p in problems)


def test_graph_checker_finds_unreachable_dead_ends_and_loops(sound: dict[str, Any]) -> None:
    doc = copy.deepcopy(sound)
    start = doc["workflow"][doc["workflow_start"]]
    skipped = start["on_completion"]
    start["on_completion"] = first_action(doc)["on_completion"]
    assert f"{skipped} is unreachable from the start" in check_step_graph(doc)

    doc = copy.deepcopy(sound)
    action = first_action(doc)
    del action["on_completion"]
    problems = check_step_graph(doc)
    assert any("dead end" in p for p in problems) and any("never reach an end" in p
                                                          for p in problems)

    doc = copy.deepcopy(sound)
    first_id = doc["workflow"][doc["workflow_start"]]["on_completion"]
    second = doc["workflow"][doc["workflow"][first_id]["on_completion"]]
    second["on_success"] = first_id  # back to the first step: a loop without a while
    assert any("loop without a while-condition" in p for p in check_step_graph(doc))


def test_graph_checker_finds_bad_start_and_undefined_agents(sound: dict[str, Any]) -> None:
    doc = copy.deepcopy(sound)
    doc["workflow_start"] = "start--00000000-0000-4000-8000-000000000000"
    assert any("workflow_start" in p for p in check_step_graph(doc))
    doc = copy.deepcopy(sound)
    doc["agent_definitions"] = {}
    assert any("not in agent_definitions" in p for p in check_step_graph(doc))
    doc = copy.deepcopy(sound)
    first_action(doc)["on_completion"] = doc["workflow_start"]
    assert any("points back to the start" in p for p in check_step_graph(doc))


def test_validator_reports_schema_problems(sound: dict[str, Any],
                                           validator: CacaoValidator) -> None:
    doc = copy.deepcopy(sound)
    first_action(doc)["commands"][0]["command"] = "not allowed by command-data"
    del doc["created_by"]
    problems = validator.problems(doc)
    assert any("created_by" in p for p in problems)
    assert any("command" in p for p in problems)
