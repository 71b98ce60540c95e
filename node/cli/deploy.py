"""``beacon deploy init``: one bundle per authority, and the hub's NATS configs, for containers.

    $ beacon deploy init --members gb,fr,jp --out deploy            # what docker-compose.yml mounts
    $ beacon deploy init --members gb,fr,jp --out d --host nats-1=127.0.0.2 …   # loopback twin
    $ beacon deploy init --members gb,fr,jp --out deploy --topology leaf  # docker-compose.leaf.yml

Layout of ``OUT`` (``docker-compose.yml`` mounts exactly these)::

    roster.json                 the signed roster every bundle carries a copy of
    <id>/                       one per authority, mounted by that authority's node only:
        node.toml               relative paths; HTTP on --bind:--http-port; NATS by service name
        signing.key encryption.key nats.nk tokens.json   (0600, this authority's only)
        roster.json member.json data/
    nats/nats-<n>.conf          the hub's servers: public nkeys only, a cluster block, JetStream
                                store "jetstream" under the server's working folder (/data)
    setup/admin.nk              the hub operator's admin seed, for ``beacon nats setup`` only
    deploy.json                 what was generated: services, addresses, node URLs (no secrets)

With ``--topology leaf`` each authority also runs its own NATS server, its own JetStream
domain, joined to the hub as a leaf (``node.bus.leaf_setup``); instead of ``nats/nats-<n>.conf``::

    nats/hub.conf               the hub (domain "hub"): the international body's node, the
                                admin, and one user per leaf link (public nkeys; each link
                                restricted to its member's traffic, ``natsconf.leaf_permissions``)
    nats-<id>/nats.conf         authority <id>'s server (domain <id>; its node's user; its own
                                admin's public key; the remote to the hub with the link's seed:
                                0600, that authority's only), mounted by its server only
    nats-<id>/admin.nk          that authority's own JetStream admin, for its set-up only
    nats-<id>/leaf.nk           its link's nkey seed (the hub config holds the public key)

and each node's ``nats.url`` is its own server (``nats://nats-<id>:4222``; ``int``: the hub's).
``beacon deploy setup --domain <id>|hub`` sets each domain up, the leaves first.

Service names (``nats-1``, ``gb`` …) are the host names containers reach each other by. A
``--host NAME=ADDR`` override stands in for container DNS: NAME is reached at ADDR *and* that
service listens on ADDR (as a container listens on its own address), so the same configs and
commands run as plain processes on loopback. Run it again on the same OUT: keys, roster and
tokens are kept; configs are rewritten.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from federation.errors import Error
from node.bus.leaf_setup import HUB_DOMAIN, HUB_NODE, reconcile_domain
from node.bus.natsconf import NamedCluster, NkeyUser, leaf_remote, server_config
from node.cli.provision import (
    INTERNATIONAL_BODY,
    admin_user,
    issue_tokens,
    member_entry,
    provision_federation,
    write_config,
)
from node.core.identity import write_secret
from node.pipeline.context import utcnow

NATS_PORT, ROUTE_PORT, MONITOR_PORT, LEAF_PORT = 4222, 6222, 8222, 7422
HUB_SERVICE = "nats-hub"
STORE_DIR = "jetstream"  # relative: the server's working folder, /data (a volume) in compose


def add_parser(sub: Any, members: Callable[[str], list[str]]) -> None:
    d = sub.add_parser("deploy", help="generate per-authority bundles and the hub's NATS set-up")
    actions = d.add_subparsers(dest="deploy_command", required=True, metavar="ACTION")
    i = actions.add_parser("init", help="one folder per authority (its keys, NATS credentials "
                           "and config only) plus the NATS servers' configs and admin set-up")
    i.add_argument("--members", type=members, required=True, help="e.g. gb,fr,jp (the "
                   "international body 'int' is added)")
    i.add_argument("--out", type=Path, required=True, help="output folder, e.g. deploy")
    i.add_argument("--roster", type=Path, default=None,
                   help="the signed roster of an existing federation (default: a genesis "
                        "roster signed by the members is created)")
    i.add_argument("--bind", default="0.0.0.0",  # noqa: S104 - a container's own interface
                   help="address every service listens on (default 0.0.0.0)")
    i.add_argument("--http-port", type=int, default=8400, help="each node's HTTP port")
    i.add_argument("--nats-servers", type=int, choices=[1, 3, 5], default=3,
                   help="NATS servers in the hub cluster (default 3; streams get as many "
                        "replicas)")
    i.add_argument("--host", action="append", default=[], metavar="NAME=ADDR",
                   help="reach service NAME at ADDR and have it listen there (loopback runs)")
    i.add_argument("--time-scale", type=float, default=1.0)
    i.add_argument("--topology", choices=["hub", "leaf"], default="hub",
                   help="hub: every node on the hub's cluster (docker-compose.yml); leaf: each "
                        "authority its own NATS server and JetStream domain, a leaf of the hub "
                        "(docker-compose.leaf.yml)")
    s = actions.add_parser("setup", help="leaf topology: as one domain's admin, create or "
                           "reconcile its JetStream objects (the leaves first, then the hub)")
    s.add_argument("--domain", required=True, help="a member id (its leaf) or 'hub'")
    s.add_argument("--url", required=True, help="that domain's NATS server")
    s.add_argument("--admin-nkey", type=Path, required=True, help="that domain's admin seed")
    s.add_argument("--members", type=members, required=True, help="e.g. gb,fr,jp")
    s.add_argument("--wait", type=float, default=60.0,
                   help="seconds to keep retrying while servers start and links come up")


class Hosts:
    """Service name → address; a service without an override listens on ``bind``."""

    def __init__(self, pairs: list[str], bind: str) -> None:
        try:
            self.map = dict(p.split("=", 1) for p in pairs)
        except ValueError as e:
            raise Error(f"--host takes NAME=ADDR, e.g. nats-1=127.0.0.2: {pairs}") from e
        self.bind = bind

    def addr(self, name: str) -> str:
        return self.map.get(name, name)

    def listen(self, name: str) -> str:
        return self.map.get(name, self.bind)


def nats_names(count: int) -> list[str]:
    return [f"nats-{i + 1}" for i in range(count)]


def _nats_configs(out: Path, count: int, hosts: Hosts, admin: str,
                  nodes: dict[str, str]) -> None:
    folder = out / "nats"
    folder.mkdir(parents=True, exist_ok=True)
    names = nats_names(count)
    for name in names:
        cluster = None if count == 1 else NamedCluster(
            "beacon", f"{hosts.listen(name)}:{ROUTE_PORT}",
            tuple(f"nats-route://{hosts.addr(p)}:{ROUTE_PORT}" for p in names if p != name))
        (folder / f"{name}.conf").write_text(server_config(
            port=NATS_PORT, store_dir=STORE_DIR, admin=admin, nodes=nodes,
            monitor_port=MONITOR_PORT, cluster=cluster, host=hosts.listen(name),
            server_name=name), encoding="utf-8")


def leaf_service(member: str) -> str:
    return f"nats-{member}"


def _leaf_configs(out: Path, members: list[str], hosts: Hosts, admin: str,
                  nodes: dict[str, str]) -> dict[str, str]:
    """Write the hub's and every member's server config; return each node's NATS URL."""
    links = {}
    for m in members:
        folder = out / leaf_service(m)
        links[m] = _kept_nkey(folder / "leaf.nk")
        leaf_admin = _kept_nkey(folder / "admin.nk")
        conf = server_config(
            port=NATS_PORT, store_dir=STORE_DIR, admin=leaf_admin.public,
            nodes={m: nodes[m]}, monitor_port=MONITOR_PORT, host=hosts.listen(leaf_service(m)),
            server_name=leaf_service(m), domain=m, hub_api=f"$JS.{HUB_DOMAIN}.API",
            leafnodes=leaf_remote(f"nats-leaf://{hosts.addr(HUB_SERVICE)}:{LEAF_PORT}",
                                  links[m]))
        write_secret(folder / "nats.conf", conf.encode())  # it holds the link's seed
    (out / "nats").mkdir(parents=True, exist_ok=True)
    hub = hosts.listen(HUB_SERVICE)
    (out / "nats" / "hub.conf").write_text(server_config(
        port=NATS_PORT, store_dir=STORE_DIR, admin=admin, nodes={HUB_NODE: nodes[HUB_NODE]},
        monitor_port=MONITOR_PORT, host=hub, server_name=HUB_SERVICE, domain=HUB_DOMAIN,
        leafnodes={"listen": f"{hub}:{LEAF_PORT}"},
        leaf_links={m: k.public for m, k in links.items()}), encoding="utf-8")
    urls = {m: f"nats://{hosts.addr(leaf_service(m))}:{NATS_PORT}" for m in members}
    return urls | {HUB_NODE: f"nats://{hosts.addr(HUB_SERVICE)}:{NATS_PORT}"}


