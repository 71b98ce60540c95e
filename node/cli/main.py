"""The ``beacon`` command.

    $ beacon demo --data demo-data                 # a local federation: gb, fr, jp and int
    $ beacon init --id gb --dir /srv/beacon/gb      # keys and config for one node
    $ beacon run --config /srv/beacon/gb/node.toml  # run one node

Every failure the user can fix ends with a one-line message saying what to do, exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from federation.errors import Error

MEMBER_ID = re.compile(r"^[a-z][a-z0-9-]{1,31}$")


def _members(text: str) -> list[str]:
    ids = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in ids if not MEMBER_ID.match(m) or m == "int"]
    if bad or not ids:
        raise argparse.ArgumentTypeError(
            f"member ids are 2-32 lowercase letters, digits or '-', not 'int': {', '.join(bad)}")
    if len(set(ids)) != len(ids):
        raise argparse.ArgumentTypeError("a member id is listed twice")
    return ids


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="beacon", description="Beacon: federated, signed "
                                "AI-incident reporting between AI safety authorities.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="run a local federation (members plus the international "
                       "body) on loopback")
    d.add_argument("--data", type=Path, default=Path("demo-data"),
                   help="folder for keys, stores and demo.json (default: demo-data)")
    d.add_argument("--members", type=_members, default=["gb", "fr", "jp"],
                   help="comma-separated member ids (default: gb,fr,jp)")
    d.add_argument("--port", type=int, default=8400,
                   help="base port: NATS on it, nodes on the next ones (default: 8400)")
    d.add_argument("--seed", choices=["aiid"], default=None,
                   help="once the nodes are up, have the international body file the AI "
                        "Incident Database as its own (../shared/data/aiid/incidents.csv or "
                        "$BEACON_AIID_CSV)")
    d.add_argument("--time-scale", type=_positive, default=1.0,
                   help="multiply every scheduled duration (0.001 turns an hour into 3.6 s)")
    d.add_argument("--nats-cluster", type=int, choices=[1, 3, 5], default=1,
                   help="NATS servers: 1, or a JetStream cluster of 3 or 5 on loopback with "
                        "streams replicated on 3 or 5 (default: 1)")
    d.add_argument("--topology", choices=["hub", "leaf"], default="hub",
                   help="hub: every node on the hub's server(s); leaf: each member its own NATS "
                        "server and JetStream domain, joined to the hub as a leaf node")

    i = sub.add_parser("init", help="create keys and a config for one node")
    i.add_argument("--id", required=True, help="member id, e.g. gb")
    i.add_argument("--dir", type=Path, required=True, help="the node's data folder")
    i.add_argument("--role", choices=["member", "international-body"], default="member")
    i.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    i.add_argument("--port", type=int, default=8100, help="HTTP port (default 8100)")
    i.add_argument("--roster", type=Path, default=None,
                   help="the signed roster file (default: DIR/roster.json)")

    r = sub.add_parser("run", help="run one node")
    r.add_argument("--config", type=Path, required=True, help="the node's TOML config")

    pb = sub.add_parser("playbooks", help="check and export the contingency playbooks")
    pbs = pb.add_subparsers(dest="playbooks_command", required=True, metavar="ACTION")
    v = pbs.add_parser("validate", help="validate every playbook and regimes.yaml in a folder, "
                                        "and that every severity x {own, affecting a peer, "
                                        "peer's} starts a playbook")
    v.add_argument("dir", nargs="?", type=Path, default=None,
                   help="folder of *.yaml playbooks (default: the shared playbooks/)")
    x = pbs.add_parser("export", help="export playbooks to OASIS CACAO 2.0 JSON")
    x.add_argument("--format", choices=["cacao"], default="cacao")
    x.add_argument("--dir", type=Path, default=None, help="playbook folder (default: shared)")
    x.add_argument("--schemas", type=Path, default=None,
                   help="official CACAO 2.0 schema folder to validate the export against "
                        "(default: ../shared/schemas-external/cacao-2.0 when present)")
    x.add_argument("outdir", type=Path, help="where to write <playbook id>.cacao.json")

    from node.cli import importer, roster_cli, stix_cli
    stix_cli.add_import_parser(importer.add_parser(sub))
    roster_cli.add_parser(sub)
    stix_cli.add_export_parser(sub)
    from node.cli import users
    users.add_parser(sub)
    from node.cli import audit
    audit.add_parsers(sub)
    from node.bus import stream_setup
    stream_setup.add_parser(sub)
    from node.cli import deploy
    deploy.add_parser(sub, _members)
    return p


def cmd_demo(args: argparse.Namespace) -> int:
    from node.cli.demo import run_demo

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await run_demo(args.data.resolve(), args.members, args.port, args.time_scale,
                              stop, seed=args.seed, nats_cluster=args.nats_cluster,
                              topology=args.topology)

    return asyncio.run(main())


def cmd_init(args: argparse.Namespace) -> int:
    from node.cli.provision import member_entry, provision_node, write_config
    from node.pipeline.context import utcnow

    if not MEMBER_ID.match(args.id):
        raise Error(f"--id {args.id!r}: use 2-32 lowercase letters, digits or '-'")
    files = provision_node(args.dir.resolve(), args.id, role=args.role)
    roster = (args.roster or args.dir / "roster.json").resolve()
    # Relative paths: the folder can be moved or copied to another machine as a whole.
    write_config(files, roster_file=roster, nats_url=args.nats_url, http_port=args.port,
                 relative=True)
    entry_file = files.directory / "member.json"
    entry_file.write_text(json.dumps(member_entry(files, now=utcnow()), indent=2) + "\n")
    print(f"created {files.config_file}")
    print(f"this node's roster entry (public keys): {entry_file}")
    if not roster.exists():
        print(f"next: have the council add the entry to the roster and save it as {roster}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from node.app import run
    from node.core.config import NodeConfig
    from node.core.logs import configure_logging

    config = NodeConfig.load(args.config)
    configure_logging(config.node_id)
    run(config)
    return 0


def cmd_playbooks(args: argparse.Namespace) -> int:
    from node.core.playbook_files import (
        CACAO_SCHEMAS,
        DEFAULT_DIR,
        coverage_gaps,
        export_folder,
        validate_folder,
    )

    directory = args.dir or DEFAULT_DIR
    if not directory.is_dir():
        raise Error(f"playbook folder {directory} not found")
    if args.playbooks_command == "validate":
        good, problems = validate_folder(directory)
        for problem in problems:
            print(problem, file=sys.stderr)
        for playbook in good:
            print(f"ok  {playbook.id} v{playbook.version}: {playbook.title}")
        gaps = [] if problems else coverage_gaps(good)
        for gap in gaps:
            print(f"{directory}: coverage: {gap}", file=sys.stderr)
        if problems or gaps:
            print(f"{len(problems)} problem(s), {len(gaps)} coverage gap(s) in {directory}",
                  file=sys.stderr)
            return 1
        print(f"{len(good)} playbook(s) valid; every severity x {{own, affecting a peer, "
              f"peer's}} starts at least one")
        return 0
    export_problems = export_folder(directory, args.outdir,
                                    check_against=args.schemas or CACAO_SCHEMAS)
    for text in export_problems:
        print(text, file=sys.stderr)
    written = sorted(args.outdir.glob("*.cacao.json"))
    print(f"wrote {len(written)} CACAO 2.0 playbook(s) to {args.outdir}")
    return 1 if export_problems else 0


def cmd_import(args: argparse.Namespace) -> int:
    from node.cli import importer, stix_cli
    return stix_cli.run_import(args) if args.source == "taxii" else importer.run(args)


def cmd_export(args: argparse.Namespace) -> int:
    from node.cli import stix_cli
    return stix_cli.run_export(args)


def cmd_users(args: argparse.Namespace) -> int:
    from node.cli import users
    return users.run(args)


def cmd_roster(args: argparse.Namespace) -> int:
    from node.cli import roster_cli
    return roster_cli.run(args)


def cmd_audit(args: argparse.Namespace) -> int:
    from node.cli import audit
    return audit.run(args)


def cmd_deploy(args: argparse.Namespace) -> int:
    from node.cli import deploy
    return deploy.run(args)


def cmd_nats_setup(args: argparse.Namespace) -> int:
    from node.bus import stream_setup
    return stream_setup.run(args)


COMMANDS = {"demo": cmd_demo, "init": cmd_init, "run": cmd_run, "playbooks": cmd_playbooks,
            "import": cmd_import, "roster": cmd_roster, "users": cmd_users,
            "audit": cmd_audit, "verify": cmd_audit, "nats-setup": cmd_nats_setup,
            "nats": cmd_nats_setup, "deploy": cmd_deploy,
            "export": cmd_export}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except Error as e:
        print(f"beacon {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
