"""The AIID mapping, on hand-picked real rows and on the whole snapshot in ../shared/data/aiid."""

from __future__ import annotations

import csv
import functools
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from federation.aiid import (
    AiidRecord,
    assign_origin,
    check_classification_row,
    check_incident_row,
    import_key,
    map_countries,
    map_harm_types,
    map_severity,
    record_key,
    to_report,
)
from federation.messages import SERVER_FIELDS, incident_from_report
from federation.schema import SchemaSet
from federation.severity import Severity
from tests.unit.conftest import NOW

AIID = Path(__file__).resolve().parents[3] / "shared" / "data" / "aiid"
MEMBERS = ("gb", "fr", "jp")


def _read(name: str) -> list[dict[str, str]]:
    with (AIID / name).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@functools.cache
def corpus() -> dict[int, AiidRecord]:
    classified: dict[str, dict[str, dict[str, str]]] = {}
    for ns in ("CSETv1", "CSETv0", "MIT", "GMF"):
        for row in _read(f"classifications_{ns}.csv"):
            classified.setdefault(row["Incident ID"], {})[ns] = row
    return {int(r["incident_id"]): AiidRecord(r, classified.get(r["incident_id"]))
            for r in _read("incidents.csv")}


def real(incident_id: int) -> AiidRecord:
    return corpus()[incident_id]


def synthetic(incident_id: int = 7, **classifications: dict[str, str]) -> AiidRecord:
    row = {"incident_id": str(incident_id), "date": "2024-02-29", "title": "A test incident",
           "description": "Something happened.", "reports": "[1, 2]",
           "Alleged deployer of AI system": '["acme-deployer"]',
           "Alleged developer of AI system": '["acme"]',
           "Alleged harmed or nearly harmed parties": '["residents"]'}
    return AiidRecord(row, {ns: {"Published": "True", **c} for ns, c in classifications.items()})


def as_incident(report: dict[str, Any], origin: str = "gb") -> dict[str, Any]:
    return incident_from_report(report, origin=origin, now=NOW)


# -- the whole snapshot ----------------------------------------------------------------------
def test_the_snapshot_is_where_the_design_says() -> None:
    assert len(corpus()) == 1367


def test_every_incident_of_the_snapshot_maps_to_a_valid_report(schemas: SchemaSet) -> None:
    known = set(schemas.document("incident")["properties"]) - set(SERVER_FIELDS)
    for iid, record in corpus().items():
        assert check_incident_row(record.incident) == [], iid
        report = to_report(record, (*MEMBERS, "us", "int"))
        assert not set(report) & set(SERVER_FIELDS), iid
        assert set(report) <= known, (iid, set(report) - known)
        assert schemas.problems("incident", as_incident(report)) == [], iid
        assert import_key(report) == record_key(iid) == f"AIID:{iid}"


def test_the_snapshots_severities_are_what_the_docs_say() -> None:
    counts = Counter(map_severity(r)[0].value for r in corpus().values())
    assert counts == {"incident": 1277, "hazard": 46, "serious-incident": 44}
    assert sum(map_severity(r)[1] == "default" for r in corpus().values()) == 1169


def test_the_snapshots_provenance_is_what_the_docs_say() -> None:
    reports = [to_report(r) for r in corpus().values()]
    basis = Counter((f, b) for rep in reports for f, b in rep["provenance"].items())
    assert basis[("severity", "defaulted")] == 1169
    assert basis[("severity", "derived")] == 1367 - 1169
    assert basis[("harm_types", "defaulted")] == 360
    assert basis[("occurred_at", "observed")] == 1367
    assert (basis[("countries", "observed")], basis[("countries", "derived")]) == (144, 279)
    assert sum("countries" not in rep for rep in reports) == 944   # unknown stays unknown


