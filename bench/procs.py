"""Process helpers the suite's benchmarks share: CPU and memory of a node process from
``/proc``, stopping a node of a running federation and starting it again.

    >>> # stop_node(fed, "fr"); ...; pid = await start_node(fed, "fr")

A node is stopped with SIGTERM (its shutdown is bounded) and waited for by polling ``/proc``,
since its parent is the ``beacon demo`` process, not this one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import aiohttp

from tests.integration.conftest import Federation


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> dict[str, float]:
    """Resident set now (``VmRSS``) and its peak (``VmHWM``) of process ``pid``, in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            mb = round(int(value.split()[0]) / 1024, 1)  # the kernel gives kB
            out["rss_mb" if key == "VmRSS" else "peak_rss_mb"] = mb
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")  # a zombie has finished; its parent reaps it later


def stop_node(fed: Federation, node: str, within_s: float = 30) -> None:
    pid = int(fed.node(node)["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + within_s
    while _alive(pid):
        if time.monotonic() > deadline:
            raise TimeoutError(f"node {node} (pid {pid}) did not stop within {within_s} s")
        time.sleep(0.05)


async def healthy(http: aiohttp.ClientSession, url: str, within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            async with http.get(f"{url}/healthz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{url} did not answer /healthz within {within_s} s; see its node.log")


def start_node(fed: Federation, node: str) -> int:
    """Start ``node`` again (``beacon run``) and record its new pid in the federation's doc."""
    pid = fed.spawn_node(node).pid
    fed.node(node)["pid"] = pid
    return pid


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])
