"""How a member answers a run: ``ack`` and ``decline`` of an escalation, ``declaration`` of an
emergency.

    >>> from datetime import datetime, timezone
    >>> t = datetime(2026, 11, 20, 9, tzinfo=timezone.utc)
    >>> build_decline(origin="fr", issued_at=t, incident_id="gb-0123456789abcdef",
    ...               escalation_id="gb-00000001.notify", reason="  ")
    Traceback (most recent call last):
    ...
    federation.errors.MessageError: cannot build the decline message: the reason is empty; ...

Same pattern as ``federation.run_messages``: frozen models, ``from_dict``/``to_dict`` that keep
unknown fields, and builders that take explicit values and refuse what must not be signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from federation.wire import TextMessage, require


@dataclass(frozen=True)
class Ack(TextMessage):
    TYPE = "ack"
    escalation_id: str
    incident_id: str
    run_id: str | None = None
    responder: str | None = None
    note: str | None = None


def build_ack(*, origin: str, issued_at: datetime, escalation_id: str, incident_id: str,
              run_id: str | None = None, responder: str | None = None,
              note: str | None = None) -> Ack:
    """An ``ack``: a responder at ``origin`` owns the response to ``escalation_id``.

    Raises:
        MessageError: no escalation id.
    """
    require("ack", bool(escalation_id), "name the escalation it acknowledges")
    return Ack(origin, issued_at, escalation_id, incident_id, run_id=run_id,
               responder=None if responder is None else responder[:300],
               note=None if note is None else note[:2000])


@dataclass(frozen=True)
class Decline(TextMessage):
    TYPE = "decline"
    incident_id: str
    reason: str
    escalation_id: str | None = None
    emergency_id: str | None = None
    run_id: str | None = None
    responder: str | None = None


def build_decline(*, origin: str, issued_at: datetime, incident_id: str, reason: str,
                  escalation_id: str | None = None, emergency_id: str | None = None,
                  run_id: str | None = None, responder: str | None = None) -> Decline:
    """A ``decline`` of an escalation or of an emergency proposal (exactly one of the two).

    Raises:
        MessageError: an empty reason, or not exactly one of ``escalation_id`` and
            ``emergency_id``.
    """
    require("decline", bool(reason.strip()), "the reason is empty; say why it declines")
    require("decline", (escalation_id is None) != (emergency_id is None),
            "name either the escalation or the emergency it declines, not both or neither")
    return Decline(origin, issued_at, incident_id, reason[:2000], escalation_id=escalation_id,
                   emergency_id=emergency_id, run_id=run_id,
                   responder=None if responder is None else responder[:300])


@dataclass(frozen=True)
class Declaration(TextMessage):
    TYPE = "declaration"
    emergency_id: str
    run_id: str
    incident_id: str
    statement: str
    incident_digest: str | None = None


def build_declaration(*, origin: str, issued_at: datetime, emergency_id: str, run_id: str,
                      incident_id: str, statement: str | None = None) -> Declaration:
    """A ``declaration``: ``origin`` co-signs the emergency ``emergency_id``. Without a
    statement of its own, the member states plainly what it signs.

    Raises:
        MessageError: no emergency id.
    """
    require("declaration", bool(emergency_id), "name the emergency it declares")
    if statement is None or not statement.strip():
        statement = f"{origin} co-signs the federation-wide emergency {emergency_id}"
    return Declaration(origin, issued_at, emergency_id, run_id, incident_id, statement[:5000])
