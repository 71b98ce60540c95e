"""federation.model_registry: the model message, its id, and matching a report to it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from federation.errors import SchemaError
from federation.model_registry import Registration, enrich_report, model_body, model_id

NOW = datetime(2026, 11, 1, tzinfo=UTC)
BODY = {"developer": "Example AI", "model": "ExampleLM", "version": "3.0",
        "deployment_jurisdictions": ["fr", "jp"], "training_compute_flop": 3e25,
        "safety_case": {"reference": "https://example.org/sc", "status": "submitted"}}


def registration(origin: str = "gb", **changes: Any) -> Registration:
    return Registration.from_dict(model_body(BODY | changes, origin=origin, now=NOW, revision=1))


def system(**changes: str) -> dict[str, Any]:
    return {"name": "ExampleLM", "version": "3.0", "developer": "Example AI",
            "role": "it answered"} | changes


def test_the_body_keeps_every_client_field_and_the_node_sets_the_header() -> None:
    doc = model_body(BODY, origin="gb", now=NOW, revision=2)
    assert {k: doc[k] for k in BODY} == BODY
    assert (doc["type"], doc["origin"], doc["revision"]) == ("model", "gb", 2)
    assert doc["issued_at"] == "2026-11-01T00:00:00Z"


def test_a_new_version_is_the_same_registration_and_another_origin_a_different_one() -> None:
    assert registration(version="4.0").id == registration().id
    assert model_id("gb", " example  AI", "EXAMPLELM") == registration().id
    assert registration("fr").id != registration().id
    assert registration(model="OtherLM").id != registration().id


@pytest.mark.parametrize(("changes", "path"), [
    ({"training_compute_flop": -1}, "$.training_compute_flop"),
    ({"developer": " "}, "$.developer"),
    ({"version": 3}, "$.version"),
    ({"id": "gb-model-0000000000000000"}, "$.id"),
])
def test_bad_input_names_the_field(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(SchemaError) as e:
        model_body(BODY | changes, origin="gb", now=NOW, revision=1)
    assert path in [p.path for p in e.value.problems]


def test_a_report_naming_the_model_is_linked_and_affects_its_jurisdictions() -> None:
    doc = {"origin": "gb", "affected_jurisdictions": ["de", "fr"],
           "ai_system": system(developer="example ai", name="examplelm ")}
    out = enrich_report(doc, [registration()], members=["gb", "fr", "de"])
    assert out["affected_jurisdictions"] == ["de", "fr"]  # jp is no member here
    assert out["ai_system"]["model_ref"] == registration().id
    assert enrich_report(doc, [registration()])["affected_jurisdictions"] == ["de", "fr", "jp"]


@pytest.mark.parametrize("changes", [{"version": "2.0"}, {"developer": "Other AI"},
                                     {"name": "ExampleLM-mini"}])
def test_a_report_naming_another_model_is_unchanged(changes: dict[str, str]) -> None:
    doc = {"origin": "gb", "ai_system": system(**changes)}
    assert enrich_report(doc, [registration()]) == doc


def test_the_reporters_own_registration_is_preferred_and_a_given_ref_kept() -> None:
    theirs, mine = registration("fr"), registration("gb", deployment_jurisdictions=["de"])
    out = enrich_report({"origin": "gb", "ai_system": system()}, [theirs, mine])
    assert out["ai_system"]["model_ref"] == mine.id
    assert out["affected_jurisdictions"] == ["de", "fr", "jp"]
    kept = enrich_report({"origin": "gb", "ai_system": system(model_ref="x")}, [mine])
    assert kept["ai_system"]["model_ref"] == "x"
