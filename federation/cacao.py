"""Export playbooks as OASIS CACAO 2.0 JSON, deterministically.

    doc = export_cacao(playbook)
    doc["spec_version"], doc["id"].startswith("playbook--")
    ('cacao-2.0', True)
    check_step_graph(doc)  # [] when sound; CacaoValidator(schema_docs).problems(doc) too

Mapping (CACAO 2.0 §3-4):

* one ``action`` step per Beacon step, with a ``manual`` command describing what people do; the
  agent is the role (``individual``) or this authority's node (``organization``); the targets
  are the role or the audience tier (``group``);
* a step's deadline becomes its ``timeout`` (milliseconds); a waiting step has ``on_success``
  (acknowledged, quorum reached) and ``on_failure`` (timed out: the next tier — an unanswered
  escalation fails over to the next one), others ``on_completion``;
* a periodic status report becomes a ``while-condition`` loop around its action (``delay`` =
  the interval); a watch becomes an action with a ``delay``;
* ``close`` becomes an action followed by the ``end`` step;
* a ``parallel`` step becomes a CACAO ``parallel`` step whose ``next_steps`` are the first steps
  of its branches and whose ``on_completion`` is the join. As CACAO 2.0 requires ("Each branch
  MUST reference a unique end step when that branch has completed processing"), a move that
  leaves a branch points to that branch's own ``end`` step; the join runs from the parallel
  step once every branch has ended;
* a regulatory clock's period becomes the ``timeout`` when it is a fixed span from awareness;
  the step text cites the article, the anchor and whose duty it is.

The export reads no clock and draws no random numbers, so the same playbook always exports the
same bytes: ``created``/``modified`` come from the playbook; the playbook id is a UUIDv5 of the
Beacon playbook id (one CACAO id for all versions of a playbook, which CACAO tells apart by
``modified``); step ids are UUIDv4-shaped (CACAO requires v4 for steps) but derived from a hash
of the playbook and step ids. The TLP marking is the official CACAO TLP 2.0 definition.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from federation.cacao_check import CacaoValidator, check_step_graph
from federation.durations import iso_duration
from federation.playbook import Playbook, Step
from federation.playbook_graph import Branch
from federation.regimes import Clock
from federation.severity import Severity

__all__ = ["CacaoValidator", "check_step_graph", "export_cacao", "playbook_uuid"]

# A namespace of our own: CACAO reserves aa7caf3a-… for ids derived from name + playbook_types.
BEACON_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://beacon.example/playbooks/")
CREATED_BY = f"identity--{uuid.uuid5(BEACON_NAMESPACE, 'beacon-federation')}"
# Official CACAO TLP 2.0 marking definitions (oasis-tcs/cacao Common-Objects/Data-Markings).
_TLP_MARKINGS = {
    "CLEAR": "94868c89-83c2-464b-929b-a1a8aa3c8487",
    "GREEN": "bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "AMBER": "55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "AMBER+STRICT": "939a9414-2ddd-4d32-a0cd-375ea402b003",
    "RED": "e828b379-4e03-4974-9ac4-e53a884c97c1",
}
_TLP_CREATED_BY = "identity--5abe695c-7bd5-4c31-8824-2528696cdbf1"
_AUDIENCES = {1: "Affected peers (tier 1)",
              2: "All members and the international body (tier 2)",
              3: "Global emergency: all members and the international body (tier 3)"}
_ACTIVITY = {"notify": "deliver-content", "escalate": "deliver-content",
             "publish-advisory": "deliver-content", "acknowledge": "identify-audience",
             "quorum": "analyze-collected-data", "record": "analyze-collected-data",
             "watch": "analyze-collected-data", "status-report": "compose-content",
             "report": "compose-content", "request-action": "eliminate-risk",
             "close": "step-sequence"}
_QUORUM = {"majority": "a majority", "two-thirds": "two thirds", "all": "all"}
_SEVERITY = {Severity.HAZARD: 20, Severity.SERIOUS_HAZARD: 40, Severity.INCIDENT: 60,
             Severity.SERIOUS_INCIDENT: 80, Severity.DISASTER: 100}


def playbook_uuid(playbook_id: str) -> uuid.UUID:
    """The UUIDv5 behind ``playbook--…``: the same for every version of a Beacon playbook."""
    return uuid.uuid5(BEACON_NAMESPACE, playbook_id)


def export_cacao(playbook: Playbook) -> dict[str, Any]:
    """A CACAO 2.0 playbook for ``playbook``.

    Args:
        playbook: a parsed Beacon playbook.

    Returns:
        A JSON-ready dict that validates against the official CACAO 2.0 schemas and passes
        ``check_step_graph``.
    """
    ids = _Ids(playbook)
    workflow: dict[str, Any] = {}
    start, end = ids.make("start", "start"), ids.make("end", "end")
    workflow[start] = {"type": "start", "name": "Start", "on_completion": ids.step(0)}
    for i, step in enumerate(playbook.steps):
        workflow.update(_steps_for(playbook, i, step, ids, end))
    for branches in playbook.graph.branches.values():
        for b in branches:
            workflow[ids.branch_end(b)] = {
                "type": "end", "name": f"End of branch {playbook.steps[b.root].label}"}
    workflow[end] = {"type": "end", "name": "End"}
    marking = f"marking-tlp--{_TLP_MARKINGS[playbook.tlp]}"
    doc: dict[str, Any] = {
        "type": "playbook", "spec_version": "cacao-2.0",
        "id": f"playbook--{playbook_uuid(playbook.id)}", "name": playbook.title,
        "description": _description(playbook),
        "playbook_types": _types(playbook),
        "playbook_activities": sorted({_activity(s) for s in playbook.steps
                                       if s.action != "parallel"}),
        "playbook_processing_summary": {
            "manual_playbook": True, "temporal_logic": True, "data_markings": True,
            "while_logic": any(s.action == "status-report" for s in playbook.steps)},
        "created_by": CREATED_BY, "created": _ms(playbook.created),
        "modified": _ms(playbook.modified),
        "labels": _labels(playbook),
        "external_references": _references(playbook),
        "markings": [marking],
        "playbook_variables": {
            "__incident_id__": {"type": "string", "external": True,
                                "description": "the Beacon incident id the run acts on"},
            "__run_id__": {"type": "string", "external": True,
                           "description": "the Beacon run id (escalation ids derive from it)"}},
        "workflow_start": start, "workflow": workflow,
        "agent_definitions": ids.agents, "target_definitions": ids.targets,
        "data_marking_definitions": {marking: {
            "type": "marking-tlp", "id": marking, "created_by": _TLP_CREATED_BY,
            "created": "2022-10-01T00:00:00.000Z", "tlpv2_level": f"TLP:{playbook.tlp}"}},
    }
    severity = _severity(playbook)
    if severity:
        doc["severity"] = severity
    return doc


class _Ids:
    """Deterministic, collision-free CACAO ids for one playbook, and the agents/targets used."""

    def __init__(self, playbook: Playbook) -> None:
        self.playbook = playbook
        self.agents: dict[str, Any] = {}
        self.targets: dict[str, Any] = {}

    def make(self, kind: str, key: str) -> str:
        h = hashlib.sha256(f"beacon-cacao\n{self.playbook.id}\n{kind}\n{key}".encode()).digest()
        return f"{kind}--{uuid.UUID(bytes=h[:16], version=4)}"

    def step(self, index: int) -> str:
        """The id to jump to for step ``index`` (the loop head of a periodic report)."""
        steps = self.playbook.steps
        if index >= len(steps):
            return self.make("end", "end")
        kind = {"status-report": "while-condition", "parallel": "parallel"}.get(
            steps[index].action, "action")
        return self.make(kind, steps[index].id)

    def branch_end(self, b: Branch) -> str:
        steps = self.playbook.steps
        return self.make("end", f"branch {steps[b.parallel].id}/{steps[b.root].id}")

    def next(self, src: int, target: int) -> str:
        """The pointer from step ``src`` to ``target``: its branch's end if it leaves it."""
        lane = self.playbook.graph.lane(src)
        if lane is not None and not lane.covers(target):
            return self.branch_end(lane)
        return self.step(target)

    def node(self) -> str:
        ref = self.make("organization", "node")
        self.agents[ref] = {"type": "organization", "name": "This authority's Beacon node",
                            "description": "the national authority running the playbook"}
        return ref

    def role(self, role: str, *, as_target: bool = False) -> str:
        ref = self.make("individual", role)
        entry = {"type": "individual", "name": role.replace("-", " ").capitalize(),
                 "description": f"the {role} role at the national authority"}
        (self.targets if as_target else self.agents)[ref] = entry
        return ref

    def audience(self, tier: int) -> str:
        ref = self.make("group", f"tier-{tier}")
        self.targets[ref] = {"type": "group", "name": _AUDIENCES[tier]}
        return ref

    def quorum(self) -> str:
        ref = self.make("group", "quorum-members")
        self.targets[ref] = {"type": "group", "name": "Member authorities (quorum)"}
        return ref


