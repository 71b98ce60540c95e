"""Map AI Incident Database (AIID) rows to Beacon incident reports.

    >>> rec = AiidRecord(incident={"incident_id": "23", "date": "2017-11-08",
    ...     "title": "Las Vegas Self-Driving Bus Involved in Accident", "description": "",
    ...     "Alleged developer of AI system": '["navya"]',
    ...     "Alleged deployer of AI system": '["keolis-north-america"]',
    ...     "Alleged harmed or nearly harmed parties": '["bus-passengers"]'})
    >>> report = to_report(rec)
    >>> report["severity"], report["harm_types"], report["source"]["record_id"]
    ('incident', ['public-interest'], '23')
    >>> assign_origin(rec, ["gb", "int"], default="int")   # no country known: the default
    'int'
    >>> report["provenance"]["severity"], report["provenance"]["occurred_at"]
    ('defaulted', 'observed')

Pure: the node side (``node.cli.importer``) reads the CSV files and hands rows over as dicts of
strings, one ``AiidRecord`` per incident with the classification rows that name it. The
mapping tables and their justification are in ``docs/aiid-mapping.md``; in short:

* severity is the highest level any published CSET classification supports (deaths, ten or
  more injured, a rights violation → ``serious-incident``; AI tangible harm event →
  ``incident``; near miss → ``hazard``, ``serious-hazard`` when critical services were at
  stake; issue or no harm → ``hazard``); ``disaster`` is never inferred; with no classification the
  default is ``incident`` (AIID's inclusion criterion is an event where AI harmed or nearly
  harmed someone, and for most entries the harm occurred);
* harm types come from CSETv1 facts, CSETv0 ``Harm Type`` and MIT risk subdomains; when nothing
  maps, ``public-interest`` (the OECD category for harm to society at large) is used and the
  report says so in ``classifications["Beacon.import"]``;
* red lines are never derived: no taxonomy field says that an AI system itself crossed one;
* ``provenance`` says for each mapped field whether the dataset states it (``observed``), a
  rule here derived it, or it is a default, so statistics can leave out what was not observed;
* countries come from location fields (observed) or the incident's own text (derived), never
  from where it was filed (``federation.aiid_places``).

Reports are filed without the node-set fields (``federation.messages.SERVER_FIELDS``);
``source.record_id`` is the idempotence key (``import_key``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from federation.aiid_places import countries_in_location, countries_in_text, country_code
from federation.aiid_rows import INCIDENT_COLUMNS as INCIDENT_COLUMNS
from federation.aiid_rows import LIST_COLUMNS as LIST_COLUMNS
from federation.aiid_rows import check_classification_row as check_classification_row
from federation.aiid_rows import check_incident_row as check_incident_row
from federation.aiid_rows import parse_date as parse_date
from federation.aiid_rows import parse_id as parse_id
from federation.aiid_rows import parse_list as parse_list
from federation.severity import HARM_TYPES, Severity

DATABASE = "AIID"
SUBMITTER = "AI Incident Database (Responsible AI Collaborative)"
CITE_URL = "https://incidentdatabase.ai/cite/{id}"
DEFAULT_SEVERITY = Severity.INCIDENT
DEFAULT_HARM = "public-interest"
OBSERVED, DERIVED, DEFAULTED = "observed", "derived", "defaulted"
# Ten or more people injured in one incident: harm to health at a scale no authority would
# call minor (our threshold; the Act sets none). AIID #2: 54 workers, #125: 55,000.
INJURIES_AT_SCALE = 10

NAMESPACES = ("CSETv1", "CSETv0", "MIT", "GMF")

# Classification fields kept as "Field: value" terms in the report's namespaces (free-text notes
# are left out: they belong to the database, and the citation link leads to them).
KEPT_FIELDS: dict[str, tuple[str, ...]] = {
    "CSETv1": ("AI Harm Level", "Tangible Harm", "Special Interest Intangible Harm",
               "Lives Lost", "Injuries", "Location Country (two letters)", "Location Region",
               "Infrastructure Sectors", "Sector of Deployment", "Autonomy Level",
               "Impact on Critical Services", "Rights Violation", "Involving Minor",
               "Detrimental Content", "Protected Characteristic", "Intentional Harm", "AI Task"),
    "CSETv0": ("Severity", "Harm Type", "Near Miss", "Intent", "Lives Lost",
               "Infrastructure Sectors", "Level of Autonomy", "Sector of Deployment"),
    "MIT": ("Risk Domain", "Risk Subdomain", "Entity", "Timing", "Intent"),
    "GMF": ("Known AI Goal", "Known AI Technology", "Known AI Technical Failure"),
}

# CSETv1 "AI Harm Level": harm occurred / imminent and narrowly avoided / not imminent / none.
CSET1_HARM_LEVEL = {"AI tangible harm event": Severity.INCIDENT,
                    "AI tangible harm issue": Severity.HAZARD,
                    "none": Severity.HAZARD}
# CSETv0 "Severity" when harm was caused (or its status is unclear); a near miss caps at hazard.
CSET0_SEVERITY = {"Negligible": Severity.INCIDENT, "Minor": Severity.INCIDENT,
                  "Moderate": Severity.INCIDENT, "Severe": Severity.SERIOUS_INCIDENT,
                  "Critical": Severity.SERIOUS_INCIDENT}
CSET0_HARM_TYPE = {"Harm to physical health/safety": "physical",
                   "Psychological harm": "psychological", "Financial harm": "economic-property",
                   "Harm to physical property": "economic-property",
                   "Harm to intangible property": "economic-property",
                   "Harm to social or political systems": "public-interest",
                   "Harm to civil liberties": "human-rights"}
# MIT AI Risk Repository subdomains (by number). 7.x name causes (failures, lack of robustness),
# not harms, and map to nothing.
MIT_HARM_TYPE = {"1.1": "human-rights", "1.2": "psychological", "1.3": "human-rights",
                 "2.1": "human-rights", "2.2": "economic-property", "3.1": "public-interest",
                 "3.2": "public-interest", "4.1": "public-interest", "4.2": "public-interest",
                 "4.3": "economic-property", "5.1": "psychological", "5.2": "human-rights",
                 "6.1": "public-interest", "6.2": "economic-property", "6.3": "economic-property",
                 "6.4": "public-interest", "6.5": "public-interest", "6.6": "environmental"}
AUTONOMY = {"Autonomy1": "autonomy1", "Autonomy2": "autonomy2", "Autonomy3": "autonomy3",
            "unclear": "unknown"}

@dataclass(frozen=True)
class AiidRecord:
    """One AIID incident row and the published classification rows that name it."""

    incident: Mapping[str, str]
    classifications: Mapping[str, Mapping[str, str]] | None = None

    @property
    def incident_id(self) -> int:
        return int(self.incident["incident_id"])

    def classification(self, namespace: str) -> Mapping[str, str] | None:
        """The row of ``namespace``, if the incident has a published one."""
        row = (self.classifications or {}).get(namespace)
        return row if row is not None and row.get("Published", "True") == "True" else None


def _report_ids(text: str) -> list[object]:
    # AIID's report numbers (a JSON array of integers); only counted, so a bad cell counts none.
    try:
        value = json.loads(text) if text.strip() else []
    except ValueError:
        return []
    return value if isinstance(value, list) else []


# -- severity, harm types, countries ---------------------------------------------------------
def _count(row: Mapping[str, str] | None, column: str) -> int:
    value = ((row or {}).get(column) or "").strip()
    return int(value) if value.isdigit() else 0


def map_severity(record: AiidRecord) -> tuple[Severity, str]:
    """The report's severity and which classification decided it (``"default"`` if none)."""
    found: list[tuple[Severity, str]] = []
    v1 = record.classification("CSETv1")
    if v1 is not None:
        found += _cset1_severity(v1)
    v0 = record.classification("CSETv0")
    if v0 is not None:
        found += _cset0_severity(v0)
    if not found:
        return DEFAULT_SEVERITY, "default"
    # The highest level any classification supports: under-rating is the costlier error for a
    # safety authority, and each source is an adjudicated reading of the same incident.
    top = max(s for s, _ in found)
    return top, next(why for s, why in found if s == top)


