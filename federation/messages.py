"""Message models: frozen views over the signed JSON documents that travel between nodes.

    >>> doc = {"type": "incident", "origin": "gb", "issued_at": "2026-11-20T09:00:00Z",
    ...        "id": "gb-0123456789abcdef", "revision": 1, "status": "open",
    ...        "severity": "serious-incident", "tlp": "GREEN", "title": "t",
    ...        "harm_types": ["physical"], "future_field": 1}
    >>> Incident.from_dict(doc).severity.value
    'serious-incident'
    >>> Incident.from_dict(doc).to_dict()["future_field"]
    1

A model keeps the whole document, so fields it does not know (a peer on a newer minor version)
survive a round trip. Validation against ``schemas/`` sits beside the models (``SchemaSet``), not
inside them.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from federation.severity import Severity
from federation.timeutil import format_instant, parse_time

# Fields a node sets on a report; a client filing one must not send them.
SERVER_FIELDS = ("type", "origin", "issued_at", "id", "revision")


def new_incident_id(origin: str, token: bytes | None = None) -> str:
    """An id unique across the federation: the origin's id plus 16 random hex digits."""
    return f"{origin}-{(token or secrets.token_bytes(8)).hex()}"


@dataclass(frozen=True)
class Incident:
    id: str
    revision: int
    origin: str
    issued_at: datetime
    status: str
    severity: Severity
    tlp: str
    title: str
    harm_types: tuple[str, ...]
    red_lines: tuple[str, ...]
    affected_jurisdictions: tuple[str, ...]
    occurred_at: datetime | None
    document: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Incident:
        """Build from a schema-validated incident document."""
        return cls(
            id=d["id"], revision=int(d["revision"]), origin=d["origin"],
            issued_at=parse_time(d["issued_at"]), status=d["status"],
            severity=Severity(d["severity"]), tlp=d["tlp"], title=d.get("title", ""),
            harm_types=tuple(d.get("harm_types", ())), red_lines=tuple(d.get("red_lines", ())),
            affected_jurisdictions=tuple(d.get("affected_jurisdictions", ())),
            occurred_at=parse_time(d["occurred_at"]) if d.get("occurred_at") else None,
            document=d,
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.document)


def incident_from_report(report: Mapping[str, Any], *, origin: str, now: datetime,
                         incident_id: str | None = None, revision: int = 1) -> dict[str, Any]:
    """Turn a report as a client files it into the incident message the origin signs."""
    doc = {k: v for k, v in report.items() if k not in SERVER_FIELDS}
    doc.setdefault("status", "open")
    doc.setdefault("red_lines", [])
    doc.setdefault("affected_jurisdictions", [])
    doc.update(type="incident", origin=origin, issued_at=format_instant(now),
               id=incident_id or new_incident_id(origin), revision=revision)
    return doc


@dataclass(frozen=True)
class Draft:
    """A message a node is about to say: its body, unsigned, and how it travels.

    Reactions return drafts instead of sending them; the node's pipeline signs, stores, logs
    and publishes each one, in the transaction of the message that caused it.

        >>> Draft({"type": "ack", "origin": "fr"}, qualifier="gb").message_type
        'ack'
    """

    doc: Mapping[str, Any]
    qualifier: str = ""  # the subject's last token(s): beacon.v1.<type>.<origin>.<qualifier>
    publish: bool = True  # False keeps it at this node (TLP:RED never leaves its origin)

    @property
    def message_type(self) -> str:
        return str(self.doc["type"])
