"""The node's inbound pipeline in one process, without NATS or other nodes competing for CPU.

    >>> # rate = pipeline_rate(messages, n=5000)   # verify + validate + store + react, per second

Verification, schema validation and the batched SQLite commit with every projection and
reaction (statistics, playbook matching) run exactly as the consumer runs them, on a real store
in a temporary folder. Compared with the floor measured in the same run, it shows what the
node adds on top of the work no receiver can skip. Rates are per second of this process's CPU
(``time.process_time``), so other work on the machine does not lower them; waits on fsync are
not counted.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from federation.canonical import encode
from federation.envelope import Envelope, payload_type
from federation.inbound import check_inbound
from federation.messages import incident_from_report
from node.cli.provision import (
    genesis_document,
    member_entry,
    provision_node,
    sign_genesis,
    write_config,
)
from node.core.playbook_files import load_playbooks
from node.pipeline.context import NodeContext
from node.pipeline.flow import Accepted
from node.pipeline.ingest import ingest_batch
from tests.integration.conftest import MINIMAL_REPORT

SUBJECT = "beacon.v1.incident.fr.serious-incident"
BATCH = 256


@contextmanager
def store_and_messages(n: int, *, playbooks: bool = True, title: str = "Pipeline",
                       ) -> Iterator[tuple[NodeContext, list[bytes], datetime]]:
    """gb's store in a temporary folder (every shipped playbook unless ``playbooks`` is false),
    ``n`` incidents signed by fr for it, and the instant they were made."""
    with tempfile.TemporaryDirectory() as tmp:
        root, now = Path(tmp), datetime.now(UTC)
        files = {m: provision_node(root / m, m, role="member") for m in ("gb", "fr")}
        doc = genesis_document([member_entry(f, now=now) for f in files.values()],
                               council=[f.signing_key.public.keyid for f in files.values()],
                               threshold=1, now=now)
        (root / "roster.json").write_bytes(
            sign_genesis(doc, [f.signing_key for f in files.values()]).to_json())
        ctx = NodeContext.open(write_config(files["gb"], roster_file=root / "roster.json",
                                            nats_url="nats://127.0.0.1:1", http_port=1))
        ctx.playbooks = load_playbooks() if playbooks else []
        msgs = [Envelope.sign(payload_type("incident"), encode(incident_from_report(
            {**MINIMAL_REPORT, "title": f"{title} {i}", "affected_jurisdictions": []},
            origin="fr", now=now)), [files["fr"].signing_key]).to_json() for i in range(n)]
        try:
            yield ctx, msgs, now
        finally:
            ctx.close()


def pipeline_rate(n: int, *, playbooks: bool = True) -> tuple[float, float]:
    """Return (pipeline messages/s, ``check_inbound`` messages/s) for ``n`` signed incidents
    from fr; without ``playbooks``, no run starts, which shows what the reactions cost."""
    with store_and_messages(n, playbooks=playbooks) as (ctx, msgs, now):
        t0 = time.process_time()
        for m in msgs:
            check_inbound(m, SUBJECT, ctx.roster, ctx.schemas, received_at=now,
                          policy=ctx.policy)
        floor = n / (time.process_time() - t0)
        t0 = time.process_time()
        for i in range(0, n, BATCH):
            batch = [Accepted(check_inbound(m, SUBJECT, ctx.roster, ctx.schemas,
                                            received_at=now, policy=ctx.policy),
                              SUBJECT, m, ctx.stamp()) for m in msgs[i:i + BATCH]]
            ingest_batch(ctx, batch, [])
        rate = n / (time.process_time() - t0)
    return rate, floor


if __name__ == "__main__":  # the target of `make profile`
    pipe, floor = pipeline_rate(3000)
    print(f"pipeline {pipe:.0f}/s, verify+validate floor {floor:.0f}/s")
