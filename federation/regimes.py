"""Regulatory regimes as data: each legal clock with its anchor, period, repetition, duty, citation.

    >>> from datetime import datetime, timezone
    >>> add_months(datetime(2027, 1, 31, 9, tzinfo=timezone.utc), 1).date()
    datetime.date(2027, 2, 28)
    >>> Period.parse("P1M").add(datetime(2028, 1, 31, tzinfo=timezone.utc)).date()
    datetime.date(2028, 2, 29)
    >>> Period.parse("PT72H").iso()
    'PT72H'

``playbooks/regimes.yaml`` (schema ``regimes.v1.json``) lists the clocks the law sets; a
playbook step names one with ``clock: <id>`` and takes its period, anchor, repetition and citation
from it (DESIGN §7). A clock runs from an **anchor**:

| anchor | the clock starts when |
|---|---|
| ``awareness`` | the reporting party became aware (the incident's ``aware_at``) |
| ``notification-submitted`` | a report under a clock of ``after`` was filed (received) |
| ``resolved`` | the incident was resolved |
| ``crossed-threshold`` | a threshold was met or became known to be met (Art. 52(1)) |
| ``request`` | an authority asked for it (no fixed period) |

A **period** is ISO 8601 and may use calendar months and years (``P1M``), because the law does:
"one month after" 31 January is the last day of February (the day is clamped to the month's
length, as in Regulation (EEC, Euratom) No 1182/71 Art. 3(2)(c)). ``immediately: true`` marks a
duty without a number of days; a playbook must then set its own internal target. ``every`` repeats
the duty (``until`` an anchor, e.g. ``resolved``). ``duty`` says whose duty it is: the
``provider``'s (AI Act, Code of Practice), the ``entity``'s (NIS2) or the ``authority``'s own.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from federation.errors import Error

__all__ = ["ANCHORS", "DUTIES", "Clock", "Period", "RegimeError", "Regimes", "add_months"]

ANCHORS = ("awareness", "notification-submitted", "resolved", "crossed-threshold", "request")
DUTIES = ("provider", "entity", "authority")
_PERIOD = re.compile(
    r"^P(?=\d|T\d)(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+)S)?)?$")


class RegimeError(Error):
    """The regimes file is inconsistent, or a playbook names a clock it does not define."""


def add_months(t: datetime, months: int) -> datetime:
    """``t`` plus calendar months; a day the target month lacks becomes its last day."""
    index = t.year * 12 + (t.month - 1) + months
    year, month = divmod(index, 12)
    day = min(t.day, calendar.monthrange(year, month + 1)[1])
    return t.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True)
class Period:
    """A legal period: calendar months (years are 12 months) plus a fixed duration."""

    months: int = 0
    fixed: timedelta = timedelta(0)
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse ``P1M``, ``P15D``, ``PT24H``, ``P2W``, ``P1Y``.

        Raises:
            ValueError: not an ISO 8601 duration, or zero.
        """
        m = _PERIOD.match(text)
        if not m:
            raise ValueError(f"not an ISO 8601 period: {text!r} (e.g. P15D, PT72H, P1M, P2W)")
        n = {k: int(v) for k, v in m.groupdict().items() if v}
        period = cls(n.get("y", 0) * 12 + n.get("mo", 0),
                     timedelta(weeks=n.get("w", 0), days=n.get("d", 0), hours=n.get("h", 0),
                               minutes=n.get("mi", 0), seconds=n.get("s", 0)), text)
        if period.months == 0 and period.fixed <= timedelta(0):
            raise ValueError(f"a period must be positive: {text!r}")
        return period

    def add(self, start: datetime, scale: float = 1.0) -> datetime:
        """``start`` plus this period; ``scale`` shrinks the real span (a demonstration clock)."""
        end = add_months(start, self.months) + self.fixed
        return end if scale == 1.0 else start + (end - start) * scale

    def iso(self) -> str:
        return self.text


@dataclass(frozen=True)
class Clock:
    """One legal clock, e.g. ``ai-act-73-4``: 10 days after awareness, in the event of a death."""

    id: str
    title: str
    regime: str
    article: str
    quote: str
    anchor: str
    duty: str
    to: str
    period: Period | None = None
    immediately: bool = False
    after: tuple[str, ...] = ()
    every: Period | None = None
    until: str = ""
    url: str = ""

    @property
    def citation(self) -> str:
        """``EU AI Act Art. 73(4)``: regime and article, as a person would cite it."""
        return f"{self.regime} {self.article}"

    def due(self, anchor: datetime, scale: float = 1.0) -> datetime:
        """When the duty first falls due for an anchor time: the period after it, the first
        repetition of a repeating duty, or the anchor itself for an immediate one."""
        first = self.period or self.every
        return anchor if first is None else first.add(anchor, scale)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], regime: str = "") -> Clock:
        return cls(
            id=d["id"], title=d["title"], regime=d.get("regime", regime), article=d["article"],
            quote=d["quote"], anchor=d["anchor"], duty=d["duty"], to=d["to"],
            period=Period.parse(d["period"]) if d.get("period") else None,
            immediately=bool(d.get("immediately", False)), after=tuple(d.get("after", ())),
            every=Period.parse(d["every"]) if d.get("every") else None,
            until=d.get("until", ""), url=d.get("url", ""))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "title": self.title, "regime": self.regime,
                               "article": self.article, "quote": self.quote,
                               "anchor": self.anchor, "duty": self.duty, "to": self.to}
        if self.period is not None:
            out["period"] = self.period.iso()
        if self.immediately:
            out["immediately"] = True
        for key, value in (("after", list(self.after)), ("until", self.until),
                           ("url", self.url),
                           ("every", self.every.iso() if self.every else "")):
            if value:
                out[key] = value
        return out


@dataclass(frozen=True)
class Regimes:
    """Every clock of every regime, by id."""

    clocks: Mapping[str, Clock]

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Regimes:
        """Build from a document valid against ``regimes.v1.json``.

        Raises:
            RegimeError: a duplicate clock id, or an ``after`` naming no clock.
        """
        clocks: dict[str, Clock] = {}
        for regime in doc["regimes"]:
            for raw in regime["clocks"]:
                if raw["id"] in clocks:
                    raise RegimeError(f"clock {raw['id']!r} is defined twice; ids are unique "
                                      "across regimes")
                clocks[raw["id"]] = Clock.from_dict({**raw, "url": raw.get("url", regime.get(
                    "url", ""))}, regime["title"])
        for clock in clocks.values():
            unknown = [a for a in clock.after if a not in clocks]
            if unknown:
                raise RegimeError(f"clock {clock.id!r}: 'after' names unknown clock(s) "
                                  f"{', '.join(unknown)}")
        return cls(clocks)

    @classmethod
    def embedded(cls, raw: Mapping[str, Any] | None) -> Regimes:
        """The clocks a playbook snapshot carries (``x-clocks``), so a stored run needs no file."""
        return cls({k: Clock.from_dict(v) for k, v in (raw or {}).items()})

    def clock(self, clock_id: str) -> Clock:
        """The clock ``clock_id``.

        Raises:
            RegimeError: no such clock; the message lists the known ones.
        """
        try:
            return self.clocks[clock_id]
        except KeyError:
            known = ", ".join(sorted(self.clocks)) or "none loaded"
            raise RegimeError(f"no regulatory clock {clock_id!r} (known: {known})") from None


NO_REGIMES = Regimes({})
