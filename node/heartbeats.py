"""Heartbeats on core NATS: what a node says about itself, and what peers accept of it.

    >>> beat = own_heartbeat("gb", at="2026-11-29T10:00:00.000001Z", roster_version=3, outbox=0)
    >>> check_heartbeat("beacon.v1.heartbeat.gb", encode(beat), members={"gb", "fr"}, local="fr",
    ...                 max_roster=3)["origin"]
    'gb'

Heartbeats are not signed: NATS permissions stop a member from publishing under another
member's subject, but a member (or anyone holding its NATS credentials) can put anything in its
own. So a peer shows only what it checked — a bounded JSON object with exactly these fields, the
origin taken from the subject (and required to match), integers in range, a UTC timestamp — and
marks every value as reported by the peer (``verified: false``): liveness, not evidence.
Anything else is dropped and counted in ``beacon_heartbeats_refused_total{reason=…}``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from federation.errors import RejectedMessage
from federation.subjects import HEARTBEAT, PREFIX, parse_subject

MAX_HEARTBEAT_BYTES = 512
MAX_OUTBOX = 10**9
FIELDS = frozenset({"origin", "at", "roster_version", "outbox"})
# RFC 3339 UTC as ``NodeContext.stamp`` writes it (microseconds optional).
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")


class BadHeartbeat(RejectedMessage):
    """A heartbeat that is not shown; ``reason`` is the metric label."""


def own_heartbeat(origin: str, *, at: str, roster_version: int, outbox: int) -> dict[str, Any]:
    return {"origin": origin, "at": at, "roster_version": roster_version, "outbox": outbox}


def encode(beat: dict[str, Any]) -> bytes:
    return json.dumps(beat, separators=(",", ":")).encode()


def subject(origin: str) -> str:
    return f"{PREFIX}.{HEARTBEAT}.{origin}"


def check_heartbeat(subject_: str, data: bytes, *, members: set[str] | frozenset[str], local: str,
                    max_roster: int) -> dict[str, Any]:
    """The checked fields of a roster member's heartbeat. Raises BadHeartbeat saying why not.

    ``max_roster`` bounds ``roster_version``: a peer cannot be more than one version ahead of
    this node (the next version may be in flight), so a larger number is made up.
    """
    if len(data) > MAX_HEARTBEAT_BYTES:
        raise BadHeartbeat("too-large", f"{len(data)} bytes > {MAX_HEARTBEAT_BYTES}")
    try:
        origin = parse_subject(subject_).origin
        beat = json.loads(data)
    except (RejectedMessage, ValueError) as e:
        raise BadHeartbeat("malformed", str(e)) from e
    if not isinstance(beat, dict) or set(beat) != FIELDS:
        raise BadHeartbeat("schema", f"expected exactly the fields {sorted(FIELDS)}")
    if origin == local or origin not in members or beat["origin"] != origin:
        raise BadHeartbeat("origin", f"origin {beat['origin']!r} on subject {subject_!r}")
    if not isinstance(beat["at"], str) or not _STAMP.fullmatch(beat["at"]):
        raise BadHeartbeat("schema", "at is not an RFC 3339 UTC timestamp")
    _check_int(beat["roster_version"], 1, max_roster + 1, "roster_version")
    _check_int(beat["outbox"], 0, MAX_OUTBOX, "outbox")
    return beat


def _check_int(value: Any, low: int, high: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadHeartbeat("range", f"{name} {value!r} is not an integer in [{low}, {high}]")


def shown(beat: dict[str, Any], seen_at: str) -> dict[str, Any]:
    """What ``/api/v1/peers`` shows: the checked fields, marked unverified, and when we saw it."""
    return {**beat, "seen_at": seen_at, "verified": False}
