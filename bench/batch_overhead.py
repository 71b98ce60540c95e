"""Per-batch overhead: latency and CPU per report of every node at offered rates, in one
federation (gb, fr, jp and the international body), optionally with py-spy on fr.

    $ .venv/bin/python -m bench.batch_overhead --rates 20,200 --seconds 5 [--spy bench/spy]

For each rate, gb's pre-signed reports are published into JetStream open loop for ``seconds``
(``bench.latency``: fr's ``/healthz`` polled every 3 ms), and each node's CPU over that window
(``/proc``) is divided by the reports. fr's figure includes answering the polls; jp's and the
international body's do not (nobody polls them); gb only acknowledges its own reports coming
back. With ``--spy``, py-spy records fr at 200 samples/s during each rate
(``<spy>-<rate>.txt``, raw stacks for ``bench.profile_top``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.consumer import _messages
from bench.latency import offered_latency
from bench.procs import cpu_s, load_average
from tests.integration.conftest import Federation

WARM_UP = 20


def idle(fed: Federation, seconds: float) -> dict[str, float]:
    """CPU ms per second of each node with no reports (heartbeats, timers, background loops)."""
    pids = {x["id"]: int(x["pid"]) for x in fed.doc["nodes"]}
    cpu0 = {k: cpu_s(p) for k, p in pids.items()}
    time.sleep(seconds)
    return {k: round(1000 * (cpu_s(p) - cpu0[k]) / seconds, 1) for k, p in pids.items()}


def one_rate(fed: Federation, key_file: Path, rate: float, seconds: float,
             spy: Path | None, spy_node: str = "fr") -> dict[str, Any]:
    n = max(1, int(rate * seconds))
    pids = {x["id"]: int(x["pid"]) for x in fed.doc["nodes"]}
    messages = _messages(key_file, n)
    spying = None
    if spy is not None:
        exe = Path(sys.executable).parent / "py-spy"
        spying = subprocess.Popen([str(exe), "record", "--pid", str(pids[spy_node]),  # noqa: S603
                                   "--rate", "200", "--format", "raw",
                                   "-o", f"{spy}-{int(rate)}.txt"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # py-spy attaches
    cpu0, t0 = {k: cpu_s(p) for k, p in pids.items()}, time.perf_counter()
    lat = asyncio.run(offered_latency(fed, messages, rate, "fr"))
    wall = time.perf_counter() - t0
    cpu = {k: cpu_s(p) - cpu0[k] for k, p in pids.items()}
    if spying is not None:
        spying.send_signal(2)
        spying.wait(timeout=60)
    return {"rate": rate, "reports": n, "wall_s": round(wall, 2), "load": load_average(),
            **{k: lat.get(k) for k in ("visible", "p50_ms", "p99_ms", "max_ms")},
            "cpu_us_per_report": {k: round(1e6 * c / n) for k, c in cpu.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="20,200")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--spy", type=Path, default=None)
    parser.add_argument("--spy-node", default="fr")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        fed = Federation(Path(tmp), ["gb", "fr", "jp"])
        try:
            fed.start()
            key_file = Path(fed.node("gb")["signing_key_file"])
            asyncio.run(offered_latency(fed, _messages(key_file, WARM_UP), 20, "fr"))
            time.sleep(2.0)
            print(json.dumps({"idle_cpu_ms_per_s": idle(fed, args.seconds),
                              "load": load_average()}), flush=True)
            for _ in range(args.repeat):
                for rate in rates:
                    print(json.dumps(one_rate(fed, key_file, rate, args.seconds, args.spy,
                                                    args.spy_node)),
                          flush=True)
                    time.sleep(2.0)
        finally:
            fed.stop()


if __name__ == "__main__":
    main()