def _kept_nkey(path: Path) -> NkeyUser:
    if not path.exists():
        NkeyUser.create().save(path)
    return NkeyUser.load(path)


def _roster(out: Path, given: Path | None) -> Path:
    roster = out / "roster.json"
    if given is not None and not roster.exists():
        if not given.is_file():
            raise Error(f"--roster {given}: no such file; give the federation's signed roster")
        shutil.copyfile(given, roster)
    return roster


def init(args: argparse.Namespace) -> dict[str, Any]:
    """Write (or refresh) every file of ``args.out``; return the deploy.json document."""
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    hosts = Hosts(args.host, args.bind)
    ids = [*args.members, INTERNATIONAL_BODY]
    roster = _roster(out, args.roster)
    files = provision_federation({nid: out / nid for nid in ids}, args.members, roster,
                                 now=utcnow())
    admin = admin_user(out / "setup" / "admin.nk")
    publics = {nid: f.nkey.public for nid, f in files.items()}
    if args.topology == "leaf":
        urls = _leaf_configs(out, args.members, hosts, admin.public, publics)
        servers = [HUB_SERVICE, *(leaf_service(m) for m in args.members)]
        nats_doc = {"servers": servers, "url": urls[HUB_NODE], "replicas": 1,
                    "topology": "leaf", "urls": urls}
    else:
        _nats_configs(out, args.nats_servers, hosts, admin.public, publics)
        nats_url = ",".join(f"nats://{hosts.addr(n)}:{NATS_PORT}"
                            for n in nats_names(args.nats_servers))
        urls = dict.fromkeys(files, nats_url)
        nats_doc = {"servers": nats_names(args.nats_servers), "url": nats_url,
                    "replicas": args.nats_servers}
    nodes = []
    for nid, f in files.items():
        shutil.copyfile(roster, f.directory / "roster.json")
        config = write_config(f, roster_file=f.directory / "roster.json", nats_url=urls[nid],
                              http_port=args.http_port, time_scale=args.time_scale,
                              http_host=hosts.listen(nid), data_dir=f.directory / "data",
                              relative=True)
        entry = member_entry(f, now=utcnow())
        (f.directory / "member.json").write_text(json.dumps(entry, indent=2) + "\n")
        tokens_file = f.directory / "tokens.json"
        if not tokens_file.exists():
            tokens = issue_tokens(config.db_path, nid, "deploy")
            write_secret(tokens_file, json.dumps(tokens, indent=2).encode() + b"\n")
        nodes.append({"id": nid, "role": f.role, "bundle": nid,
                      "url": f"http://{hosts.addr(nid)}:{args.http_port}"})
    doc = {"nats": nats_doc, "nodes": nodes, "hosts": hosts.map}
    (out / "deploy.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return doc


def run(args: argparse.Namespace) -> int:
    if args.deploy_command == "setup":
        asyncio.run(reconcile_domain(args.url, str(args.admin_nkey), args.domain, args.members,
                                     within_s=args.wait))
        print(f"JetStream domain {args.domain} set up (streams, roster bucket, consumer)")
        return 0
    doc = init(args)
    print(f"wrote {len(doc['nodes'])} node bundles and {len(doc['nats']['servers'])} NATS "
          f"server configs to {args.out}")
    compose = " -f docker-compose.leaf.yml" if args.topology == "leaf" else ""
    print(f"next: docker compose{compose} up -d   (or copy each authority's folders to it only)")
    return 0
