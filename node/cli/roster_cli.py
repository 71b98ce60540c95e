"""``beacon roster propose | sign | publish``: how the council changes the federation's roster.

    $ beacon roster propose --node URL --token T --add de/member.json --out v2.json
    $ beacon roster sign v2.json --key gb/signing.key          # each council member, in turn
    $ beacon roster publish v2.json --node URL --token T        # any operator, once signed

A proposal is a DSSE envelope of the next roster version with the signatures collected so far
(none at first). Signing never changes the payload, so council members can sign in any order;
``publish`` hands it to a node, which checks the TUF rules before sharing it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from federation.envelope import Envelope, Signature
from federation.errors import Error
from federation.keys import unb64
from federation.roster import ROSTER_TYPE, Roster, sign_roster_document
from federation.roster_edit import (
    add_member,
    revoke_key,
    rotate_key,
    set_council,
    set_threshold,
    successor,
)
from node.core.identity import load_signing_key
from node.pipeline.context import utcnow


def add_parser(sub: Any) -> None:
    r = sub.add_parser("roster", help="propose, sign and publish a new roster version")
    rs = r.add_subparsers(dest="roster_command", required=True, metavar="ACTION")
    p = rs.add_parser("propose", help="write the next roster version, unsigned")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--current", type=Path, help="the current signed roster file")
    src.add_argument("--node", help="read the current roster from this node's URL")
    p.add_argument("--token", help="API token for --node (any role)")
    p.add_argument("--add", type=Path, action="append", default=[], metavar="MEMBER_JSON",
                   help="add the member described by this file (from `beacon init`)")
    p.add_argument("--add-to-council", action="store_true",
                   help="also seat the added members' signing keys on the council")
    p.add_argument("--revoke-key", action="append", default=[], metavar="KEYID",
                   help="revoke a key (id or 8+ hex prefix) from --at on")
    p.add_argument("--rotate", nargs=2, action="append", default=[],
                   metavar=("MEMBER", "MEMBER_JSON"),
                   help="replace MEMBER's signing key with the one in MEMBER_JSON")
    p.add_argument("--council-add", action="append", default=[], metavar="KEYID")
    p.add_argument("--council-remove", action="append", default=[], metavar="KEYID")
    p.add_argument("--threshold", type=int, help="the council's new threshold")
    p.add_argument("--valid-days", type=int, default=365)
    p.add_argument("--out", type=Path, required=True, help="where to write the proposal")

    s = rs.add_parser("sign", help="add your council signature to a proposal")
    s.add_argument("proposal", type=Path)
    s.add_argument("--key", type=Path, required=True, help="your signing key file")

    u = rs.add_parser("publish", help="hand a signed proposal to a node")
    u.add_argument("proposal", type=Path)
    u.add_argument("--node", required=True)
    u.add_argument("--token", required=True, help="an operator token of that node")


def _read_envelope(path: Path) -> Envelope:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise Error(f"cannot read {path}: {e}") from e
    # A fresh proposal has no signatures yet, which a DSSE envelope normally must have.
    sigs = tuple(Signature(s.get("keyid", ""), unb64(s["sig"])) for s in doc.get("signatures", []))
    return Envelope(doc["payloadType"], unb64(doc["payload"]), sigs)


def _write_envelope(path: Path, env: Envelope) -> None:
    path.write_text(json.dumps(env.to_dict(), indent=2) + "\n", encoding="utf-8")


async def _get_json(url: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as r:
        body = await r.json()
        if r.status != 200:
            raise Error(f"{url}: HTTP {r.status}: {body}")
        return body


def propose(args: argparse.Namespace) -> int:
    if args.current:
        current = Roster.parse_envelope(_read_envelope(args.current))
    else:
        body = asyncio.run(_get_json(f"{args.node.rstrip('/')}/api/v1/roster", args.token))
        current = Roster.from_dict(body["roster"])
    now = utcnow()
    doc = successor(current.to_dict(), now=now, valid_for=timedelta(days=args.valid_days))
    for path in args.add:
        doc = add_member(doc, json.loads(path.read_text(encoding="utf-8")),
                         council=args.add_to_council)
    for member, path in args.rotate:
        entry = json.loads(Path(path).read_text(encoding="utf-8"))
        doc = rotate_key(doc, member, entry["keys"][0], at=now)
    for keyid in args.revoke_key:
        doc = revoke_key(doc, keyid, at=now)
    if args.council_add or args.council_remove:
        doc = set_council(doc, add=args.council_add, remove=args.council_remove)
    if args.threshold is not None:
        doc = set_threshold(doc, args.threshold)
    Roster.from_dict(doc)  # the proposal itself must be a well-formed roster
    ptype, body = sign_roster_document(doc)
    _write_envelope(args.out, Envelope(ptype, body, ()))
    council = doc["council"]
    print(f"wrote roster v{doc['version']} proposal to {args.out}: {len(doc['members'])} "
          f"members, council {council['threshold']} of {len(council['keyids'])}")
    print(f"next: `beacon roster sign {args.out} --key <signing.key>` by {current.threshold} of "
          f"v{current.version}'s council and {council['threshold']} of the new one")
    return 0


def sign(args: argparse.Namespace) -> int:
    env = _read_envelope(args.proposal)
    if env.payload_type != ROSTER_TYPE:
        raise Error(f"{args.proposal} is not a roster proposal ({env.payload_type})")
    key = load_signing_key(args.key)
    signed = env.add_signature(key)
    _write_envelope(args.proposal, signed)
    print(f"signed with key {key.public.keyid[:16]}…; {len(signed.signatures)} signature(s)")
    return 0


async def _publish(url: str, token: str, env: Envelope) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(
            f"{url.rstrip('/')}/api/v1/roster", json=env.to_dict(),
            headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.json()


def publish(args: argparse.Namespace) -> int:
    status, body = asyncio.run(_publish(args.node, args.token, _read_envelope(args.proposal)))
    if status != 201:
        for e in body.get("errors", []):
            print(f"refused: {e['message']}")
        return 1
    print(f"roster v{body['version']} published: {', '.join(body['members'])}")
    return 0


def run(args: argparse.Namespace) -> int:
    return {"propose": propose, "sign": sign, "publish": publish}[args.roster_command](args)
