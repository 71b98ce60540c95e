"""The international body's signed statistics snapshot (``schemas/stats.v1.json``) as a model.

    >>> from datetime import datetime, timezone
    >>> t = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
    >>> snap = build_stats_snapshot([], origin="int", issued_at=t, ack=[], escalations={},
    ...                             tripwires={})
    >>> snap.to_dict()["total"], snap.to_dict()["generated_at"]
    (0, '2026-01-05T09:00:00.000Z')

The figures come from ``federation.stats`` and ``federation.stats_summary``; the builder puts
them together, and ``same_figures`` tells whether a new snapshot says anything new.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from federation.stats import StatRecord, weighted_group_counts, weighted_red_line_crossings
from federation.stats_summary import top_groups
from federation.timeutil import format_instant, parse_time
from federation.wire import WireMessage, require

# Fields that change on every snapshot although the figures did not.
VOLATILE_FIELDS = frozenset({"issued_at", "generated_at"})
TOP = 20
ESCALATION_FIGURES = ("seen", "answered", "closed", "open", "overdue")


@dataclass(frozen=True)
class StatsSnapshot(WireMessage):
    TYPE = "stats"
    generated_at: datetime
    total: int
    stubs: int
    counts: Mapping[str, Any]
    red_lines: Mapping[str, int]
    ack_times: tuple[Mapping[str, Any], ...]
    escalations: Mapping[str, int]
    top: int | None = None
    tripwires: Mapping[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        # The moment the figures were counted, as precisely as the signing moment.
        return {**super().to_dict(), "generated_at": format_instant(self.generated_at)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StatsSnapshot:
        return cls(d["origin"], parse_time(d["issued_at"]), parse_time(d["generated_at"]),
                   int(d["total"]), int(d["stubs"]), d["counts"], d["red_lines"],
                   tuple(d["ack_times"]), d["escalations"], top=d.get("top"),
                   tripwires=d.get("tripwires"), extra=cls.unknown(d))


def build_stats_snapshot(records: Sequence[StatRecord], *, origin: str, issued_at: datetime,
                         ack: list[dict[str, Any]], escalations: Mapping[str, Any],
                         tripwires: Mapping[str, int], top: int = TOP) -> StatsSnapshot:
    """The ``stats`` message the international body signs.

    Args:
        records: one per incident id, full reports and stubs.
        origin: the international body's member id.
        issued_at: when the figures are counted (``issued_at`` and ``generated_at``).
        ack: ``ack_times`` of the escalations seen.
        escalations: ``escalation_summary`` (only its counts are published).
        tripwires: ``tripwire_counts`` of the full reports.
        top: how many developer and tripwire groups to list.

    Raises:
        MessageError: ``top`` outside 1-100, or a negative escalation count.
    """
    weighted = [(r, 1) for r in records]
    return build_weighted_stats_snapshot(lambda _: weighted, origin=origin,
                                         issued_at=issued_at, ack=ack, escalations=escalations,
                                         tripwires=tripwires, top=top)


def build_weighted_stats_snapshot(weighted: Callable[[Sequence[str]],
                                                     Sequence[tuple[StatRecord, int]]], *,
                                  origin: str, issued_at: datetime, ack: list[dict[str, Any]],
                                  escalations: Mapping[str, Any], tripwires: Mapping[str, int],
                                  top: int = TOP) -> StatsSnapshot:
    """``build_stats_snapshot`` from weighted records, each standing for ``weight`` alike
    records (a negative weight takes records back out): a node counts from cells, not every
    record. ``weighted(by)`` gives records that carry at least their values along the
    dimensions ``by`` and their stub flag, so that each count reads as few as it needs.

    Raises:
        MessageError: ``top`` outside 1-100, or a negative escalation count.
    """
    require("stats", 1 <= top <= 100, f"top {top} is not between 1 and 100")
    figures = {k: int(escalations.get(k, 0)) for k in ESCALATION_FIGURES}
    require("stats", min(figures.values()) >= 0, f"negative escalation counts: {figures}")
    counts = {dim: weighted_group_counts(weighted([dim]), [dim])["groups"]
              for dim in ("year", "origin", "severity", "harm_type", "red_line")}
    by_year = ["year", "severity"]
    counts["year_severity"] = weighted_group_counts(weighted(by_year), by_year)["groups"]
    counts["developer"] = top_groups(weighted_group_counts(weighted(["developer"]),
                                                           ["developer"]), top)
    lines = weighted(["red_line"])
    return StatsSnapshot(origin, issued_at, issued_at, sum(n for _, n in lines),
                         sum(n for r, n in lines if r.is_stub), counts,
                         weighted_red_line_crossings(lines), tuple(ack), figures, top=top,
                         tripwires=dict(list(tripwires.items())[:top]))


def same_figures(a: Mapping[str, Any] | None, b: Mapping[str, Any]) -> bool:
    """True if two snapshot bodies differ at most in their timestamps."""
    if a is None:
        return False
    return ({k: v for k, v in a.items() if k not in VOLATILE_FIELDS}
            == {k: v for k, v in b.items() if k not in VOLATILE_FIELDS})