def test_mapping_and_filing_are_deterministic() -> None:
    first = [(to_report(r, MEMBERS), assign_origin(r, MEMBERS, "gb")) for r in corpus().values()]
    again = [(to_report(r, MEMBERS), assign_origin(r, MEMBERS, "gb")) for r in corpus().values()]
    assert first == again
    # Only an observed member country moves an incident away from the default node.
    moved = [(rep, node) for rep, node in first if node != "gb"]
    assert moved and all(rep["provenance"]["countries"] == "observed"
                         and rep["countries"][0].lower() == node for rep, node in moved)


# -- hand-picked real rows -------------------------------------------------------------------
def test_uber_av_fatality_is_a_serious_physical_incident_in_the_us() -> None:
    report = to_report(real(4), MEMBERS)
    assert report["title"] == "Uber AV Killed Pedestrian in Arizona"
    assert report["occurred_at"] == "2018-03-18T00:00:00Z"
    assert (report["severity"], report["harm_types"]) == ("serious-incident", ["physical"])
    assert report["countries"] == ["US"]
    assert "affected_jurisdictions" not in report   # the US is not a member here
    assert report["harm_quantification"] == {"deaths": 1, "injuries": 0}
    assert report["ai_system"]["developer"] == "uber"
    assert report["ai_system"]["name"] == "uber AI system"
    assert report["tlp"] == "CLEAR" and report["red_lines"] == []
    assert report["source"] == {"database": "AIID", "record_id": "4",
                                "url": "https://incidentdatabase.ai/cite/4"}
    assert report["supporting_materials"][0]["url"] == "https://incidentdatabase.ai/cite/4"
    assert report["submitter"] == {
        "organisation": "AI Incident Database (Responsible AI Collaborative)"}
    assert report["classifications"]["Beacon.import"] == [
        "severity: CSETv1 Lives Lost", "harm_types: CSETv1"]
    assert "AI Harm Level: AI tangible harm event" in report["classifications"]["CSETv1"]


def test_deaths_count_even_when_cset_finds_no_ai_harm() -> None:
    # Volkswagen factory robot: CSETv1 "AI Harm Level: none", one life lost.
    severity, why = map_severity(real(24))
    assert (severity, why) == (Severity.SERIOUS_INCIDENT, "CSETv1 Lives Lost")
    assert to_report(real(24))["countries"] == ["DE"]


def test_the_737_max_crash_is_serious_but_never_a_disaster() -> None:
    report = to_report(real(3))
    assert report["severity"] == "serious-incident"  # CSETv0 "Critical", 189 lives lost
    assert report["countries"] == ["ID"]


def test_youtube_kids_intangible_harm_is_an_incident() -> None:
    report = to_report(real(1), ("us",))
    assert report["severity"] == "incident"
    assert report["harm_types"] == ["psychological"]     # CSETv0 and MIT 1.2 agree
    assert report["affected_jurisdictions"] == ["us"]
    assert "Known AI Goal: Content Recommendation" in report["classifications"]["GMF"]


def test_a_near_miss_of_minor_harm_is_a_hazard() -> None:
    # AIID #519: a delivery robot struggling with campus terrain. CSET says near-miss, but the
    # harm avoided was not serious, so it is no *serious* hazard (OECD).
    assert map_severity(real(519)) == (Severity.HAZARD, "CSETv1 AI Harm Level near-miss")
    critical = synthetic(CSETv1={"AI Harm Level": "AI tangible harm near-miss",
                                 "Impact on Critical Services": "yes"})
    assert map_severity(critical)[0] == Severity.SERIOUS_HAZARD


def test_injuries_at_scale_are_a_serious_incident() -> None:
    # AIID #125: 55,000 injuries at Amazon fulfilment centres; #2: 54 workers hurt by bear spray.
    assert map_severity(real(125)) == (Severity.SERIOUS_INCIDENT, "CSETv1 Injuries at scale")
    assert map_severity(real(2)) == (Severity.SERIOUS_INCIDENT, "CSETv1 Injuries at scale")
    assert map_severity(synthetic(CSETv1={"Injuries": "9"}))[0] == Severity.INCIDENT
    assert map_severity(synthetic(CSETv1={"Injuries": "10"}))[0] == Severity.SERIOUS_INCIDENT


