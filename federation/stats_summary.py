"""Escalation response figures and the international body's statistics snapshot, pure.

    >>> from datetime import datetime, timezone
    >>> t = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    >>> esc = EscalationFacts.from_document({"id": "gb-00000001.notify", "origin": "gb",
    ...     "tier": 1, "issued_at": "2026-01-05T09:00:00Z", "deadline": "2026-01-05T10:00:00Z",
    ...     "to": ["fr"], "incident_id": "gb-0000000000000001"})
    >>> ack = Answer.from_document({"escalation_id": "gb-00000001.notify", "origin": "fr",
    ...     "issued_at": "2026-01-05T09:30:00Z"}, "ack")
    >>> ack_samples([esc], [ack])
    [(1, 1800.0)]
    >>> [s.state for s in escalation_states([esc], [], [], now=t.replace(hour=11))]
    ['overdue']

Acknowledgement time is ``ack.issued_at - escalation.issued_at``: both are signed, each by its
own node's clock, so the figure carries up to the federation's allowed clock skew; a negative
difference (an ack stamped before its escalation) counts as zero rather than being dropped.
Each recipient's first ack of an escalation is one sample, in the escalation's tier.

An escalation is **answered** once its ack policy is met (``any``: one recipient acked; ``all``:
every recipient acked or declined) or every recipient has declined; **closed** once its origin
resolved it (a ``resolution`` naming it, or resolving its incident later); otherwise **open**
until its deadline and **overdue** after, waiting on the recipients that have not answered.

``federation.stats_snapshot`` puts the counts together as the ``stats`` message
(``schemas/stats.v1.json``) that the international body signs and publishes to every member.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from federation.stats import ack_time_summary
from federation.timeutil import format_time, parse_time


@dataclass(frozen=True)
class EscalationFacts:
    """What response statistics need of one signed ``escalation`` message."""

    id: str
    origin: str
    incident_id: str
    tier: int
    issued_at: datetime
    deadline: datetime
    to: tuple[str, ...]
    acks: str = "any"

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> EscalationFacts:
        return cls(id=str(doc["id"]), origin=str(doc["origin"]),
                   incident_id=str(doc["incident_id"]), tier=int(doc["tier"]),
                   issued_at=parse_time(str(doc["issued_at"]), "$.issued_at"),
                   deadline=parse_time(str(doc["deadline"]), "$.deadline"),
                   to=tuple(doc["to"]), acks=str(doc.get("acks", "any")))


@dataclass(frozen=True)
class Answer:
    """A recipient's ``ack`` or ``decline`` of an escalation."""

    escalation_id: str
    origin: str
    kind: str  # "ack" | "decline"
    issued_at: datetime

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], kind: str) -> Answer:
        return cls(escalation_id=str(doc.get("escalation_id", "")), origin=str(doc["origin"]),
                   kind=kind, issued_at=parse_time(str(doc["issued_at"]), "$.issued_at"))


@dataclass(frozen=True)
class Closure:
    """A ``resolution``: the escalations it names, or all of its incident's before it."""

    origin: str
    incident_id: str
    escalation_ids: frozenset[str]
    issued_at: datetime

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Closure:
        return cls(origin=str(doc["origin"]), incident_id=str(doc["incident_id"]),
                   escalation_ids=frozenset(doc.get("escalation_ids", ())),
                   issued_at=parse_time(str(doc["issued_at"]), "$.issued_at"))

    def closes(self, e: EscalationFacts) -> bool:
        return e.id in self.escalation_ids or (
            e.origin == self.origin and e.incident_id == self.incident_id
            and e.issued_at <= self.issued_at)


def _closer(closures: Iterable[Closure]) -> Callable[[EscalationFacts], bool]:
    """``lambda e: any(c.closes(e) for c in closures)`` without a pass over every closure per
    escalation (quadratic: 20 s for 10^4 escalations): the ids any closure names, and per
    origin and incident the latest closure, which closes every escalation issued before it."""
    named: set[str] = set()
    latest: dict[tuple[str, str], datetime] = {}
    for c in closures:
        named |= c.escalation_ids
        key = (c.origin, c.incident_id)
        if key not in latest or c.issued_at > latest[key]:
            latest[key] = c.issued_at

    def closes(e: EscalationFacts) -> bool:
        last = latest.get((e.origin, e.incident_id))
        return e.id in named or (last is not None and e.issued_at <= last)
    return closes


@dataclass(frozen=True)
class EscalationState:
    facts: EscalationFacts
    state: str  # answered | closed | open | overdue
    waiting_on: tuple[str, ...]
    overdue_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        f = self.facts
        return {"id": f.id, "origin": f.origin, "incident_id": f.incident_id, "tier": f.tier,
                "issued_at": format_time(f.issued_at), "deadline": format_time(f.deadline),
                "to": list(f.to), "waiting_on": list(self.waiting_on), "state": self.state,
                "overdue_seconds": round(self.overdue_seconds)}


