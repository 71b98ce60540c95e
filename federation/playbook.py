"""Contingency playbooks: the model, the YAML reader that names file and line, and matching.

    schemas = node.core.schemas.default_schemas()
    pb = parse_playbook_yaml(text, "playbooks/red-line-crossing.yaml", schemas=schemas)
    [p.id for p in matching_playbooks([pb], incident_doc, local_id="gb", is_local=True)]
    ['red-line-crossing']

A playbook (DESIGN §5) is a trigger (``federation.triggers``) and a graph of steps. Steps move
forward only — on success to ``on_success`` (default the next step; an escalation defaults to
the first step after its chain of escalations, because an acknowledgement stops the chain, as in
PagerDuty escalation policies and Grafana OnCall chains), on a missed deadline to ``on_failure``
(default the next step). Forward-only keeps every run finite and the CACAO export acyclic. A
``parallel`` step fans out into branches that run side by side and join at its
``on_completion`` (``federation.playbook_graph``): escalation and every regulatory clock run at
once from the moment the incident is known. A step's ``clock`` may name a regulatory clock
(``federation.regimes``); its period, anchor, repetition and citation then apply.

``parse_playbook_yaml`` composes the YAML node tree first, so every schema or semantic problem
names file, line and JSON path: ``playbooks/x.yaml:14: $.steps[2].deadline: ...``. The schema is
passed in (``node.core.schemas.default_schemas()``); this module reads no files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import orjson

from federation.durations import parse_duration
from federation.errors import Error
from federation.playbook_checks import (
    BLOCKING,
    LOCAL_CLOCKS,
    check_clocks,
    check_durations,
    check_fields,
    check_ids,
    check_targets,
    check_versions,
)
from federation.playbook_graph import StepGraph
from federation.playbook_source import PlaybookProblem, load_yaml
from federation.regimes import NO_REGIMES, Clock, Regimes
from federation.schema import SchemaSet, json_path
from federation.timeutil import parse_time
from federation.triggers import Conditions, IncidentFacts, Trigger

__all__ = [
    "BLOCKING", "Playbook", "PlaybookError", "PlaybookProblem", "Step", "UpgradeRule",
    "match", "matching_playbooks", "parse_playbook_yaml", "playbook_problems",
]



class PlaybookError(Error):
    """A playbook file is not valid; ``problems`` name file, line, JSON path and message each."""

    def __init__(self, problems: list[PlaybookProblem]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}" if problems else "invalid playbook")



@dataclass(frozen=True)
class DeadlineRule:
    when: Conditions
    deadline: timedelta | None = None
    clock: Clock | None = None


@dataclass(frozen=True)
class UpgradeRule:
    """On an upgrading revision whose facts satisfy ``when``, jump forward to step ``goto``."""

    when: Conditions
    goto: str


@dataclass(frozen=True)
class Step:
    id: str
    action: str
    title: str = ""
    description: str = ""
    role: str = ""
    tier: int = 0
    deadline: timedelta | None = None
    clock: str = "step"
    deadline_when: tuple[DeadlineRule, ...] = ()
    acks: str = "any"
    threshold: int | str | None = None
    every: timedelta | None = None
    request: str = ""
    tlp: str = ""
    on_success: str | None = None
    on_failure: str | None = None
    next_steps: tuple[str, ...] = ()
    on_completion: str | None = None
    regime: Clock | None = None  # the regulatory clock ``clock`` names, if any
    when: Conditions | None = None  # the step applies only if these hold

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], regimes: Regimes = NO_REGIMES) -> Step:
        """Build from a schema-valid step; ``regimes`` resolves regulatory clock ids.

        Raises:
            RegimeError: the step names a clock ``regimes`` does not define.
        """
        def dur(key: str) -> timedelta | None:
            return parse_duration(d[key]) if key in d else None

        def regime(key: str, raw: Mapping[str, Any]) -> Clock | None:
            name = raw.get(key)
            return regimes.clock(name) if name and name not in LOCAL_CLOCKS else None

        return cls(
            id=d["id"], action=d["action"], title=d.get("title", ""),
            description=d.get("description", ""), role=d.get("role", ""),
            tier=int(d.get("tier", 0)), deadline=dur("deadline"), clock=d.get("clock", "step"),
            deadline_when=tuple(DeadlineRule(
                Conditions.from_dict(r["when"]),
                parse_duration(r["deadline"]) if "deadline" in r else None, regime("clock", r))
                for r in d.get("deadline_when", ())),
            acks=d.get("acks", "any"), threshold=d.get("threshold"), every=dur("every"),
            request=d.get("request", ""), tlp=d.get("tlp", ""),
            on_success=d.get("on_success"), on_failure=d.get("on_failure"),
            next_steps=tuple(d.get("next_steps", ())), on_completion=d.get("on_completion"),
            regime=regime("clock", d),
            when=Conditions.from_dict(d["when"]) if "when" in d else None,
        )

    @property
    def blocking(self) -> bool:
        """True if the step waits for an input or a timer before the run moves on."""
        return self.action in BLOCKING or (self.action == "request-action"
                                           and self.deadline is not None)

    @property
    def duty(self) -> str:
        """Whose duty the step's regulatory clock is (provider, entity, authority), or ''."""
        return self.regime.duty if self.regime else ""

    @property
    def label(self) -> str:
        return self.title or self.id.replace("-", " ").capitalize()

    def deadline_for(self, facts: IncidentFacts) -> tuple[timedelta | None, Clock | None]:
        """The duration and regulatory clock that apply to ``facts``: those of the first
        ``deadline_when`` rule that holds, else the step's own."""
        for rule in self.deadline_when:
            if rule.when.holds(facts):
                return rule.deadline or (self.deadline if rule.clock else None), rule.clock
        return self.deadline, self.regime


