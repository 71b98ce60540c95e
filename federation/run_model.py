"""The persisted shape of a playbook run: run, per-step state, history, and the node's context.

    >>> ctx = RunContext(local_id="gb", members=("gb", "fr", "de"))
    >>> ctx.quorum_members()
    ('de', 'fr', 'gb')
    >>> ctx.threshold("two-thirds", 3)
    2

A ``PlaybookRun`` is a frozen value: transitions in ``federation.runs`` return a new one. It
carries a snapshot of its playbook (so a playbook edited on disk never changes a running run),
the incident facts it acts on, each step's state and deadline, and its history of
``{at, event, by}``. Several steps can wait at once (parallel branches): ``active`` lists them,
each with its own deadline and timer. ``token`` rises on every applied transition; each step
remembers the token its timer was armed with (``timer_token``), so a stale firing — of the run's
wake-up or of one step's timer — is a no-op. ``to_dict``/``from_dict`` give the JSON the node
stores; ``run_view`` the API form.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import orjson

from federation.effects import AnyEffect
from federation.errors import Error
from federation.playbook import Playbook
from federation.timeutil import format_time, parse_time
from federation.triggers import IncidentFacts

RUNNING, CLOSED = "running", "closed"
# Steps a person completes (``federation.runs.complete_step``): acknowledge, file a report,
# finish a review or a watch.
COMPLETABLE = ("acknowledge", "report", "watch")
PENDING, WAITING, SUCCEEDED, FAILED = "pending", "waiting", "succeeded", "failed"
SKIPPED, CANCELLED = "skipped", "cancelled"
# Outcomes of a transition. Only "applied" moves the run; the rest are recorded no-ops.
APPLIED, STALE, LATE, DUPLICATE, REFUSED, IGNORED = (
    "applied", "stale", "late", "duplicate", "refused", "ignored")


class RunError(Error):
    """A transition was called with input that belongs to another run or incident."""


@dataclass(frozen=True)
class RunContext:
    """What a node knows that a run needs: who it is, the members, and a clock scale.

    ``members`` are the national authorities (roster role ``member``); ``international_body`` is
    added to tier 2 and 3 audiences but does not declare. ``time_scale`` multiplies every duration
    scheduled (deadlines, report intervals): 1.0 in production, e.g. 1/3600 in a demonstration.
    """

    local_id: str
    members: tuple[str, ...]
    international_body: str = "int"
    time_scale: float = 1.0

    def scaled(self, duration: timedelta) -> timedelta:
        return duration * self.time_scale

    def tier_targets(self, tier: int, facts: IncidentFacts) -> tuple[str, ...]:
        """Tier 1: the affected peers; tiers 2 and 3: every member and the international body."""
        everyone = set(self.members) | {self.international_body}
        chosen = set(facts.affected_jurisdictions) & everyone if tier == 1 else everyone
        return tuple(sorted(chosen - {self.local_id}))

    def quorum_members(self) -> tuple[str, ...]:
        """The members whose declarations count toward a quorum (this node included)."""
        return tuple(sorted(set(self.members) - {self.international_body}))

    @staticmethod
    def threshold(rule: int | str | None, n: int) -> int:
        """k for a quorum rule over n members; a number above n is capped at n."""
        if rule == "majority":
            return n // 2 + 1
        if rule == "two-thirds":
            return math.ceil(2 * n / 3)
        if isinstance(rule, int):
            return min(rule, n)
        return n


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    event: str
    by: str
    step: str = ""
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"at": format_time(self.at), "event": self.event, "by": self.by}
        out.update({k: v for k, v in (("step", self.step), ("detail", self.detail)) if v})
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, str]) -> HistoryEntry:
        return cls(parse_time(d["at"]), d["event"], d["by"], d.get("step", ""),
                   d.get("detail", ""))


_D = TypeVar("_D", "StepState", "PlaybookRun")


def evolve(value: _D, changes: Mapping[str, Any]) -> _D:
    """``dataclasses.replace(value, **changes)`` without re-running ``__init__``: a run's steps
    change many times per transition, and ``replace`` was a sixth of a draining node's CPU.

    Raises:
        TypeError: a key of ``changes`` is not a field of ``value`` (as ``replace`` would).
    """
    fields = value.__dataclass_fields__
    if not changes.keys() <= fields.keys():
        raise TypeError(f"{type(value).__name__} has no field "
                        f"{sorted(changes.keys() - fields.keys())}")
    new = object.__new__(type(value))
    new.__dict__.update(value.__dict__)
    new.__dict__.update(changes)
    return new


_TIMES = ("started_at", "ended_at", "deadline", "timer_at", "filed_at")
_LISTS = ("targets", "acked_by", "declined_by", "declarations")


@dataclass(frozen=True)
class StepState:
    """One step of one run: its status, deadline and the answers it has collected."""

    step_id: str
    action: str
    status: str = PENDING
    started_at: datetime | None = None
    ended_at: datetime | None = None
    deadline: datetime | None = None
    timer_at: datetime | None = None  # the next wake-up: the deadline or the next report
    request_id: str = ""  # escalation id, or emergency id for a quorum
    tier: int = 0
    targets: tuple[str, ...] = ()
    acked_by: tuple[str, ...] = ()
    declined_by: tuple[str, ...] = ()
    declarations: tuple[str, ...] = ()
    threshold: int = 0
    reports: int = 0
    clock_id: str = ""  # the regulatory clock that set the deadline
    timer_token: int = 0  # the run token the timer was armed with
    branches: tuple[str, ...] = ()  # parallel: roots of the branches still running
    filed_by: str = ""  # who completed the step (a report: who filed it)
    filed_at: datetime | None = None
    note: str = ""
    evidence: tuple[Mapping[str, str], ...] = ()
    missed: int = 0  # deadlines of a repeating duty that passed unmet

    @property
    def waiting(self) -> bool:
        return self.status == WAITING

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)  # every field, by name (frozen: no other attributes)
        for k in _TIMES:
            t = out[k]
            out[k] = format_time(t) if t else None
        for k in _LISTS:
            out[k] = list(out[k])
        out["branches"] = list(self.branches)
        out["evidence"] = [dict(e) for e in self.evidence]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StepState:
        def time(key: str) -> datetime | None:
            return parse_time(d[key]) if d.get(key) else None

        def names(key: str) -> tuple[str, ...]:
            return tuple(d.get(key, ()))

        return cls(step_id=d["step_id"], action=d["action"], status=d["status"],
                   started_at=time("started_at"), ended_at=time("ended_at"),
                   deadline=time("deadline"), timer_at=time("timer_at"),
                   request_id=d.get("request_id", ""), tier=int(d.get("tier", 0)),
                   targets=names("targets"), acked_by=names("acked_by"),
                   declined_by=names("declined_by"), declarations=names("declarations"),
                   threshold=int(d.get("threshold", 0)), reports=int(d.get("reports", 0)),
                   clock_id=d.get("clock_id", ""), timer_token=int(d.get("timer_token", 0)),
                   branches=names("branches"), filed_by=d.get("filed_by", ""),
                   filed_at=time("filed_at"), note=d.get("note", ""),
                   evidence=tuple(dict(e) for e in d.get("evidence", ())),
                   missed=int(d.get("missed", 0)))


@dataclass(frozen=True)
class PlaybookRun:
    id: str
    node: str
    playbook: Playbook
    facts: IncidentFacts
    state: str
    tier: int
    token: int
    steps: tuple[StepState, ...]
    history: tuple[HistoryEntry, ...]
    started_at: datetime
    closed_at: datetime | None = None
    close_reason: str = ""
    emergency_id: str = ""
    emergency_state: str = "none"
    resolved_at: datetime | None = None

    @property
    def playbook_id(self) -> str:
        return self.playbook.id

    @property
    def playbook_version(self) -> int:
        return self.playbook.version

    @property
    def incident_id(self) -> str:
        return self.facts.incident_id

    @property
    def active(self) -> tuple[int, ...]:
        """Indices of the steps waiting now (parallel branches wait side by side)."""
        if self.state != RUNNING:
            return ()
        return tuple(i for i, st in enumerate(self.steps) if st.status == WAITING)

    def active_step_ids(self) -> tuple[str, ...]:
        """Ids of the steps people and peers are waiting on now (not the parallel steps that
        only wait for their branches)."""
        return tuple(self.steps[i].step_id for i in self.active
                     if self.steps[i].action != "parallel")

    def step_state(self, step_id: str) -> StepState:
        """The state of step ``step_id``.

        Raises:
            RunError: no such step in this run's playbook (the message lists them).
        """
        for st in self.steps:
            if st.step_id == step_id:
                return st
        raise RunError(f"run {self.id} has no step {step_id!r} (steps: "
                       f"{', '.join(st.step_id for st in self.steps)})")

    def timers(self) -> tuple[tuple[str, str, datetime, int], ...]:
        """Every pending timer: ``(job id, step id, at, token)``, earliest first."""
        out = [(self.job_id(self.steps[i].step_id), self.steps[i].step_id, t,
                self.steps[i].timer_token)
               for i in self.active if (t := self.steps[i].timer_at) is not None]
        return tuple(sorted(out, key=lambda x: (x[2], x[1])))

    @property
    def next_timer_at(self) -> datetime | None:
        """The earliest pending timer: what the node stores in ``runs.timer_at`` and arms."""
        timers = self.timers()
        return timers[0][2] if timers else None

    def job_id(self, step_id: str) -> str:
        """The scheduler job id of one step's timer: ``run:<run id>:step:<step id>``."""
        return f"run:{self.id}:step:{step_id}"

    def wake_job_id(self) -> str:
        """The one job a node arms per run, at ``next_timer_at`` with ``token``."""
        return wake_job_for(self.id)

    def to_dict(self) -> dict[str, Any]:
        return self._as_dict(self.playbook.to_dict())

    def to_json(self) -> str:
        """``to_dict`` as JSON text, what the node stores (``json.loads`` of it equals
        ``to_dict()``): the playbook snapshot is spliced in already encoded
        (``Playbook.document_json``) and the step states are encoded by orjson directly, their
        times by ``format_time``; building the dict first was half of saving a run."""
        enc = _ENCODED
        steps = [hit[1] if (hit := enc.get(id(s))) is not None and hit[0] is s else s
                 for s in self.steps]
        return orjson.dumps(self._as_dict(orjson.Fragment(self.playbook.document_json), steps),
                            default=_json_default, option=_JSON_OPTIONS).decode()

    def _as_dict(self, playbook: Any, steps: Any = None) -> dict[str, Any]:
        return {
            "id": self.id, "node": self.node, "playbook": playbook,
            "facts": self.facts.to_dict(), "state": self.state, "tier": self.tier,
            "token": self.token,
            "steps": [s.to_dict() for s in self.steps] if steps is None else steps,
            "history": [h.to_dict() for h in self.history],
            "started_at": format_time(self.started_at),
            "closed_at": format_time(self.closed_at) if self.closed_at else None,
            "close_reason": self.close_reason, "emergency_id": self.emergency_id,
            "emergency_state": self.emergency_state,
            "resolved_at": format_time(self.resolved_at) if self.resolved_at else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PlaybookRun:
        return cls(
            id=d["id"], node=d["node"], playbook=Playbook.from_dict(d["playbook"]),
            facts=IncidentFacts.from_dict(d["facts"]), state=d["state"],
            tier=int(d["tier"]), token=int(d["token"]),
            steps=tuple(StepState.from_dict(s) for s in d["steps"]),
            history=tuple(HistoryEntry.from_dict(h) for h in d["history"]),
            started_at=parse_time(d["started_at"]),
            closed_at=parse_time(d["closed_at"]) if d.get("closed_at") else None,
            close_reason=d.get("close_reason", ""), emergency_id=d.get("emergency_id", ""),
            emergency_state=d.get("emergency_state", "none"),
            resolved_at=parse_time(d["resolved_at"]) if d.get("resolved_at") else None,
        )


_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
# Step states many runs share (a fresh run's steps not yet started), already encoded: id →
# (the step, its JSON). The entry holds the step, so its id stays its own.
_ENCODED: dict[int, tuple[StepState, orjson.Fragment]] = {}


def encode_once(steps: tuple[StepState, ...]) -> None:
    """Encode ``steps`` now, for every run that will carry these very objects: ``to_json``
    splices their text instead of encoding them again (the same bytes orjson would write)."""
    if len(_ENCODED) > 4096:  # tests load many playbooks; a node a handful
        _ENCODED.clear()
    for s in steps:
        _ENCODED[id(s)] = (s, orjson.Fragment(orjson.dumps(s, default=_json_default,
                                                           option=_JSON_OPTIONS)))


def _json_default(value: Any) -> Any:
    """What orjson cannot encode itself in a run: times (as ``format_time``), evidence maps."""
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot store {type(value).__name__} in a run document")


@dataclass(frozen=True)
class Transition:
    """The result of one input: the new run, what the node must do, and what happened."""

    run: PlaybookRun
    effects: tuple[AnyEffect, ...] = field(default=())
    outcome: str = APPLIED

    @property
    def applied(self) -> bool:
        return self.outcome == APPLIED


def step_view(run: PlaybookRun, index: int) -> dict[str, Any]:
    """One step as people see it: state, deadline, the clock and its citation, who filed it."""
    spec, st = run.playbook.steps[index], run.steps[index]
    item: dict[str, Any] = {"id": spec.id, "action": spec.action, "title": spec.label,
                            "status": st.status,
                            "deadline": format_time(st.deadline) if st.deadline else None,
                            "completable": spec.action in COMPLETABLE and st.status == WAITING}
    lane = run.playbook.graph.lane(index)
    if lane is not None:
        item["branch"] = run.playbook.steps[lane.root].id
    clock = run.playbook.clocks().get(st.clock_id) if st.clock_id else spec.regime
    if clock is not None:
        item["clock"] = {"id": clock.id, "citation": clock.citation, "quote": clock.quote,
                         "duty": clock.duty, "to": clock.to, "anchor": clock.anchor,
                         "url": clock.url or None}
    if st.filed_by:
        item["filed"] = {"by": st.filed_by, "at": format_time(st.filed_at) if st.filed_at
                         else None, "note": st.note, "evidence": [dict(e) for e in st.evidence],
                         "reports": st.reports}
    if st.targets:
        item.update(targets=list(st.targets), acked_by=list(st.acked_by),
                    declined_by=list(st.declined_by))
    if spec.action == "quorum" and st.threshold:
        item.update(threshold=st.threshold, declarations=list(st.declarations))
    return item


def run_view(run: PlaybookRun) -> dict[str, Any]:
    """The API form of a run: playbook, state, tier, the active steps, every step, history."""
    active = run.active_step_ids()
    return {
        "id": run.id, "incident_id": run.incident_id,
        "playbook": {"id": run.playbook_id, "version": run.playbook_version,
                     "title": run.playbook.title},
        "state": run.state, "tier": run.tier,
        "current_step": active[0] if active else None, "active_steps": list(active),
        "emergency": {"id": run.emergency_id, "state": run.emergency_state}
        if run.emergency_id else None,
        "started_at": format_time(run.started_at),
        "closed_at": format_time(run.closed_at) if run.closed_at else None,
        "close_reason": run.close_reason or None,
        "steps": [step_view(run, i) for i in range(len(run.steps))],
        "history": [h.to_dict() for h in run.history],
    }


def wake_job_for(run_id: str) -> str:
    """``PlaybookRun.wake_job_id`` from the run's id alone, without loading the run."""
    return f"run:{run_id}:next"
