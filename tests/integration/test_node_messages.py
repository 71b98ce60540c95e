"""A node builds run messages through the federation builders and never signs a placeholder.

In-process, with a real store, keys and roster (no NATS needed: what is signed is what is
stored and queued): a filed incident's escalation carries the digest of the incident as signed;
a run about an incident this node does not hold gets no escalation — the refusal is recorded
for the operator instead of an escalation with a zero digest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from federation import runs
from federation.canonical import decode
from federation.envelope import Envelope
from federation.messages import Draft, incident_from_report
from node.cli.provision import (
    genesis_document,
    member_entry,
    provision_node,
    sign_genesis,
    write_config,
)
from node.core.playbook_files import load_playbooks
from node.pipeline import engine, flow
from node.pipeline.context import NodeContext, utcnow
from tests.integration.conftest import report

PLAYBOOK = "serious-incident-cross-border"


@pytest.fixture
def gb(tmp_path: Path) -> Iterator[NodeContext]:
    now = utcnow()
    files = {n: provision_node(tmp_path / n, n, role="member") for n in ("gb", "fr")}
    council = [files["gb"].signing_key.public.keyid]
    doc = genesis_document([member_entry(f, now=now) for f in files.values()],
                           council=council, threshold=1, now=now)
    roster = tmp_path / "roster.json"
    roster.write_bytes(sign_genesis(doc, [files["gb"].signing_key]).to_json())
    config = write_config(files["gb"], roster_file=roster, nats_url="nats://127.0.0.1:9",
                          http_port=9)
    ctx = NodeContext.open(config)
    ctx.playbooks = load_playbooks()
    try:
        yield ctx
    finally:
        ctx.close()


def bodies(ctx: NodeContext, message_type: str) -> list[dict[str, object]]:
    rows = ctx.store.query("SELECT envelope FROM envelopes WHERE message_type = ?",
                           (message_type,))
    return [decode(Envelope.from_json(r["envelope"]).payload) for r in rows]


def test_an_escalation_names_the_digest_of_the_incident_as_signed(gb: NodeContext) -> None:
    doc = incident_from_report(report(), origin="gb", now=gb.now())
    [digest] = flow.issue(gb, [Draft(doc, qualifier="serious-incident")])
    [escalation] = bodies(gb, "escalation")
    assert escalation["incident_id"] == doc["id"]
    assert escalation["incident_digest"] == digest
    assert escalation["to"] == ["fr"] and escalation["severity"] == "serious-incident"
    gb.schemas.validate("escalation", escalation)


def test_no_escalation_about_an_incident_this_node_does_not_hold(gb: NodeContext) -> None:
    doc = incident_from_report(report(), origin="gb", now=gb.now())  # never stored here
    [playbook] = [p for p in gb.playbooks if p.id == PLAYBOOK]
    t = runs.start_run(playbook, doc, now=gb.now(), ctx=gb.run_context())
    assert any(e.kind == "send-escalation" for e in t.effects)  # the run does ask for one
    with gb.transaction() as tx:
        drafts = engine.apply(gb, tx, None, t)
    assert [d.message_type for d in drafts] == []
    rows = gb.store.query("SELECT step_id, role, message FROM notifications "
                          "WHERE kind = 'message-refused'")
    assert [(r["step_id"], r["role"]) for r in rows] == [("escalate-affected-peers",
                                                          "operator")]
    assert f"holds no incident '{doc['id']}'" in rows[0]["message"]
    assert bodies(gb, "escalation") == []
    # The run itself goes on: it is saved, and its other effects (telling the duty officer)
    # were carried out.
    assert gb.store.query("SELECT state FROM runs WHERE id = ?", (t.run.id,))[0][0] == "running"
    assert gb.store.query("SELECT role FROM notifications WHERE kind = 'notify'")[0][0] == \
        "duty-officer"