def _cset1_severity(v1: Mapping[str, str]) -> list[tuple[Severity, str]]:
    found: list[tuple[Severity, str]] = []
    if _count(v1, "Lives Lost") > 0:
        found.append((Severity.SERIOUS_INCIDENT, "CSETv1 Lives Lost"))
    injuries = _count(v1, "Injuries")
    if injuries >= INJURIES_AT_SCALE:
        found.append((Severity.SERIOUS_INCIDENT, "CSETv1 Injuries at scale"))
    elif injuries > 0:
        found.append((Severity.INCIDENT, "CSETv1 Injuries"))
    if v1.get("Rights Violation") == "yes":
        # EU AI Act Art. 3(49)(c): an infringement of fundamental-rights obligations is a
        # serious incident, with no seriousness qualifier.
        found.append((Severity.SERIOUS_INCIDENT, "CSETv1 Rights Violation"))
    level = v1.get("AI Harm Level", "")
    if level == "none" and v1.get("Special Interest Intangible Harm") == "yes":
        found.append((Severity.INCIDENT, "CSETv1 Special Interest Intangible Harm"))
    elif level == "AI tangible harm near-miss":
        # A near miss is a *serious* hazard only if the harm avoided would have been serious;
        # CSETv1 measures it only by the critical-services flag (Art. 3(49)(b)).
        serious = v1.get("Impact on Critical Services") == "yes"
        found.append((Severity.SERIOUS_HAZARD if serious else Severity.HAZARD,
                       "CSETv1 AI Harm Level near-miss"))
    elif level in CSET1_HARM_LEVEL:
        found.append((CSET1_HARM_LEVEL[level], "CSETv1 AI Harm Level"))
    return found


