"""``beacon deploy init``: one bundle per authority, and the hub's NATS configs, for containers.

    $ beacon deploy init --members gb,fr,jp --out deploy            # what docker-compose.yml mounts
    $ beacon deploy init --members gb,fr,jp --out d --host nats-1=127.0.0.2 …   # loopback twin

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

Service names (``nats-1``, ``gb`` …) are the host names containers reach each other by. A
``--host NAME=ADDR`` override stands in for container DNS: NAME is reached at ADDR *and* that
service listens on ADDR (as a container listens on its own address), so the same configs and
commands run as plain processes on loopback. Run it again on the same OUT: keys, roster and
tokens are kept; configs are rewritten.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from federation.errors import Error
from node.bus.natsconf import NamedCluster, server_config
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

NATS_PORT, ROUTE_PORT, MONITOR_PORT = 4222, 6222, 8222
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
    _nats_configs(out, args.nats_servers, hosts, admin.public,
                  {nid: f.nkey.public for nid, f in files.items()})
    nats_url = ",".join(f"nats://{hosts.addr(n)}:{NATS_PORT}"
                        for n in nats_names(args.nats_servers))
    nodes = []
    for nid, f in files.items():
        shutil.copyfile(roster, f.directory / "roster.json")
        config = write_config(f, roster_file=f.directory / "roster.json", nats_url=nats_url,
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
    doc = {"nats": {"servers": nats_names(args.nats_servers), "url": nats_url,
                    "replicas": args.nats_servers},
           "nodes": nodes, "hosts": hosts.map}
    (out / "deploy.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return doc


def run(args: argparse.Namespace) -> int:
    doc = init(args)
    print(f"wrote {len(doc['nodes'])} node bundles and {len(doc['nats']['servers'])} NATS "
          f"server configs to {args.out}")
    print("next: docker compose up -d   (or copy each <id>/ folder to its authority only)")
    return 0
