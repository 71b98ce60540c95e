"""A batch of inbound messages commits whole; if processing one of them fails, the others are
still stored and the failing one is quarantined — the stream behind it is never blocked.
(A real SQLite store and real keys; the failing message is injected past the inbound checks,
as a bug in a reaction would be.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from federation.canonical import digest, encode
from federation.envelope import Envelope, payload_type
from federation.inbound import Verified, check_inbound
from federation.messages import incident_from_report
from node.pipeline.context import NodeContext
from node.pipeline.flow import Accepted
from node.pipeline.ingest import ingest_batch
from tests.integration.conftest import report
from tests.integration.local_node import open_local_node


@pytest.fixture
def gb(tmp_path: Path) -> Iterator[tuple[NodeContext, Envelope]]:
    now = datetime.now(UTC)
    ctx, files = open_local_node(tmp_path, "gb", peers=("fr",))
    fr_incident = incident_from_report(report(title="Good message in a bad batch"),
                                       origin="fr", now=now)
    env = Envelope.sign(payload_type("incident"), encode(fr_incident), [files["fr"].signing_key])
    try:
        yield ctx, env
    finally:
        ctx.close()


def test_one_failing_message_is_quarantined_and_the_rest_stored(
        gb: tuple[NodeContext, Envelope]) -> None:
    ctx, good_env = gb
    at = ctx.stamp()
    good = check_inbound(good_env.to_json(), "beacon.v1.incident.fr.serious-incident",
                         ctx.roster, ctx.schemas, received_at=datetime.now(UTC),
                         policy=ctx.policy)
    # An escalation without its recipients: schema-invalid, so it could only reach the store
    # through a bug; its reaction (the inbox) raises.
    bad_doc = {"type": "escalation", "origin": "fr", "issued_at": ctx.now_text(),
               "id": "fr-0011223344556677.step", "incident_id": "fr-0011223344556677"}
    body = encode(bad_doc)
    bad = Verified("escalation", "fr", digest(body),
                   Envelope(payload_type("escalation"), body, ()), bad_doc)

    new = ingest_batch(ctx, [Accepted(good, "beacon.v1.incident.fr.serious-incident",
                                      good_env.to_json(), at),
                             Accepted(bad, "beacon.v1.escalation.fr.gb", body, at)], [])

    assert new == 1
    stored = ctx.store.query("SELECT id FROM incidents")
    assert [r["id"] for r in stored] == [good.document["id"]]
    [q] = ctx.store.query("SELECT reason, digest, detail FROM quarantine")
    assert q["reason"] == "processing-error" and q["digest"] == bad.digest
    assert "to" in q["detail"]
    assert not ctx.store.query("SELECT 1 FROM envelopes WHERE digest = ?", (bad.digest,))
