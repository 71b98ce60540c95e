"""Capability tripwires and evaluations against them. Pure.

    >>> wires = Tripwires.from_dict({"version": 1, "approaching_margin": 0.1, "tripwires": [
    ...     {"id": "cbrn", "domain": "cbrn", "title": "CBRN", "early_warning": 0.5,
    ...      "red_line": 0.8, "red_line_id": "assisting-weapon-development",
    ...      "protocol": "p", "protocol_version": "1"}]})
    >>> [wires.level("cbrn", s) for s in (0.3, 0.45, 0.5, 0.8)]
    ['below', 'approaching', 'early-warning', 'red-line']

``playbooks/tripwires.yaml`` (schema ``tripwires.v1.json``) holds, per domain, an early-warning
and a red-line threshold on a normalised 0-1 score (DESIGN §10). An ``evaluation`` message
(``schemas/evaluation.v1.json``) records one result, its tripwire and the level it reached. At
the evaluating node a result at or above the red line files an incident (under the IDAIS red
line the domain maps to, if any) with the evaluation attached, which the tripwire-crossing
playbook answers (it matches ``tripwire_ids``); at or above early warning it files a serious
hazard (``crossing_report``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from federation.errors import Error, Problem, SchemaError
from federation.timeutil import format_time

Level = Literal["below", "approaching", "early-warning", "red-line"]
CLIENT_FIELDS = ("developer", "model", "version", "suite", "domain", "score", "evaluator",
                 "evaluated_at", "notes")


class TripwireError(Error):
    """The tripwires data is inconsistent (e.g. a red line below its early warning)."""


@dataclass(frozen=True)
class Tripwire:
    id: str
    domain: str
    title: str
    early_warning: float
    red_line: float
    protocol: str
    protocol_version: str
    red_line_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"id": self.id, "domain": self.domain, "title": self.title,
             "early_warning": self.early_warning, "red_line": self.red_line,
             "protocol": self.protocol, "protocol_version": self.protocol_version}
        return d | ({"red_line_id": self.red_line_id} if self.red_line_id else {})


@dataclass(frozen=True)
class ComputeThreshold:
    """Training compute (FLOP) above which a declared run starts ``clock`` (strictly above:
    AI Act Art. 51(2) presumes high-impact capabilities at "greater than 10^25")."""

    id: str
    title: str
    flop: float
    clock: str | None = None


@dataclass(frozen=True)
class Tripwires:
    version: int
    approaching_margin: float
    items: tuple[Tripwire, ...]
    compute_thresholds: tuple[ComputeThreshold, ...] = ()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Tripwires:
        """Build from a schema-valid document.

        Raises:
            TripwireError: a red line below its early warning, or two tripwires for one domain.
        """
        items = tuple(Tripwire(
            id=t["id"], domain=t["domain"], title=t["title"],
            early_warning=float(t["early_warning"]), red_line=float(t["red_line"]),
            protocol=t["protocol"], protocol_version=str(t["protocol_version"]),
            red_line_id=t.get("red_line_id")) for t in d["tripwires"])
        for t in items:
            if t.red_line < t.early_warning:
                raise TripwireError(f"tripwire {t.id!r}: red line {t.red_line} is below its "
                                    f"early warning {t.early_warning}; swap them")
        domains = [t.domain for t in items]
        if len(set(domains)) != len(domains):
            raise TripwireError(f"one tripwire per domain; domains: {', '.join(domains)}")
        compute = tuple(ComputeThreshold(c["id"], c["title"], float(c["flop"]), c.get("clock"))
                        for c in d.get("compute_thresholds", ()))
        return cls(int(d["version"]), float(d.get("approaching_margin", 0.1)), items,
                   tuple(sorted(compute, key=lambda c: c.flop)))

    def for_domain(self, domain: str) -> Tripwire | None:
        return next((t for t in self.items if t.domain == domain), None)

    def level(self, domain: str, score: float) -> Level:
        """The level ``score`` reaches on ``domain``'s tripwire (KeyError: no such tripwire)."""
        t = self.for_domain(domain)
        if t is None:
            raise KeyError(domain)
        if score >= t.red_line:
            return "red-line"
        if score >= t.early_warning:
            return "early-warning"
        return "approaching" if score >= t.early_warning - self.approaching_margin else "below"


