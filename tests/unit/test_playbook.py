"""Playbooks: every shipped file validates, malformed files name file/line/path, triggers match."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from federation.durations import iso_duration, parse_duration
from federation.errors import Error
from federation.messages import incident_from_report
from federation.playbook import (
    Playbook,
    PlaybookError,
    match,
    matching_playbooks,
    parse_playbook_yaml,
)
from federation.regimes import Regimes
from federation.schema import SchemaSet
from federation.triggers import IncidentFacts
from node.core.playbook_files import load_regimes
from tests.unit.conftest import NOW
from tests.unit.factories import MINIMAL_REPORT

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK_FILES = sorted(p for p in (REPO / "playbooks").glob("*.yaml")
                        if p.name not in ("regimes.yaml", "tripwires.yaml"))
SHIPPED = {
    "serious-incident-cross-border", "red-line-crossing", "model-weights-exfiltration",
    "critical-infrastructure-disruption", "tripwire-crossing", "federation-emergency",
    "hazard-watch", "serious-hazard-near-miss", "incident-review", "serious-incident-domestic",
    "disaster-response", "peer-incident-intake", "affected-jurisdiction-response",
    "model-extraction",
}


@pytest.fixture(scope="module")
def regimes() -> Regimes:
    found, problems = load_regimes(REPO / "playbooks")
    assert problems == []
    return found


def incident(origin: str = "gb", **fields: Any) -> dict[str, Any]:
    return incident_from_report({**MINIMAL_REPORT, **fields}, origin=origin, now=NOW,
                                incident_id=f"{origin}-0123456789abcdef")


def playbook(schemas: SchemaSet, trigger: str, steps: str = "",
             regimes: Regimes | None = None) -> Playbook:
    text = f"""\
id: test-playbook
version: 1
title: Test playbook
description: for tests
created: "2026-11-01T00:00:00Z"
trigger:
{trigger}
steps:
{steps or '  - id: done' + chr(10) + '    action: close'}
"""
    return parse_playbook_yaml(text, "test.yaml", schemas=schemas,
                               regimes=regimes or Regimes({}))


@pytest.fixture
def shipped(schemas: SchemaSet, regimes: Regimes) -> dict[str, Playbook]:
    out = {}
    for path in PLAYBOOK_FILES:
        pb = parse_playbook_yaml(path.read_text(encoding="utf-8"), str(path), schemas=schemas,
                                 regimes=regimes)
        out[pb.id] = pb
    return out


# --- shipped playbooks -----------------------------------------------------------------------

def test_the_shipped_playbooks() -> None:
    assert {p.stem for p in PLAYBOOK_FILES} == SHIPPED


@pytest.mark.parametrize("path", PLAYBOOK_FILES, ids=lambda p: p.stem)
def test_every_shipped_playbook_validates(path: Path, schemas: SchemaSet,
                                          regimes: Regimes) -> None:
    pb = parse_playbook_yaml(path.read_text(encoding="utf-8"), str(path), schemas=schemas,
                             regimes=regimes)
    assert pb.id == path.stem
    assert pb.version >= 1 and pb.steps and pb.title and pb.description
    assert pb.steps[-1].action == "close"
    assert len({s.id for s in pb.steps}) == len(pb.steps)
    for step in pb.steps:
        if step.blocking and step.action != "status-report":
            assert step.deadline is not None or step.regime is not None, step.id


def test_playbook_clocks_name_the_law(shipped: dict[str, Playbook]) -> None:
    exfil = {s.id: s for s in shipped["model-weights-exfiltration"].steps}
    assert exfil["initial-report"].regime and exfil["initial-report"].regime.id == \
        "gpai-cop-9.3-cybersecurity"
    assert exfil["final-report"].regime and exfil["final-report"].regime.anchor == "resolved"
    ci = {s.id: s.regime.id for s in shipped["critical-infrastructure-disruption"].steps
          if s.regime}
    assert ci == {"art73-report": "ai-act-73-3", "notify-commission": "ai-act-73-11",
                  "market-surveillance-measures": "ai-act-73-8",
                  "nis2-early-warning": "nis2-23-4-a", "nis2-notification": "nis2-23-4-b",
                  "nis2-final-report": "nis2-23-4-d"}
    report = next(s for s in shipped["serious-incident-cross-border"].steps
                  if s.id == "art73-report")
    assert report.regime and report.regime.id == "ai-act-73-2"

    def clock_for(**fields: Any) -> str:
        _, clock = report.deadline_for(IncidentFacts.from_document(incident(**fields)))
        return clock.id if clock else ""
    assert clock_for(harm_quantification={"deaths": 1}) == "ai-act-73-4"
    assert clock_for(widespread_infringement=True) == "ai-act-73-3"  # Art. 3(61)
    assert clock_for(harm_types=["human-rights"], affected_jurisdictions=["gb", "fr", "de"]) \
        == "ai-act-73-3"
    assert clock_for(critical_infrastructure_sector="energy") == "ai-act-73-2"  # not irreversible
    assert clock_for(critical_infrastructure_sector="energy", irreversible=True) == "ai-act-73-3"
    # No step calls peer acknowledgement "the NIS2 window" any more.
    titles = [s.label for pb in shipped.values() for s in pb.steps if s.action == "escalate"]
    assert not [t for t in titles if "NIS2" in t]


def test_escalation_tiers_climb_in_order(shipped: dict[str, Playbook]) -> None:
    chain = [s.tier for s in shipped["serious-incident-cross-border"].steps
             if s.action == "escalate"]
    assert chain == [1, 2]
    assert [s.tier for s in shipped["red-line-crossing"].steps if s.action == "escalate"] == [3]


# --- malformed playbooks name file, line and path --------------------------------------------

MALFORMED = """\
id: broken
version: 1
title: Broken playbook
description: typo and a bad severity
created: "2026-11-01T00:00:00Z"
trigger:
  severity: {at_least: catastrophic}
