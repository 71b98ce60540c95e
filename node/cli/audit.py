"""``beacon audit export`` and ``beacon verify``: an independent auditor's two commands.

    $ beacon audit export --node http://127.0.0.1:8401 --token "$AUDITOR_TOKEN" --out gb.audit
    $ beacon verify gb.audit --genesis 3f1c…   # sha256 of the genesis roster payload

``export`` asks one node, over its HTTP API with an auditor (or operator) token, for everything
``federation.audit`` needs: the roster chain (``/api/v1/roster/chain``; before that endpoint
exists, the single current roster), the latest checkpoint note with its cosignatures, the
node's earlier checkpoints (up to 1,000) with theirs, every log entry up to the latest
checkpoint, an inclusion proof for each entry and a consistency proof between successive
checkpoints. Entries the log gained after its latest checkpoint are left out: no signed
checkpoint commits to them yet.

``verify`` needs no node and no network: it reads the file and checks it offline, printing a
short summary, or ``beacon verify: FAILED: <the first problem>`` and exit code 1. The genesis
roster is the auditor's trust anchor: pass its digest (or the roster file) with ``--genesis``,
otherwise the chain is only shown to be sound from *some* genesis, whose digest is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from federation.audit import AuditError, AuditReport, verify_bundle
from federation.audit_format import dump_bundle, make_bundle, parse_bundle
from federation.canonical import digest
from federation.checkpoint import Checkpoint, add_cosignatures, parse_note
from federation.envelope import Envelope
from federation.errors import Error
from federation.timeutil import format_time, parse_time

HISTORY_LIMIT = 1000
ENTRY_PAGE = 1000
HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class ExportError(Error):
    """The node did not give what an export needs; the message names the request."""


class _Client:
    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http, self.base = http, base.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def get(self, path: str, *, text: bool = False, missing_ok: bool = False) -> Any:
        try:
            async with self.http.get(self.base + path, headers=self.headers) as r:
                if r.status == 404 and missing_ok:
                    return None
                if r.status != 200:
                    raise ExportError(f"GET {path}: HTTP {r.status}: {(await r.text())[:300]}")
                return await r.text() if text else await r.json()
        except (TimeoutError, aiohttp.ClientError, ValueError) as e:
            raise ExportError(f"GET {self.base}{path}: {e}") from e


def _with_lines(note: str, lines: list[str]) -> str:
    """``note`` with the stored cosignature ``lines`` (``— <name> <base64>``) appended."""
    if not lines:
        return note
    text = parse_note(note).text
    sigs = parse_note(text + "\n" + "".join(f"{line.strip()}\n" for line in lines)).signatures
    return add_cosignatures(note, sigs)


async def _roster_chain(c: _Client) -> list[Any]:
    chain = await c.get("/api/v1/roster/chain", missing_ok=True)
    if chain is not None:
        return list(chain["items"])
    return [(await c.get("/api/v1/roster"))["envelope"]]


async def _checkpoints(c: _Client, node: str) -> dict[int, str]:
    """This node's own checkpoint notes by size, up to the latest one, with cosignatures."""
    latest = await c.get("/api/v1/log/checkpoint", text=True)
    newest = Checkpoint.from_body(parse_note(latest).text).size
    history = await c.get(f"/api/v1/log/checkpoints/{node}?limit={HISTORY_LIMIT}")
    notes = {int(i["size"]): _with_lines(i["note"], list(i.get("cosignatures") or []))
             for i in history["items"] if i["status"] == "own" and int(i["size"]) < newest}
    notes[newest] = latest
    return dict(sorted(notes.items()))


async def _entries(c: _Client, size: int) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    while len(entries) < size:
        page = await c.get(f"/api/v1/log/entries?start={len(entries)}&limit={ENTRY_PAGE}")
        entries += page["items"]
        if page["next"] is None:
            break
    if len(entries) < size:
        raise ExportError(f"the log has {len(entries)} entries but its checkpoint has {size}")
    return entries[:size]


async def export_bundle(node_url: str, token: str, *, concurrency: int = 16) -> dict[str, Any]:
    """Fetch one node's audit bundle (see ``federation.audit_format``) over its HTTP API.

    Args:
        node_url: the node's base URL, e.g. ``http://127.0.0.1:8401``.
        token: an auditor or operator API token.
        concurrency: proof requests in flight at once.

    Returns:
        The bundle, ready for ``dump_bundle``; it is not verified here.

    Raises:
        ExportError: a request failed or the node's answers do not fit together.
    """
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        c = _Client(http, node_url, token)
        node = str((await c.get("/healthz"))["node"])
        chain = await _roster_chain(c)
        notes = await _checkpoints(c, node)
        sizes = list(notes)
        entries = await _entries(c, sizes[-1])
        gate = asyncio.Semaphore(concurrency)

        async def inclusion(entry: dict[str, Any]) -> dict[str, Any]:
            async with gate:
                p = await c.get(f"/api/v1/log/proof/inclusion?digest={entry['digest']}"
                                f"&size={sizes[-1]}")
            return {"index": p["leaf_index"], "size": p["tree_size"], "path": p["path"]}

        async def consistency(old: int, new: int) -> dict[str, Any]:
            async with gate:
                p = await c.get(f"/api/v1/log/proof/consistency?from={old}&to={new}")
            return {"from": old, "to": new, "path": p["path"]}

        inclusions = await asyncio.gather(*(inclusion(e) for e in entries))
        consistencies = await asyncio.gather(*(consistency(a, b) for a, b
                                               in zip(sizes, sizes[1:], strict=False)))
    return make_bundle(node, chain, list(notes.values()),
                       [{k: e[k] for k in ("index", "digest", "envelope", "withheld") if k in e}
                        for e in entries], inclusions, consistencies)


