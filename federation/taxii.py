"""TAXII 2.1 rules without the HTTP: who sees which collection, and the paging and filters of
the objects, manifest and versions endpoints (TAXII 2.1 §3.4, §5).

    labels = visible_labels("viewer")               # ("CLEAR", "GREEN")
    entries = collect([(doc, received_at), ...])    # STIX objects with their date_added
    page = select(entries, parse_query({"limit": "10", "match[type]": "incident"}))

**Who sees what.** A node serves one collection per TLP label that may leave it through TAXII:
CLEAR, GREEN and AMBER. TLP:AMBER is for "members": here, the people of this member authority
who hold a token with an operational role (operator, responder, auditor). The ``viewer`` role is
the one a node hands to read-only consumers (a CSIRT dashboard, a TIP feed), so it sees CLEAR and
GREEN only: the AMBER collection is not listed for it and answers 404. AMBER+STRICT and RED never
leave through TAXII — not the objects and not their counts (the statistics API has the stubs).

**Paging.** Entries are ordered by (date_added, id, version); ``next`` is an opaque token naming
the last entry of the page, so objects added meanwhile never shift a page. Pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from federation.errors import Problem, SchemaError
from federation.stix import BEACON_NAMESPACE, report_objects, stix_time
from federation.timeutil import format_time, parse_time

TAXII_MEDIA = "application/taxii+json;version=2.1"
STIX_MEDIA = "application/stix+json;version=2.1"
SHARED_LABELS = ("CLEAR", "GREEN", "AMBER")  # what may leave through TAXII at all
AMBER_ROLES = ("operator", "responder", "auditor")
MAX_PAGE = 1000
DEFAULT_PAGE = 100


def visible_labels(role: str) -> tuple[str, ...]:
    """The TLP labels a caller of this role may read over TAXII."""
    return SHARED_LABELS if role in AMBER_ROLES else ("CLEAR", "GREEN")


def collection_id(node_id: str, label: str) -> str:
    return str(uuid.uuid5(BEACON_NAMESPACE, f"taxii-collection/{node_id}/{label}"))


def collection_resource(node_id: str, label: str) -> dict[str, Any]:
    return {"id": collection_id(node_id, label), "title": f"{node_id} incidents, TLP:{label}",
            "description": f"Incident reports this node holds that are marked TLP:{label}, "
                           "every signed revision, as STIX 2.1 (Incident Core extension).",
            "can_read": True, "can_write": False, "media_types": [STIX_MEDIA]}


@dataclass(frozen=True)
class Entry:
    obj: Mapping[str, Any]
    date_added: str

    @property
    def id(self) -> str:
        return str(self.obj["id"])

    @property
    def version(self) -> str:
        return str(self.obj.get("modified") or self.obj.get("created") or self.date_added)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.date_added, self.id, self.version)

    def manifest(self) -> dict[str, Any]:
        return {"id": self.id, "date_added": self.date_added, "version": self.version,
                "media_type": STIX_MEDIA}


def collect(revisions: Iterable[tuple[Mapping[str, Any], str]],
            jurisdictions: Mapping[str, str] | None = None) -> list[Entry]:
    """Every STIX object of these signed revisions, each version once with the earliest time
    it was added (the revision's ``received_at``), ordered for paging."""
    first: dict[tuple[str, str], Entry] = {}
    for doc, received_at in revisions:
        added = stix_time(received_at)
        for obj in report_objects(doc, (jurisdictions or {}).get(doc["origin"])):
            entry = Entry(obj, added)
            known = first.get((entry.id, entry.version))
            if known is None or entry.date_added < known.date_added:
                first[(entry.id, entry.version)] = entry
    return sorted(first.values(), key=lambda e: e.key)


@dataclass(frozen=True)
class Query:
    added_after: str | None = None
    limit: int = DEFAULT_PAGE
    after: tuple[str, str, str] | None = None  # from ``next``
    types: frozenset[str] = frozenset()
    ids: frozenset[str] = frozenset()
    versions: frozenset[str] = frozenset({"last"})
    spec_versions: frozenset[str] = frozenset()


def _split(params: Mapping[str, str], name: str) -> frozenset[str]:
    raw = params.get(name)
    return frozenset(v.strip() for v in raw.split(",") if v.strip()) if raw else frozenset()


def encode_next(entry: Entry) -> str:
    return base64.urlsafe_b64encode("\n".join(entry.key).encode()).decode().rstrip("=")


def _decode_next(token: str) -> tuple[str, str, str]:
    try:
        parts = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split("\n")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        parts = []
    if len(parts) != 3:
        raise SchemaError([Problem("$.query.next", "not a token this server gave; start again "
                                                   "without next")])
    return parts[0], parts[1], parts[2]


def parse_query(params: Mapping[str, str], *, max_limit: int = MAX_PAGE) -> Query:
    """The TAXII filter parameters, checked.

    Raises:
        SchemaError: a parameter is malformed (``$.query.<name>``).
    """
    problems: list[Problem] = []
    added_after = None
    if params.get("added_after"):
        try:
            added_after = stix_time(format_time(parse_time(params["added_after"],
                                                           "$.query.added_after")))
        except SchemaError as e:
            problems += e.problems
    limit = DEFAULT_PAGE
    if params.get("limit"):
        raw = params["limit"]
        limit = int(raw) if raw.isdigit() else 0
        if not 1 <= limit <= max_limit:
            problems.append(Problem("$.query.limit", f"an integer 1..{max_limit}"))
    versions = _split(params, "match[version]") or frozenset({"last"})
    for v in versions - {"first", "last", "all"}:
        try:
            parse_time(v, "$.query.match[version]")
        except SchemaError as e:
            problems += e.problems
    if problems:
        raise SchemaError(problems)
    return Query(added_after, limit, _decode_next(params["next"]) if params.get("next") else
                 None, _split(params, "match[type]"), _split(params, "match[id]"), versions,
                 _split(params, "match[spec_version]"))


def _pick_versions(entries: Sequence[Entry], versions: frozenset[str]) -> list[Entry]:
    if "all" in versions:
        return list(entries)
    by_id: dict[str, list[Entry]] = {}
    for e in entries:
        by_id.setdefault(e.id, []).append(e)
    keep: set[tuple[str, str]] = set()
    for group in by_id.values():
        ordered = sorted(group, key=lambda e: e.version)
        if "first" in versions:
            keep.add((ordered[0].id, ordered[0].version))
        if "last" in versions:
            keep.add((ordered[-1].id, ordered[-1].version))
        keep.update((e.id, e.version) for e in group if e.version in versions)
    return [e for e in entries if (e.id, e.version) in keep]


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    more: bool
    next: str | None


def select(entries: Sequence[Entry], q: Query, object_id: str | None = None) -> Page:
    """Filter (TAXII 2.1 §3.4.2: added_after, match[...]) and page the ordered entries."""
    chosen = [e for e in entries
              if (object_id is None or e.id == object_id)
              and (not q.ids or e.id in q.ids)
              and (not q.types or e.id.split("--", 1)[0] in q.types)
              and (not q.spec_versions or str(e.obj.get("spec_version", "2.0"))
                   in q.spec_versions)]
    chosen = _pick_versions(chosen, q.versions)
    if q.added_after is not None:
        chosen = [e for e in chosen if e.date_added > q.added_after]
    if q.after is not None:
        chosen = [e for e in chosen if e.key > q.after]
    page = chosen[:q.limit]
    more = len(chosen) > q.limit
    return Page(page, more, encode_next(page[-1]) if more else None)