def _steps_for(pb: Playbook, i: int, step: Step, ids: _Ids, end: str) -> dict[str, Any]:
    if step.action == "parallel":
        return {ids.step(i): {
            "type": "parallel", "name": step.label,
            "description": step.description or "Every branch runs at the same time; the next "
                                                "step runs once all of them have ended.",
            "next_steps": [ids.step(pb.index_of(r)) for r in step.next_steps],
            "on_completion": ids.next(i, pb.success_target(i))}}
    action: dict[str, Any] = {
        "type": "action", "name": step.label, "description": _step_text(step),
        "commands": [{"type": "manual", "description": _command_text(step),
                      "playbook_activity": _activity(step)}],
    }
    action.update(_agent_and_targets(step, ids))
    own = ids.make("action", step.id)
    if step.action == "close":
        action["on_completion"] = end
        return {own: action}
    success = ids.next(i, pb.success_target(i))
    if step.action == "status-report":
        loop = ids.make("while-condition", step.id)
        action["delay"] = _ms_of(step.every)
        action["on_completion"] = loop
        head: dict[str, Any] = {
            "type": "while-condition", "name": f"{step.label}: repeat",
            "description": f"Every {_dur(step.every)} until the incident is resolved"
                           + (f" or {_dur(step.deadline)} have passed" if step.deadline else ""),
            "condition": "[x-beacon-incident:status != 'resolved']",
            "on_true": own, "on_completion": success}
        if step.deadline:
            head["timeout"] = _ms_of(step.deadline)
        return {loop: head, own: action}
    if step.action == "watch":
        action["delay"] = _ms_of(step.deadline)
        action["on_completion"] = success
    elif step.blocking:
        timeout = _timeout(step)
        if timeout:
            action["timeout"] = timeout
        action["on_success"] = success
        action["on_failure"] = ids.next(i, pb.failure_target(i))
    else:
        action["on_completion"] = success
    return {own: action}


