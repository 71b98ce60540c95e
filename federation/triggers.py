"""Playbook triggers: which incidents (or emergencies) a playbook answers.

    >>> facts = IncidentFacts.from_document({
    ...     "type": "incident", "id": "gb-0123456789abcdef", "origin": "gb", "revision": 1,
    ...     "issued_at": "2026-11-20T09:00:00Z", "status": "open",
    ...     "severity": "serious-incident", "harm_types": ["physical"],
    ...     "affected_jurisdictions": ["gb", "fr"]})
    >>> trigger = Trigger.from_dict({"severity": {"at_least": "incident"}, "cross_border": True})
    >>> trigger.matches(facts, local_id="gb", is_local=True)
    True

A trigger is a set of conditions that must all hold (AND); inside a list any value matches (OR);
``any_of`` holds if one alternative does. Scope decides whose incidents a node answers: ``own``
(filed here), ``peer`` (filed elsewhere), ``any``, ``affected`` (filed elsewhere, and this node is
among the incident's affected jurisdictions: the receiving side). A resolved incident, or an
emergency that is not active, matches nothing.

Matching works on ``IncidentFacts``, the few fields of a document that triggers, deadlines and
escalation targets need. A run keeps them, so it never has to hold the full (possibly sensitive)
report to decide what to do next.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from federation.severity import Severity
from federation.timeutil import format_time, parse_time

SCOPES = ("own", "peer", "any", "affected")
EVENTS = ("incident", "emergency")


@dataclass(frozen=True)
class IncidentFacts:
    """What a trigger can see of one incident revision (or of an emergency about one)."""

    kind: str
    incident_id: str
    origin: str
    revision: int
    status: str
    issued_at: datetime
    severity: Severity | None = None
    harm_types: frozenset[str] = frozenset()
    red_lines: frozenset[str] = frozenset()
    tripwire_ids: frozenset[str] = frozenset()
    classifications: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    affected_jurisdictions: tuple[str, ...] = ()
    critical_infrastructure_sector: str = ""
    irreversible: bool = False
    widespread_infringement: bool = False
    deaths: int = 0
    aware_at: datetime | None = None
    deployments: tuple[str, ...] = ()

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> IncidentFacts:
        """Take the facts from a schema-valid ``incident`` or ``emergency`` document."""
        if doc.get("type") == "emergency":
            return cls._from_emergency(doc)
        system = doc.get("ai_system") or {}
        named = " ".join(str(system[k]) for k in ("name", "version") if system.get(k))
        deployments = tuple(d for d in (named, str(system.get("model_ref", ""))) if d)
        # Every field given, so the frozen ``__init__`` (a checked setattr per field, a third
        # of this call; it runs for every stored report, twice) is skipped: same object.
        facts = object.__new__(cls)
        facts.__dict__.update(
            kind="incident", incident_id=doc["id"], origin=doc["origin"],
            revision=int(doc.get("revision", 1)), status=doc.get("status", "open"),
            issued_at=parse_time(doc["issued_at"]), severity=Severity(doc["severity"]),
            harm_types=frozenset(doc.get("harm_types", ())),
            red_lines=frozenset(doc.get("red_lines", ())),
            tripwire_ids=frozenset(doc.get("tripwire_ids", ())),
            classifications={k: tuple(v) for k, v in (doc.get("classifications") or {}).items()},
            affected_jurisdictions=tuple(doc.get("affected_jurisdictions", ())),
            critical_infrastructure_sector=doc.get("critical_infrastructure_sector", ""),
            irreversible=bool(doc.get("irreversible", False)),
            widespread_infringement=bool(doc.get("widespread_infringement", False)),
            deaths=int((doc.get("harm_quantification") or {}).get("deaths", 0)),
            aware_at=parse_time(doc["aware_at"]) if doc.get("aware_at") else None,
            deployments=deployments,
        )
        return facts

    @classmethod
    def _from_emergency(cls, doc: Mapping[str, Any]) -> IncidentFacts:
        return cls(
            kind="emergency", incident_id=doc["incident_id"], origin=doc["origin"], revision=1,
            status=doc["state"], issued_at=parse_time(doc["issued_at"]),
            severity=Severity(doc["severity"]) if doc.get("severity") else None,
            red_lines=frozenset(doc.get("red_lines", ())),
            deployments=tuple(doc.get("deployments", ())),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON form for persisting a run (``from_dict`` reads it back)."""
        return {
            "kind": self.kind, "incident_id": self.incident_id, "origin": self.origin,
            "revision": self.revision, "status": self.status,
            "issued_at": format_time(self.issued_at),
            "severity": self.severity.value if self.severity else None,
            "harm_types": sorted(self.harm_types), "red_lines": sorted(self.red_lines),
            "tripwire_ids": sorted(self.tripwire_ids),
            "classifications": {k: list(v) for k, v in self.classifications.items()},
            "affected_jurisdictions": list(self.affected_jurisdictions),
            "critical_infrastructure_sector": self.critical_infrastructure_sector,
            "irreversible": self.irreversible,
            "widespread_infringement": self.widespread_infringement, "deaths": self.deaths,
            "aware_at": format_time(self.aware_at) if self.aware_at else None,
            "deployments": list(self.deployments),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> IncidentFacts:
        return cls(
            kind=d["kind"], incident_id=d["incident_id"], origin=d["origin"],
            revision=int(d["revision"]), status=d["status"], issued_at=parse_time(d["issued_at"]),
            severity=Severity(d["severity"]) if d.get("severity") else None,
            harm_types=frozenset(d.get("harm_types", ())),
            red_lines=frozenset(d.get("red_lines", ())),
            tripwire_ids=frozenset(d.get("tripwire_ids", ())),
            classifications={k: tuple(v) for k, v in d.get("classifications", {}).items()},
            affected_jurisdictions=tuple(d.get("affected_jurisdictions", ())),
            critical_infrastructure_sector=d.get("critical_infrastructure_sector", ""),
            irreversible=bool(d.get("irreversible", False)),
            widespread_infringement=bool(d.get("widespread_infringement", False)),
            deaths=int(d.get("deaths", 0)),
            aware_at=parse_time(d["aware_at"]) if d.get("aware_at") else None,
            deployments=tuple(d.get("deployments", ())),
        )

    @property
    def infrastructure_disrupted(self) -> bool:
        """A serious **and irreversible** disruption of critical infrastructure (AI Act Art.
        3(49)(b)): a sector is named and the report marks it irreversible; naming a sector alone
        is not enough."""
        return bool(self.critical_infrastructure_sector) and self.irreversible

    @property
    def widespread(self) -> bool:
        """A widespread infringement (AI Act Art. 3(61)): the report says so, or — Beacon's reading
        of 3(61)(a), "harmed ... the collective interests of individuals residing in at least two
        Member States other than the Member State in which ... the act or omission originated" —
        a human-rights harm affecting at least two jurisdictions besides the origin."""
        others = set(self.affected_jurisdictions) - {self.origin}
        return self.widespread_infringement or ("human-rights" in self.harm_types
                                                and len(others) >= 2)

    @property
    def live(self) -> bool:
        """An open/contained incident or an active emergency: something a playbook can act on."""
        return self.status == "active" if self.kind == "emergency" else self.status != "resolved"


@dataclass(frozen=True)
class ValueSet:
    """A list condition: ``values`` empty means ``any`` (at least one value present)."""

    values: frozenset[str] = frozenset()

    @classmethod
    def from_dict(cls, raw: Any) -> ValueSet:
        return cls(frozenset() if raw == "any" else frozenset(raw))

    def to_dict(self) -> Any:
        return "any" if not self.values else sorted(self.values)

    def holds(self, present: frozenset[str] | tuple[str, ...], *, prefixes: bool = False) -> bool:
        if not self.values:
            return bool(present)
        if prefixes:  # a technique id also matches its sub-techniques: AML.T0025 ~ AML.T0025.001
            return any(p == v or p.startswith(v + ".") for p in present for v in self.values)
        return bool(self.values & frozenset(present))


@dataclass(frozen=True)
class Conditions:
    """Conditions on one incident; every condition set must hold."""

    severity_at_least: Severity | None = None
    severity_exactly: Severity | None = None
    harm_types: ValueSet | None = None
    red_lines: ValueSet | None = None
    tripwire_ids: ValueSet | None = None
    classifications: tuple[tuple[str, ValueSet], ...] = ()
    cross_border: bool | None = None
    critical_infrastructure: bool | None = None
    widespread_infringement: bool | None = None
    deaths: bool | None = None
    any_of: tuple[Conditions, ...] = ()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Conditions:
        sev = d.get("severity") or {}
        vs = {k: ValueSet.from_dict(d[k]) for k in ("harm_types", "red_lines", "tripwire_ids")
              if k in d}
        return cls(
            severity_at_least=Severity(sev["at_least"]) if "at_least" in sev else None,
            severity_exactly=Severity(sev["exactly"]) if "exactly" in sev else None,
            harm_types=vs.get("harm_types"), red_lines=vs.get("red_lines"),
            tripwire_ids=vs.get("tripwire_ids"),
            classifications=tuple(sorted((ns, ValueSet.from_dict(v))
                                         for ns, v in (d.get("classifications") or {}).items())),
            cross_border=d.get("cross_border"),
            critical_infrastructure=d.get("critical_infrastructure"),
            widespread_infringement=d.get("widespread_infringement"), deaths=d.get("deaths"),
            any_of=tuple(cls.from_dict(alt) for alt in d.get("any_of", ())),
        )

    def holds(self, facts: IncidentFacts) -> bool:
        """True if every condition set here holds for ``facts``."""
        # The same checks in the same order as ``all`` over them, without building them per
        # call (every candidate playbook asks this of every report).
        return (self._severity_holds(facts) and self._lists_hold(facts)
                and self._flags_hold(facts)
                and (not self.any_of or any(alt.holds(facts) for alt in self.any_of)))

    def _severity_holds(self, facts: IncidentFacts) -> bool:
        if self.severity_at_least is None and self.severity_exactly is None:
            return True
        if facts.severity is None:
            return False
        if self.severity_exactly is not None and facts.severity != self.severity_exactly:
            return False
        return self.severity_at_least is None or facts.severity >= self.severity_at_least

    # The two below ask only about the conditions that are set (most are not), in order.
    def _lists_hold(self, facts: IncidentFacts) -> bool:
        if self.harm_types is not None and not self.harm_types.holds(facts.harm_types):
            return False
        if self.red_lines is not None and not self.red_lines.holds(facts.red_lines):
            return False
        if self.tripwire_ids is not None and not self.tripwire_ids.holds(facts.tripwire_ids):
            return False
        return all(vs.holds(facts.classifications.get(ns, ()), prefixes=True)
                   for ns, vs in self.classifications)

    def _flags_hold(self, facts: IncidentFacts) -> bool:
        if self.cross_border is not None and self.cross_border != bool(
                set(facts.affected_jurisdictions) - {facts.origin}):
            return False
        if (self.critical_infrastructure is not None
                and self.critical_infrastructure != facts.infrastructure_disrupted):
            return False
        if (self.widespread_infringement is not None
                and self.widespread_infringement != facts.widespread):
            return False
        return self.deaths is None or self.deaths == (facts.deaths > 0)


@dataclass(frozen=True)
class Trigger:
    """When a playbook starts: an event kind, a scope, and conditions."""

    conditions: Conditions
    event: str = "incident"
    scope: str = "any"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Trigger:
        return cls(Conditions.from_dict(d), event=d.get("event", "incident"),
                   scope=d.get("scope", "any"))

    def matches(self, facts: IncidentFacts, *, local_id: str, is_local: bool) -> bool:
        """True if this trigger starts a playbook for ``facts`` at node ``local_id``.

        Args:
            facts: the incident (or emergency) revision.
            local_id: the receiving node's member id.
            is_local: the document was filed (signed) by this node.

        Returns:
            Whether event, liveness, scope and every condition hold.
        """
        if facts.kind != self.event or not facts.live:
            return False
        scope = self.scope
        if scope == "any":
            in_scope = True
        elif scope == "own":
            in_scope = is_local
        elif scope == "peer":
            in_scope = not is_local
        elif scope == "affected":
            in_scope = not is_local and local_id in facts.affected_jurisdictions
        else:
            raise KeyError(scope)  # the schema admits no other scope
        return in_scope and self.conditions.holds(facts)


def is_upgrade(old: IncidentFacts, new: IncidentFacts) -> bool:
    """A revision escalates if its severity rose or it names a red line the last one did not."""
    if old.severity is not None and new.severity is not None and new.severity > old.severity:
        return True
    return bool(new.red_lines - old.red_lines)
