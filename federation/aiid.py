"""Map AI Incident Database (AIID) rows to Beacon incident reports.

    >>> rec = AiidRecord(incident={"incident_id": "23", "date": "2017-11-08",
    ...     "title": "Las Vegas Self-Driving Bus Involved in Accident", "description": "",
    ...     "Alleged developer of AI system": '["navya"]',
    ...     "Alleged deployer of AI system": '["keolis-north-america"]',
    ...     "Alleged harmed or nearly harmed parties": '["bus-passengers"]'})
    >>> report = to_report(rec)
    >>> report["severity"], report["harm_types"], report["source"]["record_id"]
    ('incident', ['public-interest'], '23')
    >>> assign_origin(rec, ["gb", "fr", "jp"])   # no country known: 23 % 3 → the third
    'jp'

Pure: the node side (``node.importer``) reads the CSV files and hands rows over as dicts of
strings, one ``AiidRecord`` per incident with the classification rows that name it. The
mapping tables and their justification are in ``docs/aiid-mapping.md``; in short:

* severity is the highest level any published CSET classification supports (deaths →
  ``serious-incident``; AI tangible harm event → ``incident``; near miss → ``serious-hazard``;
  issue or no harm → ``hazard``); ``disaster`` is never inferred; with no classification the
  default is ``incident`` (AIID's inclusion criterion is an event where AI harmed or nearly
  harmed someone, and for most entries the harm occurred);
* harm types come from CSETv1 facts, CSETv0 ``Harm Type`` and MIT risk subdomains; when nothing
  maps, ``public-interest`` (the OECD category for harm to society at large) is used and the
  report says so in ``classifications["Beacon.import"]``;
* red lines are never derived: no taxonomy field says that an AI system itself crossed one.

Reports are filed without the node-set fields (``federation.messages.SERVER_FIELDS``);
``source.record_id`` is the idempotence key (``import_key``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from federation.severity import HARM_TYPES, Severity

DATABASE = "AIID"
SUBMITTER = "AI Incident Database (Responsible AI Collaborative)"
CITE_URL = "https://incidentdatabase.ai/cite/{id}"
DEFAULT_SEVERITY = Severity.INCIDENT
DEFAULT_HARM = "public-interest"

INCIDENT_COLUMNS = ("incident_id", "date", "title", "description", "Alleged deployer of AI system",
                    "Alleged developer of AI system", "Alleged harmed or nearly harmed parties")
LIST_COLUMNS = INCIDENT_COLUMNS[4:]
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
                    "AI tangible harm near-miss": Severity.SERIOUS_HAZARD,
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

# ISO 3166-1 alpha-2 (as in the tz database's iso3166.tab), and the few country names the
# classifications spell out instead of coding.
_ISO_3166_ALPHA2 = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"""
ISO_COUNTRIES = frozenset(_ISO_3166_ALPHA2.split())
COUNTRY_NAMES = {
    "united states": "US", "united states of america": "US", "usa": "US",
    "united kingdom": "GB", "uk": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "france": "FR", "germany": "DE", "italy": "IT", "spain": "ES",
    "switzerland": "CH", "sweden": "SE", "netherlands": "NL", "ireland": "IE", "israel": "IL",
    "japan": "JP", "china": "CN", "south korea": "KR", "india": "IN", "canada": "CA",
    "australia": "AU", "new zealand": "NZ", "nigeria": "NG", "brazil": "BR", "russia": "RU",
}


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


# -- checks of raw rows (the importer adds file names and line numbers) ----------------------
def check_incident_row(row: Mapping[str, str | None]) -> list[str]:
    """What is wrong with one ``incidents.csv`` row, as messages; empty if it can be mapped."""
    problems = [f"{c} is missing" for c in INCIDENT_COLUMNS if row.get(c) is None]
    raw_id = row.get("incident_id")
    if raw_id is not None and parse_id(raw_id) is None:
        problems.append(f"incident_id {raw_id!r} is not a positive whole number")
    raw_date = row.get("date")
    if raw_date is not None and parse_date(raw_date) is None:
        problems.append(f"date {raw_date!r} is not a date (YYYY-MM-DD)")
    title = row.get("title")
    if title is not None and len(title.strip()) < 3:
        problems.append(f"title {title!r} is too short (3 characters at least)")
    for column in LIST_COLUMNS:
        value = row.get(column)
        if value is not None and parse_list(value) is None:
            problems.append(f"{column} {value[:60]!r} is not a JSON array of strings")
    return problems


