"""NATS subjects of the wire contract: ``beacon.v1.<type>.<origin>[.<qualifier>]`` (DESIGN §4).

    >>> subject_for("incident", "gb", "serious-incident")
    'beacon.v1.incident.gb.serious-incident'
    >>> parse_subject("beacon.v1.escalation.gb.fr")
    Subject(message_type='escalation', origin='gb', qualifier='fr')

Node credentials let each node publish only under its own origin token; receivers check it again.
"""

from __future__ import annotations

from typing import NamedTuple

from federation.errors import RejectedMessage
from federation.message_types import KINDS

PREFIX = "beacon.v1"
STREAM = "BEACON"
# Message types that travel on JetStream (durable). Heartbeats use core NATS and are not here.
DURABLE_TYPES = tuple(k.name for k in KINDS.values() if k.durable)
HEARTBEAT = "heartbeat"


class Subject(NamedTuple):
    message_type: str
    origin: str
    qualifier: str


def subject_for(message_type: str, origin: str, qualifier: str = "") -> str:
    tail = f".{qualifier}" if qualifier else ""
    return f"{PREFIX}.{message_type}.{origin}{tail}"


def parse_subject(subject: str) -> Subject:
    parts = subject.split(".")
    if len(parts) < 4 or ".".join(parts[:2]) != PREFIX:
        raise RejectedMessage("bad-subject", f"not a Beacon subject: {subject!r}")
    return Subject(parts[2], parts[3], ".".join(parts[4:]))


def stream_subjects() -> list[str]:
    """The subjects the JetStream stream captures: every durable type, any origin."""
    return [f"{PREFIX}.{t}.>" for t in DURABLE_TYPES]