@dataclass(frozen=True)
class Playbook:
    id: str
    version: int
    title: str
    description: str
    created: datetime
    modified: datetime
    tlp: str
    trigger: Trigger
    steps: tuple[Step, ...]
    on_upgrade: tuple[UpgradeRule, ...] = ()
    references: tuple[Mapping[str, str], ...] = ()
    document: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], regimes: Regimes | None = None) -> Playbook:
        """Build from a document that passed ``playbook_problems`` (or a run's stored snapshot,
        whose ``x-clocks`` carries the regulatory clocks it uses when ``regimes`` is None)."""
        clocks = regimes if regimes is not None else Regimes.embedded(d.get("x-clocks"))
        created = parse_time(d["created"])
        return cls(
            id=d["id"], version=int(d["version"]), title=d["title"],
            description=d["description"], created=created,
            modified=parse_time(d["modified"]) if d.get("modified") else created,
            tlp=d.get("tlp", "GREEN"), trigger=Trigger.from_dict(d["trigger"]),
            steps=tuple(Step.from_dict(s, clocks) for s in d["steps"]),
            on_upgrade=tuple(UpgradeRule(Conditions.from_dict(r["when"]), r["goto"])
                             for r in d.get("on_upgrade", ())),
            references=tuple(dict(r) for r in d.get("references", ())), document=d,
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.document)

    @cached_property
    def document_json(self) -> bytes:
        """``to_dict`` as JSON, encoded once: every run stores a snapshot of its playbook, and
        encoding it again for each run was a tenth of a draining node's CPU."""
        return orjson.dumps(self.document, option=orjson.OPT_NON_STR_KEYS)

    def index_of(self, step_id: str) -> int:
        return next(i for i, s in enumerate(self.steps) if s.id == step_id)

    @cached_property
    def graph(self) -> StepGraph:
        """The parallel branches (``federation.playbook_graph``)."""
        return StepGraph.build([(s.action, s.next_steps, s.on_completion or "")
                                for s in self.steps], [s.id for s in self.steps])

    def success_target(self, index: int) -> int:
        """Index of the step after ``index`` succeeds; ``len(steps)`` means the run completes.
        Leaving a parallel branch lands on its join (``StepGraph.fit``)."""
        step = self.steps[index]
        if step.action == "parallel" and step.on_completion:
            return self.graph.fit(index, self.index_of(step.on_completion))
        if step.on_success:
            return self.graph.fit(index, self.index_of(step.on_success))
        nxt = index + 1
        if step.action == "escalate":  # an acknowledgement stops the whole escalation chain
            while nxt < len(self.steps) and self.steps[nxt].action == "escalate":
                nxt += 1
        return self.graph.fit(index, nxt)

    def failure_target(self, index: int) -> int:
        """Index of the step after ``index`` misses its deadline (the next tier, by default)."""
        step = self.steps[index]
        target = self.index_of(step.on_failure) if step.on_failure else index + 1
        return self.graph.fit(index, target)

    def clocks(self) -> dict[str, Clock]:
        """Every regulatory clock the steps name, by id."""
        found = [c for s in self.steps for c in (s.regime, *(r.clock for r in s.deadline_when))
                 if c is not None]
        return {c.id: c for c in found}