NO_TRIPWIRES = Tripwires(1, 0.1, ())


def evaluation_body(body: Mapping[str, Any], tripwires: Tripwires, *, origin: str,
                    now: datetime, token: bytes | None = None) -> dict[str, Any]:
    """The ``evaluation`` message ``origin`` signs for a client's ``body``.

    Raises:
        SchemaError: an unknown field, a score outside 0-1, or a domain with no tripwire (the
            schema checks the rest).
    """
    problems = [Problem(f"$.{k}", f"unknown field; known fields are {', '.join(CLIENT_FIELDS)}")
                for k in body if k not in CLIENT_FIELDS]
    score, domain = body.get("score"), body.get("domain")
    numeric = isinstance(score, int | float) and not isinstance(score, bool)
    if not numeric or not 0 <= float(score) <= 1:  # type: ignore[arg-type]
        problems.append(Problem("$.score", f"{score!r}: give the normalised score, 0 to 1"))
    wire = tripwires.for_domain(str(domain))
    if wire is None:
        problems.append(Problem("$.domain", f"no tripwire for domain {domain!r}; domains: "
                                            f"{', '.join(t.domain for t in tripwires.items)}"))
    if problems or wire is None:
        raise SchemaError(problems, "evaluation")
    doc = {"type": "evaluation", "origin": origin, "issued_at": format_time(now),
           "id": f"{origin}-eval-{(token or secrets.token_bytes(8)).hex()}"}
    doc |= {k: body[k] for k in CLIENT_FIELDS if k in body}
    return doc | {"tripwire": {"id": wire.id, "early_warning": wire.early_warning,
                               "red_line": wire.red_line, "protocol": wire.protocol,
                               "protocol_version": wire.protocol_version},
                  "level": tripwires.level(wire.domain, float(score))}  # type: ignore[arg-type]


def crossing_report(evaluation: Mapping[str, Any], digest: str,
                    tripwires: Tripwires) -> dict[str, Any] | None:
    """The report an evaluation files at its origin: an incident at the red line, a serious
    hazard at early warning, nothing below. The evaluation is attached (``evaluation``)."""
    level = evaluation["level"]
    if level not in ("red-line", "early-warning"):
        return None
    wire = tripwires.for_domain(str(evaluation["domain"]))
    red = level == "red-line"
    what = "red line" if red else "early-warning threshold"
    title = (f"{evaluation['model']} {evaluation['version']} reached the {evaluation['domain']} "
             f"{what} ({evaluation['score']})")
    return {
        "title": title[:300],
        "description": f"{evaluation['evaluator']} evaluated {evaluation['developer']} "
                       f"{evaluation['model']} {evaluation['version']} with {evaluation['suite']}"
                       f": score {evaluation['score']} on {evaluation['domain']}, at or above "
                       f"the {what} of tripwire {evaluation['tripwire']['id']}.",
        "severity": "incident" if red else "serious-hazard",
        "harm_types": ["public-interest"],
        "ai_system": {"name": evaluation["model"], "version": evaluation["version"],
                      "developer": evaluation["developer"],
                      "role": "the evaluated model whose capability crossed the threshold"},
        "submitter": {"organisation": str(evaluation["evaluator"])[:300]},
        "supporting_materials": [{"description": f"evaluation {evaluation['id']} ({digest})"}],
        "tripwire_ids": [evaluation["tripwire"]["id"]],
        "red_lines": [wire.red_line_id] if red and wire and wire.red_line_id else [],
        "tlp": "GREEN",
        "evaluation": {"id": evaluation["id"], "digest": digest,
                       "domain": evaluation["domain"], "score": evaluation["score"],
                       "level": level, "evaluator": evaluation["evaluator"],
                       "suite": evaluation["suite"]},
    }