def _cset0_severity(v0: Mapping[str, str]) -> list[tuple[Severity, str]]:
    found: list[tuple[Severity, str]] = []
    if v0.get("Lives Lost") == "True":
        found.append((Severity.SERIOUS_INCIDENT, "CSETv0 Lives Lost"))
    caused = v0.get("Near Miss") == "Harm caused"
    if caused and "Harm to civil liberties" in v0.get("Harm Type", ""):
        found.append((Severity.SERIOUS_INCIDENT, "CSETv0 Harm to civil liberties"))
    level0 = CSET0_SEVERITY.get(v0.get("Severity", ""))
    if level0 is not None and v0.get("Near Miss") == "Near miss":
        level0 = (Severity.SERIOUS_HAZARD if level0 >= Severity.SERIOUS_INCIDENT
                  else Severity.HAZARD)
    if level0 is not None:
        found.append((level0, "CSETv0 Severity"))
    return found


def map_harm_types(record: AiidRecord) -> tuple[list[str], str]:
    """The report's harm types (in the scale's order) and their sources (``"default"``)."""
    found: dict[str, set[str]] = {}
    v1 = record.classification("CSETv1")
    if v1 is not None:
        if _count(v1, "Lives Lost") > 0 or _count(v1, "Injuries") > 0:
            found.setdefault("physical", set()).add("CSETv1")
        if "yes" in (v1.get("Rights Violation"), v1.get("Protected Characteristic")):
            found.setdefault("human-rights", set()).add("CSETv1")
        if v1.get("Impact on Critical Services") == "yes":
            found.setdefault("public-interest", set()).add("CSETv1")
    v0 = record.classification("CSETv0")
    if v0 is not None:
        for part in (p.strip() for p in v0.get("Harm Type", "").split(",")):
            harm = CSET0_HARM_TYPE.get(part)
            if harm is None and part.lower().startswith("other:"):
                text = part.lower()
                harm = ("reputational" if "reputation" in text or "defamation" in text
                        else "human-rights" if "privacy" in text else None)
            if harm is not None:
                found.setdefault(harm, set()).add("CSETv0")
    mit = record.classification("MIT")
    if mit is not None:
        harm = MIT_HARM_TYPE.get(mit.get("Risk Subdomain", "").split(" ", 1)[0].rstrip("."))
        if harm is not None:
            found.setdefault(harm, set()).add("MIT")
    if not found:
        return [DEFAULT_HARM], "default"
    sources = sorted(set().union(*found.values()))
    return [h for h in HARM_TYPES if h in found], "+".join(sources)