def check_classification_row(namespace: str, row: Mapping[str, str | None]) -> list[str]:
    """What is wrong with one classification row (only the fields the mapping reads)."""
    raw_id = row.get("Incident ID")
    if raw_id is None or parse_id(raw_id) is None:
        return [f"Incident ID {raw_id!r} is not a positive whole number"]
    problems = []
    if namespace == "CSETv1":
        for column in ("Lives Lost", "Injuries"):
            value = (row.get(column) or "").strip()
            if value and not value.isdigit():
                problems.append(f"{column} {value!r} is not a whole number")
    return problems


def parse_id(text: str) -> int | None:
    value = text.strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if len(text.strip()) == 10 else None
    except ValueError:
        return None


def parse_list(text: str) -> list[str] | None:
    """A JSON array of strings (AIID's list columns); an empty cell is an empty list."""
    if not text.strip():
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return [v.strip() for v in value if v.strip()]


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
        if _count(v1, "Lives Lost") > 0:
            found.append((Severity.SERIOUS_INCIDENT, "CSETv1 Lives Lost"))
        if _count(v1, "Injuries") > 0:
            found.append((Severity.INCIDENT, "CSETv1 Injuries"))
        level = v1.get("AI Harm Level", "")
        if level == "none" and v1.get("Special Interest Intangible Harm") == "yes":
            found.append((Severity.INCIDENT, "CSETv1 Special Interest Intangible Harm"))
        elif level in CSET1_HARM_LEVEL:
            found.append((CSET1_HARM_LEVEL[level], "CSETv1 AI Harm Level"))
    v0 = record.classification("CSETv0")
    if v0 is not None:
        if v0.get("Lives Lost") == "True":
            found.append((Severity.SERIOUS_INCIDENT, "CSETv0 Lives Lost"))
        level0 = CSET0_SEVERITY.get(v0.get("Severity", ""))
        if level0 is not None and v0.get("Near Miss") == "Near miss":
            level0 = (Severity.SERIOUS_HAZARD if level0 >= Severity.SERIOUS_INCIDENT
                      else Severity.HAZARD)
        if level0 is not None:
            found.append((level0, "CSETv0 Severity"))
    if not found:
        return DEFAULT_SEVERITY, "default"
    # The highest level any classification supports: under-rating is the costlier error for a
    # safety authority, and each source is an adjudicated reading of the same incident.
    top = max(s for s, _ in found)
    return top, next(why for s, why in found if s == top)


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


def _country(text: str) -> str | None:
    value = text.strip()
    if value in ISO_COUNTRIES:
        return value
    return COUNTRY_NAMES.get(value.lower())


def map_countries(record: AiidRecord) -> list[str]:
    """ISO 3166-1 alpha-2 countries of the incident, from CSET location fields."""
    v1 = record.classification("CSETv1")
    if v1 is not None:
        code = _country(v1.get("Location Country (two letters)", ""))
        if code:
            return [code]
    v0 = record.classification("CSETv0")
    if v0 is not None:
        # Free text ("Palo Alto, CA", "UK/USA"): only whole country names count, never a
        # two-letter part, which is as likely a US state (CA) as a country.
        out: list[str] = []
        for part in v0.get("Location", "").replace("/", ",").split(","):
            code = COUNTRY_NAMES.get(part.strip().lower())
            if code and code not in out:
                out.append(code)
        return out
    return []


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
    countries = map_countries(record)
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
    return report


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
    autonomy = AUTONOMY.get((v1.get("Autonomy Level") or "").strip())
    if autonomy:
        out["autonomy_level"] = autonomy
    return out


# -- spreading and idempotence ---------------------------------------------------------------
def assign_origin(record: AiidRecord, members: Sequence[str], default: str | None = None) -> str:
    """The member node that files this incident: the first of its countries that is a member
    (GB → ``gb``); otherwise ``default``, or if that is ``None`` the member at position
    ``incident_id mod len(members)`` — deterministic, so a re-run picks the same node.

    Raises:
        ValueError: ``members`` is empty.
    """
    if not members:
        raise ValueError("no member node to file at")
    for country in map_countries(record):
        if country.lower() in members:
            return country.lower()
    return default if default is not None else members[record.incident_id % len(members)]


def import_key(report: Mapping[str, Any]) -> str | None:
    """``"AIID:<record_id>"`` for a report imported from a database, else ``None``."""
    source = report.get("source")
    if not isinstance(source, Mapping) or not source.get("database"):
        return None
    return f"{source['database']}:{source.get('record_id', '')}"


def record_key(incident_id: int) -> str:
    """The ``import_key`` a report mapped from AIID incident ``incident_id`` will have."""
    return f"{DATABASE}:{incident_id}"
