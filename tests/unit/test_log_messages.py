"""Log messages (federation/log_messages.py): checkpoint, cosignature, equivocation incident."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import pytest

from federation.checkpoint import Checkpoint, cosign, open_note, sign_checkpoint
from federation.errors import MessageError
from federation.log_messages import (
    CheckpointMessage,
    Cosignature,
    Equivocation,
    TreeHead,
    build_checkpoint,
    build_cosignature,
    equivocation_incident,
)
from federation.merkle import MerkleTree, leaf_hash
from federation.schema import SchemaSet
from tests.unit.conftest import NOW, seeded_key
from tests.unit.test_run_messages import round_trips

TREE = MerkleTree([leaf_hash(bytes([i])) for i in range(5)])
HEAD = Checkpoint("beacon/gb", 5, TREE.root(5))
NOTE = sign_checkpoint(HEAD, "beacon/gb", seeded_key(1))


def test_a_checkpoint_message_carries_note_and_proof_and_validates(schemas: SchemaSet) -> None:
    proof = TREE.consistency_proof(3, 5)
    msg = build_checkpoint(origin="gb", issued_at=NOW, checkpoint=HEAD, note=NOTE,
                           previous=TreeHead(3, TREE.root(3)), consistency=proof)
    body = msg.to_dict()
    schemas.validate("checkpoint", body)
    assert body["previous"]["size"] == 3 and len(body["consistency"]) == len(proof)
    round_trips(body, CheckpointMessage)
    assert CheckpointMessage.from_dict(body) == msg


def test_a_first_checkpoint_has_a_null_previous(schemas: SchemaSet) -> None:
    body = build_checkpoint(origin="gb", issued_at=NOW, checkpoint=HEAD, note=NOTE,
                            previous=None, consistency=()).to_dict()
    schemas.validate("checkpoint", body)
    assert body["previous"] is None and body["consistency"] == []
    round_trips(body, CheckpointMessage)


@pytest.mark.parametrize(("changes", "why"), [
    ({"origin": "fr"}, "log 'beacon/gb' is not 'beacon/fr'"),
    ({"note": sign_checkpoint(Checkpoint("beacon/gb", 4, TREE.root(4)), "beacon/gb",
                              seeded_key(1))}, "does not sign this checkpoint"),
    ({"previous": TreeHead(6, TREE.root(5))}, "previous size 6 is larger than size 5"),
    ({"previous": None}, "needs a previous checkpoint"),
])
def test_a_checkpoint_refuses_parts_that_disagree(changes: dict[str, Any], why: str) -> None:
    checkpoint = partial(build_checkpoint, origin="gb", issued_at=NOW, checkpoint=HEAD, note=NOTE,
                         previous=TreeHead(3, TREE.root(3)),
                         consistency=TREE.consistency_proof(3, 5))
    with pytest.raises(MessageError, match=why):
        checkpoint(**changes)


def test_a_cosignature_line_opens_with_the_note(schemas: SchemaSet) -> None:
    line = cosign(HEAD, "beacon/fr", seeded_key(2), 1_700_000_000).line()
    msg = build_cosignature(origin="fr", issued_at=NOW, checkpoint=HEAD, line=line)
    body = msg.to_dict()
    schemas.validate("cosignature", body)
    assert body["line"] == line.rstrip("\n") and body["log_origin"] == "beacon/gb"
    round_trips(body, Cosignature)
    opened = open_note(f"{NOTE}{body['line']}\n", [("beacon/gb", seeded_key(1).public)],
                       [("beacon/fr", seeded_key(2).public)], now=1_700_000_100)
    assert "beacon/fr" in opened.cosigned_by


def test_a_cosignature_refuses_a_line_of_another_witness() -> None:
    line = cosign(HEAD, "beacon/de", seeded_key(3), 1_700_000_000).line()
    with pytest.raises(MessageError, match="not one signature line of beacon/fr"):
        build_cosignature(origin="fr", issued_at=NOW, checkpoint=HEAD, line=line)


def test_the_equivocation_incident_carries_the_evidence(schemas: SchemaSet) -> None:
    evidence = Equivocation("gb", 5, "two roots", NOTE, "other note")
    incident = equivocation_incident(evidence, witness="fr", issued_at=NOW)
    body = incident.to_dict()
    schemas.validate("incident", body)
    assert body["origin"] == "fr" and body["affected_jurisdictions"] == ["gb"]
    assert incident.id.startswith("fr-") and incident.severity.value == "serious-incident"
    described = json.loads(body["description"].split("Evidence:\n", 1)[1])
    assert described == {"origin": "gb", "size": 5, "why": "two roots",
                         "checkpoint_a": NOTE, "checkpoint_b": "other note"}
