"""What a playbook run says on the wire: escalation, emergency, advisory, resolution.

    >>> from datetime import datetime, timezone
    >>> t = datetime(2026, 11, 20, 9, tzinfo=timezone.utc)
    >>> build_emergency(origin="gb", issued_at=t, emergency_id="gb-00000001.quorum",
    ...     incident_id="gb-0123456789abcdef", incident=None, run_id="gb-00000001",
    ...     state="none", threshold=Threshold(1, 1))
    Traceback (most recent call last):
    ...
    federation.errors.UnknownReferenceError: cannot build the emergency message: ...

Each ``build_*`` takes explicit values (the origin, ``issued_at`` — it never reads the clock) and
returns the model; ``to_dict()`` is the body its schema (``schemas/<type>.v1.json``) validates and
the node signs. A builder refuses, with a ``MessageError``, what would otherwise be invented: an
escalation or emergency about an incident the node does not hold (it has no digest to sign), a
threshold outside ``1 <= k <= n``, an empty audience. The node decides what to do then (log it,
tell its operator); it never signs a placeholder. ``from_dict`` reads a peer's message as signed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from federation.errors import UnknownReferenceError
from federation.timeutil import parse_time
from federation.wire import (
    WireMessage,
    WirePart,
    optional_tuple,
    require,
    require_digest,
)

EMERGENCY_STATES = ("none", "pending", "active")


def _time(d: Mapping[str, Any], key: str) -> datetime | None:
    return parse_time(d[key], f"$.{key}") if d.get(key) is not None else None


@dataclass(frozen=True)
class IncidentRef:
    """The signed incident a run message is about, as this node holds it."""

    id: str
    digest: str
    severity: str | None = None
    red_lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlaybookRef(WirePart):
    id: str
    version: int


@dataclass(frozen=True)
class ActionRequest(WirePart):
    action: str
    deployments: tuple[str, ...] = ()
    detail: str | None = None


@dataclass(frozen=True)
class Threshold(WirePart):
    """k of n members must declare."""

    k: int
    n: int


@dataclass(frozen=True)
class DeclarationRef(WirePart):
    """A declaration an active emergency counts; digest and time when this node holds it."""

    origin: str
    digest: str | None = None
    issued_at: datetime | None = None


@dataclass(frozen=True)
class Escalation(WireMessage):
    TYPE = "escalation"
    id: str
    incident_id: str
    incident_digest: str
    run_id: str
    playbook: PlaybookRef
    tier: int
    to: tuple[str, ...]
    deadline: datetime
    reason: str
    incident_revision: int | None = None
    step_id: str | None = None
    acks: str | None = None
    request: ActionRequest | None = None
    severity: str | None = None
    red_lines: tuple[str, ...] | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Escalation:
        req = d.get("request")
        return cls(
            d["origin"], parse_time(d["issued_at"]), id=d["id"], incident_id=d["incident_id"],
            incident_digest=d["incident_digest"], run_id=d["run_id"],
            playbook=PlaybookRef(d["playbook"]["id"], int(d["playbook"]["version"])),
            tier=int(d["tier"]), to=tuple(d["to"]), deadline=parse_time(d["deadline"]),
            reason=d["reason"], incident_revision=d.get("incident_revision"),
            step_id=d.get("step_id"), acks=d.get("acks"),
            request=None if req is None else ActionRequest(
                req["action"], tuple(req.get("deployments", ())), req.get("detail")),
            severity=d.get("severity"), red_lines=optional_tuple(d.get("red_lines")),
            extra=cls.unknown(d))


def _require_incident(message_type: str, incident_id: str,
                      incident: IncidentRef | None) -> IncidentRef:
    if incident is None:
        raise UnknownReferenceError(message_type, "incident", incident_id, "incident digest")
    require(message_type, incident.id == incident_id,
            f"the incident held is {incident.id!r}, not {incident_id!r}")
    require_digest(message_type, incident.digest, f"the digest of incident {incident_id}")
    return incident


def _incident_facts(incident: IncidentRef) -> dict[str, Any]:
    """Severity and red lines travel together, and only when the incident names a severity."""
    if not incident.severity:
        return {}
    return {"severity": incident.severity, "red_lines": incident.red_lines}


def build_escalation(*, origin: str, issued_at: datetime, escalation_id: str,
                     incident_id: str, incident: IncidentRef | None, run_id: str,
                     playbook: PlaybookRef, tier: int, to: Sequence[str], deadline: datetime,
                     reason: str, incident_revision: int | None = None,
                     step_id: str | None = None, acks: str | None = None,
                     request: ActionRequest | None = None) -> Escalation:
    """An ``escalation`` asking ``to`` to acknowledge (``acks``) or act (``request``).

    Raises:
        UnknownReferenceError: this node holds no incident ``incident_id``.
        MessageError: no recipient, a tier outside 1-3, an empty reason, or not exactly one
            of ``acks`` and ``request``.
    """
    held = _require_incident("escalation", incident_id, incident)
    require("escalation", bool(to), f"escalation {escalation_id} has no recipient")
    require("escalation", tier in (1, 2, 3), f"tier {tier} is not 1, 2 or 3")
    require("escalation", bool(reason.strip()), "the reason is empty; say why it escalates")
    require("escalation", (acks is None) != (request is None),
            "give either an ack policy ('any' or 'all') or an action request, not both")
    require("escalation", acks in (None, "any", "all"), f"ack policy {acks!r} is not any/all")
    return Escalation(origin, issued_at, id=escalation_id, incident_id=incident_id,
                      incident_digest=held.digest, run_id=run_id, playbook=playbook,
                      tier=tier, to=tuple(to), deadline=deadline, reason=reason[:2000],
                      incident_revision=incident_revision, step_id=step_id, acks=acks,
                      request=request, **_incident_facts(held))


@dataclass(frozen=True)
class Emergency(WireMessage):
    TYPE = "emergency"
    id: str
    incident_id: str
    run_id: str
    state: str
    threshold: Threshold
    members: tuple[str, ...] | None = None
    deadline: datetime | None = None
    declared_at: datetime | None = None
    declarations: tuple[DeclarationRef, ...] | None = None
    severity: str | None = None
    red_lines: tuple[str, ...] | None = None
    deployments: tuple[str, ...] | None = None
    summary: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Emergency:
        decls = d.get("declarations")
        return cls(
            d["origin"], parse_time(d["issued_at"]), id=d["id"], incident_id=d["incident_id"],
            run_id=d["run_id"], state=d["state"],
            threshold=Threshold(int(d["threshold"]["k"]), int(d["threshold"]["n"])),
            members=optional_tuple(d.get("members")), deadline=_time(d, "deadline"),
            declared_at=_time(d, "declared_at"),
            declarations=None if decls is None else tuple(
                DeclarationRef(x["origin"], x.get("digest"), _time(x, "issued_at"))
                for x in decls),
            severity=d.get("severity"), red_lines=optional_tuple(d.get("red_lines")),
            deployments=optional_tuple(d.get("deployments")), summary=d.get("summary"),
            extra=cls.unknown(d))


def _check_emergency(state: str, threshold: Threshold, members: Sequence[str],
                     deadline: datetime | None, declarations: Sequence[DeclarationRef],
                     declared_at: datetime | None) -> None:
    require("emergency", state in EMERGENCY_STATES, f"state {state!r} is not none/pending/active")
    k, n = threshold.k, threshold.n
    require("emergency", 1 <= k <= n, f"threshold {k} of {n} is not 1 <= k <= n")
    require("emergency", not members or n == len(members),
            f"threshold says n={n} but {len(members)} members are listed")
    if state == "pending":
        require("emergency", deadline is not None and bool(members),
                "a pending emergency needs a deadline and the members asked to declare")
    if state == "active":
        require("emergency", bool(declarations) and declared_at is not None,
                "an active emergency lists the declarations that met its quorum and when")


def build_emergency(*, origin: str, issued_at: datetime, emergency_id: str, incident_id: str,
                    incident: IncidentRef | None, run_id: str, state: str,
                    threshold: Threshold | None, members: Sequence[str] = (),
                    deadline: datetime | None = None,
                    declarations: Sequence[DeclarationRef] = (),
                    declared_at: datetime | None = None, summary: str = "") -> Emergency:
    """An ``emergency`` in ``state`` pending (asks for declarations), active or none.

    Args:
        threshold: k of n; ``None`` when this node never recorded the emergency (refused).

    Raises:
        UnknownReferenceError: no incident held, or no threshold known.
        MessageError: a threshold outside 1 <= k <= n, n not the number of members, a pending
            emergency without deadline or members, an active one without declarations.
    """
    held = _require_incident("emergency", incident_id, incident)
    if threshold is None:
        raise UnknownReferenceError("emergency", "emergency", emergency_id, "threshold")
    _check_emergency(state, threshold, members, deadline, declarations, declared_at)
    return Emergency(origin, issued_at, id=emergency_id, incident_id=incident_id, run_id=run_id,
                     state=state, threshold=threshold, members=tuple(members),
                     deadline=deadline, declared_at=declared_at,
                     declarations=tuple(declarations) if state == "active" else None,
                     summary=summary[:2000] or None, **_incident_facts(held))


@dataclass(frozen=True)
class Advisory(WireMessage):
    TYPE = "advisory"
    id: str
    incident_id: str
    run_id: str
    report: str
    tier: int
    to: tuple[str, ...]
    tlp: str
    title: str
    sequence: int | None = None
    body: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Advisory:
        return cls(d["origin"], parse_time(d["issued_at"]), id=d["id"],
                   incident_id=d["incident_id"], run_id=d["run_id"], report=d["report"],
                   tier=int(d["tier"]), to=tuple(d["to"]), tlp=d["tlp"], title=d["title"],
                   sequence=d.get("sequence"), body=d.get("body"), extra=cls.unknown(d))


def build_advisory(*, origin: str, issued_at: datetime, run_id: str, step_id: str,
                   sequence: int, incident_id: str, report: str, tier: int,
                   to: Sequence[str], tlp: str, title: str, body: str | None = None) -> Advisory:
    """An ``advisory`` (or scheduled ``status-report``) with the stable id
    ``<run>.<step>-<sequence>``.

    Raises:
        MessageError: an unknown report kind, a tier outside 0-3, no TLP or an empty title.
    """
    require("advisory", report in ("advisory", "status-report"),
            f"report {report!r} is not advisory or status-report")
    require("advisory", tier in (0, 1, 2, 3), f"tier {tier} is not 0-3")
    require("advisory", bool(tlp), "no TLP: say who may see it")
    require("advisory", bool(title.strip()), "the title is empty")
    return Advisory(origin, issued_at, id=f"{run_id}.{step_id}-{sequence}",
                    incident_id=incident_id, run_id=run_id, report=report, tier=tier,
                    to=tuple(to), tlp=tlp, title=title[:300], sequence=sequence, body=body)


@dataclass(frozen=True)
class Resolution(WireMessage):
    TYPE = "resolution"
    incident_id: str
    outcome: str
    run_id: str | None = None
    escalation_ids: tuple[str, ...] | None = None
    to: tuple[str, ...] | None = None
    resolved_at: datetime | None = None
    summary: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Resolution:
        return cls(d["origin"], parse_time(d["issued_at"]), incident_id=d["incident_id"],
                   outcome=d["outcome"], run_id=d.get("run_id"),
                   escalation_ids=optional_tuple(d.get("escalation_ids")),
                   to=optional_tuple(d.get("to")), resolved_at=_time(d, "resolved_at"),
                   summary=d.get("summary"), extra=cls.unknown(d))


def build_resolution(*, origin: str, issued_at: datetime, incident_id: str, run_id: str,
                     outcome: str, escalation_ids: Sequence[str],
                     to: Sequence[str]) -> Resolution:
    """A ``resolution`` closing the escalations a run sent.

    Raises:
        MessageError: an outcome other than resolved, completed or withdrawn.
    """
    require("resolution", outcome in ("resolved", "completed", "withdrawn"),
            f"outcome {outcome!r} is not resolved, completed or withdrawn")
    return Resolution(origin, issued_at, incident_id=incident_id, outcome=outcome,
                      run_id=run_id, escalation_ids=tuple(escalation_ids), to=tuple(to))
