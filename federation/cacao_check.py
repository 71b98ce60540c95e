"""Check CACAO 2.0 playbooks: the official JSON schemas, and the soundness of the step graph.

    >>> for problem in check_step_graph({"workflow_start": "start--1", "workflow": {
    ...         "start--1": {"type": "start", "on_completion": "action--2"}}}):
    ...     print(problem)
    the workflow has no end step
    start--1 points to action--2, which is not in the workflow
    start--1 can never reach an end step

The official schemas (oasis-open/cacao-json-schemas) declare draft-07 but use 2020-12 keywords
(``unevaluatedProperties``, ``$defs``). jsonschema picks a validator from each resource's
``$schema`` when following a ``$ref``, so validating them as they are silently ignores
``unevaluatedProperties`` below the top level. ``CacaoValidator`` therefore loads every file as
a 2020-12 resource. The schemas cannot say that ``on_completion`` excludes
``on_success``/``on_failure`` (their ``anyOf`` is vacuous for non-end steps) nor that pointers
name existing steps, so ``check_step_graph`` does, with reachability and loop checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jsonschema
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from federation.schema import json_path

PLAYBOOK_SCHEMA_ID = (
    "https://raw.githubusercontent.com/oasis-open/cacao-json-schemas/main/schemas/playbook.json")
_POINTERS = ("on_completion", "on_success", "on_failure", "on_true", "on_false")


class CacaoValidator:
    """Validates CACAO 2.0 playbooks against the official schema documents (read by the caller)."""

    def __init__(self, documents: Iterable[Mapping[str, Any]]) -> None:
        resources = []
        for d in documents:
            doc = {**d, "$schema": "https://json-schema.org/draft/2020-12/schema"}
            resources.append((str(d["$id"]), DRAFT202012.create_resource(doc)))
        registry: Registry[Any] = Registry().with_resources(resources)
        root = registry.contents(PLAYBOOK_SCHEMA_ID)
        self._validator = jsonschema.Draft202012Validator(root, registry=registry)

    def schema_problems(self, doc: Any) -> list[str]:
        """Schema failures as ``$.path: message``, sorted."""
        return sorted(f"{json_path(e.absolute_path)}: {e.message}"
                      for e in self._validator.iter_errors(doc))

    def problems(self, doc: Any) -> list[str]:
        """Schema failures, then step-graph problems; empty if the playbook is sound."""
        found = self.schema_problems(doc)
        return found + (check_step_graph(doc) if isinstance(doc, Mapping) else [])


def check_step_graph(doc: Mapping[str, Any]) -> list[str]:
    """Problems with a CACAO playbook's workflow graph (empty if sound).

    Checks: the start step exists, is unique and is a ``start``; there is an end; every pointer
    names a step (and never the start); ``on_completion`` never appears beside
    ``on_success``/``on_failure``; start and end steps use only the pointers allowed them; every
    other step has a way out; every step is reachable from the start and can reach an end; a
    loop must pass through a ``while-condition``; agents, targets and markings are defined.
    """
    workflow = doc.get("workflow")
    if not isinstance(workflow, Mapping) or not workflow:
        return ["the workflow is empty"]
    problems = _check_start_end(doc, workflow)
    edges: dict[str, list[str]] = {}
    for step_id, step in workflow.items():
        problems += _check_step(doc, workflow, step_id, step)
        edges[step_id] = [t for t in _targets(step) if t in workflow]
    start = str(doc.get("workflow_start"))
    if start in workflow:
        reached = _reach(start, edges)
        problems += [f"{s} is unreachable from the start" for s in workflow if s not in reached]
    reverse: dict[str, list[str]] = {s: [] for s in workflow}
    for s, outs in edges.items():
        for t in outs:
            reverse[t].append(s)
    ends = [s for s, step in workflow.items() if step.get("type") == "end"]
    finishing = set().union(*(_reach(e, reverse) for e in ends)) if ends else set()
    problems += [f"{s} can never reach an end step" for s in workflow if s not in finishing]
    problems += _check_loops(workflow, edges)
    problems += _check_branches(workflow, edges)
    defined = doc.get("data_marking_definitions", {})
    problems += [f"marking {m} is not in data_marking_definitions"
                 for m in doc.get("markings", ()) if m not in defined]
    return problems


def _check_start_end(doc: Mapping[str, Any], workflow: Mapping[str, Any]) -> list[str]:
    problems = []
    start = str(doc.get("workflow_start"))
    if start not in workflow:
        problems.append(f"workflow_start {start} is not a step of the workflow")
    elif workflow[start].get("type") != "start":
        problems.append(f"workflow_start {start} is a {workflow[start].get('type')} step")
    starts = [s for s, step in workflow.items() if step.get("type") == "start"]
    if len(starts) > 1:
        problems.append(f"{len(starts)} start steps: {', '.join(starts)}")
    if not any(step.get("type") == "end" for step in workflow.values()):
        problems.append("the workflow has no end step")
    return problems


def _check_step(doc: Mapping[str, Any], workflow: Mapping[str, Any], step_id: str,
                step: Mapping[str, Any]) -> list[str]:
    kind = step.get("type", "")
    problems = []
    if not step_id.startswith(f"{kind}--"):
        problems.append(f"{step_id} is a {kind} step but its id says otherwise")
    if "on_completion" in step and ("on_success" in step or "on_failure" in step):
        problems.append(f"{step_id} has on_completion beside on_success/on_failure")
    if kind == "start" and ("on_success" in step or "on_failure" in step):
        problems.append(f"{step_id}: a start step may only use on_completion")
    targets = _targets(step)
    if kind == "end" and targets:
        problems.append(f"{step_id}: an end step may not point anywhere")
    if kind != "end" and not targets:
        problems.append(f"{step_id} has no next step (dead end)")
    for t in targets:
        if t not in workflow:
            problems.append(f"{step_id} points to {t}, which is not in the workflow")
        elif workflow[t].get("type") == "start":
            problems.append(f"{step_id} points back to the start step {t}")
    agent = step.get("agent")
    if agent is not None and agent not in doc.get("agent_definitions", {}):
        problems.append(f"{step_id}: agent {agent} is not in agent_definitions")
    problems += [f"{step_id}: target {t} is not in target_definitions"
                 for t in step.get("targets", ()) if t not in doc.get("target_definitions", {})]
    return problems


def _targets(step: Mapping[str, Any]) -> list[str]:
    out = [step[k] for k in _POINTERS if isinstance(step.get(k), str)]
    out += [t for t in step.get("next_steps", ()) if isinstance(t, str)]  # parallel
    cases = step.get("cases")  # switch-condition: case → step id
    if isinstance(cases, Mapping):
        out += [t for t in cases.values() if isinstance(t, str)]
    return out


def _reach(start: str, edges: Mapping[str, list[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for t in edges.get(todo.pop(), ()):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return seen


def _check_branches(workflow: Mapping[str, Any], edges: Mapping[str, list[str]]) -> list[str]:
    """CACAO 2.0 parallel step: "Each branch MUST reference a unique end step when that branch
    has completed processing" — each branch reaches an end step no other branch reaches."""
    problems = []
    for step_id, step in workflow.items():
        if step.get("type") != "parallel":
            continue
        roots = [r for r in step.get("next_steps", ()) if r in workflow]
        ends = {r: {s for s in _reach(r, edges) if workflow[s].get("type") == "end"}
                for r in roots}
        for r in roots:
            others = set().union(*(e for o, e in ends.items() if o != r))
            if not ends[r] - others:
                problems.append(f"{step_id}: branch {r} reaches no end step of its own")
    return problems


def _check_loops(workflow: Mapping[str, Any], edges: Mapping[str, list[str]]) -> list[str]:
    """A cycle that avoids every while-condition step would never end: Kahn's algorithm on the
    graph without while-condition steps leaves exactly the steps on (or behind) such cycles."""
    nodes = {s for s, step in workflow.items() if step.get("type") != "while-condition"}
    indegree = dict.fromkeys(nodes, 0)
    for s in nodes:
        for t in edges[s]:
            if t in nodes:
                indegree[t] += 1
    todo = [s for s, n in indegree.items() if n == 0]
    while todo:
        for t in edges[todo.pop()]:
            if t in nodes:
                indegree[t] -= 1
                if indegree[t] == 0:
                    todo.append(t)
    looping = sorted(s for s, n in indegree.items() if n > 0)
    return [f"loop without a while-condition through {', '.join(looping)}"] if looping else []
