"""Answers to a run (federation/answers.py): ack, decline, declaration."""

from __future__ import annotations

import pytest

from federation.answers import (
    Ack,
    Declaration,
    Decline,
    build_ack,
    build_declaration,
    build_decline,
)
from federation.errors import MessageError
from federation.schema import SchemaSet
from tests.unit.conftest import NOW
from tests.unit.test_run_messages import INCIDENT, RUN, round_trips

ESC = f"{RUN}.notify-peers"


def test_an_ack_validates_and_round_trips(schemas: SchemaSet) -> None:
    body = build_ack(origin="fr", issued_at=NOW, escalation_id=ESC, incident_id=INCIDENT,
                     run_id=RUN, responder="duty desk", note="on it").to_dict()
    schemas.validate("ack", body)
    assert body == {"type": "ack", "origin": "fr", "issued_at": "2026-11-20T12:00:00.000Z",
                    "escalation_id": ESC, "incident_id": INCIDENT, "run_id": RUN,
                    "responder": "duty desk", "note": "on it"}
    round_trips(body, Ack)
    with pytest.raises(MessageError, match="name the escalation"):
        build_ack(origin="fr", issued_at=NOW, escalation_id="", incident_id=INCIDENT)


def test_a_decline_names_exactly_one_thing_and_says_why(schemas: SchemaSet) -> None:
    for ref in ({"escalation_id": ESC}, {"emergency_id": f"{RUN}.quorum"}):
        body = build_decline(origin="fr", issued_at=NOW, incident_id=INCIDENT,
                             reason="not ours", **ref).to_dict()
        schemas.validate("decline", body)
        round_trips(body, Decline)
    with pytest.raises(MessageError, match="not both or neither"):
        build_decline(origin="fr", issued_at=NOW, incident_id=INCIDENT, reason="x")
    with pytest.raises(MessageError, match="not both or neither"):
        build_decline(origin="fr", issued_at=NOW, incident_id=INCIDENT, reason="x",
                      escalation_id=ESC, emergency_id=f"{RUN}.quorum")
    with pytest.raises(MessageError, match="reason is empty"):
        build_decline(origin="fr", issued_at=NOW, incident_id=INCIDENT, reason="  ",
                      escalation_id=ESC)


def test_a_declaration_states_what_it_signs_when_the_member_says_nothing(
        schemas: SchemaSet) -> None:
    plain = build_declaration(origin="fr", issued_at=NOW, emergency_id=f"{RUN}.quorum",
                              run_id=RUN, incident_id=INCIDENT, statement=" ")
    own = build_declaration(origin="fr", issued_at=NOW, emergency_id=f"{RUN}.quorum",
                            run_id=RUN, incident_id=INCIDENT, statement="we concur")
    assert plain.statement == f"fr co-signs the federation-wide emergency {RUN}.quorum"
    assert own.statement == "we concur"
    for d in (plain, own):
        schemas.validate("declaration", d.to_dict())
        round_trips(d.to_dict(), Declaration)
    with pytest.raises(MessageError, match="name the emergency"):
        build_declaration(origin="fr", issued_at=NOW, emergency_id="", run_id=RUN,
                          incident_id=INCIDENT)
