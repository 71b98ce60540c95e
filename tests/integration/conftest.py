"""Integration fixtures: a real local federation (`beacon demo`) on loopback.

Each test module that asks for ``fed`` gets its own federation — a real JetStream nats-server and
one real node process per member plus ``int`` — started through the same CLI a user runs, and
stopped in ``finally``. Nothing here mocks NATS, SQLite or a node.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.cli.demo import ports_needed

MINIMAL_REPORT: dict[str, Any] = {
    "title": "Chatbot gave dangerous medical advice",
    "description": "A patient followed dosage advice produced by the model and was hospitalised.",
    "severity": "serious-incident", "harm_types": ["physical"],
    "ai_system": {"name": "ExampleLM", "version": "2.1", "developer": "Example AI",
                  "deployer": "Example Health",
                  "role": "The model produced the advice that the patient followed."},
    "submitter": {"organisation": "UK AI Security Institute",
                  "contact": "incidents@example.org"},
    "supporting_materials": [{"url": "https://example.org/report",
                              "description": "press report"}],
    "occurred_at": "2026-11-20T09:00:00Z", "affected_jurisdictions": ["fr"], "tlp": "GREEN",
    "red_lines": [],
}


def report(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(MINIMAL_REPORT)
    doc.update(changes)
    return doc


def _ports_free(base: int, count: int) -> bool:
    for port in range(base, base + count):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _ephemeral_low() -> int:
    """The first port the kernel hands to outgoing connections (Linux; 32768 by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_base_port(count: int) -> int:
    """A base port with ``count`` consecutive free ports on loopback (bounded search), below the
    ephemeral range: a port found free there can be taken by any outgoing connection (a NATS
    or HTTP client) before a node binds it, which once failed a whole module's start."""
    low, high = 10000, _ephemeral_low() - count
    span = high - low
    start = (os.getpid() * 37) % span
    for i in range(200):
        base = low + (start + i * 53) % span
        if _ports_free(base, count):
            return base
    raise RuntimeError("no free port range on 127.0.0.1")


def _popen(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


class Federation:
    """A running ``beacon demo`` and helpers to talk to its nodes."""

    def __init__(self, data: Path, members: list[str], time_scale: float = 1.0,
                 nats_cluster: int = 1, topology: str = "hub") -> None:
        self.data = data
        self.members = members
        self.topology = topology
        self.base = free_base_port(ports_needed(members, nats_cluster, topology))
        self.time_scale = time_scale
        self.nats_cluster = nats_cluster
        self.proc: subprocess.Popen[bytes] | None = None
        self.doc: dict[str, Any] = {}
        self.extra: list[subprocess.Popen[bytes]] = []

    def start(self, within_s: float = 60) -> None:
        self.proc = _popen(
            [sys.executable, "-m", "node.cli", "demo", "--data", str(self.data),
             "--members", ",".join(self.members), "--port", str(self.base),
             "--time-scale", str(self.time_scale), "--nats-cluster", str(self.nats_cluster),
             "--topology", self.topology],
            self.data / "demo.out")
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"beacon demo exited early:\n{self.output()}")
            if "Press Ctrl-C" in self.output():
                self.doc = json.loads((self.data / "demo.json").read_text())
                return
            time.sleep(0.1)
        raise TimeoutError(f"beacon demo not up in {within_s}s:\n{self.output()}")

    def output(self) -> str:
        return (self.data / "demo.out").read_text(errors="replace")

    def stop(self) -> None:
        """Stop every process, however the test ended; one that ignores SIGTERM for 30 s is
        killed (a node's own shutdown is bounded: ``Supervisor.stop``)."""
        for p in self.extra:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def node(self, node_id: str) -> dict[str, Any]:
        return next(n for n in self.doc["nodes"] if n["id"] == node_id)

    def url(self, node_id: str, path: str) -> str:
        return self.node(node_id)["url"] + path

    def auth(self, node_id: str, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.node(node_id)['tokens'][role]}"}

    def spawn_node(self, node_id: str) -> subprocess.Popen[bytes]:
        """Start a node again with ``beacon run --config`` (after a test killed it)."""
        cfg = self.node(node_id)["config"]
        p = _popen([sys.executable, "-m", "node.cli", "run", "--config", cfg],
                   Path(cfg).parent / "node.log")
        self.extra.append(p)
        return p

    def spawn_nats(self, server: int = 0) -> subprocess.Popen[bytes]:
        """Start NATS server ``server`` (0: the first) again, on its config and store."""
        n = self.doc["nats"]
        conf = n["servers"][server]
        p = _popen([n["bin"], "-c", conf["config"]], Path(conf["log"]))
        self.extra.append(p)
        return p


@contextmanager
def running_federation(data: Path, members: list[str], time_scale: float = 1.0,
                       nats_cluster: int = 1, topology: str = "hub") -> Iterator[Federation]:
    """A started federation, stopped (every process) when the block ends, however it ends."""
    f = Federation(data, members, time_scale=time_scale, nats_cluster=nats_cluster,
                   topology=topology)
    try:
        f.start()
        yield f
    finally:
        f.stop()


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with running_federation(tmp_path_factory.mktemp("fed"), ["gb", "fr", "jp"]) as f:
        yield f


async def wait_for(check: Callable[[], Awaitable[Any]], *, within_s: float = 15.0,
                   every_s: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``within_s`` seconds."""
    deadline = time.monotonic() + within_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await check()
        except (aiohttp.ClientError, OSError) as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        await asyncio.sleep(every_s)
    raise AssertionError(f"condition not met within {within_s}s; last result: {last!r}")


async def barrier(http: aiohttp.ClientSession, fed: Federation, origin: str,
                  at: Iterable[str], within_s: float = 30.0) -> str:
    """File a sentinel report at ``origin`` and wait until every node of ``at`` holds it.

    One publisher's order is kept end to end (the outbox is sent in order, JetStream keeps it,
    each durable consumer delivers it), so once the sentinel is stored at a node, everything
    ``origin`` said before it is stored there too: a negative assertion ("nothing more came")
    may follow. Returns the sentinel's incident id.
    """
    async with http.post(fed.url(origin, "/api/v1/incidents"), headers=fed.auth(origin, "operator"),
                         json=report(title="Barrier sentinel", severity="hazard",
                                     harm_types=["public-interest"],
                                     affected_jurisdictions=[])) as r:
        assert r.status == 201, await r.text()
        sentinel = str((await r.json())["id"])
    for node in at:
        async def stored(node: str = node) -> bool:
            async with http.get(fed.url(node, f"/api/v1/incidents/{sentinel}"),
                                headers=fed.auth(node, "viewer")) as r:
                return r.status == 200
        await wait_for(stored, within_s=within_s)
    return sentinel


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession() as session:
        yield session