def country_facts(record: AiidRecord) -> tuple[list[str], str | None]:
    """ISO 3166-1 alpha-2 countries of the incident and how they are known: ``"observed"``
    (a location field), ``"derived"`` (named in the title or description) or ``None`` (unknown).
    See ``federation.aiid_places``."""
    v1 = record.classification("CSETv1")
    code = country_code(v1.get("Location Country (two letters)", "")) if v1 else None
    if code:
        return [code], "observed"
    v0 = record.classification("CSETv0")
    found = countries_in_location(v0.get("Location", "")) if v0 else []
    if found:
        return found, "observed"
    text = f"{record.incident.get('title', '')}\n{record.incident.get('description', '')}"
    found = countries_in_text(text)
    return (found, "derived") if found else ([], None)


def map_countries(record: AiidRecord) -> list[str]:
    """The incident's countries, observed or derived (``country_facts``)."""
    return country_facts(record)[0]


# -- the report ------------------------------------------------------------------------------
def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _terms(record: AiidRecord) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for namespace, fields in KEPT_FIELDS.items():
        row = record.classification(namespace)
        if row is None:
            continue
        terms: list[str] = []
        for f in fields:
            value = (row.get(f) or "").strip()
            if not value:
                continue
            # GMF fields are comma-separated term lists; CSET values may contain commas.
            values = [v.strip() for v in value.split(",")] if namespace == "GMF" else [value]
            terms += [_clip(f"{f}: {v}", 300) for v in values if v]
        if terms:
            out[namespace] = list(dict.fromkeys(terms))
    return out


def _ai_system(record: AiidRecord) -> dict[str, str]:
    developers = parse_list(record.incident.get("Alleged developer of AI system", "")) or []
    deployers = parse_list(record.incident.get("Alleged deployer of AI system", "")) or []
    known = [d for d in developers if not d.startswith("unknown")]
    # AIID names no system, only parties: name it by its alleged developer(s).
    name = f"{', '.join(known)} AI system" if known else "Unidentified AI system"
    role = ("Implicated in the incident according to the AI Incident Database, which alleges "
            f"it was developed by {', '.join(developers) or 'an unknown party'} and deployed by "
            f"{', '.join(deployers) or 'an unknown party'}; the database records no finer role "
            "than the description gives.")
    v1 = record.classification("CSETv1")
    if v1 is not None and (v1.get("AI System Description") or "").strip():
        role += f" CSET's description of the system: {v1['AI System Description'].strip()}"
    system = {"name": _clip(name, 200), "role": _clip(role, 5000)}
    if developers:
        system["developer"] = _clip(", ".join(developers), 300)
    if deployers:
        system["deployer"] = _clip(", ".join(deployers), 300)
    return system


def to_report(record: AiidRecord, members: Collection[str] = ()) -> dict[str, Any]:
    """The report to file for one AIID incident (no node-set fields).

    Args:
        record: a row that passed ``check_incident_row``, with its classification rows.
        members: federation member ids; a country whose lower-cased code is one of them becomes
            an affected jurisdiction.
    """
    row = record.incident
    iid = record.incident_id
    occurred = parse_date(row["date"])
    title = _clip(row["title"].strip(), 300)
    description = row.get("description", "").strip() or (
        f"{title}. (The AI Incident Database has no description for incident {iid}; "
        "see the citation.)")
    severity, severity_basis = map_severity(record)
    harm_types, harm_basis = map_harm_types(record)
    countries, country_basis = country_facts(record)
    reports = _report_ids(row.get("reports", ""))
    url = CITE_URL.format(id=iid)
    cited = f"AI Incident Database entry for incident {iid}" + (
        f", with {len(reports)} linked report{'s' if len(reports) != 1 else ''}" if reports else "")
    report: dict[str, Any] = {
        "title": title, "description": _clip(description, 20000),
        "severity": severity.value, "harm_types": harm_types, "ai_system": _ai_system(record),
        "submitter": {"organisation": SUBMITTER},
        "supporting_materials": [{"url": url, "description": cited}],
        "tlp": "CLEAR", "red_lines": [],
        "source": {"database": DATABASE, "record_id": str(iid), "url": url},
    }
    if occurred is not None:
        report["occurred_at"] = f"{occurred.isoformat()}T00:00:00Z"
    if countries:
        report["countries"] = countries
    affected = [c.lower() for c in countries if c.lower() in members]
    if affected:
        report["affected_jurisdictions"] = affected
    harmed = parse_list(row.get("Alleged harmed or nearly harmed parties", "")) or []
    if harmed:
        report["affected_stakeholders"] = [_clip(h, 300) for h in harmed]
    report.update(_cset_details(record))
    report["classifications"] = {
        **_terms(record),
        "Beacon.import": [f"severity: {severity_basis}", f"harm_types: {harm_basis}"]}
    report["provenance"] = _provenance(report, severity_basis, harm_basis, country_basis)
    return report


