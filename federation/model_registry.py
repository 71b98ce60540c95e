"""The model registry: signed registrations of AI models, one revision per version. Pure.

    >>> from datetime import timezone
    >>> doc = model_body({"developer": "Example AI", "model": "ExampleLM", "version": "3.0",
    ...                   "deployment_jurisdictions": ["fr", "jp"]}, origin="gb",
    ...                  now=datetime(2026, 11, 1, tzinfo=timezone.utc), revision=1)
    >>> doc["type"], doc["id"] == model_id("gb", "Example AI", "ExampleLM"), doc["revision"]
    ('model', True, 1)
    >>> enrich_report({"ai_system": {"name": "ExampleLM", "version": "3.0",
    ...                "developer": "Example AI", "role": "r"}, "origin": "gb"},
    ...               [Registration.from_dict(doc)])["affected_jurisdictions"]
    ['fr', 'jp']

A ``model`` message (``schemas/model.v1.json``) is signed by the node that registers it and
sent to every member. Its id is the origin plus a hash of developer and model name, so a new
version of the same model is a new *revision* of the same registration (DESIGN.md §10), and
only the origin can register it (the id says who, as incident ids do). A report whose
``ai_system`` names a registered model (developer, name and version, compared without case or
surrounding blanks) is linked to it (``ai_system.model_ref``) and gets the model's deployment
jurisdictions as affected jurisdictions (``enrich_report``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from federation.errors import Problem, SchemaError
from federation.timeutil import format_time

SAFETY_CASE_STATUSES = ("draft", "submitted", "under-review", "approved", "rejected")
# What a client may send; the node sets type, origin, issued_at, id and revision.
CLIENT_FIELDS = ("developer", "model", "version", "modalities", "deployment_jurisdictions",
                 "training_compute_flop", "critical_systems", "safety_case", "audits")


def key(text: str) -> str:
    """How names are compared: case and surrounding blanks do not matter."""
    return " ".join(text.split()).casefold()


def model_id(origin: str, developer: str, model: str) -> str:
    """The registration's id: ``<origin>-model-<16 hex>`` of the developer and model name."""
    h = hashlib.sha256(f"{key(developer)}\x00{key(model)}".encode()).hexdigest()[:16]
    return f"{origin}-model-{h}"


@dataclass(frozen=True)
class Registration:
    """One signed revision of a model registration (the whole document is kept)."""

    id: str
    revision: int
    origin: str
    developer: str
    model: str
    version: str
    deployment_jurisdictions: tuple[str, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Registration:
        return cls(id=str(d["id"]), revision=int(d["revision"]), origin=str(d["origin"]),
                   developer=str(d["developer"]), model=str(d["model"]),
                   version=str(d["version"]),
                   deployment_jurisdictions=tuple(d.get("deployment_jurisdictions", ())),
                   raw=dict(d))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)

    def names(self, developer: str, model: str, version: str) -> bool:
        """Whether this revision is the model ``developer``/``model``/``version``."""
        return (key(self.developer), key(self.model), key(self.version)) == (
            key(developer), key(model), key(version))


def model_body(body: Mapping[str, Any], *, origin: str, now: datetime,
               revision: int) -> dict[str, Any]:
    """The ``model`` message ``origin`` signs for a client's registration ``body``.

    Raises:
        SchemaError: a field the node sets, an unknown field, a negative training compute, or
            developer/model/version missing (the schema checks the rest).
    """
    problems = [Problem(f"$.{k}", f"unknown field; known fields are {', '.join(CLIENT_FIELDS)}")
                for k in body if k not in CLIENT_FIELDS]
    problems += [Problem(f"$.{k}", "a non-empty string is required")
                 for k in ("developer", "model", "version")
                 if not isinstance(body.get(k), str) or not str(body.get(k)).strip()]
    compute = body.get("training_compute_flop")
    if isinstance(compute, int | float) and not isinstance(compute, bool) and compute < 0:
        problems.append(Problem("$.training_compute_flop",
                                f"{compute} is negative; give the training compute in FLOP"))
    if problems:
        raise SchemaError(problems, "model")
    doc = {"type": "model", "origin": origin, "issued_at": format_time(now),
           "id": model_id(origin, str(body["developer"]), str(body["model"])),
           "revision": revision}
    return doc | {k: body[k] for k in CLIENT_FIELDS if k in body}


VERDICTS = ("approved", "rejected")


REVIEWER_KINDS = ("member", "independent")


