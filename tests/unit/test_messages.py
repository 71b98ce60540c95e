"""Incident messages: from a filed report to the signed document, and the model over it."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from federation.messages import SERVER_FIELDS, Incident, incident_from_report, new_incident_id
from federation.schema import SchemaSet
from federation.severity import Severity
from tests.unit.factories import MINIMAL_REPORT, OMIT, incident_document, minimal_report

ID_PATTERN = re.compile(r"^gb-[0-9a-f]{16}$")


def test_the_minimal_report_becomes_a_valid_incident(schemas: SchemaSet, now: datetime) -> None:
    doc = incident_from_report(minimal_report(), origin="gb", now=now)
    assert schemas.problems("incident", doc) == []
    schemas.validate("incident", doc)


def test_the_node_sets_the_server_fields(now: datetime) -> None:
    doc = incident_from_report(minimal_report(), origin="gb", now=now)
    assert doc["type"] == "incident"
    assert doc["origin"] == "gb"
    assert doc["issued_at"] == "2026-11-20T12:00:00.000Z"  # milliseconds: acts differ
    assert ID_PATTERN.match(doc["id"])
    assert doc["revision"] == 1
    assert doc["status"] == "open"
    assert {k: v for k, v in doc.items() if k not in (*SERVER_FIELDS, "status")} == MINIMAL_REPORT


def test_server_fields_sent_by_a_client_are_replaced(now: datetime) -> None:
    forged = minimal_report(type="checkpoint", origin="fr", issued_at="2020-01-01T00:00:00Z",
                            id="fr-ffffffffffffffff", revision=9)
    doc = incident_from_report(forged, origin="gb", now=now, incident_id="gb-0011223344556677")
    assert (doc["type"], doc["origin"], doc["issued_at"], doc["id"], doc["revision"]) == \
        ("incident", "gb", "2026-11-20T12:00:00.000Z", "gb-0011223344556677", 1)


def test_a_revision_keeps_the_id_and_the_client_status(now: datetime) -> None:
    doc = incident_from_report(minimal_report(status="contained"), origin="gb", now=now,
                               incident_id="gb-0011223344556677", revision=2)
    assert (doc["id"], doc["revision"], doc["status"]) == ("gb-0011223344556677", 2, "contained")


def test_optional_lists_default_to_empty(now: datetime) -> None:
    report = minimal_report(red_lines=OMIT, affected_jurisdictions=OMIT)
    doc = incident_from_report(report, origin="gb", now=now)
    assert doc["red_lines"] == []
    assert doc["affected_jurisdictions"] == []


def test_the_report_is_not_modified(now: datetime) -> None:
    report = minimal_report(origin="fr")
    before = copy.deepcopy(report)
    incident_from_report(report, origin="gb", now=now)
    assert report == before


def test_issued_at_is_written_in_utc(now: datetime) -> None:
    tokyo = now.astimezone(timezone(timedelta(hours=9)))
    assert incident_from_report(minimal_report(), origin="gb", now=tokyo)["issued_at"] == \
        "2026-11-20T12:00:00.000Z"


def test_a_naive_time_is_refused(now: datetime) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        incident_from_report(minimal_report(), origin="gb", now=now.replace(tzinfo=None))


def test_new_incident_id_uses_the_token_given() -> None:
    assert new_incident_id("gb", bytes(range(8))) == "gb-0001020304050607"


def test_new_incident_ids_are_random_and_match_the_schema(schemas: SchemaSet) -> None:
    ids = {new_incident_id("gb") for _ in range(50)}
    assert len(ids) == 50
    assert all(ID_PATTERN.match(i) for i in ids)
    pattern = schemas.document("incident")["properties"]["id"]["pattern"]
    assert all(re.match(pattern, i) for i in ids)


# -- the Incident model ---------------------------------------------------------------------------
def test_incident_reads_the_typed_fields(now: datetime) -> None:
    incident = Incident.from_dict(incident_document("gb", now))
    assert incident.id == "gb-0123456789abcdef"
    assert incident.revision == 1
    assert incident.origin == "gb"
    assert incident.issued_at == now
    assert incident.status == "open"
    assert incident.severity is Severity.SERIOUS_INCIDENT
    assert incident.tlp == "GREEN"
    assert incident.title == "Chatbot gave dangerous medical advice"
    assert incident.harm_types == ("physical",)
    assert incident.red_lines == ()
    assert incident.affected_jurisdictions == ("fr",)
    assert incident.occurred_at == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_incident_without_occurred_at(now: datetime) -> None:
    assert Incident.from_dict(incident_document("gb", now, occurred_at=OMIT)).occurred_at is None


def test_unknown_fields_survive_a_round_trip(now: datetime) -> None:
    doc = incident_document("gb", now, future_field={"nested": [1, 2]},
                            ai_system={**MINIMAL_REPORT["ai_system"], "weights_hash": "abc"})
    again = Incident.from_dict(doc).to_dict()
    assert again == doc
    assert again["future_field"] == {"nested": [1, 2]}
    assert again["ai_system"]["weights_hash"] == "abc"


def test_to_dict_returns_a_copy(now: datetime) -> None:
    incident = Incident.from_dict(incident_document("gb", now))
    incident.to_dict()["title"] = "changed"
    assert incident.to_dict()["title"] == "Chatbot gave dangerous medical advice"


def test_unknown_severity_is_refused(now: datetime) -> None:
    with pytest.raises(ValueError, match="'catastrophic' is not a valid Severity"):
        Incident.from_dict(incident_document("gb", now, severity="catastrophic"))
