"""``step``: a run's owner tells the federation that one step of its run moved on.

    >>> from datetime import datetime, timezone
    >>> t = datetime(2026, 11, 20, 9, tzinfo=timezone.utc)
    >>> m = build_step(origin="gb", issued_at=t, run_id="gb-00000001", step_id="ack",
    ...     incident_id="gb-0123456789abcdef", status="succeeded", by="fr",
    ...     escalation_id="gb-00000001.ack", to=["fr", "jp"], run={"id": "gb-00000001"})
    >>> m.to_dict()["by"], m.to_dict()["escalation_id"]
    ('fr', 'gb-00000001.ack')

Sent when a person completes a step (who, the note, the evidence: signed and in the owner's
transparency log) and when a step that asked peers something ends (one recipient acknowledged
a tier that needs any one ack): the other recipients then close their inbox item as "answered
by fr", and the international body counts the escalation answered. It carries the run's view
(``federation.run_model.run_view``), so a recipient can read the run that escalated to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from federation.run_model import SUCCEEDED, PlaybookRun, StepState, run_view
from federation.timeutil import parse_time
from federation.wire import WireMessage, optional_tuple, require

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class StepUpdate(WireMessage):
    TYPE = "step"
    run_id: str
    step_id: str
    incident_id: str
    status: str
    by: str
    note: str | None = None
    evidence: tuple[Mapping[str, str], ...] | None = None
    escalation_id: str | None = None
    to: tuple[str, ...] | None = None
    run: Mapping[str, Any] | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StepUpdate:
        return cls(d["origin"], parse_time(d["issued_at"]), run_id=d["run_id"],
                   step_id=d["step_id"], incident_id=d["incident_id"], status=d["status"],
                   by=d["by"], note=d.get("note"), evidence=optional_tuple(d.get("evidence")),
                   escalation_id=d.get("escalation_id"), to=optional_tuple(d.get("to")),
                   run=d.get("run"), extra=cls.unknown(d))


def evidence_problems(evidence: Any) -> list[tuple[str, str]]:
    """What is wrong with ``evidence`` (``[{"url", "sha256"}]``), as ``(path, message)``."""
    if not isinstance(evidence, list):
        return [("$.evidence", "send a list of {\"url\", \"sha256\"} objects")]
    out = []
    for i, e in enumerate(evidence):
        at = f"$.evidence[{i}]"
        if not isinstance(e, dict) or set(e) - {"url", "sha256"}:
            out.append((at, "an object with only \"url\" and \"sha256\""))
            continue
        if not isinstance(e.get("url"), str) or not e["url"].startswith(("https://", "http://")):
            out.append((f"{at}.url", "an http(s) URL where the evidence can be fetched"))
        if not isinstance(e.get("sha256"), str) or not _SHA256.match(e["sha256"]):
            out.append((f"{at}.sha256", "the SHA-256 of the evidence: 64 lowercase hex digits"))
    return out


def build_step(*, origin: str, issued_at: datetime, run_id: str, step_id: str,
               incident_id: str, status: str, by: str, note: str | None = None,
               evidence: Sequence[Mapping[str, str]] = (), escalation_id: str | None = None,
               to: Sequence[str] = (), run: Mapping[str, Any] | None = None) -> StepUpdate:
    """A ``step`` message; ``by`` is the person (completion) or member (answer) that ended it.

    Raises:
        MessageError: no ``by``, or malformed evidence.
    """
    require("step", bool(by.strip()), "say who completed the step")
    problems = evidence_problems(list(evidence))
    require("step", not problems, "; ".join(f"{p}: {m}" for p, m in problems))
    return StepUpdate(origin, issued_at, run_id=run_id, step_id=step_id,
                      incident_id=incident_id, status=status, by=by[:300],
                      note=note[:5000] if note else None,
                      evidence=tuple(dict(e) for e in evidence) or None,
                      escalation_id=escalation_id, to=tuple(to) or None,
                      run=dict(run) if run is not None else None)


def step_updates(before: PlaybookRun | None, after: PlaybookRun, *, origin: str,
                 now: datetime) -> list[StepUpdate]:
    """What a transition from ``before`` to ``after`` tells the federation: a step a person
    completed (or filed again), a step that asked peers and was answered, and a step that
    starts asking peers (so the recipients can read the run that asks them)."""
    view: dict[str, Any] | None = None  # built once, and only if a step has news
    out = []
    for i, st in enumerate(after.steps):
        prev = before.steps[i] if before is not None else None
        by = _ended_by(prev, st, origin)
        if by:
            view = view if view is not None else run_view(after)
            out.append(build_step(
                origin=origin, issued_at=now, run_id=after.id, step_id=st.step_id,
                incident_id=after.incident_id, status=st.status, by=by,
                note=st.note or None if by == st.filed_by else None,
                evidence=st.evidence if by == st.filed_by else (),
                escalation_id=st.request_id or None, to=st.targets, run=view))
    return out


def _ended_by(prev: StepState | None, st: StepState, origin: str) -> str:
    """Who moved ``st`` on since ``prev`` in a way peers must hear of ("" when nobody)."""
    if st.filed_by and (prev is None or st.filed_at != prev.filed_at):
        return st.filed_by
    if st.targets and st.status == SUCCEEDED and st.acked_by and (
            prev is None or prev.status != SUCCEEDED):
        return st.acked_by[0]
    if st.targets and st.waiting and (prev is None or not prev.waiting
                                      or prev.request_id != st.request_id):
        return origin
    return ""
