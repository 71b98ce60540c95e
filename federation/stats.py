"""Global incident statistics, computed from whatever a node may see: full reports and stubs.

    >>> r = StatRecord.from_document({"type": "incident", "origin": "gb",
    ...     "severity": "incident", "harm_types": ["physical", "economic-property"],
    ...     "tlp": "GREEN", "occurred_at": "2024-03-05T00:00:00Z",
    ...     "ai_system": {"name": "X", "role": "r", "developer": "Example AI"}})
    >>> [(g["key"]["harm_type"], g["count"]) for g in group_counts([r], ["harm_type"])["groups"]]
    [('economic-property', 1), ('physical', 1)]
    >>> ack_time_summary([(1, 60.0), (1, 120.0), (2, 30.0)])[1]
    {'count': 2, 'median': 90.0, 'p90': 114.0}

The international body sees full reports (TLP CLEAR, GREEN, AMBER) and, for RED and
AMBER+STRICT reports, only a signed statistical stub: origin, severity, harm types, ISO week and
optionally red lines. Both become a ``StatRecord``, so global counts stay complete while the
detail stays where TLP keeps it.

Dimensions and their key values:

| dimension | value | from a stub |
|---|---|---|
| ``origin``, ``severity``, ``developer`` | string (developer ``None`` if unknown) | no developer |
| ``harm_type``, ``red_line`` | string, one group per value (``None`` if the list is empty) | same |
| ``year`` | int, calendar year of ``occurred_at`` | ISO week-numbering year of ``week`` |
| ``month`` | ``"YYYY-MM"`` | only if all seven days of the week lie in one month, else ``None`` |
| ``week`` | ``"YYYY-Www"`` (ISO 8601 week of ``occurred_at``) | ``week`` as sent |
| ``country`` | affected country, ISO 3166-1 alpha-2, one group per value | ``None`` |
| ``sector``, ``model`` | sector of deployment; ``ai_system.model_ref``, else its name | ``None`` |

A stub's year is the year of its week's Thursday (ISO 8601: a week belongs to the year holding
four or more of its days), so at a year boundary a stub may fall one year off the calendar year of
the hidden date, by at most three days; the alternative, dropping such stubs from yearly counts,
would make the totals disagree with the sum of the years. ``since``/``until`` filter on the
occurrence date (inclusive); a stub is dated by its week's Thursday for the same reason. Records
with no occurrence date cannot fall inside a range: a date-filtered count leaves them out and
says how many in ``undated``, so none is dropped silently.

**Basis.** A report's ``provenance`` says how each mapped field is known (``observed``,
``derived`` by an import rule, ``defaulted``); a field it does not name was stated by the
submitter. ``basis`` (``observed``, ``derived``, ``all``) chooses which values count as known;
any other is the unknown group ``None``, so the total never depends on the basis.

``harm_type``, ``red_line`` and ``country`` are multi-valued, and so is ``origin`` for a cluster
of reports linked as one event (``federation.links``: each reporter is listed): a record counts
once in each of its groups, so group counts may add up to more than ``total``, which counts every
record once.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from federation.errors import Problem, SchemaError
from federation.severity import RED_LINES, Severity
from federation.timeutil import parse_time

DIMENSIONS = ("origin", "severity", "harm_type", "red_line", "developer", "year", "month", "week",
              "country", "sector", "model")
BASES = ("observed", "derived", "all")
# Which provenance a basis admits (``provenance`` values of a report; see docs/aiid-mapping.md).
ADMITTED = {"observed": frozenset({"observed"}), "derived": frozenset({"observed", "derived"}),
            "all": frozenset({"observed", "derived", "defaulted"})}
# The report field behind each dimension, as ``provenance`` names it; origin and red lines are
# always stated by the reporting authority itself.
PROVENANCE_FIELD = {"severity": "severity", "harm_type": "harm_types", "country": "countries",
                    "developer": "ai_system.developer", "model": "ai_system.name",
                    "sector": "sector", "year": "occurred_at", "month": "occurred_at",
                    "week": "occurred_at"}

KeyValue = str | int | None

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def iso_week(d: date) -> str:
    """The ISO 8601 week of ``d`` as ``YYYY-Www`` (``date(2024, 12, 30)`` → ``2025-W01``)."""
    year, week, _ = d.isocalendar()
    return f"{year:04d}-W{week:02d}"


def week_monday(week: str, path: str = "$.week") -> date:
    """The Monday of an ISO week ``YYYY-Www``.

    Raises:
        SchemaError: ``week`` is not an existing ISO week (``2021-W53`` does not exist).
    """
    m = _WEEK.match(week) if isinstance(week, str) else None
    try:
        if m is None:
            raise ValueError(week)
        return date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError as e:
        raise SchemaError([Problem(path, f"not an ISO week 'YYYY-Www': {week!r}")]) from e


@dataclass(frozen=True)
class StatRecord:
    """What statistics need of one incident, whether its full report or only its stub is seen.

    ``occurred_at`` is the UTC date of first occurrence (``None`` if not reported; always
    ``None`` for a stub, whose date is coarsened to ``week``).
    """

    origin: str
    severity: Severity
    harm_types: tuple[str, ...]
    red_lines: tuple[str, ...]
    developer: str | None
    occurred_at: date | None
    tlp: str
    is_stub: bool = False
    week: str | None = None
    incident_id: str = ""
    countries: tuple[str, ...] = ()
    sector: str | None = None
    model: str | None = None
    provenance: Mapping[str, str] = field(default_factory=dict, compare=False)
    reporters: tuple[str, ...] = ()  # every origin of a linked cluster; empty: just ``origin``

    @classmethod
    def from_incident(cls, doc: Mapping[str, Any]) -> StatRecord:
        """From a schema-valid incident document (the current revision)."""
        occurred = doc.get("occurred_at")
        day = parse_time(occurred, "$.occurred_at").date() if occurred else None
        facets = incident_facets(doc)
        return cls(origin=doc["origin"], severity=Severity(doc["severity"]),
                   harm_types=tuple(doc.get("harm_types", ())),
                   red_lines=tuple(doc.get("red_lines", ())),
                   developer=(doc.get("ai_system") or {}).get("developer") or None,
                   occurred_at=day, tlp=doc.get("tlp", "CLEAR"),
                   week=iso_week(day) if day else None, incident_id=str(doc.get("id", "")),
                   countries=tuple(facets["countries"]), sector=facets["sector"],
                   model=facets["model"], provenance=facets["provenance"])

    @classmethod
    def from_stub(cls, doc: Mapping[str, Any]) -> StatRecord:
        """From a statistical stub of a RED or AMBER+STRICT report.

        Raises:
            SchemaError: the stub's ``week`` is not an ISO week.
        """
        week = doc.get("week")
        if week is not None:
            week_monday(week)
        return cls(origin=doc["origin"], severity=Severity(doc["severity"]),
                   harm_types=tuple(doc.get("harm_types", ())),
                   red_lines=tuple(doc.get("red_lines", ())), developer=None, occurred_at=None,
                   tlp=doc.get("tlp", "RED"), is_stub=True, week=week)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> StatRecord:
        """An incident document, or anything else treated as a stub."""
        return cls.from_incident(doc) if doc.get("type") == "incident" else cls.from_stub(doc)

    @property
    def date_for_range(self) -> date | None:
        """The date ``since``/``until`` compare: occurrence, or the Thursday of a stub's week."""
        if self.occurred_at is not None:
            return self.occurred_at
        return week_monday(self.week) + timedelta(days=3) if self.week else None

    def values(self, dimension: str, basis: str = "all") -> tuple[KeyValue, ...]:
        """This record's key values along one dimension (several for multi-valued ones);
        ``(None,)`` — unknown — where the value's provenance is not admitted by ``basis``."""
        source = PROVENANCE_FIELD.get(dimension)
        if source and self.provenance.get(source, "observed") not in ADMITTED[basis]:
            return (None,)
        if dimension == "origin":
            return self.reporters or (self.origin,)
        if dimension in ("country", "sector", "model"):
            return {"country": self.countries or (None,), "sector": (self.sector,),
                    "model": (self.model,)}[dimension]
        if dimension == "harm_type":
            return self.harm_types or (None,)
        if dimension == "red_line":
            return self.red_lines or (None,)
        if dimension == "year":
            day = self.date_for_range
            return (day.year if day else None,)
        if dimension == "month":
            return (self._month(),)
        if dimension == "week":
            return (self.week,)
        single: dict[str, KeyValue] = {"severity": self.severity.value,
                                       "developer": self.developer}
        return (single[dimension],)

    def _month(self) -> str | None:
        if self.occurred_at is not None:
            return f"{self.occurred_at:%Y-%m}"
        if self.week is None:
            return None
        monday = week_monday(self.week)
        sunday = monday + timedelta(days=6)
        # A week spanning two months cannot be put in either without guessing the hidden date.
        return f"{monday:%Y-%m}" if (monday.year, monday.month) == (sunday.year,
                                                                  sunday.month) else None


