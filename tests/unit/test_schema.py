"""JSON Schema validation of messages: what is valid, and where each problem is reported."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import jsonschema
import pytest

from federation.errors import Problem, SchemaError
from federation.messages import incident_from_report
from federation.schema import SchemaSet, json_path
from tests.unit.factories import (
    MINIMAL_REPORT,
    OMIT,
    incident_document,
    make_roster,
    minimal_report,
    roster_document,
)


def paths(schemas: SchemaSet, name: str, doc: Any) -> list[str]:
    return [p.path for p in schemas.problems(name, doc)]


def test_the_project_schemas_are_loaded(schemas: SchemaSet) -> None:
    assert {"common", "envelope", "incident", "roster"} <= set(schemas.names())


def test_the_minimal_report_as_a_message_is_valid(schemas: SchemaSet, now: datetime) -> None:
    doc = incident_from_report(MINIMAL_REPORT, origin="gb", now=now)
    assert schemas.problems("incident", doc) == []


@pytest.mark.parametrize(("change", "path"), [
    ({"title": OMIT}, "$.title"),
    ({"description": OMIT}, "$.description"),
    ({"submitter": OMIT}, "$.submitter"),
    ({"harm_types": ["boredom"]}, "$.harm_types[0]"),
    ({"harm_types": ["physical", "made-up"]}, "$.harm_types[1]"),
    ({"harm_types": []}, "$.harm_types"),
    ({"harm_types": ["physical", "physical"]}, "$.harm_types"),
    ({"tlp": "PINK"}, "$.tlp"),
    ({"tlp": "green"}, "$.tlp"),
    ({"red_lines": ["world-domination"]}, "$.red_lines[0]"),
    ({"severity": "catastrophic"}, "$.severity"),
    ({"title": "ab"}, "$.title"),
    ({"title": 7}, "$.title"),
    ({"status": "closed"}, "$.status"),
    ({"revision": 0}, "$.revision"),
    ({"id": "GB-123"}, "$.id"),
    ({"origin": "GB"}, "$.origin"),
    ({"issued_at": "2026-11-20T12:00:00+01:00"}, "$.issued_at"),
    ({"occurred_at": "20 November 2026"}, "$.occurred_at"),
    ({"affected_jurisdictions": ["FR"]}, "$.affected_jurisdictions[0]"),
    ({"countries": ["fra"]}, "$.countries[0]"),
    ({"ai_system": {"name": "ExampleLM"}}, "$.ai_system.role"),
    ({"ai_system": {"name": "", "role": "r"}}, "$.ai_system.name"),
    ({"submitter": {"contact": "x"}}, "$.submitter.organisation"),
    ({"supporting_materials": [{"url": "ftp://example.org/x", "description": "d"}]},
     "$.supporting_materials[0].url"),
    ({"supporting_materials": [{"url": "https://example.org/x"}]},
     "$.supporting_materials[0].description"),
    ({"harm_quantification": {"deaths": -1}}, "$.harm_quantification.deaths"),
    ({"classifications": {"CSETv1": "not a list"}}, "$.classifications.CSETv1"),
])
def test_a_bad_field_is_reported_at_its_path(schemas: SchemaSet, now: datetime,
                                             change: dict[str, Any], path: str) -> None:
    doc = incident_document("gb", now, **change)
    # A malformed time fails both its pattern and its date-time format: one path, two reasons.
    assert sorted(set(paths(schemas, "incident", doc))) == [path]
    with pytest.raises(SchemaError, match=f"^{re.escape(path)}: ") as info:
        schemas.validate("incident", doc)
    assert info.value.schema_id == "incident"


def test_a_missing_field_is_named_in_the_message(schemas: SchemaSet, now: datetime) -> None:
    [problem] = schemas.problems("incident", incident_document("gb", now, title=OMIT))
    assert problem == Problem("$.title", "'title' is a required property")


def test_every_problem_is_reported_sorted_by_path(schemas: SchemaSet, now: datetime) -> None:
    doc = incident_document("gb", now, tlp="PINK", title=OMIT, harm_types=["boredom"])
    assert paths(schemas, "incident", doc) == ["$.harm_types[0]", "$.title", "$.tlp"]
    with pytest.raises(SchemaError, match=r"^\$\.harm_types\[0\]: .* \(and 2 more\)$") as info:
        schemas.validate("incident", doc)
    assert len(info.value.problems) == 3


def test_a_field_required_twice_is_reported_once(schemas: SchemaSet, now: datetime) -> None:
    # "type" is required both by the shared message header and by the incident schema.
    assert paths(schemas, "incident", incident_document("gb", now, type=OMIT)) == ["$.type"]


def test_unknown_fields_are_allowed(schemas: SchemaSet, now: datetime) -> None:
    doc = incident_document("gb", now, future_field=1,
                            ai_system={**MINIMAL_REPORT["ai_system"], "future": True})
    assert schemas.problems("incident", doc) == []


def test_every_severity_and_tlp_is_valid(schemas: SchemaSet, now: datetime) -> None:
    for severity in ("hazard", "serious-hazard", "incident", "serious-incident", "disaster"):
        for tlp in ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"):
            doc = incident_document("gb", now, severity=severity, tlp=tlp)
            assert schemas.problems("incident", doc) == [], (severity, tlp)


def test_red_lines_from_the_idais_list_are_valid(schemas: SchemaSet, now: datetime) -> None:
    doc = incident_document("gb", now, red_lines=["deception", "power-seeking"])
    assert schemas.problems("incident", doc) == []


def test_a_report_is_not_a_message(schemas: SchemaSet) -> None:
    # The report as filed lacks the server fields the node adds.
    assert paths(schemas, "incident", minimal_report()) == [
        "$.id", "$.issued_at", "$.origin", "$.revision", "$.status", "$.type"]


def test_unknown_message_type(schemas: SchemaSet) -> None:
    assert schemas.problems("gossip", {}) == [
        Problem("$.type", "no schema for message type 'gossip'")]


@pytest.mark.parametrize("doc", [None, [], "incident", 1])
def test_a_document_that_is_not_an_object(schemas: SchemaSet, doc: Any) -> None:
    assert paths(schemas, "incident", doc) == ["$"]


# -- the other schemas agree with the factories ---------------------------------------------------
def test_a_factory_roster_is_valid(schemas: SchemaSet, now: datetime) -> None:
    assert schemas.problems("roster", roster_document(now=now)) == []


def test_roster_council_key_ids_must_be_unique(schemas: SchemaSet, now: datetime) -> None:
    doc = roster_document(now=now)
    doc["council"]["keyids"].append(doc["council"]["keyids"][0])
    assert paths(schemas, "roster", doc) == ["$.council.keyids"]


def test_a_factory_envelope_is_valid(schemas: SchemaSet, now: datetime) -> None:
    env, _, _ = make_roster(now=now)
    assert schemas.problems("envelope", env.to_dict()) == []


# -- json_path and custom sets --------------------------------------------------------------------
@pytest.mark.parametrize(("parts", "path"), [
    ([], "$"), (["title"], "$.title"), (["ai_system", "name"], "$.ai_system.name"),
    (["harm_types", 0], "$.harm_types[0]"), (["a", 1, "b", 2], "$.a[1].b[2]"),
])
def test_json_path(parts: list[str | int], path: str) -> None:
    assert json_path(parts) == path


def test_a_set_from_given_documents_resolves_relative_refs() -> None:
    base = {"$id": "https://x.example/s/base.v1.json", "$defs": {"n": {"type": "integer"}}}
    thing = {"$id": "https://x.example/s/thing.v1.json", "type": "object", "required": ["n"],
             "properties": {"n": {"$ref": "base.v1.json#/$defs/n"}}}
    s = SchemaSet([base, thing])
    assert s.names() == ["base", "thing"]
    assert s.problems("thing", {"n": 1}) == []
    assert s.problems("thing", {"n": "1"}) == [Problem("$.n", "'1' is not of type 'integer'")]
    assert s.problems("thing", {}) == [Problem("$.n", "'n' is a required property")]


def test_an_invalid_schema_is_refused_when_the_set_is_built() -> None:
    with pytest.raises(jsonschema.exceptions.SchemaError, match="is not valid under any"):
        SchemaSet([{"$id": "https://x.example/s/bad.v1.json", "type": "no-such-type"}])


@pytest.mark.parametrize("value", ["2026-01-01T23:59:60Z", "2026-02-30T00:00:00Z"])
def test_the_compiled_validator_refuses_what_python_jsonschema_refuses(
        schemas: SchemaSet, now: datetime, value: str) -> None:
    """The compiled validator decides alone when it accepts: its own date-time check took a
    leap second, which Python's datetime cannot hold, so it must use the same format checks."""
    [problem] = schemas.problems("incident", incident_document("gb", now, occurred_at=value))
    assert problem == Problem("$.occurred_at", f"{value!r} is not a 'date-time'")