def review_body(model: Mapping[str, Any], body: Mapping[str, Any], *, origin: str,
                reviewer: str, now: datetime, token: bytes | None = None,
                organisation: str | None = None) -> dict[str, Any]:
    """The ``safety-case-review`` message ``origin`` signs: its verdict on ``model`` (the
    current registration). A member's authority does not review its own registration; an
    independent evaluator (``organisation``, registered at ``origin``, which signs for it and
    so vouches for who it is) may review any, its own authority's included.

    Raises:
        SchemaError: no verdict or findings, or ``origin`` registered the model itself and the
            reviewer is its own authority.
    """
    problems = []
    if body.get("verdict") not in VERDICTS:
        problems.append(Problem("$.verdict", f"{body.get('verdict')!r}: use approved or rejected"))
    findings = body.get("findings")
    if not isinstance(findings, str) or not findings.strip():
        problems.append(Problem("$.findings", "say what the review found (a non-empty string)"))
    if model["origin"] == origin and organisation is None:
        problems.append(Problem("$", f"{origin} registered {model['id']}: another member's "
                                     "authority or an independent evaluator reviews its "
                                     "safety case"))
    if problems:
        raise SchemaError(problems, "safety-case-review")
    doc = {"type": "safety-case-review", "origin": origin, "issued_at": format_time(now),
           "id": f"{origin}-review-{(token or secrets.token_bytes(8)).hex()}",
           "model_id": model["id"], "model_revision": int(model["revision"]),
           "verdict": body["verdict"], "findings": findings, "reviewer": reviewer,
           "reviewer_kind": "member" if organisation is None else "independent"}
    return doc if organisation is None else doc | {"organisation": organisation}


def assurance_flag(model: Mapping[str, Any], verdict: str | None,
                   compute_thresholds: Iterable[tuple[str, str, float]],
                   crossings: Iterable[tuple[str, str]],
                   declared_flop: Iterable[float] = ()) -> dict[str, Any]:
    """Whether ``model`` is above a threshold without an approved safety case, and why.

    Above a threshold: its stated training compute (or a declared training run of the same
    developer and model) greater than a compute threshold ``(id, title, flop)``, or an
    evaluation at early warning or red line (``crossings``: ``(domain, level)``). Approved:
    the newest review's ``verdict``; with no review, the status the registration states.

    >>> flag = assurance_flag({"training_compute_flop": 3e25, "safety_case":
    ...     {"status": "submitted"}}, "rejected",
    ...     [("ai-act-51-2", "EU AI Act Art. 51(2) presumption", 1e25)], [("cbrn", "red-line")])
    >>> flag["flagged"], flag["safety_case"], flag["thresholds"]
    (True, 'rejected', ['ai-act-51-2', 'cbrn red-line'])
    >>> assurance_flag({"training_compute_flop": 1e25}, None, [("t", "T", 1e25)], [])["flagged"]
    False
    """
    case = model.get("safety_case") or {}
    status = verdict or str(case.get("status") or "missing")
    flops = [float(f) for f in (model.get("training_compute_flop"), *declared_flop)
             if isinstance(f, int | float) and not isinstance(f, bool)]
    top = max(flops, default=None)
    # strictly above, as Art. 51(2) ("greater than 10^25") and training_runs have it
    crossed = [(tid, title) for tid, title, flop in compute_thresholds
               if top is not None and top > flop]
    tripped = sorted({f"{domain} {level}" for domain, level in crossings
                      if level in ("early-warning", "red-line")})
    thresholds = [tid for tid, _ in crossed] + tripped
    flagged = bool(thresholds) and status != "approved"
    reasons = [f"training compute {top:.1e} FLOP is above {title}"
               for _, title in crossed[-1:]] if top is not None else []
    reasons += [f"evaluation at {t}" for t in tripped]
    why = f"{'; '.join(reasons)}; its safety case is {status}" if flagged else ""
    return {"flagged": flagged, "above_threshold": bool(thresholds), "thresholds": thresholds,
            "safety_case": status, "reason": why}


def matching(registrations: Iterable[Registration], system: Mapping[str, Any],
             prefer: str) -> list[Registration]:
    """The registrations ``system`` (an incident's ``ai_system``) names, ``prefer``'s first."""
    if not all(isinstance(system.get(k), str) for k in ("developer", "name", "version")):
        return []
    found = [r for r in registrations
             if r.names(system["developer"], system["name"], system["version"])]
    return sorted(found, key=lambda r: (r.origin != prefer, r.id, r.revision))


def enrich_report(doc: Mapping[str, Any], registrations: Iterable[Registration],
                  members: Iterable[str] | None = None) -> dict[str, Any]:
    """``doc`` linked to the registered model its ``ai_system`` names, with that model's
    deployment jurisdictions (those in ``members``, if given) added to its affected ones.
    Unchanged when no registration matches; a ``model_ref`` already set is kept."""
    system = doc.get("ai_system") or {}
    found = matching(registrations, system, prefer=str(doc.get("origin", "")))
    if not found:
        return dict(doc)
    known = None if members is None else set(members)
    extra = [j for r in found for j in r.deployment_jurisdictions
             if known is None or j in known]
    affected = list(dict.fromkeys([*doc.get("affected_jurisdictions", ()), *extra]))
    return dict(doc) | {"ai_system": {"model_ref": found[0].id} | dict(system),
                        "affected_jurisdictions": affected}