def _provenance(report: Mapping[str, Any], severity_basis: str, harm_basis: str,
                country_basis: str | None) -> dict[str, str]:
    """How each mapped field is known: the dataset says it (``observed``), a rule of this
    mapping read it from classifications or text (``derived``), or nothing did (``defaulted``)."""
    def rule(basis: str) -> str:
        return DEFAULTED if basis == "default" else DERIVED
    out = {"severity": rule(severity_basis), "harm_types": rule(harm_basis),
           # AIID names parties, not systems: the name is made from the developer, or a default.
           "ai_system.name": DERIVED if report["ai_system"].get("developer") else DEFAULTED}
    if country_basis:
        out["countries"] = country_basis
    for field, present in (("occurred_at", "occurred_at" in report),
                           ("ai_system.developer", "developer" in report["ai_system"]),
                           ("sector", "sector" in report)):
        if present:
            out[field] = OBSERVED
    return out


def _cset_details(record: AiidRecord) -> dict[str, Any]:
    v1 = record.classification("CSETv1")
    if v1 is None:
        return {}
    out: dict[str, Any] = {}
    quantities = {k: _count(v1, c) for k, c in (("deaths", "Lives Lost"), ("injuries", "Injuries"))
                  if (v1.get(c) or "").strip().isdigit()}
    if quantities:
        out["harm_quantification"] = quantities
    sector = (v1.get("Infrastructure Sectors") or "").strip()
    if sector and sector.lower() != "unclear":
        out["critical_infrastructure_sector"] = _clip(sector, 200)
    deployment = (v1.get("Sector of Deployment") or "").strip()
    if deployment and deployment.lower() not in ("unclear", "other"):
        out["sector"] = _clip(deployment, 200)
    autonomy = AUTONOMY.get((v1.get("Autonomy Level") or "").strip())
    if autonomy:
        out["autonomy_level"] = autonomy
    return out


# -- where to file, and idempotence ---------------------------------------------------------
def assign_origin(record: AiidRecord, members: Sequence[str], default: str) -> str:
    """The node that files this incident: the first of its *observed* countries that is a
    member of ``members`` (GB → ``gb``), else ``default`` — never a member picked at random,
    whose statistics "by origin" would then be an artefact of the spreading.

    Raises:
        ValueError: ``default`` is not one of ``members``.
    """
    if default not in members:
        raise ValueError(f"default node {default!r} is not one of {', '.join(members)}")
    countries, basis = country_facts(record)
    for country in countries if basis == OBSERVED else []:
        if country.lower() in members:
            return country.lower()
    return default


def import_key(report: Mapping[str, Any]) -> str | None:
    """``"AIID:<record_id>"`` for a report imported from a database, else ``None``."""
    source = report.get("source")
    if not isinstance(source, Mapping) or not source.get("database"):
        return None
    return f"{source['database']}:{source.get('record_id', '')}"


def record_key(incident_id: int) -> str:
    """The ``import_key`` a report mapped from AIID incident ``incident_id`` will have."""
    return f"{DATABASE}:{incident_id}"