steps:
  - id: escalate-peers
    action: escalate
    tier: 1
    deadlne: PT24H
  - id: done
    action: close
"""


def test_malformed_playbook_names_file_line_and_path(schemas: SchemaSet) -> None:
    with pytest.raises(PlaybookError) as caught:
        parse_playbook_yaml(MALFORMED, "playbooks/broken.yaml", schemas=schemas)
    found = {(p.file, p.line, p.path) for p in caught.value.problems}
    assert ("playbooks/broken.yaml", 7, "$.trigger.severity.at_least") in found
    assert ("playbooks/broken.yaml", 12, "$.steps[0].deadlne") in found
    assert ("playbooks/broken.yaml", 9, "$.steps[0].deadline") in found  # required, at the step
    assert isinstance(caught.value, Error)
    assert str(caught.value).startswith("playbooks/broken.yaml:7: $.trigger.severity.at_least:")
    unknown = next(p for p in caught.value.problems if p.path == "$.steps[0].deadlne")
    assert "unknown field 'deadlne'" in unknown.message
    assert unknown.to_dict()["line"] == 12


@pytest.mark.parametrize(("text", "line", "path", "message"), [
    ("id: x\nsteps: [\n  - a: b\n", 3, "$", "YAML syntax"),
    ("id: first-id\nid: second-id\n", 2, "$.id", "duplicate key"),
    ("", 1, "$", "empty"),
])
def test_yaml_level_problems(schemas: SchemaSet, text: str, line: int, path: str,
                             message: str) -> None:
    with pytest.raises(PlaybookError, match=message) as caught:
        parse_playbook_yaml(text, "p.yaml", schemas=schemas)
    problem = caught.value.problems[0]
    assert (problem.file, problem.line, problem.path) == ("p.yaml", line, path)


STEP_RULES = """\
  - id: notify-officer
    action: notify
    role: duty-officer
    on_success: notify-officer
  - id: wait-a-bit
    action: watch
    deadline: P0D
  - id: notify-officer
    action: notify
    role: duty-officer
    acks: all
  - id: done
    action: close
