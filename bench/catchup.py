"""Catch-up: a node that was offline while N reports were published drains them all.

    $ .venv/bin/python -m bench.suite --catchup 100000     # part of ``make bench``
    $ .venv/bin/python -m bench.catchup 20000 --spy /tmp/spy  # alone, with a timeline and
                                                             # py-spy early and late in the drain
    $ .venv/bin/python -m bench.catchup 8000 --check processes  # every node checks there

fr and the international body are stopped; N incidents pre-signed by gb are published straight
into JetStream (as ``bench.consumer`` does); then fr alone is started, and the clock runs from
its start until its ``/healthz`` counts all N (``reports_per_s``; ``reports_per_s_once_healthy``
counts from its first ``/healthz`` answer, leaving the start-up out). The international body
stays down until then, so that fr competes only with jp (which drains the same reports
meanwhile, as a member would in production) and gb (the publisher, idle here). CPU per report
is fr's CPU (its process and its checker processes, if any) after it first answers
``/healthz``, divided by the reports it stored after that (all of them at any real N;
``cpu_basis`` says so); its start-up CPU is given apart. RSS is fr's plus its checker processes'.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import nats

from bench.consumer import _messages
from bench.latency import SUBJECT, stored_count
from bench.procs import cpu_s, healthy, load_average, memory_mb, start_node, stop_node
from node.core.config import CHECK_ENV, CHECK_MODES
from tests.integration.conftest import Federation

NODE = "fr"


async def _publish(fed: Federation, messages: list[bytes]) -> float:
    nc = await nats.connect(fed.doc["nats"]["url"], nkeys_seed=fed.doc["nats"]["admin_credentials"])
    t0 = time.perf_counter()
    try:
        js = nc.jetstream()
        for i in range(0, len(messages), 500):
            await asyncio.gather(*(js.publish(SUBJECT, m) for m in messages[i:i + 500]))
    finally:
        await nc.close()
    return time.perf_counter() - t0


def descendants(pid: int) -> list[int]:
    """The live processes below ``pid`` (a node's checker processes and their helpers)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = list(Path(f"/proc/{p}/task").iterdir())
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except FileNotFoundError:
                continue
            out.extend(kids)
            todo.extend(kids)
    return out


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of ``pid``, its live descendants and its children already reaped (their
    ``cutime``/``cstime``): a node's checker processes count toward its CPU per report."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    reaped = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    total = cpu_s(pid) + reaped
    for child in descendants(pid):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += cpu_s(child)
    return total


def tree_memory_mb(pid: int) -> dict[str, float]:
    """``memory_mb`` of the node plus its live descendants (RSS now and the sum of peaks)."""
    out = memory_mb(pid)
    for child in descendants(pid):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for k, v in memory_mb(child).items():
                out[k] = round(out.get(k, 0.0) + v, 1)
    return out


def loop_cpu_s(pid: int) -> float:
    """CPU seconds of the process's main thread (the event loop: storing, HTTP, NATS client);
    the rest of ``cpu_s(pid)`` is its other threads (the checker threads, mostly)."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Spy:
    """py-spy recording fr over two windows of the drain: its first ``share`` of the reports
    and its last, each to a raw file (``python -m bench.profile_top`` reads them)."""

    def __init__(self, out: Path, share: float = 0.25) -> None:
        self.out, self.share = out, share
        self.proc: subprocess.Popen[bytes] | None = None
        self.phase = "before"  # then "early", "between", "late"

    def _start(self, pid: int, name: str) -> None:
        spy = Path(sys.executable).parent / "py-spy"
        self.out.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(  # noqa: S603 - our own py-spy, on our own child
            [str(spy), "record", "--pid", str(pid), "--rate", "100", "--format", "raw",
             "-o", str(self.out / f"{name}.txt")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.phase = name

    def _stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its output and exits
            self.proc.wait(timeout=60)
            self.proc = None

    def step(self, pid: int, done: float) -> None:
        """Start or stop recording, given the share of the drain ``done`` so far."""
        if self.phase == "before":
            self._start(pid, "early")
        elif self.phase == "early" and done >= self.share:
            self._stop()
            self.phase = "between"
        elif self.phase == "between" and done >= 1 - self.share:
            self._start(pid, "late")

    def close(self) -> None:
        self._stop()


async def _drain(fed: Federation, n: int, before: int, within_s: float,
                 spy: _Spy | None = None, segments: int = 0) -> dict[str, Any]:
    url = fed.node(NODE)["url"]
    t0 = time.perf_counter()
    pid = start_node(fed, NODE)
    timeline: list[dict[str, float]] = []
    async with aiohttp.ClientSession() as http:
        await healthy(http, url)
        up_s, cpu_up = time.perf_counter() - t0, tree_cpu_s(pid)
        at_up = await stored_count(http, url) - before
        mark = (at_up, cpu_up, time.perf_counter(), loop_cpu_s(pid))
        loop_up = mark[3]
        deadline = time.monotonic() + within_s
        try:
            while (count := await stored_count(http, url)) < before + n:
                if spy is not None:
                    spy.step(pid, (count - before) / n)
                if segments and count - before - mark[0] >= n / segments:
                    c, t, lc = tree_cpu_s(pid), time.perf_counter(), loop_cpu_s(pid)
                    done = count - before - mark[0]
                    timeline.append({"stored": count - before, "per_s": round(done / (t - mark[2])),
                                     "cpu_us": round(1e6 * (c - mark[1]) / done),
                                     "loop_cpu_us": round(1e6 * (lc - mark[3]) / done),
                                     "load": float(load_average().split()[0]),
                                     **tree_memory_mb(pid)})
                    mark = (count - before, c, t, lc)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{NODE} stored {count - before} of {n} reports in "
                                       f"{within_s} s; see its node.log")
                await asyncio.sleep(0.05)
        finally:
            if spy is not None:
                spy.close()
        total = time.perf_counter() - t0
        cpu, loop_cpu = tree_cpu_s(pid) - cpu_up, loop_cpu_s(pid) - loop_up
        memory = tree_memory_mb(pid)
        workers = len(descendants(pid))
    return {"start_s": up_s, "startup_cpu_s": cpu_up, "total_s": total, "cpu_s": cpu,
            "loop_cpu_s": loop_cpu,
            "drained_at_start": at_up, "after_start_rate": (n - at_up) / max(total - up_s, 1e-9),
            "timeline": timeline, "child_processes": workers, **memory}


def catchup(fed: Federation, n: int, floor_us: float, within_s: float = 1800, *,
            spy: _Spy | None = None, segments: int = 0) -> dict[str, Any]:
    """Figures for fr catching up on ``n`` reports published while it (and ``int``) were down;
    ``floor_us`` is the floor measured in the same run (0: not measured). ``segments`` > 0
    adds a timeline: rate, CPU per report, load and RSS over each ``n / segments`` reports."""
    key_file = Path(fed.node("gb")["signing_key_file"])
    messages = _messages(key_file, n)

    async def count() -> int:
        async with aiohttp.ClientSession() as http:
            return await stored_count(http, fed.node(NODE)["url"])

    before = asyncio.run(count())
    stop_node(fed, NODE)
    stop_node(fed, "int")
    try:
        publish_s = asyncio.run(_publish(fed, messages))
        d = asyncio.run(_drain(fed, n, before, within_s, spy, segments))
    finally:
        start_node(fed, "int")  # the federation is whole again for whatever runs next
    rest = n - d["drained_at_start"]
    if rest > 0 and d["cpu_s"] > 0:  # the reports stored after fr first answered, their CPU
        cpu_us, basis = 1e6 * d["cpu_s"] / rest, "after start-up"
    else:  # a small backlog drained before fr's first answer: only the whole CPU says anything
        cpu_us = 1e6 * (d["startup_cpu_s"] + d["cpu_s"]) / n
        basis = "start-up included (drained before the first /healthz answer)"
    return {"reports": n, "node": f"{NODE} (int down too; gb and jp up)",
            "load_average": load_average(),
            "publish_s": round(publish_s, 2), "start_to_healthy_s": round(d["start_s"], 2),
            "startup_cpu_s": round(d["startup_cpu_s"], 2),
            "drain_s": round(d["total_s"], 2), "reports_per_s": round(n / d["total_s"]),
            "reports_per_s_once_healthy": round(d["after_start_rate"]),
            "cpu_us_per_report": round(cpu_us, 1), "cpu_basis": basis,
            # of which the event loop's thread (storing, NATS client, HTTP); the rest is the
            # checker threads or processes (verify, validate, parse) and any other thread
            "loop_cpu_us_per_report": round(1e6 * d["loop_cpu_s"] / max(rest, 1), 1),
            "floor_over_cpu": round(floor_us / cpu_us, 3) if floor_us else None,
            "check_batches": os.environ.get(CHECK_ENV) or CHECK_MODES[0],
            "child_processes": d["child_processes"],
            # the node with its checker processes, if any
            "node_rss_mb": d.get("rss_mb"), "node_peak_rss_mb": d.get("peak_rss_mb"),
            **({"timeline": d["timeline"]} if segments else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", type=int, help="reports published while fr is down")
    parser.add_argument("--spy", type=Path, help="folder for py-spy's early.txt and late.txt")
    parser.add_argument("--segments", type=int, default=10, help="timeline segments (10)")
    parser.add_argument("--check", choices=CHECK_MODES,
                        help="every node's check_batches setting (default: the node's default)")
    args = parser.parse_args()
    if args.check:
        os.environ[CHECK_ENV] = args.check  # the federation's nodes inherit it
    with tempfile.TemporaryDirectory() as tmp:
        fed = Federation(Path(tmp), ["gb", "fr", "jp"])
        try:
            fed.start(within_s=240)  # a loaded shared machine can take minutes to start it
            out = catchup(fed, args.n, 0.0, spy=_Spy(args.spy) if args.spy else None,
                          segments=args.segments)
        finally:
            fed.stop()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