def _agent_and_targets(step: Step, ids: _Ids) -> dict[str, Any]:
    if step.action in ("acknowledge", "report", "watch") and step.role:
        return {"agent": ids.role(step.role)}
    out: dict[str, Any] = {"agent": ids.node()}
    if step.action in ("notify", "record") and step.role:
        out["targets"] = [ids.role(step.role, as_target=True)]
    elif step.action == "quorum":
        out["targets"] = [ids.quorum()]
    elif step.tier:
        out["targets"] = [ids.audience(step.tier)]
    return out


def _timeout(step: Step) -> int:
    """Milliseconds for CACAO's ``timeout``: the step's deadline, or a regulatory clock's fixed
    period (a calendar month has no fixed length; the text then states the rule)."""
    clock = step.regime
    if clock is not None and clock.period is not None and not clock.period.months:
        return _ms_of(clock.period.fixed)
    return _ms_of(step.deadline) if clock is None or clock.immediately else 0


def _clock_text(clock: Clock, internal: timedelta | None) -> str:
    when = (f"{clock.period.iso()} after" if clock.period else
            f"every {clock.every.iso()} after" if clock.every else "immediately on")
    target = f" (internal target {_dur(internal)})" if clock.immediately and internal else ""
    until = f", until {clock.until}" if clock.until else ""
    return (f"Deadline ({clock.citation}, the {clock.duty}'s duty, to the {clock.to}): "
            f"{when} {clock.anchor}{until}{target}.")


