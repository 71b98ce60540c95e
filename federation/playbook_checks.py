"""The rules of a playbook document that its schema cannot state (used by ``federation.playbook``).

    >>> check_ids(["a", "b", "a"])
    [('$.steps[2].id', "duplicate step id 'a'")]

Each ``check_*`` takes the schema-valid document (or its steps) and returns
``[(json_path, message)]``; ``federation.playbook.playbook_problems`` runs them in order, then the
graph rules (``federation.playbook_graph``) and reachability.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from federation.durations import parse_duration
from federation.regimes import RegimeError, Regimes
from federation.schema import json_path
from federation.timeutil import parse_time

ACTIONS = ("parallel", "notify", "acknowledge", "escalate", "quorum", "request-action",
           "publish-advisory", "status-report", "report", "record", "watch", "close")
# Steps that wait (for an ack, declarations, a deadline or the next report); the rest act and
# move on at once. ``request-action`` waits only if it has a deadline.
BLOCKING = ("acknowledge", "escalate", "quorum", "status-report", "report", "watch")
LOCAL_CLOCKS = ("step", "awareness")  # any other ``clock`` names a regulatory clock


def check_versions(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    # CACAO tells versions of one playbook apart by `modified` (same id, later timestamp).
    created = parse_time(doc["created"])
    modified = parse_time(doc["modified"]) if "modified" in doc else None
    if modified is not None and modified < created:
        return [("$.modified", "'modified' is earlier than 'created'")]
    if doc["version"] > 1 and (modified is None or modified == created):
        return [("$.version", "a version above 1 needs a 'modified' time later than 'created'")]
    return []


def check_ids(ids: list[str]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    out = []
    for i, step_id in enumerate(ids):
        if step_id in seen:
            out.append((json_path(["steps", i, "id"]), f"duplicate step id {step_id!r}"))
        seen.add(step_id)
    return out


def check_durations(steps: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for i, s in enumerate(steps):
        found: list[tuple[list[str | int], str]] = [
            ([k], s[k]) for k in ("deadline", "every") if k in s]
        found += [(["deadline_when", j, "deadline"], r["deadline"])
                  for j, r in enumerate(s.get("deadline_when", ())) if "deadline" in r]
        for parts, value in found:
            try:
                parse_duration(value)
            except ValueError as e:
                out.append((json_path(["steps", i, *parts]), str(e)))
    return out


_ONLY_FOR = {"acks": ("escalate", "request-action"), "threshold": ("quorum",),
             "next_steps": ("parallel",), "on_completion": ("parallel",),
             "when": tuple(a for a in ACTIONS if a != "parallel"),
             "every": ("status-report", "report"), "request": ("request-action",),
             "deadline_when": tuple(BLOCKING) + ("request-action",),
             "clock": tuple(BLOCKING) + ("request-action",)}


def check_fields(steps: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for i, s in enumerate(steps):
        for key, actions in _ONLY_FOR.items():
            if key in s and s["action"] not in actions:
                out.append((json_path(["steps", i, key]),
                            f"{key!r} has no meaning for a {s['action']!r} step "
                            f"(only for {', '.join(actions)})"))
        local = s.get("clock", "step") in LOCAL_CLOCKS
        if local and ("clock" in s or "deadline_when" in s) and "deadline" not in s:
            out.append((json_path(["steps", i]), "'clock: step|awareness' and 'deadline_when' "
                                                 "need a 'deadline'"))
        if s["action"] in ("close", "parallel") and ("on_success" in s or "on_failure" in s):
            out.append((json_path(["steps", i]),
                        "a close step ends the run; it has no next step" if s["action"] == "close"
                        else "a parallel step moves on at its join: use 'on_completion'"))
    return out


def check_clocks(steps: Sequence[Mapping[str, Any]], regimes: Regimes) -> list[tuple[str, str]]:
    """Regulatory clocks exist; the law's period is not overridden, except by an internal
    target for a duty the law calls immediate."""
    out = []
    for i, s in enumerate(steps):
        named: list[tuple[list[str | int], str, bool]] = [
            (["clock"], s.get("clock", "step"), "deadline" in s)]
        named += [(["deadline_when", j, "clock"], r["clock"], False)
                  for j, r in enumerate(s.get("deadline_when", ())) if "clock" in r]
        for parts, name, has_deadline in named:
            if name in LOCAL_CLOCKS:
                continue
            try:
                clock = regimes.clock(name)
            except RegimeError as e:
                out.append((json_path(["steps", i, *parts]), str(e)))
                continue
            if clock.immediately and not has_deadline and parts == ["clock"]:
                out.append((json_path(["steps", i]), f"{clock.citation} says 'immediately': "
                                                     "set 'deadline' as the internal target"))
            elif has_deadline and not clock.immediately:
                out.append((json_path(["steps", i, "deadline"]),
                            f"the clock {name!r} sets the deadline ({clock.citation}); "
                            "remove 'deadline'"))
    return out


def check_targets(doc: Mapping[str, Any], ids: list[str]) -> list[tuple[str, str]]:
    out = []
    for i, s in enumerate(doc["steps"]):
        for key in ("on_success", "on_failure"):
            if key in s and (s[key] not in ids or ids.index(s[key]) <= i):
                out.append((json_path(["steps", i, key]),
                            f"{s[key]!r} is not a later step; steps only move forward "
                            f"(later steps: {', '.join(ids[i + 1:]) or 'none'})"))
    for j, rule in enumerate(doc.get("on_upgrade", ())):
        if rule["goto"] not in ids:
            out.append((json_path(["on_upgrade", j, "goto"]), f"no step {rule['goto']!r}"))
    return out
