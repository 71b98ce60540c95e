"""Playbook coverage: every severity, for an incident of one's own, one affecting a peer, and a
peer's, must start at least one playbook (DESIGN §4: "every level must match some playbook").

    >>> [g.severity for g in coverage_gaps([])][:2]
    ['hazard', 'hazard']

Each cell is checked with the plainest incident of that kind — no red line, tripwire, death,
classification or critical-infrastructure sector — so a playbook that needs any of those does
not count: the cell must be covered even when nothing else is known.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from federation.playbook import Playbook
from federation.severity import Severity
from federation.triggers import IncidentFacts

__all__ = ["KINDS", "CoverageGap", "coverage_gaps", "covering"]

_HERE, _PEER, _THIRD = "here", "peer", "third"
# kind -> (origin, affected jurisdictions, filed here)
KINDS = {
    "own": (_HERE, (_HERE,), True),
    "affecting-a-peer": (_HERE, (_HERE, _PEER), True),
    "peers": (_PEER, (_PEER,), False),
}


@dataclass(frozen=True)
class CoverageGap:
    severity: str
    kind: str

    def __str__(self) -> str:
        what = {"own": "an incident filed here", "affecting-a-peer":
                "an incident filed here that affects a peer", "peers": "a peer's incident"}
        return (f"no playbook starts for {what[self.kind]} of severity {self.severity}: add one "
                f"whose trigger matches it (scope, severity) without needing red lines, "
                f"tripwires, deaths or classifications")


def _facts(severity: Severity, kind: str) -> IncidentFacts:
    origin, affected, _ = KINDS[kind]
    t = datetime(2026, 1, 1, tzinfo=UTC)
    return IncidentFacts(kind="incident", incident_id=f"{origin}-coverage", origin=origin,
                         revision=1, status="open", issued_at=t, severity=severity,
                         harm_types=frozenset({"physical"}), affected_jurisdictions=affected)


def covering(playbooks: Iterable[Playbook], severity: Severity, kind: str) -> list[str]:
    """Ids of the playbooks that start for the plainest incident of ``severity`` and ``kind``."""
    facts, is_local = _facts(severity, kind), KINDS[kind][2]
    return [p.id for p in playbooks if p.trigger.matches(facts, local_id=_HERE,
                                                          is_local=is_local)]


def coverage_gaps(playbooks: Iterable[Playbook]) -> list[CoverageGap]:
    """Every (severity, kind) that no playbook covers; empty when coverage is complete."""
    pbs = list(playbooks)
    return [CoverageGap(s.value, kind) for s in Severity for kind in KINDS
            if not covering(pbs, s, kind)]
