"""``make bench``: every benchmark of issue 13, in one run, into ``bench/results.json`` and the
tables in ``docs/performance.md``.

    $ .venv/bin/python -m bench.suite                 # full sizes (``make bench``)
    $ .venv/bin/python -m bench.suite --quick         # ``make bench-quick``, under two minutes

First ``bench.consumer`` (floor, ingest, latency, in-process pipeline, store size), unchanged;
then, on its results, the benchmarks it does not run: catch-up after N reports offline
(``bench.catchup``), 3/10/30 members (``bench.scale``), a real node serving 10^6 reports
(``bench.size_node``) and the medallion peer (``bench.peer``). Each adds its own key to
``results.json``; the consumer's keys stay as they are. Figures only, never a pass/fail.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import consumer
from bench.catchup import catchup
from bench.peer import peer
from bench.scale import scale
from bench.size_node import size_node
from bench.suite_table import write_suite_table
from bench.table import write_table
from tests.integration.conftest import Federation

FULL = {"messages": 5000, "latency_samples": 50, "rate_seconds": 5.0, "size_reports": 100_000,
        "catchup": 100_000, "scale": "3,10,30", "size_node": 1_000_000, "peer": 1000}
# Quick: every benchmark at a size that shows it works and gives a rough figure, in under two
# minutes on an idle machine here (one federation start, for the consumer and the suite).
QUICK = {"messages": 1000, "latency_samples": 20, "rate_seconds": 1.0, "size_reports": 10_000,
         "catchup": 3_000, "scale": "3", "size_node": 5_000, "peer": 50}


def _guarded(out: dict[str, Any], key: str, bench: Callable[[], Any]) -> None:
    """Run one benchmark into ``out[key]``; if it breaks, say so there and go on, so that one
    broken benchmark does not throw away half an hour of the others' figures."""
    try:
        out[key] = bench()
    except Exception as e:  # noqa: BLE001 - any failure is reported, and the run goes on
        out[key] = {"error": f"{type(e).__name__}: {e}"[:2000]}
        traceback.print_exc()
    print(f"{key}: {out[key]}", flush=True)


def extra(args: argparse.Namespace, fed: Federation, floor_us: float) -> dict[str, Any]:
    """The suite's own benchmarks on ``fed``, the consumer's three-member federation (each
    start costs 10-20 s on this machine); ``floor_us`` is the floor the consumer measured.
    Catch-up comes last on it, because it stops nodes and the international body is still
    draining afterwards."""
    out: dict[str, Any] = {}
    sizes = [int(m) for m in args.scale.split(",") if m.strip() not in ("", "0")]
    if args.peer:
        _guarded(out, "peer_medallion", lambda: peer(fed, args.peer))
    if sizes:
        out["scale"] = []
        for m in sizes:  # one size's failure (a 30-member start) keeps the others
            _guarded(out, "scale_size", lambda m=m: scale(  # type: ignore[misc]
                [m], seconds=args.scale_seconds, fed=fed)[0])
            out["scale"].append(out.pop("scale_size"))
    if args.catchup:
        _guarded(out, "catchup", lambda: catchup(fed, args.catchup, floor_us))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the quick sizes (bench-quick)")
    for name, default in FULL.items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(default), default=None,
                            help=f"default {default}; quick {QUICK[name]} (0: skip)")
    parser.add_argument("--scale-seconds", type=float, default=None,
                        help="how long each federation size is offered reports (5; quick 2)")
    parser.add_argument("--out", type=Path, default=Path("bench/results.json"))
    parser.add_argument("--doc", type=Path, default=Path("docs/performance.md"))
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    for name, default in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.scale_seconds is None:
        args.scale_seconds = 2.0 if args.quick else 5.0
    with tempfile.TemporaryDirectory() as tmp:
        fed = Federation(Path(tmp), ["gb", "fr", "jp"])
        try:
            fed.start()
            report = consumer.run(args.messages, args.latency_samples, args.size_reports,
                                  args.rate_seconds, fed)
            report.update(extra(args, fed, float(report.get("floor", {}).get("floor_us", 0.0))))
        finally:
            fed.stop()
    if args.size_node:
        # A federation of its own, with fr's store filled before fr starts, and nothing else
        # running beside it (the catch-up leaves the international body draining).
        _guarded(report, "size_node",
                 lambda: size_node(args.size_node, runs=1 if args.quick else 3))
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    write_table(args.doc, report)
    write_suite_table(args.doc, report)
    print(json.dumps(report, indent=2))
    print(f"wrote {args.out} and the tables in {args.doc}")


if __name__ == "__main__":
    main()
