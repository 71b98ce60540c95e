"""Incident reports as STIX 2.1 objects and back (``docs/stix-mapping.md``; DESIGN §9).

    objects = report_objects(doc, jurisdiction="GB")   # one signed revision -> STIX objects
    report, problems = report_from_stix(incident, by_id)  # a STIX incident -> a report to file

Ids are UUIDv5 under ``BEACON_NAMESPACE``: revision N of report R is always
``incident--uuid5(ns, "incident/R/N")``, so the same report maps to the same objects on every
node and every run, and a consumer sees each signed revision as its own object, linked to the
one before by a ``derived-from`` relationship. Fields STIX has a place for go there (name,
description, Incident Core's determination, investigation status and criticality, external
references, identities); the rest travels in Beacon's own property extension so that a Beacon
node importing its own export loses nothing it can check. Pure: no I/O, no clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from federation.severity import Severity
from federation.tlp import STIX_MARKING_IDS, TLP_EXTENSION_ID

BEACON_NAMESPACE = uuid.UUID("6d1f3c2e-8b7a-5c4d-9e0f-1a2b3c4d5e6f")
INCIDENT_CORE_ID = "extension-definition--ef765651-680c-498d-9894-99799f2fa126"
# Objects that do not come from a signed report (markings, identities, the extension
# definition) carry fixed timestamps, so that every export produces the same bytes for them.
TLP_CREATED = "2022-10-01T00:00:00.000Z"
BEACON_EPOCH = "2024-01-01T00:00:00.000Z"
SPEC = "2.1"

# Incident Core Appendix A ("5 qualitative": Low 15, Moderate 40, High 70, Extreme 95); two
# Beacon levels share "High", told apart by a value inside its range 50-89.
CRITICALITY: Mapping[str, int] = {"hazard": 15, "serious-hazard": 40, "incident": 60,
                                  "serious-incident": 80, "disaster": 95}
STATUS_TO_INVESTIGATION = {"open": "open", "contained": "open", "resolved": "closed"}
# Fields carried by the standard properties; everything else of the report goes in the
# Beacon extension.
STANDARD_FIELDS = ("title", "description", "supporting_materials", "source")
SERVER_ONLY = ("type", "origin", "issued_at", "id", "revision")
TLP1_MARKINGS = {  # STIX 2.1 §7.2.1.4, for imports from tools that still use TLP 1.0
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "CLEAR",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "GREEN",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "AMBER",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "RED",
}
IMPORT_DEFAULT_TLP = "AMBER"  # unmarked intelligence is not public; see docs/stix-mapping.md


def stix_id(kind: str, name: str) -> str:
    """A deterministic STIX id: ``<kind>--`` and the UUIDv5 of ``name`` under
    ``BEACON_NAMESPACE`` with its version nibble set to 4. STIX 2.1 §2.9 says SDOs and SROs
    SHOULD use UUIDv4 and the strict validator enforces it; the bits stay a hash of the name."""
    return f"{kind}--{uuid.UUID(bytes=uuid.uuid5(BEACON_NAMESPACE, name).bytes, version=4)}"


BEACON_EXTENSION_ID = stix_id("extension-definition", "extension/beacon-incident/v1")
URL_NOTE = "\nurl: "  # how a link without a hash travels (see with_url)


def with_url(ref: dict[str, Any], url: str, description: str) -> dict[str, Any]:
    """Put a link on an external reference. STIX 2.1 §2.5 says a reference with a ``url``
    SHOULD carry its hash; when Beacon has none, the link goes in the description instead."""
    if "hashes" in ref:
        return ref | {"url": url, "description": description}
    return ref | {"description": f"{description}{URL_NOTE}{url}"}


def incident_id(report_id: str, revision: int) -> str:
    return stix_id("incident", f"incident/{report_id}/{revision}")


def member_identity_id(member: str) -> str:
    return stix_id("identity", f"member/{member}")


def organisation_identity_id(name: str) -> str:
    return stix_id("identity", f"organisation/{name}")


def stix_time(text: str) -> str:
    """RFC 3339 as STIX wants it for created/modified: UTC with milliseconds."""
    base = text.replace("+00:00", "Z").rstrip("Z")
    if "." in base:
        whole, frac = base.split(".", 1)
        return f"{whole}.{(frac + '000')[:3]}Z"
    return f"{base}.000Z"


def tlp_marking(label: str) -> dict[str, Any]:
    """The official TLP 2.0 marking-definition object for a Beacon TLP label."""
    return {"type": "marking-definition", "spec_version": SPEC, "id": STIX_MARKING_IDS[label],
            "created": TLP_CREATED, "name": f"TLP:{label}",
            "extensions": {TLP_EXTENSION_ID: {"extension_type": "property-extension",
                                              "tlp_2_0": label.lower()}}}


def beacon_extension_definition() -> dict[str, Any]:
    """The extension-definition object that describes Beacon's property extension."""
    return {"type": "extension-definition", "spec_version": SPEC, "id": BEACON_EXTENSION_ID,
            "created": BEACON_EPOCH, "modified": BEACON_EPOCH,
            "created_by_ref": stix_id("identity", "beacon"),
            "name": "Beacon AI incident report",
            "description": "The fields of a Beacon incident report (OECD common reporting "
                           "framework) that STIX 2.1 has no property for.",
            "schema": "https://beacon.example/schemas/incident.v1.json",
            "version": "1.0.0", "extension_types": ["property-extension"]}


def beacon_identity() -> dict[str, Any]:
    return {"type": "identity", "spec_version": SPEC, "id": stix_id("identity", "beacon"),
            "created": BEACON_EPOCH, "modified": BEACON_EPOCH, "name": "Beacon",
            "identity_class": "system"}


