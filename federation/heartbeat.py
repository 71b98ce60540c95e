"""Heartbeats: the small unsigned liveness note a node sends on core NATS every few seconds.

    >>> from datetime import datetime, timezone
    >>> beat = build_heartbeat(origin="gb", at=datetime(2026, 11, 20, 9, tzinfo=timezone.utc),
    ...                        roster_version=3, outbox=0)
    >>> check_heartbeat("beacon.v1.heartbeat.gb", beat.encode(), members={"gb", "fr"},
    ...                 local="fr", max_roster=3).roster_version
    3

A heartbeat is not signed and not stored: NATS permissions stop a member from publishing under
another member's subject, but a member (or anyone holding its NATS credentials) can put anything
in its own. So a peer shows only what it checked — a bounded JSON object with exactly these four
fields, the origin taken from the subject (and required to match a roster member other than the
receiver), integers in range, a UTC timestamp — and marks every value as reported by the peer
(``verified: false``): liveness, not evidence. Anything else is refused with a reason the node
counts (``beacon_heartbeats_refused_total{reason}``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from federation.errors import Error, MessageError, RejectedMessage, SchemaError
from federation.jsonbounds import parse_json
from federation.subjects import HEARTBEAT, PREFIX, parse_subject
from federation.timeutil import format_time, parse_time

MAX_HEARTBEAT_BYTES = 512
MAX_OUTBOX = 10**9
FIELDS = frozenset({"origin", "at", "roster_version", "outbox"})
# RFC 3339 UTC with a Z, as nodes write it (fractions of a second optional).
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")


class BadHeartbeat(RejectedMessage):
    """A heartbeat that is not shown; ``reason`` is the metric label."""


@dataclass(frozen=True)
class Heartbeat:
    origin: str
    at: datetime
    roster_version: int
    outbox: int

    def to_dict(self) -> dict[str, Any]:
        return {"origin": self.origin, "at": format_time(self.at),
                "roster_version": self.roster_version, "outbox": self.outbox}

    def encode(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    def shown(self, seen_at: str) -> dict[str, Any]:
        """What ``/api/v1/peers`` shows: the checked fields, marked unverified, and when this
        node saw them."""
        return {**self.to_dict(), "seen_at": seen_at, "verified": False}


def heartbeat_subject(origin: str) -> str:
    return f"{PREFIX}.{HEARTBEAT}.{origin}"


def build_heartbeat(*, origin: str, at: datetime, roster_version: int,
                    outbox: int) -> Heartbeat:
    """This node's heartbeat.

    Raises:
        MessageError: a roster version below 1 or a negative outbox depth.
    """
    if roster_version < 1 or outbox < 0:
        raise MessageError("heartbeat", f"roster version {roster_version} must be >= 1 and "
                                        f"outbox depth {outbox} must be >= 0")
    return Heartbeat(origin, at, roster_version, outbox)


def check_heartbeat(subject: str, data: bytes, *, members: Set[str], local: str,
                    max_roster: int) -> Heartbeat:
    """The checked heartbeat of a roster member; raises BadHeartbeat saying why not.

    ``max_roster`` bounds ``roster_version``: a peer cannot be more than one version ahead of
    this node (the next version may be in flight), so a larger number is made up.

    Raises:
        BadHeartbeat: ``too-large``, ``malformed``, ``schema``, ``origin`` or ``range``.
    """
    if len(data) > MAX_HEARTBEAT_BYTES:
        raise BadHeartbeat("too-large", f"{len(data)} bytes > {MAX_HEARTBEAT_BYTES}")
    try:
        origin = parse_subject(subject).origin
        beat = parse_json(data, what="heartbeat", strict=True)
    except (RejectedMessage, SchemaError) as e:
        raise BadHeartbeat("malformed", str(e)) from e
    if not isinstance(beat, dict) or set(beat) != FIELDS:
        raise BadHeartbeat("schema", f"expected exactly the fields {sorted(FIELDS)}")
    if origin == local or origin not in members or beat["origin"] != origin:
        raise BadHeartbeat("origin", f"origin {beat['origin']!r} on subject {subject!r}")
    if not isinstance(beat["at"], str) or not _STAMP.fullmatch(beat["at"]):
        raise BadHeartbeat("schema", "at is not an RFC 3339 UTC timestamp")
    try:
        at = parse_time(beat["at"], "$.at")
    except Error as e:
        raise BadHeartbeat("schema", str(e)) from e
    _check_int(beat["roster_version"], 1, max_roster + 1, "roster_version")
    _check_int(beat["outbox"], 0, MAX_OUTBOX, "outbox")
    return Heartbeat(origin, at, beat["roster_version"], beat["outbox"])


def _check_int(value: Any, low: int, high: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadHeartbeat("range", f"{name} {value!r} is not an integer in [{low}, {high}]")
