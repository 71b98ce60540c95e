"""Messages about transparency logs: a node's ``checkpoint``, a witness's ``cosignature``, and
the verification-failure incident a witness files when a log equivocates.

    >>> from datetime import datetime, timezone
    >>> from federation.checkpoint import Checkpoint
    >>> t = datetime(2026, 11, 20, 9, tzinfo=timezone.utc)
    >>> cp = Checkpoint("beacon/gb", 2, bytes(32))
    >>> build_cosignature(origin="fr", issued_at=t, checkpoint=cp, line="— beacon/de abc=")
    Traceback (most recent call last):
    ...
    federation.errors.MessageError: cannot build the cosignature message: the line is not ...

The note and the cosignature line are made by ``federation.checkpoint`` (C2SP tlog-checkpoint
and tlog-cosignature); these builders only put them in the signed message and refuse a message
whose parts disagree (a log name that is not the origin's, a proof that starts after it ends).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from federation.checkpoint import Checkpoint
from federation.keys import unb64
from federation.messages import Incident, incident_from_report
from federation.timeutil import parse_time
from federation.wire import WireMessage, WirePart, require


def log_name(origin: str) -> str:
    """The C2SP log origin line of a member's log."""
    return f"beacon/{origin}"


@dataclass(frozen=True)
class TreeHead(WirePart):
    """A size and root, as a checkpoint names its predecessor."""

    size: int
    root: bytes


@dataclass(frozen=True)
class CheckpointMessage(WireMessage):
    TYPE = "checkpoint"
    log_origin: str
    size: int
    root: bytes
    note: str
    previous: TreeHead | None
    consistency: tuple[bytes, ...]

    def to_dict(self) -> dict[str, Any]:
        # ``previous`` is required, and null for a log's first checkpoint.
        return {**super().to_dict(), "previous": self.previous and self.previous.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CheckpointMessage:
        prev = d.get("previous")
        return cls(d["origin"], parse_time(d["issued_at"]), d["log_origin"], int(d["size"]),
                   unb64(d["root"]), d["note"],
                   None if prev is None else TreeHead(int(prev["size"]), unb64(prev["root"])),
                   tuple(unb64(h) for h in d["consistency"]), extra=cls.unknown(d))


def build_checkpoint(*, origin: str, issued_at: datetime, checkpoint: Checkpoint, note: str,
                     previous: TreeHead | None,
                     consistency: Sequence[bytes]) -> CheckpointMessage:
    """The ``checkpoint`` message of ``origin``'s log: the signed note and an RFC 9162
    consistency proof from ``previous`` (None for the first checkpoint).

    Raises:
        MessageError: the log is not ``beacon/<origin>``, the note is not of this checkpoint,
            ``previous`` is larger, or a proof without a previous checkpoint.
    """
    require("checkpoint", checkpoint.origin == log_name(origin),
            f"log {checkpoint.origin!r} is not {log_name(origin)!r}, the log of {origin}")
    require("checkpoint", note.encode("utf-8").startswith(checkpoint.body()),
            "the note does not sign this checkpoint's size and root")
    if previous is None:
        require("checkpoint", not consistency, "a consistency proof needs a previous checkpoint")
    else:
        require("checkpoint", previous.size <= checkpoint.size,
                f"previous size {previous.size} is larger than size {checkpoint.size}")
    return CheckpointMessage(origin, issued_at, checkpoint.origin, checkpoint.size,
                             checkpoint.root_hash, note, previous, tuple(consistency))


@dataclass(frozen=True)
class Cosignature(WireMessage):
    TYPE = "cosignature"
    log_origin: str
    size: int
    root: bytes
    line: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Cosignature:
        return cls(d["origin"], parse_time(d["issued_at"]), d["log_origin"], int(d["size"]),
                   unb64(d["root"]), d["line"], extra=cls.unknown(d))


def build_cosignature(*, origin: str, issued_at: datetime, checkpoint: Checkpoint,
                      line: str) -> Cosignature:
    """The ``cosignature`` witness ``origin`` publishes on a peer's checkpoint.

    Raises:
        MessageError: the line is not a signature line of ``beacon/<origin>``.
    """
    line = line.rstrip("\n")
    require("cosignature", line.startswith(f"— {log_name(origin)} ") and "\n" not in line,
            f"the line is not one signature line of {log_name(origin)}: {line[:60]!r}")
    return Cosignature(origin, issued_at, checkpoint.origin, checkpoint.size,
                       checkpoint.root_hash, line)


@dataclass(frozen=True)
class Equivocation(WirePart):
    """The evidence that a log equivocated: two checkpoint notes that cannot both be true."""

    origin: str
    size: int
    why: str
    checkpoint_a: str
    checkpoint_b: str


def equivocation_incident(evidence: Equivocation, *, witness: str, issued_at: datetime,
                          incident_id: str | None = None) -> Incident:
    """The verification-failure incident ``witness`` files about ``evidence`` (TLP:GREEN, so
    that every member learns of it)."""
    origin, size = evidence.origin, evidence.size
    report = {
        "title": f"Verification failure: the transparency log of {origin} equivocated",
        "description": (f"Node {witness}, witnessing {origin}'s log, received two checkpoints "
                        f"that cannot both be true ({evidence.why}). Both are signed with "
                        f"{origin}'s roster key. Evidence:\n"
                        f"{json.dumps(evidence.to_dict(), indent=1)}"),
        "severity": "serious-incident", "harm_types": ["public-interest"],
        "ai_system": {"name": "Beacon federation transparency log",
                      "role": f"{origin}'s node signed inconsistent views of its own log."},
        "submitter": {"organisation": f"Beacon node {witness} (automatic witness)"},
        "supporting_materials": [{"description": f"checkpoint notes of {origin} at size {size}"}],
        "affected_jurisdictions": [origin] if origin != witness else [],
        "tlp": "GREEN", "red_lines": [],
        "classifications": {"beacon": ["verification-failure", "equivocation"]},
    }
    return Incident.from_dict(incident_from_report(report, origin=witness, now=issued_at,
                                                   incident_id=incident_id))

