"""``beacon demo``: a whole local federation on loopback, one OS process per node.

    asyncio.run(run_demo(Path("demo-data"), members=["gb", "fr", "jp"], base_port=8400))

It starts a JetStream nats-server with one least-privilege NATS user per node, creates keys and a
genesis roster signed by the founding members, starts every member plus the international body
``int`` as ``beacon run`` processes, writes ``DIR/demo.json`` (the contract other tools read),
and runs until SIGINT/SIGTERM, then stops every child cleanly. Run it again on the same DIR and
it reuses the keys, stores and tokens: the federation picks up where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from node.bus.natsconf import ClusterRoutes, find_nats_server, server_config
from node.bus.stream_setup import StreamSetupError, setup_with_retry
from node.cli.demo_leaf import leaf_ports_needed, leaf_servers, setup_leaf_domains
from node.cli.demo_seed import seed_demo
from node.cli.provision import (
    INTERNATIONAL_BODY,
    admin_user,
    issue_tokens,
    provision_federation,
    write_config,
)
from node.core.errors import DemoError
from node.pipeline.context import utcnow

log = logging.getLogger("beacon.demo")


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    reported: bool = False


def _port_layout(base: int, members: list[str]) -> tuple[int, dict[str, int]]:
    """NATS on ``base``; nodes on ``base+1`` … in order (members, then int)."""
    ids = [*members, INTERNATIONAL_BODY]
    return base, {nid: base + 1 + i for i, nid in enumerate(ids)}


def ports_needed(members: list[str], nats_cluster: int, topology: str = "hub") -> int:
    """How many consecutive ports from ``--port`` the demo uses."""
    if topology == "leaf":
        return leaf_ports_needed(members)
    return len(members) + 2 + (2 * nats_cluster - 1 if nats_cluster > 1 else 0)


def _nats_servers(data: Path, base: int, members: list[str], nats_cluster: int, admin: str,
                  nodes: dict[str, str]) -> list[dict[str, Any]]:
    """Write each server's config: one server on ``base``; or a cluster whose further client
    ports and route ports follow the nodes' ports (so a one-server layout is unchanged)."""
    after_nodes = base + len(members) + 2
    clients = [base] + [after_nodes + i for i in range(nats_cluster - 1)]
    routes = tuple(after_nodes + nats_cluster - 1 + i for i in range(nats_cluster))
    servers = []
    for i, port in enumerate(clients):
        suffix = "" if i == 0 else f"-{i + 1}"
        conf = data / f"nats{suffix}.conf"
        cluster = ClusterRoutes("beacon", routes[i], routes) if nats_cluster > 1 else None
        conf.write_text(server_config(port=port, store_dir=data / f"jetstream{suffix}",
                                      admin=admin, nodes=nodes, cluster=cluster),
                        encoding="utf-8")
        servers.append({"url": f"nats://127.0.0.1:{port}", "config": str(conf), "pid": 0,
                        "log": str(data / f"nats{suffix}.log")})
    return servers


def prepare(data: Path, members: list[str], base_port: int, time_scale: float,
            nats_cluster: int = 1, topology: str = "hub") -> dict[str, Any]:
    """Create or reuse every file of the demo; return the demo.json document (pids are 0)."""
    data = data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    previous = _read_json(data / "demo.json")
    _, ports = _port_layout(base_port, members)
    roster_file = data / "roster.json"
    files = provision_federation({nid: data / nid for nid in ports}, members, roster_file,
                                 now=utcnow())
    admin_file = data / "admin.nk"
    admin = admin_user(admin_file)
    nkeys = {nid: f.nkey.public for nid, f in files.items()}
    if topology == "leaf":
        servers, urls = leaf_servers(data, base_port, members, admin.public, nkeys)
    else:
        servers = _nats_servers(data, base_port, members, nats_cluster, admin.public, nkeys)
        # a node knows every server of the cluster
        urls = dict.fromkeys(files, ",".join(s["url"] for s in servers))
    nats_url = urls[INTERNATIONAL_BODY]
    old_tokens = {n["id"]: n.get("tokens", {}) for n in (previous or {}).get("nodes", [])}
    nodes = []
    for nid, f in files.items():
        config = write_config(f, roster_file=roster_file, nats_url=urls[nid],
                              http_port=ports[nid], time_scale=time_scale, relative=True)
        # Never expiring, explicitly: a demo data directory is reused run after run (its
        # tokens are kept in demo.json), and the demo listens on loopback only.
        tokens = old_tokens.get(nid) or issue_tokens(config.db_path, nid, "demo")
        nodes.append({"id": nid, "role": f.role, "url": f"http://127.0.0.1:{ports[nid]}",
                      "pid": 0, "config": str(f.config_file),
                      "signing_key_file": str(f.signing_key_file),
                      "nats_credentials": str(f.nkey_file), "tokens": tokens})
    return {"nats": {"url": nats_url, "pid": 0, "bin": find_nats_server(),
                     "config": servers[0]["config"], "admin_credentials": str(admin_file),
                     "servers": servers, "replicas": nats_cluster, "topology": topology},
            "nodes": nodes, "roster": str(roster_file), "time_scale": time_scale}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def write_demo_json(data: Path, doc: dict[str, Any]) -> None:
    tmp = data / "demo.json.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds tokens
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
    tmp.replace(data / "demo.json")