def test_a_rights_violation_is_a_serious_incident() -> None:
    # AIID #94: a court ruled Deliveroo's rider-ranking algorithm discriminatory (Art. 3(49)(c)).
    assert map_severity(real(94)) == (Severity.SERIOUS_INCIDENT, "CSETv1 Rights Violation")
    report = to_report(real(94))
    assert report["provenance"]["severity"] == "derived"
    assert report["countries"] == ["IT"] and report["provenance"]["countries"] == "observed"
    civil = synthetic(CSETv0={"Harm Type": "Harm to civil liberties", "Near Miss": "Harm caused",
                              "Severity": "Minor"})
    assert map_severity(civil) == (Severity.SERIOUS_INCIDENT, "CSETv0 Harm to civil liberties")


def test_a_report_that_describes_no_harm_is_a_hazard() -> None:
    record = synthetic(CSETv1={"AI Harm Level": "none",
                               "Tangible Harm": "no tangible harm, near-miss, or issue"})
    assert map_severity(record) == (Severity.HAZARD, "CSETv1 AI Harm Level")


def test_a_country_named_in_the_text_is_derived_never_observed() -> None:
    # AIID #1336: India's BJP deepfakes; no classification says where, the title does.
    record = real(1336)
    assert record.classification("CSETv1") is None
    report = to_report(record, ("gb", "fr", "jp", "int"))
    assert report["countries"] == ["IN"] and report["provenance"]["countries"] == "derived"
    assert assign_origin(record, ["in", "int"], "int") == "int"   # derived: never moves it


def test_an_unclassified_incident_gets_honest_defaults() -> None:
    record = real(1377)
    assert record.classifications is None
    report = to_report(record)
    assert (report["severity"], report["harm_types"]) == ("incident", ["public-interest"])
    assert report["classifications"] == {
        "Beacon.import": ["severity: default", "harm_types: default"]}


# -- severity table --------------------------------------------------------------------------
@pytest.mark.parametrize(("classes", "expected"), [
    ({}, "incident"),
    ({"CSETv1": {"AI Harm Level": "AI tangible harm event"}}, "incident"),
    ({"CSETv1": {"AI Harm Level": "AI tangible harm near-miss"}}, "hazard"),
    ({"CSETv1": {"AI Harm Level": "AI tangible harm issue"}}, "hazard"),
    ({"CSETv1": {"AI Harm Level": "none"}}, "hazard"),
    ({"CSETv1": {"AI Harm Level": "none", "Special Interest Intangible Harm": "yes"}},
     "incident"),
    ({"CSETv1": {"AI Harm Level": "unclear"}}, "incident"),             # no evidence: default
    ({"CSETv1": {"AI Harm Level": "none", "Injuries": "3"}}, "incident"),
    ({"CSETv1": {"AI Harm Level": "unclear", "Lives Lost": "2"}}, "serious-incident"),
    ({"CSETv0": {"Severity": "Negligible", "Near Miss": "Harm caused"}}, "incident"),
    ({"CSETv0": {"Severity": "Severe", "Near Miss": "Harm caused"}}, "serious-incident"),
    ({"CSETv0": {"Severity": "Critical"}}, "serious-incident"),
    ({"CSETv0": {"Severity": "Critical", "Near Miss": "Near miss"}}, "serious-hazard"),
    ({"CSETv0": {"Severity": "Minor", "Near Miss": "Near miss"}}, "hazard"),
    ({"CSETv0": {"Severity": "Unclear/unknown", "Lives Lost": "True"}}, "serious-incident"),
    # The highest supported level wins.
    ({"CSETv1": {"AI Harm Level": "none"}, "CSETv0": {"Severity": "Minor"}}, "incident"),
    ({"CSETv1": {"AI Harm Level": "AI tangible harm issue"},
      "CSETv0": {"Severity": "Severe"}}, "serious-incident"),
])
def test_severity_table(classes: dict[str, dict[str, str]], expected: str) -> None:
    assert map_severity(synthetic(**classes))[0].value == expected