def _first_answers(escalations: Iterable[EscalationFacts], answers: Iterable[Answer]
                   ) -> tuple[dict[str, EscalationFacts], dict[tuple[str, str], Answer]]:
    by_id = {e.id: e for e in escalations}
    first: dict[tuple[str, str], Answer] = {}
    for a in sorted(answers, key=lambda a: a.issued_at):
        e = by_id.get(a.escalation_id)
        if e is not None and a.origin in e.to:
            first.setdefault((e.id, a.origin), a)
    return by_id, first


def ack_samples(escalations: Iterable[EscalationFacts],
                answers: Iterable[Answer]) -> list[tuple[int, float]]:
    """``(tier, seconds)`` from each escalation to each recipient's first answer, if an ack."""
    by_id, first = _first_answers(escalations, answers)
    return [(by_id[eid].tier, max(0.0, (a.issued_at - by_id[eid].issued_at).total_seconds()))
            for (eid, _), a in sorted(first.items()) if a.kind == "ack"]


def escalation_states(escalations: Iterable[EscalationFacts], answers: Iterable[Answer],
                      closures: Iterable[Closure], *, now: datetime) -> list[EscalationState]:
    """Where every escalation stands at ``now``, soonest deadline first."""
    by_id, first = _first_answers(escalations, answers)
    closes = _closer(closures)
    out = []
    for e in sorted(by_id.values(), key=lambda e: (e.deadline, e.id)):
        kinds = {r: first[(e.id, r)].kind for r in e.to if (e.id, r) in first}
        waiting = tuple(r for r in e.to if r not in kinds)
        met = ("ack" in kinds.values()) if e.acks == "any" else not waiting
        if met or not waiting:
            out.append(EscalationState(e, "answered", ()))
        elif closes(e):
            out.append(EscalationState(e, "closed", waiting))
        elif now > e.deadline:
            out.append(EscalationState(e, "overdue", waiting,
                                       (now - e.deadline).total_seconds()))
        else:
            out.append(EscalationState(e, "open", waiting))
    return out


def escalation_summary(states: Sequence[EscalationState], *, limit: int = 50) -> dict[str, Any]:
    """Counts by state, and the overdue ones (longest overdue first, at most ``limit``)."""
    counts = Counter(s.state for s in states)
    overdue = sorted((s for s in states if s.state == "overdue"),
                     key=lambda s: -s.overdue_seconds)
    return {"seen": len(states), **{k: counts.get(k, 0) for k in
                                    ("answered", "closed", "open", "overdue")},
            "overdue_items": [s.to_dict() for s in overdue[:limit]],
            "open_items": [s.to_dict() for s in states if s.state == "open"][:limit]}


def ack_times(samples: Iterable[tuple[int, float]]) -> list[dict[str, Any]]:
    """``ack_time_summary`` as a list of ``{tier, count, median_seconds, p90_seconds}``."""
    return ack_time_rows(ack_time_summary(samples))


def ack_time_rows(summary: Mapping[int, Mapping[str, float]]) -> list[dict[str, Any]]:
    """An ``ack_time_summary`` (by tier) as ``ack_times`` lists it."""
    return [{"tier": tier, "count": int(s["count"]), "median_seconds": round(s["median"], 3),
             "p90_seconds": round(s["p90"], 3)} for tier, s in summary.items()]


def ranked_percentile(n: int, q: float, at: Callable[[int], float]) -> float:
    """``federation.stats.percentile`` (type 7) of ``n`` values of which ``at(k)`` gives the
    ``k``-th smallest (from 0), reading two of them: the same arithmetic, the same float.

    >>> from federation.stats import percentile
    >>> values = [3.0, 1.0, 4.0, 1.5, 9.0]
    >>> ranked_percentile(5, 90, sorted(values).__getitem__) == percentile(values, 90)
    True
    """
    rank = (n - 1) * q / 100
    lo = math.floor(rank)
    hi = min(lo + 1, n - 1)
    low = at(lo)
    high = low if hi == lo else at(hi)
    return low + (high - low) * (rank - lo)


def standing(to: Sequence[str], acks: str, kinds: Mapping[str, str]
             ) -> tuple[bool, tuple[str, ...]]:
    """Whether an escalation to ``to`` is answered, given the kind of each recipient's first
    answer (``kinds``), and the recipients it waits on if not (as ``escalation_states``).

    >>> standing(("fr", "de"), "any", {"de": "ack"}), standing(("fr", "de"), "all", {"de": "ack"})
    ((True, ()), (False, ('fr',)))
    """
    waiting = tuple(r for r in to if r not in kinds)
    met = ("ack" in kinds.values()) if acks == "any" else not waiting
    return (True, ()) if met or not waiting else (False, waiting)


def top_groups(result: Mapping[str, Any], n: int) -> list[dict[str, Any]]:
    """The ``n`` largest groups of a one-dimension ``group_counts`` result, unknown last."""
    known = [g for g in result["groups"] if None not in g["key"].values()]
    return sorted(known, key=lambda g: -int(g["count"]))[:n]


def tripwire_counts(tripwires: Iterable[Sequence[str]]) -> dict[str, int]:
    """How many reports name each tripwire id, most first."""
    counts = Counter(t for ids in tripwires for t in dict.fromkeys(ids))
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
