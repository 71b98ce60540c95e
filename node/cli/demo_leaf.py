"""``beacon demo --topology leaf``: every member's own NATS server, a leaf of the hub.

    servers, urls = leaf_servers(data, base, members, admin, nodes)

The international body's server is the hub (JetStream domain ``hub``, on ``base``, accepting
leaf connections on the port after the nodes'); each member gets a server of its own (domain =
its id) that connects to the hub as a leaf, and its node connects only to it. The streams that
carry messages across domains are set up per server by ``node.bus.leaf_setup``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS

from federation.errors import Error
from node.bus.leaf_setup import (
    HUB_DOMAIN,
    HUB_NODE,
    outbox_reachable,
    setup_domain,
    setup_outbox,
)
from node.bus.natsconf import ADMIN_INBOX, NkeyUser, leaf_remote, server_config
from node.bus.stream_setup import as_admin
from node.core.errors import DemoError


def leaf_ports_needed(members: list[str]) -> int:
    return 2 * len(members) + 3


def leaf_servers(data: Path, base: int, members: list[str], admin: str,
                 nodes: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Write the hub's and each leaf's config; return the servers and each node's NATS URL."""
    leaf_port = base + len(members) + 2
    links = {m: _leaf_link(data / m / "leaf.nk") for m in members}
    plan = [(HUB_NODE, base, HUB_DOMAIN)]
    plan += [(m, leaf_port + 1 + i, m) for i, m in enumerate(members)]
    servers, urls = [], {}
    for node_id, port, domain in plan:
        leaf: dict[str, Any]
        if node_id == HUB_NODE:
            leaf = {"listen": f"127.0.0.1:{leaf_port}"}
        else:
            leaf = leaf_remote(f"nats-leaf://127.0.0.1:{leaf_port}", links[node_id])
        conf = data / f"nats-{domain}.conf"
        conf.write_text(server_config(
            port=port, store_dir=data / f"jetstream-{domain}", admin=admin,
            nodes={node_id: nodes[node_id]}, domain=domain, leafnodes=leaf,
            server_name=f"beacon-{domain}",
            hub_api=None if node_id == HUB_NODE else f"$JS.{HUB_DOMAIN}.API",
            leaf_links={m: k.public for m, k in links.items()} if node_id == HUB_NODE else None),
            encoding="utf-8")
        servers.append({"url": f"nats://127.0.0.1:{port}", "config": str(conf), "pid": 0,
                        "log": str(data / f"nats-{domain}.log"), "domain": domain,
                        "node": node_id})
        urls[node_id] = f"nats://127.0.0.1:{port}"
    return servers, urls


def _leaf_link(path: Path) -> NkeyUser:
    """Each leaf's own nkey for its link to the hub: one jurisdiction's can be revoked without
    the others'. (Kept beside that member's keys, 0600; the hub's config has its public key.)"""
    if not path.exists():
        NkeyUser.create().save(path)
    return NkeyUser.load(path)


async def setup_leaf_domains(doc: dict[str, Any], within_s: float = 60) -> None:
    """As the admin: every outbox first; then the hub's streams, once it reaches every leaf's
    outbox; then each leaf's BEACON (which sources the hub's), bucket and consumer."""
    members = [n["id"] for n in doc["nodes"] if n["id"] != HUB_NODE]
    hub, leaves = doc["nats"]["servers"][0], doc["nats"]["servers"][1:]
    deadline = time.monotonic() + within_s

    async def step(server: dict[str, Any], action: Callable[[NATS], Awaitable[None]]) -> None:
        def fail(e: BaseException) -> Error:
            return DemoError(f"leaf JetStream set-up failed on {server['url']} ({e!r}); see the "
                             "nats logs in the data folder")

        await as_admin(server["url"], doc["nats"]["admin_credentials"], action,
                       deadline=deadline, fail=fail, what=f"server {server['url']}",
                       inbox_prefix=ADMIN_INBOX)

    for server in doc["nats"]["servers"]:
        await step(server, partial(_outbox, node_id=server["node"]))
    for m in members:
        await step(hub, partial(outbox_reachable, domain=m))
    for server in [hub, *leaves]:
        await step(server, partial(_domain, node_id=server["node"], members=members))


async def _outbox(nc: NATS, node_id: str) -> None:
    await setup_outbox(nc.jetstream(), node_id)


async def _domain(nc: NATS, node_id: str, members: list[str]) -> None:
    await setup_domain(nc.jetstream(), node_id, members)
