"""STIX 2.1 incidents back into Beacon reports (the inverse of ``federation.stix``).

    batch = plan_import(objects, collection_url="https://taxii.example/api/collections/x/")
    batch.reports        # [(import key, report)]: what to file, newest revision per report
    batch.unmapped       # ["indicator--…: not an incident", ...]

An incident that carries Beacon's extension comes back field for field (``docs/stix-mapping.md``
lists what changes: id, origin, revision and issued_at are the filing node's, and
``source.stix_id`` is added). An incident from another tool maps its name, description,
markings, external references and Incident Core properties, with documented defaults for the
OECD fields STIX does not have. The import key — the ``stix_id`` written into ``source`` — is
the id of the first revision for Beacon reports and the object's own id otherwise, so every
revision of one report files once. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from federation.severity import Severity
from federation.stix import (
    BEACON_EXTENSION_ID,
    CRITICALITY,
    IMPORT_DEFAULT_TLP,
    INCIDENT_CORE_ID,
    MODEL_REGISTRY,
    TLP1_MARKINGS,
    URL_NOTE,
    incident_id,
)
from federation.tlp import STIX_MARKING_IDS

MARKING_LABELS = {v: k for k, v in STIX_MARKING_IDS.items()} | TLP1_MARKINGS
# Objects that only support incidents: imported with them, never reported as unmapped.
SUPPORTING = ("identity", "relationship", "marking-definition", "extension-definition")
BEACON_ONLY = ("report_id", "revision", "origin", "extension_type")


@dataclass
class ImportBatch:
    reports: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)


def severity_from_criticality(value: Any) -> str:
    """The Beacon level whose criticality is nearest (ties go to the more severe)."""
    if not isinstance(value, int) or isinstance(value, bool):
        return Severity("incident").value
    return min(CRITICALITY, key=lambda s: (abs(CRITICALITY[s] - value), -CRITICALITY[s]))


def tlp_of(obj: Mapping[str, Any]) -> str:
    labels = [MARKING_LABELS[m] for m in obj.get("object_marking_refs", [])
              if m in MARKING_LABELS]
    order = ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED")
    return max(labels, key=order.index) if labels else IMPORT_DEFAULT_TLP


def _link(ref: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(url, description) of a reference, undoing ``federation.stix.with_url``."""
    text = ref.get("description")
    text = str(text) if text is not None else None
    if ref.get("url"):
        return str(ref["url"]), text
    if text is not None and URL_NOTE in text:
        head, url = text.rsplit(URL_NOTE, 1)
        return url, head
    return None, text


def _materials_and_source(refs: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]],
                                                                      dict[str, Any]]:
    materials: list[dict[str, Any]] = []
    source: dict[str, Any] = {}
    for ref in refs:
        name = ref.get("source_name")
        if name in ("beacon", MODEL_REGISTRY):
            continue
        url, text = _link(ref)
        if name == "supporting-material":
            m: dict[str, Any] = {"description": text or url or "supporting material"}
            if url:
                m["url"] = url
            if isinstance(ref.get("hashes"), Mapping) and "SHA-256" in ref["hashes"]:
                m["sha256"] = str(ref["hashes"]["SHA-256"]).lower()
            materials.append(m)
        elif not source:
            source = {"database": str(name)}
            if ref.get("external_id"):
                source["record_id"] = str(ref["external_id"])
            if url:
                source["url"] = url
        elif url:
            materials.append({"description": text or str(name), "url": url})
    return materials, source


def _from_beacon(ext: Mapping[str, Any]) -> dict[str, Any]:
    report = {k: v for k, v in ext.items() if k not in BEACON_ONLY}
    if isinstance(report.get("classifications"), list):
        report["classifications"] = {c["namespace"]: c["terms"]
                                     for c in report["classifications"]}
    return report


def _from_foreign(obj: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]],
                  ) -> dict[str, Any]:
    core = obj.get("extensions", {}).get(INCIDENT_CORE_ID, {})
    creator = by_id.get(str(obj.get("created_by_ref")), {})
    report: dict[str, Any] = {
        "severity": severity_from_criticality(core.get("criticality")),
        "status": "resolved" if core.get("investigation_status") == "closed" else "open",
        # STIX has no harm type; "public-interest" is the broadest OECD type (documented).
        "harm_types": ["public-interest"],
        "ai_system": {"name": "not stated", "role": "not stated in the STIX source"},
        "submitter": {"organisation": str(creator.get("name") or "TAXII import")}}
    model = [r.get("external_id") for r in obj.get("external_references", [])
             if r.get("source_name") == MODEL_REGISTRY and r.get("external_id")]
    if model:
        report["ai_system"]["model_ref"] = str(model[0])
    people = core.get("impacted_entity_counts", {}).get("individual")
    if isinstance(people, int):
        report["harm_quantification"] = {"people_affected": people}
    return report


def report_from_stix(obj: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]],
                     collection_url: str) -> tuple[str, dict[str, Any]]:
    """One STIX incident as a report to file, and its import key.

    Raises:
        ValueError: the incident has no name (a report needs a title).
    """
    name = obj.get("name")
    if not isinstance(name, str) or len(name.strip()) < 3:
        raise ValueError("an incident needs a name of at least 3 characters to be a report")
    ext = obj.get("extensions", {}).get(BEACON_EXTENSION_ID)
    report = _from_beacon(ext) if isinstance(ext, Mapping) else _from_foreign(obj, by_id)
    key = (incident_id(str(ext["report_id"]), 1) if isinstance(ext, Mapping)
           else str(obj["id"]))
    materials, source = _materials_and_source(obj.get("external_references", []))
    report.update(title=name, description=str(obj.get("description") or name),
                  tlp=tlp_of(obj), supporting_materials=materials)
    report["source"] = (source or {"database": "STIX", "record_id": obj["id"],
                                   "url": collection_url}) | {"stix_id": key}
    return key, report


def _revision(obj: Mapping[str, Any]) -> int:
    ext = obj.get("extensions", {}).get(BEACON_EXTENSION_ID)
    return int(ext.get("revision", 1)) if isinstance(ext, Mapping) else 1


def plan_import(objects: Iterable[Mapping[str, Any]], collection_url: str) -> ImportBatch:
    """Map every incident; keep the newest revision of each report; name what is not mapped."""
    objs = list(objects)
    by_id = {str(o.get("id")): o for o in objs}
    batch = ImportBatch()
    newest: dict[str, tuple[tuple[int, str], dict[str, Any]]] = {}
    for obj in objs:
        kind = obj.get("type")
        if kind in SUPPORTING:
            continue
        if kind != "incident":
            batch.unmapped.append(f"{obj.get('id')}: a {kind} is not an incident; "
                                  "Beacon files only incidents")
            continue
        try:
            key, report = report_from_stix(obj, by_id, collection_url)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            batch.unmapped.append(f"{obj.get('id')}: cannot map: {e}")
            continue
        rank = (_revision(obj), str(obj.get("modified", "")))
        if key not in newest or rank > newest[key][0]:
            newest[key] = (rank, report)
    batch.reports = [(k, r) for k, (_, r) in newest.items()]
    return batch