def member_identity(member: str, jurisdiction: str | None = None) -> dict[str, Any]:
    name = f"Beacon member {member}" + (f" ({jurisdiction})" if jurisdiction else "")
    return {"type": "identity", "spec_version": SPEC, "id": member_identity_id(member),
            "created": BEACON_EPOCH, "modified": BEACON_EPOCH, "name": name,
            "identity_class": "organization", "sectors": ["government-national"]}


def organisation_identity(name: str) -> dict[str, Any]:
    return {"type": "identity", "spec_version": SPEC, "id": organisation_identity_id(name),
            "created": BEACON_EPOCH, "modified": BEACON_EPOCH, "name": name,
            "identity_class": "organization"}


def relationship(source: str, kind: str, target: str, at: str, creator: str,
                 marking: str, description: str | None = None) -> dict[str, Any]:
    rel: dict[str, Any] = {
        "type": "relationship", "spec_version": SPEC,
        "id": stix_id("relationship", f"{source}/{kind}/{target}"),
        "created": at, "modified": at, "created_by_ref": creator,
        "relationship_type": kind, "source_ref": source, "target_ref": target,
        "object_marking_refs": [marking]}
    if description:
        rel["description"] = description
    return rel


MODEL_REGISTRY = "beacon-model-registry"


def external_references(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Beacon id and revision first, the registered model if any, then supporting
    materials, then the source."""
    refs: list[dict[str, Any]] = [{"source_name": "beacon",
                                   "external_id": f"{doc['id']}/{doc['revision']}"}]
    model = doc.get("ai_system", {}).get("model_ref")
    if model:
        refs.append({"source_name": MODEL_REGISTRY, "external_id": str(model),
                     "description": "the AI system's entry in the Beacon model registry"})
    for m in doc.get("supporting_materials", []):
        ref: dict[str, Any] = {"source_name": "supporting-material",
                               "description": m["description"]}
        if "sha256" in m:
            ref["hashes"] = {"SHA-256": m["sha256"]}
        refs.append(with_url(ref, m["url"], m["description"]) if "url" in m else ref)
    source = doc.get("source")
    if isinstance(source, Mapping) and source.get("database"):
        ref = {"source_name": str(source["database"])}
        if source.get("record_id"):
            ref["external_id"] = str(source["record_id"])
        refs.append(with_url(ref, str(source["url"]), "where the report came from")
                    if source.get("url") else ref)
    return refs


def _core_extension(doc: Mapping[str, Any]) -> dict[str, Any]:
    severity = Severity(doc["severity"])
    harmed = severity.rank >= Severity("incident").rank
    core: dict[str, Any] = {
        "extension_type": "property-extension",
        # A hazard is an event that could have led to harm and did not (OECD).
        "determination": "successful-attempt" if harmed else "failed-attempt",
        "investigation_status": STATUS_TO_INVESTIGATION[doc.get("status", "open")],
        "criticality": CRITICALITY[severity.value]}
    if severity.rank >= Severity("serious-incident").rank:
        core["incident_types"] = ["major"]  # meets an external reporting threshold (Art. 73)
    people = doc.get("harm_quantification", {}).get("people_affected")
    if isinstance(people, int):
        core["impacted_entity_counts"] = {"individual": people}
    return core


def _beacon_extension(doc: Mapping[str, Any]) -> dict[str, Any]:
    ext: dict[str, Any] = {"extension_type": "property-extension", "report_id": doc["id"],
                           "revision": doc["revision"], "origin": doc["origin"]}
    for key, value in doc.items():
        if key in SERVER_ONLY or key in STANDARD_FIELDS or key == "tlp":
            continue
        if key == "classifications":
            # STIX dictionary keys should be lowercase; taxonomy names (CSETv1) are not.
            value = [{"namespace": ns, "terms": terms} for ns, terms in sorted(value.items())]
        ext[key] = value
    return ext


def incident_object(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The STIX ``incident`` for one signed revision of a report."""
    at = stix_time(doc["issued_at"])
    return {"type": "incident", "spec_version": SPEC,
            "id": incident_id(doc["id"], int(doc["revision"])),
            "created": at, "modified": at, "created_by_ref": member_identity_id(doc["origin"]),
            "name": doc["title"], "description": doc["description"],
            "object_marking_refs": [STIX_MARKING_IDS[doc["tlp"]]],
            "external_references": external_references(doc),
            "extensions": {INCIDENT_CORE_ID: _core_extension(doc),
                           BEACON_EXTENSION_ID: _beacon_extension(doc)}}


def report_objects(doc: Mapping[str, Any], jurisdiction: str | None = None,
                   ) -> list[dict[str, Any]]:
    """Every STIX object one revision needs: the incident, its creator's identity, the
    developer's and deployer's identities with relationships, the link to the revision before,
    its TLP marking, and the Beacon extension definition."""
    incident = incident_object(doc)
    at, creator = incident["created"], incident["created_by_ref"]
    marking = STIX_MARKING_IDS[doc["tlp"]]
    objects = [incident, member_identity(doc["origin"], jurisdiction), tlp_marking(doc["tlp"]),
               beacon_identity(), beacon_extension_definition()]
    system = doc.get("ai_system", {})
    for role in ("developer", "deployer"):
        if system.get(role):
            org = organisation_identity(system[role])
            objects.append(org)
            objects.append(relationship(incident["id"], "related-to", org["id"], at, creator,
                                        marking, f"{role} of the AI system {system['name']}"))
    if int(doc["revision"]) > 1:
        objects.append(relationship(incident["id"], "derived-from",
                                    incident_id(doc["id"], int(doc["revision"]) - 1), at,
                                    creator, marking, f"revision {doc['revision']}"))
    return objects