def test_unpublished_classifications_are_not_used() -> None:
    record = synthetic(CSETv1={"AI Harm Level": "none"})
    draft = AiidRecord(record.incident,
                       {"CSETv1": {"AI Harm Level": "none", "Published": "False"}})
    assert map_severity(record) == (Severity.HAZARD, "CSETv1 AI Harm Level")
    assert map_severity(draft) == (Severity.INCIDENT, "default")


# -- harm types ------------------------------------------------------------------------------
@pytest.mark.parametrize(("classes", "expected"), [
    ({}, ["public-interest"]),
    ({"MIT": {"Risk Subdomain": "4.3. Fraud, scams, and targeted manipulation"}},
     ["economic-property"]),
    ({"MIT": {"Risk Subdomain": "1.1. Unfair discrimination and misrepresentation"}},
     ["human-rights"]),
    ({"MIT": {"Risk Subdomain": "6.6. Environmental harm"}}, ["environmental"]),
    ({"MIT": {"Risk Subdomain": "7.3. Lack of capability or robustness"}}, ["public-interest"]),
    ({"CSETv0": {"Harm Type": "Harm to physical health/safety, Financial harm"}},
     ["physical", "economic-property"]),
    ({"CSETv0": {"Harm Type": "Harm to civil liberties, Other:Reputational harm; "
                              "False incarceration"}}, ["reputational", "human-rights"]),
    ({"CSETv0": {"Harm Type": "Other:Privacy"}}, ["human-rights"]),
    ({"CSETv1": {"Injuries": "1", "Protected Characteristic": "yes",
                 "Impact on Critical Services": "yes"}},
     ["physical", "public-interest", "human-rights"]),
    ({"CSETv1": {"Lives Lost": "0", "Injuries": "0"},
      "MIT": {"Risk Subdomain": "1.2. Exposure to toxic content"}}, ["psychological"]),
])
def test_harm_type_table(classes: dict[str, dict[str, str]], expected: list[str]) -> None:
    assert map_harm_types(synthetic(**classes))[0] == expected


def test_harm_type_sources_are_recorded() -> None:
    record = synthetic(CSETv0={"Harm Type": "Psychological harm"},
                       MIT={"Risk Subdomain": "1.2. Exposure to toxic content"})
    assert map_harm_types(record) == (["psychological"], "CSETv0+MIT")
    assert to_report(record)["classifications"]["Beacon.import"][1] == "harm_types: CSETv0+MIT"


# -- countries and spreading -----------------------------------------------------------------
@pytest.mark.parametrize(("classes", "expected"), [
    ({"CSETv1": {"Location Country (two letters)": "GB"}}, ["GB"]),
    ({"CSETv1": {"Location Country (two letters)": "United States"}}, ["US"]),
    ({"CSETv1": {"Location Country (two letters)": " "}}, []),
    ({"CSETv1": {"Location Country (two letters)": "XX"}}, []),
    ({"CSETv0": {"Location": "UK/USA"}}, ["GB", "US"]),
    ({"CSETv0": {"Location": "Palo Alto, CA"}}, []),       # California, not Canada
    ({"CSETv0": {"Location": "Hamburg, Germany"}}, ["DE"]),
    ({"CSETv1": {"Location Country (two letters)": "FR"},
      "CSETv0": {"Location": "Italy"}}, ["FR"]),              # CSETv1 first
])
def test_countries(classes: dict[str, dict[str, str]], expected: list[str]) -> None:
    assert map_countries(synthetic(**classes)) == expected