"""


def test_semantic_rules_name_lines(schemas: SchemaSet) -> None:
    with pytest.raises(PlaybookError) as caught:
        playbook(schemas, "  red_lines: any", STEP_RULES)
    by_path = {p.path: p for p in caught.value.problems}
    assert "not a later step" in by_path["$.steps[0].on_success"].message
    assert by_path["$.steps[0].on_success"].line == 12
    assert "positive" in by_path["$.steps[1].deadline"].message
    assert "duplicate step id" in by_path["$.steps[2].id"].message
    assert "no meaning" in by_path["$.steps[2].acks"].message
    assert by_path["$.steps[2].acks"].line == 19


def test_unreachable_step_and_versions(schemas: SchemaSet) -> None:
    steps = ("  - id: done\n    action: close\n"
             "  - id: orphan\n    action: notify\n    role: duty-officer\n")
    with pytest.raises(PlaybookError, match="can never run"):
        playbook(schemas, "  red_lines: any", steps)
    text = (REPO / "playbooks" / "hazard-watch.yaml").read_text().replace("version: 1",
                                                                          "version: 2")
    with pytest.raises(PlaybookError, match="modified"):
        parse_playbook_yaml(text, "hazard-watch.yaml", schemas=schemas)
    bumped = text.replace('created: "2026-11-01T00:00:00Z"',
                          'created: "2026-11-01T00:00:00Z"\nmodified: "2026-12-01T00:00:00Z"')
    assert parse_playbook_yaml(bumped, "hazard-watch.yaml", schemas=schemas).version == 2


def test_trigger_needs_a_condition(schemas: SchemaSet) -> None:
    with pytest.raises(PlaybookError, match="trigger"):
        playbook(schemas, "  scope: own")


# --- matching -------------------------------------------------------------------------------

@pytest.mark.parametrize(("trigger", "severity", "expected"), [
    ("  severity: {at_least: serious-incident}", "serious-incident", True),
    ("  severity: {at_least: serious-incident}", "disaster", True),
    ("  severity: {at_least: serious-incident}", "incident", False),
    ("  severity: {exactly: hazard}", "hazard", True),
    ("  severity: {exactly: hazard}", "serious-hazard", False),
])
def test_severity_at_least_and_exactly(schemas: SchemaSet, trigger: str, severity: str,
                                       expected: bool) -> None:
    pb = playbook(schemas, trigger)
    assert match(pb, incident(severity=severity), local_id="gb", is_local=True) is expected


def test_harm_types_red_lines_and_tripwires(schemas: SchemaSet) -> None:
    harm = playbook(schemas, "  harm_types: [environmental, physical]")
    assert match(harm, incident(harm_types=["physical"]), local_id="gb", is_local=True)
    assert not match(harm, incident(harm_types=["economic-property"]), local_id="gb",
                     is_local=True)
    any_red = playbook(schemas, "  red_lines: any")
    assert match(any_red, incident(red_lines=["deception"]), local_id="gb", is_local=True)
    assert not match(any_red, incident(red_lines=[]), local_id="gb", is_local=True)
    weapons = playbook(schemas, "  red_lines: [assisting-weapon-development]")
    assert not match(weapons, incident(red_lines=["deception"]), local_id="gb", is_local=True)
    trip = playbook(schemas, "  tripwire_ids: [bio-uplift-eval]")
    assert match(trip, incident(tripwire_ids=["bio-uplift-eval"]), local_id="gb", is_local=True)
    assert not match(trip, incident(tripwire_ids=["other"]), local_id="gb", is_local=True)
    any_trip = playbook(schemas, "  tripwire_ids: any")
    assert not match(any_trip, incident(), local_id="gb", is_local=True)


@pytest.mark.parametrize(("scope", "local_id", "is_local", "expected"), [
    ("own", "gb", True, True), ("own", "fr", False, False),
    ("peer", "fr", False, True), ("peer", "gb", True, False),
    ("any", "fr", False, True), ("any", "gb", True, True),
    ("affected", "fr", False, True),  # MINIMAL_REPORT affects fr
    ("affected", "jp", False, False),
])
def test_scopes(schemas: SchemaSet, scope: str, local_id: str, is_local: bool,
                expected: bool) -> None:
    pb = playbook(schemas, f"  scope: {scope}\n  severity: {{at_least: hazard}}")
    assert match(pb, incident(), local_id=local_id, is_local=is_local) is expected


def test_flags_classifications_and_any_of(schemas: SchemaSet) -> None:
    pb = playbook(schemas, "  any_of:\n    - classifications: {ATLAS: [AML.T0025]}\n"
                           "    - tripwire_ids: [weights]")
    assert match(pb, incident(classifications={"ATLAS": ["AML.T0025.001"]}), local_id="gb",
                 is_local=True)  # a sub-technique matches its technique
    assert match(pb, incident(tripwire_ids=["weights"]), local_id="gb", is_local=True)
    assert not match(pb, incident(classifications={"ATLAS": ["AML.T0024"]}), local_id="gb",
                     is_local=True)
    cross = playbook(schemas, "  severity: {at_least: hazard}\n  cross_border: true")
    assert match(cross, incident(affected_jurisdictions=["gb", "fr"]), local_id="gb",
                 is_local=True)
    assert not match(cross, incident(affected_jurisdictions=["gb"]), local_id="gb",
                     is_local=True)
    ci = playbook(schemas, "  severity: {at_least: hazard}\n  critical_infrastructure: true")
    # Art. 3(49)(b): a serious AND irreversible disruption; naming a sector is not enough.
    assert match(ci, incident(critical_infrastructure_sector="energy", irreversible=True),
                 local_id="gb", is_local=True)
    assert not match(ci, incident(critical_infrastructure_sector="energy"), local_id="gb",
                     is_local=True)
    assert not match(ci, incident(), local_id="gb", is_local=True)


def test_resolved_incidents_and_events(schemas: SchemaSet) -> None:
    pb = playbook(schemas, "  severity: {at_least: hazard}")
    assert not match(pb, incident(status="resolved"), local_id="gb", is_local=True)
    emergency = playbook(schemas, "  event: emergency")
    assert not match(emergency, incident(), local_id="gb", is_local=True)


def emergency_doc(state: str = "active") -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": "emergency", "origin": "gb", "issued_at": "2026-11-20T12:00:00Z",
        "id": "gb-0011223344556677.emergency-quorum", "incident_id": "gb-0123456789abcdef",
        "run_id": "gb-0011223344556677", "state": state, "threshold": {"k": 2, "n": 3},
        "members": ["fr", "gb", "jp"], "deployments": ["ExampleLM 2.1"]}
    if state == "active":
        doc.update(declarations=[{"origin": "gb"}, {"origin": "fr"}],
                   declared_at="2026-11-20T12:00:00Z")
    else:
        doc["deadline"] = "2026-11-21T12:00:00Z"
    return doc


@pytest.mark.parametrize(("doc", "expected"), [
    (incident(severity="serious-incident", affected_jurisdictions=["gb", "fr"]),
     {"serious-incident-cross-border"}),
    (incident(severity="incident", red_lines=["deception"], affected_jurisdictions=["gb"]),
     {"red-line-crossing", "incident-review"}),
    (incident(severity="serious-incident", critical_infrastructure_sector="energy",
              irreversible=True, affected_jurisdictions=["gb"]),
     {"critical-infrastructure-disruption", "serious-incident-domestic"}),
    (incident(severity="serious-incident", critical_infrastructure_sector="energy",
              affected_jurisdictions=["gb"]), {"serious-incident-domestic"}),
    (incident(severity="incident", classifications={"ATLAS": ["AML.T0025"],
                                                    "beacon": ["model-weights"]},
              affected_jurisdictions=["gb"]), {"model-weights-exfiltration", "incident-review"}),
    # AML.T0025 alone is any exfiltration over a cyber channel, not weight theft.
    (incident(severity="incident", classifications={"ATLAS": ["AML.T0025"]},
              affected_jurisdictions=["gb"]), {"incident-review"}),
    (incident(severity="incident", classifications={"ATLAS": ["AML.T0024.002"]},
              affected_jurisdictions=["gb"]), {"model-extraction", "incident-review"}),
    (incident(severity="incident", tripwire_ids=["autonomy-eval-3"],
              affected_jurisdictions=["gb"]), {"tripwire-crossing", "incident-review"}),
    (incident(severity="hazard"), {"hazard-watch"}),
    (incident(severity="serious-hazard", affected_jurisdictions=["gb"]),
     {"serious-hazard-near-miss"}),
    (incident(severity="disaster", affected_jurisdictions=["gb"]),
     {"disaster-response", "serious-incident-domestic"}),
    (emergency_doc(), {"federation-emergency"}),
    (emergency_doc("pending"), set()),
], ids=["cross-border", "red-line", "critical-infra", "sector-only", "exfiltration",
        "generic-exfiltration", "extraction", "tripwire", "hazard", "near-miss", "disaster",
        "emergency", "pending-emergency"])
def test_shipped_playbooks_match(shipped: dict[str, Playbook], schemas: SchemaSet,
                                 doc: dict[str, Any], expected: set[str]) -> None:
    schemas.validate(doc["type"], doc)
    found = matching_playbooks(shipped.values(), doc, local_id="gb", is_local=True)
    assert {p.id for p in found} == expected


def test_the_receiving_side_has_playbooks(shipped: dict[str, Playbook]) -> None:
    found = matching_playbooks(shipped.values(), incident("fr", severity="hazard"),
                               local_id="gb", is_local=False)
    assert [p.id for p in found] == ["hazard-watch"]
    peer = incident("fr", severity="serious-incident", affected_jurisdictions=["fr", "gb"])
    at_gb = matching_playbooks(shipped.values(), peer, local_id="gb", is_local=False)
    assert {p.id for p in at_gb} == {"peer-incident-intake", "affected-jurisdiction-response"}
    at_jp = matching_playbooks(shipped.values(), peer, local_id="jp", is_local=False)
    assert {p.id for p in at_jp} == {"peer-incident-intake"}  # jp is not affected


# --- durations -----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("P5D", timedelta(days=5)), ("PT24H", timedelta(hours=24)), ("P2W", timedelta(weeks=2)),
    ("P1DT12H30M", timedelta(days=1, hours=12, minutes=30)), ("24h", timedelta(hours=24)),
    ("90m", timedelta(minutes=90)), ("5d", timedelta(days=5)), ("30s", timedelta(seconds=30)),
])
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["P1M", "P1Y", "P", "PT", "P0D", "5 days", "-5d", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_iso_duration_round_trip() -> None:
    for text in ("P5D", "PT24H", "P1DT2H3M4S", "PT90S"):
        assert parse_duration(iso_duration(parse_duration(text))) == parse_duration(text)


# --- graphs and regulatory clocks ------------------------------------------------------------

BRANCHES = """\
  - id: fan-out
    action: parallel
    next_steps: [{first}, {second}]
    on_completion: {join}
  - id: ack
    action: acknowledge
    role: incident-responder
    deadline: PT4H{ack_extra}
  - id: review
    action: watch
    deadline: P7D
  - id: peers
    action: escalate
    tier: 1
    deadline: PT24H
  - id: done
    action: close
