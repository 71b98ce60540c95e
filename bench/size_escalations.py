"""Size of the escalation figures: ``statistics.escalation_figures`` (every ``/stats/summary``
and every snapshot) over a store holding N escalations and their answers.

    $ .venv/bin/python -m bench.size_escalations --escalations 10000,100000

The store is filled through the store layer (``records.insert_envelope``, as ``flow.accept``
stores a verified message; the signature is a placeholder, never checked on read). Per incident
two escalations (tier 1 then 2, to three recipients of five members, ``any`` or ``all``); their
recipients ack (about half), decline (a tenth) or stay silent; a tenth of the tier-2 steps are
recorded as succeeded by another member's ack (a ``step`` message, the ack itself never seen);
a fifth of the incidents are resolved (some before
an escalation, naming it or not); deadlines lie before or after ``now`` (open and overdue).
Then ``escalation_figures`` is timed, wall and process CPU: its first call (the store's
tables hold nothing yet, as on an upgraded node: it folds at most ``_FOLD_INLINE`` documents
and answers from them with a ``counting`` marker), the background catch-up (the rounds of
``escalation_figures_loop`` back to back: their number, total and per-round CPU; once per
store, since the escalation tables keep them), the best of three after it
(nothing new stored), one call after 100 more escalations with their answers, and the first
call after the store is opened again (a restart).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from federation.canonical import encode
from federation.envelope import Envelope, Signature, payload_type
from federation.timeutil import format_instant
from node.pipeline.context import NodeContext
from node.store import records
from node.store.db import Store

MEMBERS = ("gb", "fr", "de", "jp", "int")
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _envelope(message_type: str, doc: dict[str, Any]) -> bytes:
    return Envelope(payload_type(message_type), encode(doc),
                    (Signature("bench", b"x" * 64),)).to_json()


def messages(n: int, seed: int = 13, first: int = 0) -> list[tuple[str, dict[str, Any]]]:
    """About ``n`` escalations and the answers, steps and resolutions around them, as
    ``(message type, document)`` in arrival order; incidents numbered from ``first``."""
    rnd = random.Random(seed)  # noqa: S311 - reproducible data, not a secret
    out: list[tuple[str, dict[str, Any]]] = []
    for k in range(first, first + n // 2):
        origin = MEMBERS[k % 4]
        incident = f"{origin}-{k:016x}"
        start = NOW - timedelta(hours=rnd.uniform(0, 96))
        others = [m for m in MEMBERS if m != origin]
        for tier in (1, 2):
            issued = start + timedelta(minutes=30 * (tier - 1))
            to = rnd.sample(others, 3)
            eid = f"esc-{incident}-{tier}"
            out.append(("escalation", {
                "type": "escalation", "id": eid, "origin": origin, "incident_id": incident,
                "tier": tier, "issued_at": format_instant(issued),
                "deadline": format_instant(issued + timedelta(hours=rnd.choice((1, 24, 72)))),
                "to": to, "acks": rnd.choice(("any", "all"))}))
            for who in to:
                roll = rnd.random()
                kind = "ack" if roll < 0.5 else "decline" if roll < 0.6 else None
                if kind:
                    out.append((kind, {
                        "type": kind, "origin": who, "escalation_id": eid,
                        "incident_id": incident, "issued_at": format_instant(
                            issued + timedelta(seconds=rnd.uniform(-5, 7200)))}))
            if tier == 2 and rnd.random() < 0.1:
                out.append(("step", {
                    "type": "step", "origin": origin, "issued_at": format_instant(
                        issued + timedelta(minutes=20)), "run_id": f"run-{k}",
                    "step_id": "escalate-2", "incident_id": incident, "status": "succeeded",
                    "by": to[0], "escalation_id": eid, "to": to}))
        if rnd.random() < 0.2:
            # A resolution naming an escalation closes it even if issued before it.
            named = rnd.random() < 0.3
            out.append(("resolution", {
                "type": "resolution", "origin": origin, "incident_id": incident,
                "issued_at": format_instant(start + timedelta(
                    hours=rnd.uniform(-1, 1) if named else rnd.uniform(0, 48))),
                **({"escalation_ids": [f"esc-{incident}-{rnd.choice((1, 2))}"]}
                   if named else {})}))
            if rnd.random() < 0.3:  # resolved again (reopened meanwhile), earlier or later
                out.append(("resolution", {
                    "type": "resolution", "origin": origin, "incident_id": incident,
                    "issued_at": format_instant(start + timedelta(hours=rnd.uniform(0, 96)))}))
    return out


def fill(store: Store, docs: list[tuple[str, dict[str, Any]]], batch: int = 10_000) -> None:
    at = format_instant(NOW)
    for start in range(0, len(docs), batch):
        with store.transaction() as tx:
            for kind, doc in docs[start:start + batch]:
                # Digested as a node digests a message: the same document is stored once.
                data = _envelope(kind, doc)
                records.insert_envelope(tx, hashlib.sha256(data).hexdigest(), kind,
                                        doc["origin"], "bench", data, at, local=False)


def context(store: Store) -> NodeContext:
    """What ``escalation_figures`` reads of a node: its store and its clock."""
    return cast(NodeContext, SimpleNamespace(store=store, now=lambda: NOW))


def _best(fn: Callable[[], object], runs: int = 3) -> tuple[float, float]:
    wall = cpu = float("inf")
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - w)
        cpu = min(cpu, time.process_time() - c)
    return round(1000 * wall, 1), round(1000 * cpu, 1)


def size_escalations(n: int) -> dict[str, Any]:
    from node.pipeline import statistics  # noqa: PLC0415 - the pipeline only when measured

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.sqlite3"
        store = Store.open(path)
        try:
            docs = messages(n)
            fill(store, docs)
            ctx = context(store)
            # The first call on a store whose tables hold nothing yet (an upgraded node): it
            # folds at most ``_FOLD_INLINE`` documents and answers from them, saying how far
            # the counting has come; the background loop's rounds fold the rest.
            answers: list[dict[str, Any]] = []
            first_wall, first_cpu = _best(
                lambda: answers.append(statistics.escalation_figures(ctx)[1]), runs=1)
            counting = answers[0].get("counting")
            rounds: list[float] = []
            catch_wall, catch_cpu = time.perf_counter(), time.process_time()
            while True:  # the rounds ``escalation_figures_loop`` makes, back to back
                c = time.process_time()
                done = statistics.fold_escalations(store, statistics._FOLD_ROUND)
                rounds.append(time.process_time() - c)
                if done:
                    break
            catch_wall, catch_cpu = (time.perf_counter() - catch_wall,
                                     time.process_time() - catch_cpu)
            wall, cpu = _best(lambda: statistics.escalation_figures(ctx))
            # 100 new escalations with their answers (about 330 documents), then one call.
            fill(store, messages(100, seed=14, first=n))
            new_wall, new_cpu = _best(lambda: statistics.escalation_figures(ctx), runs=1)
            store.close()
            # A restart: the store opened again, its first call.
            store = Store.open(path)
            ctx = context(store)
            again_wall, again_cpu = _best(lambda: statistics.escalation_figures(ctx), runs=1)
            kinds = {k: sum(1 for t, _ in docs if t == k) for k in
                     ("escalation", "ack", "decline", "step", "resolution")}
            return {"escalations": n, "messages": kinds, "first_ms": first_wall,
                    "first_cpu_ms": first_cpu, "first_counting": counting,
                    "catch_up_s": round(catch_wall, 1), "catch_up_cpu_s": round(catch_cpu, 1),
                    "catch_up_rounds": len(rounds),
                    "round_cpu_ms_max": round(1000 * max(rounds), 1),
                    "round_cpu_ms_median": round(1000 * sorted(rounds)[len(rounds) // 2], 1),
                    "figures_ms": wall, "figures_cpu_ms": cpu,
                    "after_100_new_ms": new_wall, "after_100_new_cpu_ms": new_cpu,
                    "reopened_ms": again_wall, "reopened_cpu_ms": again_cpu}
        finally:
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--escalations", default="10000,100000",
                        help="comma-separated store sizes (escalations)")
    args = parser.parse_args()
    for n in (int(x) for x in args.escalations.split(",")):
        print(json.dumps(size_escalations(n)), flush=True)


if __name__ == "__main__":
    main()