def test_an_incident_goes_to_the_member_of_its_observed_country() -> None:
    for country, node in (("GB", "gb"), ("FR", "fr"), ("JP", "jp"), ("US", "us")):
        record = synthetic(30, CSETv1={"Location Country (two letters)": country})
        assert assign_origin(record, ["gb", "fr", "jp", "us"], "gb") == node


def test_real_british_and_japanese_incidents_go_home() -> None:
    assert assign_origin(real(28), MEMBERS, "gb") == "gb"
    assert assign_origin(real(152), MEMBERS, "gb") == "jp"
    assert assign_origin(real(75), MEMBERS, "gb") == "fr"


def test_unplaced_incidents_go_to_the_default_never_round_robin() -> None:
    us = {"CSETv1": {"Location Country (two letters)": "US"}}
    assert {assign_origin(synthetic(i, **us), MEMBERS, "jp") for i in range(1, 7)} == {"jp"}
    with pytest.raises(ValueError, match="not one of"):
        assign_origin(synthetic(5), MEMBERS, "int")


def test_affected_jurisdictions_are_only_members() -> None:
    record = synthetic(CSETv0={"Location": "UK/USA"})
    assert to_report(record, ("gb", "fr"))["affected_jurisdictions"] == ["gb"]
    assert "affected_jurisdictions" not in to_report(record, ("fr",))


# -- rows, fallbacks, keys -------------------------------------------------------------------
def test_an_empty_description_falls_back_to_the_title(schemas: SchemaSet) -> None:
    record = synthetic()
    row = {**record.incident, "description": "  "}
    report = to_report(AiidRecord(row))
    assert report["description"].startswith("A test incident. (The AI Incident Database has no")
    schemas.validate("incident", as_incident(report))


def test_unknown_developers_make_an_unidentified_system() -> None:
    row = {**synthetic().incident,
           "Alleged developer of AI system": '["unknown-deepfake-technology-developers"]',
           "Alleged deployer of AI system": "[]"}
    system = to_report(AiidRecord(row))["ai_system"]
    assert system["name"] == "Unidentified AI system"
    assert system["developer"] == "unknown-deepfake-technology-developers"
    assert "deployer" not in system
    assert "deployed by an unknown party" in system["role"]


@pytest.mark.parametrize(("change", "message"), [
    ({"date": "xx"}, "date 'xx' is not a date (YYYY-MM-DD)"),
    ({"date": "2024-02-30"}, "date '2024-02-30' is not a date"),
    ({"incident_id": "0"}, "incident_id '0' is not a positive whole number"),
    ({"incident_id": "abc"}, "incident_id 'abc' is not a positive whole number"),
    ({"title": "x"}, "title 'x' is too short"),
    ({"Alleged developer of AI system": "[\"a\""}, "Alleged developer of AI system '[\"a\"' "
                                                   "is not a JSON array of strings"),
    ({"Alleged deployer of AI system": "[1]"}, "is not a JSON array of strings"),
    ({"date": None}, "date is missing"),
])
def test_incident_row_checks(change: dict[str, Any], message: str) -> None:
    problems = check_incident_row({**synthetic().incident, **change})
    assert len(problems) == 1 and message in problems[0]


def test_classification_row_checks() -> None:
    assert check_classification_row("CSETv1", {"Incident ID": "4", "Lives Lost": "1"}) == []
    assert check_classification_row("CSETv1", {"Incident ID": "4", "Lives Lost": "many"}) == [
        "Lives Lost 'many' is not a whole number"]
    assert check_classification_row("MIT", {"Incident ID": "x"}) == [
        "Incident ID 'x' is not a positive whole number"]


def test_import_key_needs_a_source() -> None:
    assert import_key({"title": "filed by hand"}) is None
    assert import_key({"source": {"database": "AIID", "record_id": "12"}}) == "AIID:12"