def _spawn(name: str, argv: list[str], log_path: Path) -> Child:
    log_file = log_path.open("ab")
    proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,  # noqa: S603
                            stdin=subprocess.DEVNULL, start_new_session=True)
    log_file.close()
    return Child(name, proc, log_path)


async def _wait_tcp(port: int, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return


async def _wait_healthy(url: str, child: Child, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if child.proc.poll() is not None:
                raise DemoError(f"node {child.name} exited with {child.proc.returncode}; "
                                   f"see {child.log_path}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{url}/healthz") as r:
                    if r.status == 200 and (await r.json()).get("nats") == "connected":
                        return
            await asyncio.sleep(0.1)
    raise DemoError(f"node {child.name} not healthy after {within_s}s; see {child.log_path}")


async def _setup_jetstream(doc: dict[str, Any], within_s: float = 60) -> None:
    try:
        await setup_with_retry(doc["nats"]["url"].split(","), doc["nats"]["admin_credentials"],
                               [n["id"] for n in doc["nodes"]],
                               replicas=int(doc["nats"].get("replicas", 1)), within_s=within_s)
    except StreamSetupError as e:
        raise DemoError(f"{e}; see the nats logs in the data folder") from e


def _stop(children: list[Child], timeout: float = 10.0) -> None:
    for c in reversed(children):
        if c.proc.poll() is None:
            c.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for c in reversed(children):
        try:
            c.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in time; killing it", c.name)
            c.proc.kill()
            c.proc.wait()


async def run_demo(data: Path, members: list[str], base_port: int, time_scale: float,
                   stop: asyncio.Event, seed: str | None = None, nats_cluster: int = 1,
                   topology: str = "hub") -> int:
    """Run the federation until ``stop`` is set; ``data`` must be an absolute path.
    ``seed="aiid"`` has the international body file the AI Incident Database once the nodes are
    up; ``nats_cluster=3`` runs a three-server JetStream cluster with R3 streams instead of one
    server; ``topology="leaf"`` gives each member its own NATS server, a leaf of the hub."""
    doc = prepare(data, members, base_port, time_scale, nats_cluster, topology)
    children: list[Child] = []
    seeding: asyncio.Task[None] | None = None
    try:
        for i, server in enumerate(doc["nats"]["servers"]):
            child = _spawn(f"nats-server-{i + 1}", [doc["nats"]["bin"], "-c", server["config"]],
                           Path(server["log"]))
            children.append(child)
            server["pid"] = child.proc.pid
        doc["nats"]["pid"] = children[0].proc.pid
        for server in doc["nats"]["servers"]:
            await _wait_tcp(int(server["url"].rsplit(":", 1)[1]), 15)
        await (setup_leaf_domains(doc) if topology == "leaf" else _setup_jetstream(doc))
        servers = len(children)
        for n in doc["nodes"]:
            child = _spawn(n["id"], [sys.executable, "-m", "node.cli", "run", "--config",
                                     n["config"]], Path(n["config"]).parent / "node.log")
            children.append(child)
            n["pid"] = child.proc.pid
        # Every node starts at once: on a small machine, 30 members take longer than 30 s.
        within_s = 30 + 2 * len(doc["nodes"])
        await asyncio.gather(*(_wait_healthy(n["url"], c, within_s)
                               for n, c in zip(doc["nodes"], children[servers:], strict=True)))
        write_demo_json(data, doc)
        _print_banner(doc, data)
        if seed:
            seeding = asyncio.create_task(seed_demo(doc, data, seed), name="seed")
        while not stop.is_set():
            for c in children:
                if c.proc.poll() is not None and not c.reported:
                    print(f"! {c.name} exited with {c.proc.returncode}; log: {c.log_path}",
                          flush=True)
                    c.reported = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
        return 0
    finally:
        if seeding is not None and not seeding.done():
            seeding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await seeding
        print("stopping the federation…", flush=True)
        _stop(children)
        print("stopped.", flush=True)


def _print_banner(doc: dict[str, Any], data: Path) -> None:
    print(f"Beacon demo federation is up (NATS {doc['nats']['url']}).", flush=True)
    for n in doc["nodes"]:
        print(f"  {n['id']:>4}  {n['role']:<19} {n['url']}", flush=True)
    print(f"Tokens and paths: {data / 'demo.json'}", flush=True)
    gb = doc["nodes"][0]
    print(f"Console: {gb['url']}/login  (sign in with a token from "
          f"{data / 'demo.json'})", flush=True)
    print(f"Try: curl -s -H 'Authorization: Bearer {gb['tokens']['viewer']}' "
          f"{gb['url']}/api/v1/incidents", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
