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
import nats
import nats.js.errors

from federation.subjects import STREAM
from node import roster_bucket
from node.auth import ROLES, issue_token
from node.bus import consumer_config, ensure_stream
from node.context import utcnow
from node.demo_seed import seed_demo
from node.errors import DemoError
from node.natsconf import NkeyUser, find_nats_server, server_config
from node.provision import (
    genesis_document,
    member_entry,
    provision_node,
    sign_genesis,
    write_config,
)
from node.store import Store

log = logging.getLogger("beacon.demo")
INTERNATIONAL_BODY = "int"


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


def prepare(data: Path, members: list[str], base_port: int, time_scale: float) -> dict[str, Any]:
    """Create or reuse every file of the demo; return the demo.json document (pids are 0)."""
    data = data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    previous = _read_json(data / "demo.json")
    nats_port, ports = _port_layout(base_port, members)
    nats_url = f"nats://127.0.0.1:{nats_port}"
    now = utcnow()
    files = {nid: provision_node(data / nid, nid, role="international-body"
                                 if nid == INTERNATIONAL_BODY else "member") for nid in ports}
    roster_file = data / "roster.json"
    if not roster_file.exists():
        entries = [member_entry(f, now=now) for f in files.values()]
        council = [files[m].signing_key.public.keyid for m in members]
        doc = genesis_document(entries, council=council, threshold=len(members) // 2 + 1,
                               now=now)
        envelope = sign_genesis(doc, [files[m].signing_key for m in members])
        roster_file.write_bytes(envelope.to_json())
    admin_file = data / "admin.nk"
    admin = NkeyUser.load(admin_file) if admin_file.exists() else NkeyUser.create()
    admin.save(admin_file)
    nats_conf = data / "nats.conf"
    nats_conf.write_text(server_config(
        port=nats_port, store_dir=data / "jetstream", admin=admin.public,
        nodes={nid: f.nkey.public for nid, f in files.items()}), encoding="utf-8")
    old_tokens = {n["id"]: n.get("tokens", {}) for n in (previous or {}).get("nodes", [])}
    nodes = []
    for nid, f in files.items():
        config = write_config(f, roster_file=roster_file, nats_url=nats_url,
                              http_port=ports[nid], time_scale=time_scale)
        tokens = old_tokens.get(nid) or _issue_tokens(config.db_path, nid)
        nodes.append({"id": nid, "role": f.role, "url": f"http://127.0.0.1:{ports[nid]}",
                      "pid": 0, "config": str(f.config_file),
                      "signing_key_file": str(f.signing_key_file),
                      "nats_credentials": str(f.nkey_file), "tokens": tokens})
    return {"nats": {"url": nats_url, "pid": 0, "bin": find_nats_server(),
                     "config": str(nats_conf), "admin_credentials": str(admin_file)},
            "nodes": nodes, "roster": str(roster_file), "time_scale": time_scale}


def _issue_tokens(db_path: Path, node_id: str) -> dict[str, str]:
    store = Store.open(db_path)
    try:
        now = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
        return {role: issue_token(store, role, label=f"demo {role} at {node_id}", now=now)
                for role in ROLES}
    finally:
        store.close()


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


async def _setup_jetstream(doc: dict[str, Any]) -> None:
    """As the admin user: create the stream and each node's durable consumer."""
    nc = await nats.connect(doc["nats"]["url"], nkeys_seed=doc["nats"]["admin_credentials"],
                            connect_timeout=5)
    try:
        js = nc.jetstream()
        await ensure_stream(js)
        await roster_bucket.ensure_bucket(js)
        for n in doc["nodes"]:
            durable = f"node-{n['id']}"
            try:
                await js.consumer_info(STREAM, durable)
            except nats.js.errors.NotFoundError:
                await js.add_consumer(STREAM, consumer_config(durable))
    finally:
        await nc.close()


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
                   stop: asyncio.Event, seed: str | None = None) -> int:
    """Run the federation until ``stop`` is set; ``data`` must be an absolute path.
    ``seed="aiid"`` has the international body file the AI Incident Database once the nodes are
    up."""
    doc = prepare(data, members, base_port, time_scale)
    children: list[Child] = []
    seeding: asyncio.Task[None] | None = None
    try:
        nats_port = int(doc["nats"]["url"].rsplit(":", 1)[1])
        nats_child = _spawn("nats-server", [doc["nats"]["bin"], "-c", doc["nats"]["config"]],
                            data / "nats.log")
        children.append(nats_child)
        doc["nats"]["pid"] = nats_child.proc.pid
        await _wait_tcp(nats_port, 15)
        await _setup_jetstream(doc)
        for n in doc["nodes"]:
            child = _spawn(n["id"], [sys.executable, "-m", "node.cli", "run", "--config",
                                     n["config"]], Path(n["config"]).parent / "node.log")
            children.append(child)
            n["pid"] = child.proc.pid
        await asyncio.gather(*(_wait_healthy(n["url"], c, 30)
                               for n, c in zip(doc["nodes"], children[1:], strict=True)))
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