# -- the commands -------------------------------------------------------------------------------
def add_parsers(subparsers: Any) -> None:
    """Add ``audit export`` and ``verify`` to the ``beacon`` command's subparsers."""
    a = subparsers.add_parser("audit", help="export a node's log for independent audit")
    actions = a.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    x = actions.add_parser("export", help="write a node's audit bundle: log entries, "
                           "checkpoints, proofs, roster chain")
    x.add_argument("--node", required=True, metavar="URL", help="the node's base URL")
    x.add_argument("--token", help="auditor or operator token (default: $BEACON_TOKEN)")
    x.add_argument("--out", required=True, type=Path, metavar="FILE", help="where to write it")
    v = subparsers.add_parser("verify", help="verify an audit bundle offline")
    v.add_argument("file", type=Path, help="the bundle `beacon audit export` wrote")
    v.add_argument("--now", type=_time, default=None,
                   metavar="RFC3339", help="verify as of this time (default: now)")
    v.add_argument("--genesis", metavar="SHA256|FILE",
                   help="the genesis roster you trust: the hex sha256 of its payload, or its "
                        "signed roster file")
    v.add_argument("--min-witnesses", type=int, default=1, metavar="N",
                   help="witnesses the latest checkpoint needs (default 1)")


def _time(text: str) -> datetime:
    try:
        return parse_time(text, "--now")
    except Error as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def run(args: argparse.Namespace) -> int:
    """Run ``beacon audit export`` or ``beacon verify``."""
    return _export(args) if args.command == "audit" else _verify(args)


def _export(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("BEACON_TOKEN", "")
    if not token:
        raise ExportError("give an auditor token: --token T or $BEACON_TOKEN")
    try:
        bundle = asyncio.run(export_bundle(args.node, token))
    except (KeyError, TypeError) as e:  # a node that answers in another shape
        raise ExportError(f"{args.node} answered in an unexpected shape ({e!r}); is it a "
                          "Beacon node of this version?") from e
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_bytes(dump_bundle(bundle))
    tmp.replace(args.out)
    print(f"wrote {args.out}: node {bundle['node']}, {len(bundle['entries'])} entries, "
          f"{len(bundle['checkpoints'])} checkpoint(s), "
          f"{len(bundle['roster_chain'])} roster version(s)")
    witnesses = len(parse_note(bundle["checkpoints"][-1]["note"]).signatures) - 1
    if witnesses < 1:
        print("note: no witness has cosigned the latest checkpoint yet; export again in a "
              "moment, or verify with --min-witnesses 0", file=sys.stderr)
    print(f"next: beacon verify {args.out} --genesis <the genesis roster you trust>")
    return 0


def _genesis(arg: str | None) -> str | None:
    if arg is None or HEX64.match(arg):
        return arg
    try:
        return digest(Envelope.from_json(Path(arg).read_bytes()).payload)
    except OSError as e:
        raise Error(f"--genesis {arg}: neither a sha256 in hex nor a readable file ({e})") from e


def _verify(args: argparse.Namespace) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as e:
        raise Error(f"cannot read {args.file}: {e.strerror}") from e
    now = args.now or datetime.now(UTC)
    try:
        report = verify_bundle(parse_bundle(data), now=now, genesis_digest=_genesis(args.genesis),
                               min_witnesses=args.min_witnesses)
    except AuditError as e:
        print(f"beacon verify: FAILED: {e}", file=sys.stderr)
        return 1
    print(summary(report, args.file, now))
    return 0


def summary(report: AuditReport, source: Path, now: datetime) -> str:
    """The human summary of a verified bundle."""
    types = ", ".join(f"{n} {t}" for t, n in report.message_types.items()) or "none"
    sizes = " → ".join(str(c.size) for c in report.checkpoints)
    latest = report.latest
    cosigned = (f", last cosigned {format_time(latest.cosigned_at)}"
                if latest.cosigned_at else "")
    versions = " → ".join(f"v{v}" for v in report.roster_versions)
    anchor = ("pinned" if report.genesis_pinned else
              "NOT pinned: compare it with your federation's, or pass --genesis")
    return "\n".join([
        f"beacon verify: OK {source} (as of {format_time(now)})",
        f"  node         {report.node} (federation {report.federation})",
        f"  roster       {versions}; genesis sha256 {report.genesis_digest} ({anchor})",
        f"  entries      {report.entries} ({types}): every signature and digest verified",
        f"  checkpoints  {len(report.checkpoints)} at sizes {sizes}: roots match the entries, "
        f"{report.consistency_proofs} consistency proof(s) verified",
        f"  inclusion    {report.inclusion_proofs} proof(s) verified",
        f"  witnesses    {len(latest.witnesses)} on the latest checkpoint (size {latest.size}): "
        f"{', '.join(latest.witnesses) or 'none'}{cosigned}",
    ])
