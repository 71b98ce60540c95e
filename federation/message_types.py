"""The registry of message types: one entry per type, holding what every node must agree on.

    >>> KINDS["checkpoint"].logged, KINDS["incident"].durable
    (False, True)
    >>> kind_of("heartbeat")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    federation.errors.RejectedMessage: unknown-type: no message type 'heartbeat'; known: ...

Adding a message type: its name to ``MessageType``, an entry here, its schema
``schemas/<name>.v1.json``, its model and builder in ``federation/``, and its branch in the
node's pipeline (``node.pipeline.flow``), where ``match`` + ``assert_never`` makes mypy name a type
that has
no handler. The stream's subjects and the log's exclusions follow from this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from federation.errors import RejectedMessage

MessageType = Literal[
    "incident", "stub", "sealed", "escalation", "ack", "decline", "resolution", "declaration",
    "emergency", "advisory", "checkpoint", "cosignature", "roster", "stats", "link",
    "step",
    "model", "evaluation", "training-run", "safety-case-review", "monitoring",
]


@dataclass(frozen=True)
class MessageKind:
    """What the federation agrees about one message type."""

    name: MessageType
    qualifier: str  # what the subject's optional last token(s) say, beacon.v1.<type>.<origin>.…
    durable: bool = True  # carried by the JetStream stream (every type is, today)
    logged: bool = True  # appended to the sender's transparency log

    @property
    def schema(self) -> str:
        """The schema's name: ``schemas/<schema>.v1.json``."""
        return self.name


KINDS: dict[MessageType, MessageKind] = {k.name: k for k in (
    MessageKind("incident", "severity"),
    MessageKind("stub", "severity of a TLP:RED report that stays at its origin"),
    MessageKind("sealed", "severity of a TLP:AMBER+STRICT report"),
    MessageKind("escalation", "the one recipient, or tier<N> for a whole tier"),
    MessageKind("ack", "the asking member"),
    MessageKind("decline", "the asking member"),
    MessageKind("resolution", "none"),
    MessageKind("declaration", "none"),
    MessageKind("emergency", "none"),
    MessageKind("advisory", "none"),
    # Messages about the log itself are not entries of it: logging a checkpoint would grow the
    # log and call for another checkpoint, without end.
    MessageKind("checkpoint", "none", logged=False),
    MessageKind("cosignature", "none", logged=False),
    MessageKind("roster", "none (shared through the roster KV bucket)"),
    MessageKind("stats", "none"),
    MessageKind("link", "none"),
    MessageKind("step", "none"),
    MessageKind("model", "none"),
    MessageKind("evaluation", "the level reached: below, approaching, early-warning, red-line"),
    MessageKind("training-run", "none"),
    MessageKind("safety-case-review", "the verdict: approved or rejected"),
    MessageKind("monitoring", "none"),
)}
assert set(KINDS) == set(get_args(MessageType)), "every message type has one registry entry"  # noqa: S101


def kind_of(name: str) -> MessageKind:
    """The registry entry of ``name``.

    Raises:
        RejectedMessage: ``unknown-type``, the name is no Beacon message type.
    """
    for kind in KINDS.values():
        if kind.name == name:
            return kind
    raise RejectedMessage("unknown-type", f"no message type {name!r}; known: {', '.join(KINDS)}")