"""


@pytest.mark.parametrize(("fields", "message"), [
    ({"first": "peers", "second": "ack"}, "branches are written right after the parallel step"),
    ({"join": "peers"}, "must come after the last branch"),
    ({"ack_extra": "\n    on_success: peers"}, "leaves the branch of 'ack' elsewhere than at "
                                                 "its join 'done'"),
    ({"first": "ack", "second": "nope"}, "no step(s) nope"),
])
def test_branch_structure_is_checked(schemas: SchemaSet, fields: dict[str, str],
                                     message: str) -> None:
    values = {"first": "ack", "second": "peers", "join": "done", "ack_extra": ""} | fields
    with pytest.raises(PlaybookError) as caught:
        playbook(schemas, "  severity: {at_least: hazard}", BRANCHES.format(**values))
    assert message in str(caught.value.problems)


def test_a_valid_graph_has_lanes_and_joins(schemas: SchemaSet) -> None:
    pb = playbook(schemas, "  severity: {at_least: hazard}", BRANCHES.format(
        first="ack", second="peers", join="done", ack_extra=""))
    lanes = [None if b is None else pb.steps[b.root].id for b in pb.graph.lanes]
    assert lanes == [None, "ack", "ack", "peers", None]
    assert pb.success_target(1) == 2  # ack -> review, inside its branch
    assert pb.success_target(2) == 4 and pb.failure_target(3) == 4  # branch ends: the join


def test_when_is_not_for_parallel_steps(schemas: SchemaSet) -> None:
    steps = BRANCHES.format(first="ack", second="peers", join="done", ack_extra="").replace(
        "    on_completion: done", "    on_completion: done\n    when: {deaths: true}")
    with pytest.raises(PlaybookError, match="'when' has no meaning for a 'parallel' step"):
        playbook(schemas, "  severity: {at_least: hazard}", steps)


@pytest.mark.parametrize(("step", "message"), [
    ("clock: no-such-clock", "no regulatory clock 'no-such-clock'"),
    ("clock: ai-act-73-2\n    deadline: P3D", "the clock 'ai-act-73-2' sets the deadline"),
    ("clock: ai-act-73-11", "EU AI Act Art. 73(11) says 'immediately'"),
])
def test_regulatory_clocks_are_checked(schemas: SchemaSet, regimes: Regimes, step: str,
                                       message: str) -> None:
    steps = f"""\
  - id: filed
    action: report
    role: incident-responder
    {step}
  - id: done
    action: close
"""
    with pytest.raises(PlaybookError) as caught:
        playbook(schemas, "  severity: {at_least: hazard}", steps, regimes)
    assert message in str(caught.value.problems)
