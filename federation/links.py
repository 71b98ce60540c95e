"""Links between reports of one event, the clusters they make, and candidate duplicates. Pure.

    >>> from datetime import timezone
    >>> doc = link_body("gb-00000000000000aa", "fr-00000000000000bb", "same-as", origin="gb",
    ...                 now=datetime(2026, 1, 5, tzinfo=timezone.utc))
    >>> doc["type"], doc["relation"]
    ('link', 'same-as')
    >>> clusters([("gb-1", "fr-1"), ("fr-1", "jp-1")], ["gb-1", "fr-1", "jp-1", "gb-2"])
    [['fr-1', 'gb-1', 'jp-1'], ['gb-2']]

A ``link`` message (``schemas/link.v1.json``) is signed by the node that owns ``incident_id``
and says that report is the **same as**, or **related to**, ``linked_id``. ``same-as`` is
symmetric and transitive: the reports it joins form one cluster, counted once in the statistics,
with every reporter listed (``merge_cluster``). ``related-to`` changes no count. A link may name
a report this node has not (yet) seen; it takes effect for the counts when both are present.

Candidate duplicates (``candidates``) are suggestions for a person to confirm, never links:
the same source URL, or the same developer and AI system within ``WINDOW_DAYS`` of each other,
or titles at least ``TITLE_SIMILARITY`` alike (``difflib`` ratio on normalised words).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from difflib import SequenceMatcher
from typing import Any

from federation.errors import Problem, SchemaError
from federation.stats import StatRecord
from federation.timeutil import format_time, parse_time

RELATIONS = ("same-as", "related-to")
WINDOW_DAYS = 30
TITLE_SIMILARITY = 0.75
_WORD = re.compile(r"[a-z0-9]+")


def link_body(incident_id: str, linked_id: str, relation: str, *, origin: str, now: datetime,
              note: str = "") -> dict[str, Any]:
    """The ``link`` message ``origin`` signs.

    Raises:
        SchemaError: an unknown relation, or a report linked to itself.
    """
    if relation not in RELATIONS:
        raise SchemaError([Problem("$.relation", f"{relation!r}: use same-as or related-to")],
                          "link")
    if incident_id == linked_id:
        raise SchemaError([Problem("$.incident_id", "a report cannot be linked to itself")],
                          "link")
    doc = {"type": "link", "origin": origin, "issued_at": format_time(now),
           "incident_id": incident_id, "linked_id": linked_id, "relation": relation}
    return doc | ({"note": note} if note else {})


def clusters(same_as: Iterable[tuple[str, str]], ids: Iterable[str]) -> list[list[str]]:
    """Group ``ids`` into clusters joined by ``same_as`` pairs (union-find); pairs naming an
    id outside ``ids`` are ignored. Each cluster sorted, clusters by their first id."""
    known = list(dict.fromkeys(ids))
    parent = {i: i for i in known}

    def root(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    for a, b in same_as:
        if a in parent and b in parent:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = {}
    for i in known:
        groups.setdefault(root(i), []).append(i)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: g[0])


def merge_cluster(records: Sequence[StatRecord]) -> StatRecord:
    """One record for a cluster of reports of one event: the highest severity, the union of
    harm types, red lines and countries, the earliest date, every reporter. Other facets come
    from the first report (by incident id) that states them."""
    ordered = sorted(records, key=lambda r: r.incident_id)
    first = ordered[0]
    if len(ordered) == 1:
        return first
    dated = [r for r in ordered if r.occurred_at is not None]
    earliest = min(dated, key=lambda r: r.occurred_at or date.max) if dated else first

    def union(attr: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v for r in ordered for v in getattr(r, attr)))

    def first_known(attr: str) -> Any:
        return next((getattr(r, attr) for r in ordered if getattr(r, attr)), None)
    top = max(ordered, key=lambda r: r.severity)
    provenance = {**earliest.provenance, "severity": top.provenance.get("severity", "observed")}
    return replace(first, severity=top.severity, harm_types=union("harm_types"),
                   red_lines=union("red_lines"), countries=union("countries"),
                   occurred_at=earliest.occurred_at, week=earliest.week,
                   developer=first_known("developer"), sector=first_known("sector"),
                   model=first_known("model"), provenance=provenance,
                   reporters=tuple(sorted({r.origin for r in ordered})),
                   is_stub=all(r.is_stub for r in ordered))


def counted_once(records: Iterable[StatRecord],
                 same_as: Iterable[tuple[str, str]]) -> list[StatRecord]:
    """``records`` with every ``same-as`` cluster merged into one record."""
    by_id = {r.incident_id: r for r in records}
    return [merge_cluster([by_id[i] for i in group])
            for group in clusters(same_as, by_id)]


# -- candidate duplicates -------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """A report that may describe the same event, and why it is suggested."""

    incident_id: str
    origin: str
    title: str
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"incident_id": self.incident_id, "origin": self.origin, "title": self.title,
                "reasons": list(self.reasons)}


def _words(title: str) -> str:
    return " ".join(_WORD.findall(title.lower()))


def _urls(doc: Mapping[str, Any]) -> set[str]:
    urls = {str(m.get("url")) for m in doc.get("supporting_materials") or () if m.get("url")}
    source = doc.get("source") or {}
    return urls | ({str(source["url"])} if source.get("url") else set())


def _day(doc: Mapping[str, Any]) -> date | None:
    value = doc.get("occurred_at")
    try:
        return parse_time(str(value)).date() if value else None
    except SchemaError:
        return None


def duplicate_reasons(doc: Mapping[str, Any], other: Mapping[str, Any]) -> tuple[str, ...]:
    """Why ``other`` may be the same event as ``doc`` (empty: no reason)."""
    reasons: list[str] = []
    shared = sorted(_urls(doc) & _urls(other))
    if shared:
        reasons.append(f"same source URL {shared[0]}")
    mine, theirs = doc.get("ai_system") or {}, other.get("ai_system") or {}
    a, b = _day(doc), _day(other)
    if (mine.get("developer") and mine.get("developer") == theirs.get("developer")
            and mine.get("name") == theirs.get("name") and a and b
            and abs((a - b).days) <= WINDOW_DAYS):
        reasons.append(f"same AI system and developer within {WINDOW_DAYS} days")
    ratio = SequenceMatcher(None, _words(str(doc.get("title", ""))),
                            _words(str(other.get("title", "")))).ratio()
    if ratio >= TITLE_SIMILARITY:
        reasons.append(f"similar title ({ratio:.0%} alike)")
    return tuple(reasons)


def candidates(doc: Mapping[str, Any], others: Iterable[Mapping[str, Any]],
               limit: int = 20) -> list[Candidate]:
    """Reports among ``others`` that may describe the same event as ``doc``, most reasons
    first; ``doc`` itself and reports of its own origin's same id are skipped."""
    found = []
    for other in others:
        if other.get("id") == doc.get("id"):
            continue
        reasons = duplicate_reasons(doc, other)
        if reasons:
            found.append(Candidate(str(other["id"]), str(other["origin"]),
                                   str(other.get("title", "")), reasons))
    found.sort(key=lambda c: (-len(c.reasons), c.incident_id))
    return found[:limit]
