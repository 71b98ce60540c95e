"""Heartbeats: the small unsigned liveness note a node sends on core NATS every few seconds.

    >>> from datetime import datetime, timezone
    >>> beat = build_heartbeat(origin="gb", at=datetime(2026, 11, 20, 9, tzinfo=timezone.utc),
    ...                        roster_version=3, outbox=0)
    >>> data = beat.encode()
    >>> parse_heartbeat(data, subject_origin="gb").roster_version
    3
    >>> parse_heartbeat(data, subject_origin="fr")
    Traceback (most recent call last):
    ...
    federation.errors.RejectedMessage: origin-mismatch: heartbeat on the subject of fr ...

A heartbeat is not signed and not stored: it only feeds a peer-status view. So a receiver shows
only what it checks — the size is bounded, the body is a JSON object with the four fields of the
right types, and its origin is the subject's origin token (which the NATS server's permissions
tie to the sender's credentials). Unknown fields survive a round trip like every other model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from federation.errors import Error, MessageError, RejectedMessage
from federation.timeutil import format_time, parse_time

MAX_HEARTBEAT_BYTES = 4096
_INTS = ("roster_version", "outbox")


@dataclass(frozen=True)
class Heartbeat:
    origin: str
    at: datetime
    roster_version: int
    outbox: int
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {**self.extra, "origin": self.origin, "at": format_time(self.at),
                "roster_version": self.roster_version, "outbox": self.outbox}

    def encode(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Heartbeat:
        """Read a heartbeat body; refuse a field of the wrong type.

        Raises:
            RejectedMessage: ``bad-heartbeat`` naming the field.
        """
        if not isinstance(d.get("origin"), str) or not isinstance(d.get("at"), str):
            raise RejectedMessage("bad-heartbeat", "origin and at must be strings")
        for name in _INTS:
            value = d.get(name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise RejectedMessage("bad-heartbeat", f"{name} must be an integer >= 0, "
                                                       f"got {value!r}")
        try:
            at = parse_time(d["at"], "$.at")
        except Error as e:
            raise RejectedMessage("bad-heartbeat", str(e)) from e
        known = {"origin", "at", *_INTS}
        return cls(d["origin"], at, d["roster_version"], d["outbox"],
                   {k: v for k, v in d.items() if k not in known})


def build_heartbeat(*, origin: str, at: datetime, roster_version: int,
                    outbox: int) -> Heartbeat:
    """This node's heartbeat.

    Raises:
        MessageError: a negative roster version or outbox depth.
    """
    if roster_version < 0 or outbox < 0:
        raise MessageError("heartbeat", f"roster version {roster_version} and outbox depth "
                                        f"{outbox} must be >= 0")
    return Heartbeat(origin, at, roster_version, outbox)


def parse_heartbeat(data: bytes, *, subject_origin: str,
                    max_bytes: int = MAX_HEARTBEAT_BYTES) -> Heartbeat:
    """Check a received heartbeat: bounded size, JSON object, typed fields, origin = subject's.

    Raises:
        RejectedMessage: ``too-large``, ``bad-heartbeat`` or ``origin-mismatch``.
    """
    if len(data) > max_bytes:
        raise RejectedMessage("too-large", f"heartbeat of {len(data)} bytes; at most "
                                           f"{max_bytes}")
    try:
        body = json.loads(data)
    except ValueError as e:
        raise RejectedMessage("bad-heartbeat", f"not JSON: {e}") from e
    if not isinstance(body, dict):
        raise RejectedMessage("bad-heartbeat", "not a JSON object")
    beat = Heartbeat.from_dict(body)
    if beat.origin != subject_origin:
        raise RejectedMessage("origin-mismatch", f"heartbeat on the subject of {subject_origin} "
                                                 f"claims origin {beat.origin}")
    return beat
