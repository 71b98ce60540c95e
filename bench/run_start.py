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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from bench.pipeline import BATCH, SUBJECT, store_and_messages
from federation.inbound import check_inbound
from node.pipeline.context import NodeContext
from node.pipeline.flow import Accepted
from node.pipeline.ingest import ingest_batch


@contextmanager
def store_with_reports(n: int, *, playbooks: bool = True,
                       ) -> Iterator[tuple[NodeContext, list[list[Accepted]]]]:
    """gb's store with every shipped playbook, and ``n`` checked reports from fr in batches."""
    with store_and_messages(n, playbooks=playbooks, title="Start") as (ctx, msgs, now):
        checked = [Accepted(check_inbound(m, SUBJECT, ctx.roster, ctx.schemas, received_at=now,
                                          policy=ctx.policy), SUBJECT, m, ctx.stamp())
                   for m in msgs]
        yield ctx, [checked[i:i + BATCH] for i in range(0, n, BATCH)]


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
