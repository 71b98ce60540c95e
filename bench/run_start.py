"""The store step (``ingest_batch``) in one process, for the cost of starting playbook runs.

    python -m bench.run_start 3000            # CPU µs per report of the store step
    python -m bench.run_start 3000 --profile  # and cProfile's top functions under it
    python -m bench.run_start 3000 --no-playbooks  # no run starts: the rest of the step

Reports are checked before the clock starts (``check_inbound``), then stored in batches of 256
on a real store with every shipped playbook loaded, as the consumer stores them. The figure is
``time.process_time`` per report, so other work on the machine disturbs it less than wall time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
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
def store_with_reports(n: int, *, playbooks: bool = True,
                       ) -> Iterator[tuple[NodeContext, list[list[Accepted]]]]:
    """gb's store with every shipped playbook, and ``n`` checked reports from fr in batches."""
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
            {**MINIMAL_REPORT, "title": f"Start {i}", "affected_jurisdictions": []},
            origin="fr", now=now)), [files["fr"].signing_key]).to_json() for i in range(n)]
        checked = [Accepted(check_inbound(m, SUBJECT, ctx.roster, ctx.schemas, received_at=now,
                                          policy=ctx.policy), SUBJECT, m, ctx.stamp())
                   for m in msgs]
        try:
            yield ctx, [checked[i:i + BATCH] for i in range(0, n, BATCH)]
        finally:
            ctx.close()


def store_step_us(n: int, *, profile: bool = False, playbooks: bool = True) -> float:
    """CPU µs per report of ``ingest_batch`` over ``n`` reports (printing a profile if asked);
    without ``playbooks`` no run starts: the difference is what starting runs costs."""
    with store_with_reports(n, playbooks=playbooks) as (ctx, batches):
        prof = cProfile.Profile() if profile else None
        t0 = time.process_time()
        if prof:
            prof.enable()
        for batch in batches:
            ingest_batch(ctx, batch, [])
        if prof:
            prof.disable()
        us = (time.process_time() - t0) / n * 1e6
    if prof:
        stats = pstats.Stats(prof)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
    return us


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=3000)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--no-playbooks", action="store_true")
    a = ap.parse_args()
    us = store_step_us(a.n, profile=a.profile, playbooks=not a.no_playbooks)
    print(f"store step {us:.0f} µs CPU per report "
          f"({a.n} reports, {datetime.now(UTC):%H:%M:%S} UTC)")
