"""Typed run messages (federation/run_messages.py): round trips, schema validity, refusals."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

import pytest

from federation.errors import MessageError, UnknownReferenceError
from federation.run_messages import (
    ActionRequest,
    Advisory,
    DeclarationRef,
    Emergency,
    Escalation,
    IncidentRef,
    PlaybookRef,
    Resolution,
    Threshold,
    build_advisory,
    build_emergency,
    build_escalation,
    build_resolution,
)
from federation.schema import SchemaSet
from tests.unit.conftest import NOW

INCIDENT = "gb-0123456789abcdef"
RUN = "gb-00112233aabbccdd"
HELD = IncidentRef(INCIDENT, "ab" * 32, "serious-incident", ("deception",))


# Builders with valid arguments; a test overrides one or two of them.
escalation = partial(
    build_escalation, origin="gb", issued_at=NOW, escalation_id=f"{RUN}.notify-peers",
    incident_id=INCIDENT, incident=HELD, run_id=RUN, playbook=PlaybookRef("serious-incident", 2),
    tier=1, to=("fr", "de"), deadline=NOW + timedelta(hours=4), reason="serious incident",
    incident_revision=1, step_id="notify-peers", acks="any")
emergency = partial(
    build_emergency, origin="gb", issued_at=NOW, emergency_id=f"{RUN}.quorum",
    incident_id=INCIDENT, incident=HELD, run_id=RUN, state="pending", threshold=Threshold(2, 3),
    members=("de", "fr", "gb"), deadline=NOW + timedelta(hours=1))


def round_trips(body: dict[str, Any], model: Any) -> None:
    """``body`` plus a field from a newer version reads and writes back unchanged."""
    newer = {**body, "future_field": {"x": [1, 2]}}
    parsed = model.from_dict(newer)
    assert parsed.to_dict() == newer
    assert parsed.extra == {"future_field": {"x": [1, 2]}}


def test_an_escalation_carries_the_held_incident_digest_and_validates(schemas: SchemaSet) -> None:
    body = escalation().to_dict()
    schemas.validate("escalation", body)
    assert body["incident_digest"] == "ab" * 32
    assert body["severity"] == "serious-incident" and body["red_lines"] == ["deception"]
    assert body["deadline"] == "2026-11-20T16:00:00Z" and body["acks"] == "any"
    assert "request" not in body
    round_trips(body, Escalation)
    assert Escalation.from_dict(body) == escalation()


def test_an_action_request_is_an_escalation_with_a_request(schemas: SchemaSet) -> None:
    body = escalation(acks=None, request=ActionRequest("suspend-deployment", ("api-eu",))
                      ).to_dict()
    schemas.validate("escalation", body)
    assert body["request"] == {"action": "suspend-deployment", "deployments": ["api-eu"]}
    assert "acks" not in body
    round_trips(body, Escalation)


def test_an_incident_without_severity_sends_neither_severity_nor_red_lines(
        schemas: SchemaSet) -> None:
    body = escalation(incident=IncidentRef(INCIDENT, "cd" * 32)).to_dict()
    schemas.validate("escalation", body)
    assert "severity" not in body and "red_lines" not in body


def test_no_escalation_about_an_incident_this_node_does_not_hold() -> None:
    with pytest.raises(UnknownReferenceError, match=f"holds no incident '{INCIDENT}'.*digest"):
        escalation(incident=None)


@pytest.mark.parametrize(("changes", "why"), [
    ({"incident": IncidentRef(INCIDENT, "0" * 63)}, "not a sha256 digest"),
    ({"incident": IncidentRef("fr-0123456789abcdef", "ab" * 32)}, "is 'fr-0123456789abcdef'"),
    ({"to": ()}, "no recipient"),
    ({"tier": 4}, "tier 4 is not 1, 2 or 3"),
    ({"reason": " "}, "reason is empty"),
    ({"request": ActionRequest("suspend")}, "not both"),
    ({"acks": None}, "not both"),
    ({"acks": "most"}, "'most' is not any/all"),
])
def test_an_escalation_refuses(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(MessageError, match=why):
        escalation(**changes)


def test_each_emergency_state_validates_and_round_trips(schemas: SchemaSet) -> None:
    decls = (DeclarationRef("fr", "ef" * 32, NOW), DeclarationRef("gb"))
    bodies = [emergency().to_dict(),
              emergency(state="active", declarations=decls, declared_at=NOW).to_dict(),
              emergency(state="none", deadline=None, summary="resolved").to_dict()]
    for body in bodies:
        schemas.validate("emergency", body)
        round_trips(body, Emergency)
    assert bodies[0]["threshold"] == {"k": 2, "n": 3} and "declarations" not in bodies[0]
    assert bodies[1]["declarations"] == [
        {"origin": "fr", "digest": "ef" * 32, "issued_at": "2026-11-20T12:00:00Z"},
        {"origin": "gb"}]
    assert bodies[2]["summary"] == "resolved"


def test_no_emergency_about_an_unknown_incident_or_without_a_recorded_threshold() -> None:
    with pytest.raises(UnknownReferenceError, match="no incident.*receive or record"):
        emergency(incident=None)
    with pytest.raises(UnknownReferenceError, match=f"no emergency '{RUN}.quorum'.*threshold"):
        emergency(state="none", threshold=None)


@pytest.mark.parametrize(("changes", "why"), [
    ({"threshold": Threshold(4, 3)}, "threshold 4 of 3 is not 1 <= k <= n"),
    ({"threshold": Threshold(0, 3)}, "threshold 0 of 3"),
    ({"threshold": Threshold(1, 1)}, "n=1 but 3 members"),
    ({"deadline": None}, "pending emergency needs a deadline"),
    ({"members": (), "threshold": Threshold(1, 1)}, "pending emergency needs"),
    ({"state": "active"}, "active emergency lists the declarations"),
    ({"state": "over"}, "'over' is not none/pending/active"),
])
def test_an_emergency_refuses(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(MessageError, match=why):
        emergency(**changes)


def test_an_advisory_has_a_stable_id_and_validates(schemas: SchemaSet) -> None:
    adv = build_advisory(origin="gb", issued_at=NOW, run_id=RUN, step_id="status", sequence=3,
                         incident_id=INCIDENT, report="status-report", tier=2, to=("fr",),
                         tlp="AMBER", title="weekly status")
    body = adv.to_dict()
    schemas.validate("advisory", body)
    assert body["id"] == f"{RUN}.status-3" and body["sequence"] == 3
    round_trips(body, Advisory)


@pytest.mark.parametrize(("changes", "why"), [
    ({"report": "memo"}, "'memo' is not advisory or status-report"),
    ({"tier": 5}, "tier 5 is not 0-3"),
    ({"tlp": ""}, "no TLP"),
    ({"title": ""}, "title is empty"),
])
def test_an_advisory_refuses(changes: dict[str, Any], why: str) -> None:
    advisory = partial(build_advisory, origin="gb", issued_at=NOW, run_id=RUN, step_id="advise",
                       sequence=0, incident_id=INCIDENT, report="advisory", tier=1, to=(),
                       tlp="GREEN", title="t")
    with pytest.raises(MessageError, match=why):
        advisory(**changes)


def test_a_resolution_validates_and_refuses_an_unknown_outcome(schemas: SchemaSet) -> None:
    res = build_resolution(origin="gb", issued_at=NOW, incident_id=INCIDENT, run_id=RUN,
                           outcome="resolved", escalation_ids=(f"{RUN}.notify",), to=("fr",))
    body = res.to_dict()
    schemas.validate("resolution", body)
    assert body["escalation_ids"] == [f"{RUN}.notify"] and body["to"] == ["fr"]
    round_trips(body, Resolution)
    with pytest.raises(MessageError, match="outcome 'done' is not resolved"):
        build_resolution(origin="gb", issued_at=NOW, incident_id=INCIDENT, run_id=RUN,
                         outcome="done", escalation_ids=(), to=())
