"""The STIX 2.1 mapping (``federation.stix``, ``federation.stix_import``, ``federation.taxii``).

Every exported object passes the OASIS ``stix2-validator`` in strict mode (recommendations are
errors); ids are deterministic; a Beacon report comes back field for field; TAXII paging and
filters follow TAXII 2.1 §3.4.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from stix2validator import ValidationOptions, validate_instance

from federation import stix, taxii
from federation.errors import SchemaError
from federation.messages import incident_from_report
from federation.stix_import import plan_import, severity_from_criticality
from tests.unit.conftest import NOW
from tests.unit.factories import minimal_report

STRICT = ValidationOptions(strict=True, version="2.1")
RICH = minimal_report(
    severity="disaster", status="contained", occurred_at="2026-11-20T09:00:00Z",
    aware_at="2026-11-21T10:00:00Z", countries=["GB", "FR"], red_lines=["deception"],
    affected_jurisdictions=["fr"], harm_types=["physical", "economic-property"],
    harm_quantification={"deaths": 1, "people_affected": 40, "economic_loss_usd": 1.5e6,
                         "notes": "estimate"},
    affected_stakeholders=["patients"], critical_infrastructure_sector="health",
    deployment_breadth="national", autonomy_level="autonomy2", actions_taken="recalled",
    tripwire_ids=["cyber-offense"], classifications={"CSETv1": ["AI harm"], "MIT": ["1.1"]},
    supporting_materials=[{"url": "https://example.org/a", "description": "press",
                           "sha256": "ab" * 32}, {"description": "a witness statement"}],
    source={"database": "AIID", "record_id": "42", "url": "https://incidentdatabase.ai/cite/42"},
    ai_system={"name": "ExampleLM", "version": "2", "developer": "Example AI",
               "deployer": "Example Health", "role": "gave the advice", "model_ref": "m-1"})


def signed_doc(report: dict[str, Any], revision: int = 1) -> dict[str, Any]:
    doc = incident_from_report(copy.deepcopy(report), origin="gb", now=NOW,
                               incident_id="gb-0123456789abcdef", revision=revision)
    return dict(doc)


def bundle_of(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "bundle", "id": "bundle--5d0d6f04-6a37-4d9e-9a4a-2f0d6b9b0c11",
            "objects": objects}


@pytest.mark.parametrize("tlp", ["CLEAR", "GREEN", "AMBER"])
def test_every_object_passes_the_strict_validator(tlp: str) -> None:
    objects = stix.report_objects(signed_doc(RICH | {"tlp": tlp}, revision=2), "GB")
    kinds = {o["type"] for o in objects}
    assert {"incident", "identity", "relationship", "marking-definition",
            "extension-definition"} <= kinds
    for obj in objects:
        result = validate_instance(obj, STRICT)
        assert result.is_valid, (obj["type"], [str(e) for e in result.errors])


def test_the_validator_can_fail() -> None:
    incident = stix.incident_object(signed_doc(RICH))
    del incident["created"]
    assert not validate_instance(incident, STRICT).is_valid


def test_ids_are_deterministic_and_revision_specific() -> None:
    one = stix.report_objects(signed_doc(RICH))
    assert one == stix.report_objects(signed_doc(RICH))
    two = stix.report_objects(signed_doc(RICH, revision=2))
    assert one[0]["id"] != two[0]["id"]
    link = [o for o in two if o.get("relationship_type") == "derived-from"]
    assert [(r["source_ref"], r["target_ref"]) for r in link] == [(two[0]["id"], one[0]["id"])]


def test_tlp_marking_is_the_official_one() -> None:
    incident = stix.incident_object(signed_doc(RICH | {"tlp": "AMBER"}))
    assert incident["object_marking_refs"] == [
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"]
    core = incident["extensions"][stix.INCIDENT_CORE_ID]
    assert (core["determination"], core["investigation_status"], core["criticality"]) == (
        "successful-attempt", "open", 95)


def test_the_registered_model_is_an_external_reference() -> None:
    refs = stix.incident_object(signed_doc(RICH))["external_references"]
    assert {"source_name": stix.MODEL_REGISTRY, "external_id": "m-1"} in [
        {k: r[k] for k in ("source_name", "external_id") if k in r} for r in refs]


def test_a_beacon_report_comes_back_field_for_field() -> None:
    doc = signed_doc(RICH, revision=3)
    batch = plan_import(stix.report_objects(doc), "http://127.0.0.1/c/")
    assert batch.unmapped == []
    [(key, report)] = batch.reports
    assert key == stix.incident_id(doc["id"], 1)
    assert report.pop("source") == RICH["source"] | {"stix_id": key}
    expected = {k: v for k, v in doc.items() if k not in stix.SERVER_ONLY and k != "source"}
    assert report == expected


def test_a_foreign_incident_maps_with_defaults_and_the_rest_is_named() -> None:
    foreign = {"type": "incident", "spec_version": "2.1",
               "id": "incident--2f0d6b9b-0c11-4d9e-9a4a-5d0d6f046a37",
               "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
               "name": "Model weights exfiltrated",
               "external_references": [{"source_name": stix.MODEL_REGISTRY,
                                        "external_id": "fr-model-7"}],
               "object_marking_refs": [stix.tlp_marking("GREEN")["id"]],
               "extensions": {stix.INCIDENT_CORE_ID: {
                   "extension_type": "property-extension", "determination": "suspected",
                   "investigation_status": "closed", "criticality": 62}}}
    indicator = {"type": "indicator", "id": "indicator--00000000-0000-4000-8000-000000000001"}
    nameless = foreign | {"id": "incident--00000000-0000-4000-8000-000000000002", "name": ""}
    batch = plan_import([foreign, indicator, nameless], "http://127.0.0.1/c/")
    [(key, report)] = batch.reports
    assert key == foreign["id"]
    assert (report["severity"], report["status"], report["tlp"]) == (
        "incident", "resolved", "GREEN")
    assert report["ai_system"]["model_ref"] == "fr-model-7" and "source" in report
    assert report["source"]["database"] == "STIX"
    assert [u.split(":")[0] for u in batch.unmapped] == [indicator["id"], nameless["id"]]
    assert severity_from_criticality(95) == "disaster"
    assert severity_from_criticality(None) == "incident"


def _entries(n: int) -> list[taxii.Entry]:
    revisions = [(signed_doc(minimal_report(title=f"Report number {i}")) |
                  {"id": f"gb-{i:016x}"}, f"2026-11-29T10:00:{i:02d}.000000Z")
                 for i in range(n)]
    return taxii.collect(revisions)


def test_paging_walks_every_entry_once() -> None:
    entries = _entries(7)
    seen, token, pages = [], None, 0
    while pages < 50:
        page = taxii.select(entries, taxii.parse_query({"limit": "4"} | (
            {"next": token} if token else {})))
        seen += [e.key for e in page.entries]
        pages += 1
        if not page.more:
            break
        token = page.next
    assert seen == [e.key for e in entries] and len(set(seen)) == len(entries)
    assert pages == -(-len(entries) // 4)


def test_filters() -> None:
    entries = _entries(3)
    incidents = taxii.select(entries, taxii.parse_query({"match[type]": "incident"})).entries
    assert len(incidents) == 3 and {e.obj["type"] for e in incidents} == {"incident"}
    later = taxii.select(entries, taxii.parse_query(
        {"added_after": "2026-11-29T10:00:01.000Z", "match[type]": "incident"})).entries
    assert len(later) == 1
    one = taxii.select(entries, taxii.parse_query({"match[id]": incidents[0].id})).entries
    assert [e.id for e in one] == [incidents[0].id]
    assert taxii.select(entries, taxii.parse_query({"match[spec_version]": "2.0"})).entries == []
    with pytest.raises(SchemaError, match="limit"):
        taxii.parse_query({"limit": "0"})
    with pytest.raises(SchemaError, match="next"):
        taxii.parse_query({"next": "bm9wZQ"})


def test_amber_only_for_operational_roles() -> None:
    assert taxii.visible_labels("viewer") == ("CLEAR", "GREEN")
    assert taxii.visible_labels("responder") == ("CLEAR", "GREEN", "AMBER")
    assert not {"AMBER+STRICT", "RED"} & set(taxii.visible_labels("operator"))