def parse_playbook_yaml(text: str, filename: str, *, schemas: SchemaSet,
                        regimes: Regimes = NO_REGIMES) -> Playbook:
    """Read one playbook file, validating it against ``playbook.v1.json`` and the step rules.

    Args:
        text: the YAML source.
        filename: the name to put in problems (as the user would open it).
        schemas: the project's schemas (``node.core.schemas.default_schemas()``).
        regimes: the regulatory clocks steps may name (``playbooks/regimes.yaml``).

    Returns:
        The playbook.

    Raises:
        PlaybookError: with every problem found, each naming file, line and JSON path.
    """
    data, source = load_yaml(text, filename)
    problems = list(source.problems)
    if not problems:
        problems = [source.problem(p.path, p.message) for p in schemas.problems("playbook", data)]
    if not problems:
        problems = [source.problem(path, message)
                    for path, message in playbook_problems(data, regimes)]
    if problems:
        raise PlaybookError(sorted(problems, key=lambda p: (p.line, p.path)))
    playbook = Playbook.from_dict(data, regimes)
    # The snapshot a run stores carries the clocks it uses, so it never needs the regimes file.
    embedded = {**data, "x-clocks": {k: c.to_dict() for k, c in playbook.clocks().items()}}
    return Playbook.from_dict(embedded, regimes)


def playbook_problems(doc: Mapping[str, Any],
                      regimes: Regimes = NO_REGIMES) -> list[tuple[str, str]]:
    """The rules a schema cannot state, for a schema-valid document: ``[(json_path, message)]``."""
    steps: Sequence[Mapping[str, Any]] = doc["steps"]
    ids = [s["id"] for s in steps]
    problems = check_versions(doc) + check_ids(ids) + check_durations(steps)
    problems += check_fields(steps) + check_targets(doc, ids) + check_clocks(steps, regimes)
    if not problems:
        shapes = [(s["action"], s.get("next_steps", ()), s.get("on_completion", ""))
                  for s in steps]
        targets = [[(k, s[k]) for k in ("on_success", "on_failure") if k in s] for s in steps]
        problems += StepGraph.build(shapes, ids).problems(shapes, ids, targets)
    if not problems:
        problems += _check_reachable(Playbook.from_dict(doc, regimes))
    return problems


def _check_reachable(pb: Playbook) -> list[tuple[str, str]]:
    n = len(pb.steps)
    todo = [0] + [pb.index_of(r.goto) for r in pb.on_upgrade]
    seen: set[int] = set()
    while todo:
        i = todo.pop()
        if i >= n or i in seen:
            continue
        seen.add(i)
        step = pb.steps[i]
        if step.action == "parallel":
            todo += [pb.index_of(r) for r in step.next_steps] + [pb.success_target(i)]
        elif step.action != "close":
            todo += [pb.success_target(i), pb.failure_target(i)] if step.blocking \
                else [pb.success_target(i)]
    return [(json_path(["steps", i]), f"step {s.id!r} can never run (nothing leads to it)")
            for i, s in enumerate(pb.steps) if i not in seen]


def match(playbook: Playbook, incident_doc: Mapping[str, Any], *, local_id: str,
          is_local: bool) -> bool:
    """True if ``playbook`` should start for this incident (or emergency) document at ``local_id``.

    Args:
        playbook: the playbook.
        incident_doc: a schema-valid ``incident`` or ``emergency`` document.
        local_id: the member id of the node deciding.
        is_local: the document was filed by this node (scope ``own``) rather than a peer.

    Returns:
        Whether the trigger holds (see ``federation.triggers``).
    """
    facts = IncidentFacts.from_document(incident_doc)
    return playbook.trigger.matches(facts, local_id=local_id, is_local=is_local)


def matching_playbooks(playbooks: Iterable[Playbook], incident_doc: Mapping[str, Any], *,
                       local_id: str, is_local: bool) -> list[Playbook]:
    """Every playbook whose trigger holds, in the order given."""
    return [p for p in playbooks
            if match(p, incident_doc, local_id=local_id, is_local=is_local)]