def check_dimensions(by: Sequence[str]) -> list[str]:
    """Validate grouping dimension names; return them as a list.

    Raises:
        SchemaError: an unknown or repeated name, with the Problem path ``$.query.by``.
    """
    names = list(by)
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown:
        names_text = ", ".join(map(repr, unknown))
        raise SchemaError([Problem("$.query.by", f"unknown dimension {names_text}; "
                                                 f"use any of {', '.join(DIMENSIONS)}")])
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SchemaError([Problem("$.query.by", f"dimension {', '.join(repeated)} is listed "
                                                 "more than once")])
    return names


def _sort_key(dimension: str, value: KeyValue) -> tuple[int, int, str]:
    # None sorts last; severity follows the scale, not the alphabet; years compare as numbers.
    if value is None:
        return (1, 0, "")
    if dimension == "severity":
        return (0, Severity(str(value)).rank, "")
    if isinstance(value, int):
        return (0, value, "")
    return (0, 0, value)


def incident_facets(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The statistics facets of an incident document beyond the OECD core: affected countries,
    sector of deployment, model, and the provenance of each mapped field."""
    system = doc.get("ai_system") or {}
    model = system.get("model_ref") or system.get("name") or None
    if model and system.get("version"):
        model = f"{model} {system['version']}"
    provenance = doc.get("provenance")
    return {"countries": list(doc.get("countries") or ()),
            "sector": doc.get("sector") or doc.get("critical_infrastructure_sector") or None,
            "model": model,
            "provenance": dict(provenance) if isinstance(provenance, Mapping) else {}}


def check_basis(basis: str) -> str:
    """Validate a ``basis`` name.

    Raises:
        SchemaError: not one of ``BASES`` (``$.query.basis``).
    """
    if basis not in BASES:
        raise SchemaError([Problem("$.query.basis", f"{basis!r}: use observed (only what the "
                                                    "sources state), derived (and what import "
                                                    "rules read from them) or all")])
    return basis


def in_range(record: StatRecord, since: date | None, until: date | None) -> bool:
    """Whether the record's date lies in the inclusive range; undated records lie in none."""
    if since is None and until is None:
        return True
    day = record.date_for_range
    return day is not None and not ((since and day < since) or (until and day > until))


def group_counts(records: Iterable[StatRecord], by: Sequence[str], since: date | None = None,
                 until: date | None = None, basis: str = "all") -> dict[str, Any]:
    """Count records by any combination of ``DIMENSIONS``, within an occurrence-date range.

    Args:
        records: what the node may see.
        by: dimension names, in the order the keys and the sort should follow.
        since: first occurrence date included, or ``None`` for no lower bound.
        until: last occurrence date included, or ``None`` for no upper bound.

        basis: which values count as known: ``observed``, ``derived`` (observed or derived by
            an import rule) or ``all`` (defaults too); an excluded value is unknown (``None``).

    Returns:
        ``{"total": N, "undated": U, "basis": basis, "groups": [{"key": {dim: value, ...},
        "count": n}, ...]}``, groups sorted by their key values in the order of ``by`` (severity
        by scale, ``None`` last). ``undated`` counts the records a date range left out because
        they have no date, so that none is dropped silently.

    Raises:
        SchemaError: a bad dimension or basis name, or ``since`` after ``until``.
    """
    return weighted_group_counts(((r, 1) for r in records), by, since, until, basis)


def weighted_group_counts(weighted: Iterable[tuple[StatRecord, int]], by: Sequence[str],
                          since: date | None = None, until: date | None = None,
                          basis: str = "all") -> dict[str, Any]:
    """``group_counts`` where each record stands for ``weight`` alike records (a negative
    weight takes records back out); groups whose weights sum to zero are left out."""
    dims = check_dimensions(by)
    check_basis(basis)
    if since is not None and until is not None and since > until:
        raise SchemaError([Problem("$.query.since", f"{since} is after until {until}")])
    total = undated = 0
    counts: Counter[tuple[KeyValue, ...]] = Counter()
    for record, weight in weighted:
        if not in_range(record, since, until):
            undated += weight if record.date_for_range is None else 0
            continue
        total += weight
        keys: list[tuple[KeyValue, ...]] = [()]
        for dim in dims:
            # Multi-valued dimensions explode: one key per value, deduplicated per record.
            keys = [(*k, v) for k in keys for v in dict.fromkeys(record.values(dim, basis))]
        for key in keys:  # distinct: a product of distinct values
            counts[key] += weight
    # Weights may be negative (a cell's record replaced by its cluster): no group of none.
    ordered = sorted(((k, n) for k, n in counts.items() if n),
                     key=lambda kv: [_sort_key(d, v) for d, v in zip(dims, kv[0], strict=True)])
    return {"total": total, "undated": undated, "basis": basis,
            "groups": [{"key": dict(zip(dims, key, strict=True)), "count": n}
                       for key, n in ordered]}


def parse_where(terms: Iterable[str]) -> dict[str, KeyValue]:
    """``["year:2020", "country:"]`` → ``{"year": 2020, "country": None}``: the key of one
    group of ``group_counts``, as a chart's link to the incident list says it (an empty value
    is the unknown group).

    Raises:
        SchemaError: a term without ``:``, an unknown or repeated dimension, a year not a number.
    """
    out: dict[str, KeyValue] = {}
    for term in terms:
        dim, sep, raw = term.partition(":")
        if not sep:
            raise SchemaError([Problem("$.query.where", f"{term!r}: write dimension:value, "
                                                        "e.g. year:2020 or country:FR")])
        try:
            check_dimensions([*out, dim])
        except SchemaError as e:
            raise SchemaError([Problem("$.query.where", p.message) for p in e.problems]) from e
        value: KeyValue = raw if raw else None
        if dim == "year" and raw:
            if not raw.isdigit():
                raise SchemaError([Problem("$.query.where", f"year {raw!r} is not a number")])
            value = int(raw)
        out[dim] = value
    return out


def matches(record: StatRecord, where: Mapping[str, KeyValue], basis: str = "all") -> bool:
    """Whether the record falls in the group ``where`` (as ``group_counts`` counts it)."""
    return all(value in record.values(dim, basis) for dim, value in where.items())


def red_line_crossings(records: Iterable[StatRecord]) -> dict[str, int]:
    """How many records name each red line (every IDAIS red line listed, zero if none)."""
    return weighted_red_line_crossings((r, 1) for r in records)


def weighted_red_line_crossings(weighted: Iterable[tuple[StatRecord, int]]) -> dict[str, int]:
    """``red_line_crossings`` where each record stands for ``weight`` alike records."""
    counts: Counter[str] = Counter()
    for record, weight in weighted:
        for rl in dict.fromkeys(record.red_lines):
            counts[rl] += weight
    counts = Counter({rl: n for rl, n in counts.items() if n})
    return {rl: counts.get(rl, 0) for rl in (*RED_LINES, *sorted(set(counts) - set(RED_LINES)))}


def to_csv_rows(result: Mapping[str, Any], by: Sequence[str]) -> list[list[str]]:
    """A ``group_counts`` result as CSV rows: a header (the dimensions, then ``count``), then
    one row per group; an unknown key value is an empty cell."""
    dims = check_dimensions(by)
    rows = [[*dims, "count"]]
    for group in result["groups"]:
        key = group["key"]
        rows.append([("" if key.get(d) is None else str(key[d])) for d in dims]
                    + [str(group["count"])])
    return rows


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks.

    This is the common "type 7" definition (numpy's default, spreadsheet ``PERCENTILE``): the
    value at rank ``(n - 1) * q / 100``; ``q=50`` is the median.

    Raises:
        ValueError: no values, or ``q`` outside 0..100.
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100 or math.isnan(q):
        raise ValueError(f"percentile must be within 0..100, not {q}")
    rank = (len(ordered) - 1) * q / 100
    lo = math.floor(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def ack_time_summary(samples: Iterable[tuple[int, float]]) -> dict[int, dict[str, float]]:
    """Acknowledgement times per escalation tier.

    Args:
        samples: ``(tier, seconds from notification to acknowledgement)`` pairs.

    Returns:
        ``{tier: {"count": n, "median": s, "p90": s}}`` for each tier with samples, by tier.

    Raises:
        ValueError: a negative time (an acknowledgement before its notification).
    """
    by_tier: dict[int, list[float]] = {}
    for tier, seconds in samples:
        if seconds < 0:
            raise ValueError(f"tier {tier}: acknowledgement {seconds} s before notification")
        by_tier.setdefault(tier, []).append(float(seconds))
    return {tier: {"count": len(v), "median": percentile(v, 50), "p90": percentile(v, 90)}
            for tier, v in sorted(by_tier.items())}