def _step_text(step: Step) -> str:
    parts = [step.description] if step.description else []
    if step.regime is not None:
        parts.append(_clock_text(step.regime, step.deadline))
    elif step.deadline:
        start = "the incident's awareness time" if step.clock == "awareness" else "the step's start"
        parts.append(f"Deadline: {_dur(step.deadline)} from {start}.")
    for r in step.deadline_when:
        parts.append(f"Instead, when its conditions hold: {_clock_text(r.clock, r.deadline)}"
                     if r.clock else f"Deadline {_dur(r.deadline)} instead when its conditions "
                                     "hold.")
    if step.when is not None:
        parts.append("Applies only when its conditions hold; otherwise it is skipped.")
    if step.action == "report" and step.every:
        parts.append(f"A status update is due every {_dur(step.every)} while it is pending.")
    if step.action == "escalate":
        parts.append("An acknowledgement stops the escalation chain; without one, the timeout "
                     f"fails over to the next tier ({'every' if step.acks == 'all' else 'any'} "
                     "recipient must acknowledge).")
    return " ".join(parts) or step.label


def _command_text(step: Step) -> str:
    texts = {
        "notify": f"Notify the {step.role}.",
        "record": f"Record the incident in the {step.role or 'local'} register.",
        "acknowledge": f"The {step.role} acknowledges the incident in Beacon.",
        "escalate": f"Send a signed escalation to the tier {step.tier} audience; wait for "
                    "acknowledgements.",
        "request-action": f"Ask the tier {step.tier} audience to {step.request.replace('-', ' ')} "
                          "for the named deployments.",
        "quorum": "Propose a federation-wide emergency; collect signed declarations from "
                  f"{_QUORUM.get(str(step.threshold), step.threshold)} of the member authorities.",
        "publish-advisory": f"Publish a {step.tlp or 'AMBER'} advisory to the tier {step.tier} "
                            "audience.",
        "status-report": f"Publish a status report to the tier {step.tier} audience.",
        "report": f"The {step.role} files the report and marks it filed in Beacon.",
        "watch": "Review the incident; acknowledge in Beacon when reviewed.",
        "close": "Close the run and send resolutions to every member escalated to.",
    }
    return texts[step.action]


def _activity(step: Step) -> str:
    if step.action == "request-action" and step.request.startswith("suspend"):
        return "disconnect-system"
    return _ACTIVITY[step.action]


def _types(pb: Playbook) -> list[str]:
    actions = {s.action for s in pb.steps}
    types = ["notification"]
    if actions & {"record", "watch"}:
        types.append("investigation")
    if "request-action" in actions:
        types.append("mitigation")
    return types


def _labels(pb: Playbook) -> list[str]:
    t = pb.trigger
    c = t.conditions
    labels = ["beacon", f"beacon-playbook:{pb.id}", f"beacon-version:{pb.version}",
              f"beacon-event:{t.event}", f"beacon-scope:{t.scope}"]
    if c.severity_at_least:
        labels.append(f"beacon-severity-at-least:{c.severity_at_least.value}")
    if c.severity_exactly:
        labels.append(f"beacon-severity-exactly:{c.severity_exactly.value}")
    for name, vs in (("red-lines", c.red_lines), ("harm-types", c.harm_types),
                     ("tripwires", c.tripwire_ids)):
        if vs is not None:
            labels.append(f"beacon-{name}:{','.join(sorted(vs.values)) or 'any'}")
    return labels


def _description(pb: Playbook) -> str:
    text = pb.description
    if pb.on_upgrade:
        text += (" On a revision that raises the severity or adds a red line, the run jumps "
                 "ahead to: " + ", ".join(dict.fromkeys(r.goto for r in pb.on_upgrade)) + ".")
    return text


def _references(pb: Playbook) -> list[dict[str, str]]:
    refs = [{"name": "Beacon playbook", "external_id": f"{pb.id}@{pb.version}",
             "description": "the source playbook (playbooks/*.yaml) this export was made from"}]
    return refs + [dict(r) for r in pb.references]


def _severity(pb: Playbook) -> int:
    c = pb.trigger.conditions
    if c.red_lines is not None or pb.trigger.event == "emergency":
        return 100
    floor = c.severity_at_least or c.severity_exactly
    return _SEVERITY[floor] if floor else 0


def _ms(t: datetime) -> str:
    # CACAO: "to the nearest millisecond (exactly three digits after the decimal place)".
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _ms_of(d: timedelta | None) -> int:
    return int((d or timedelta(0)).total_seconds() * 1000)  # CACAO timeouts are milliseconds


def _dur(d: timedelta | None) -> str:
    return iso_duration(d) if d else "-"
