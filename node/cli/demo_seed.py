"""``beacon demo --seed aiid``: fill a fresh demo with the AI Incident Database at start-up.

    task = asyncio.create_task(seed_demo(doc, data, "aiid"))   # after the nodes are up

The corpus is filed by the international body, as its own origin with the source recorded, exactly
as ``beacon import aiid --node <int>`` does (``node.cli.importer``; idempotent, so a restarted demo
files nothing twice): a public dataset is nobody's national report, and filing it through members
would invent where each incident was reported. Once every report is stored, it is asked to sign
a statistics snapshot at once, so a new user opening any node's ``/dashboard`` sees the living
global picture without waiting for the snapshot timer.

The snapshot is looked for at ``$BEACON_AIID_CSV``, then ``../shared/data/aiid/incidents.csv``
beside the repository and beside the working directory. Without it the demo still starts, and
says why it has no seed data.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from federation.errors import Error
from node.cli.aiid_csv import read_corpus
from node.cli.importer import import_corpus, targets_from_demo

SEEDS = ("aiid",)
AIID_RELATIVE = Path("shared") / "data" / "aiid" / "incidents.csv"
REPO_ROOT = Path(__file__).resolve().parents[2]


def find_aiid_csv() -> tuple[Path | None, list[Path]]:
    """The AIID ``incidents.csv`` to seed from, and every place that was looked at."""
    env = os.environ.get("BEACON_AIID_CSV")
    candidates = [Path(env)] if env else []
    candidates += [REPO_ROOT.parent / AIID_RELATIVE, Path.cwd().resolve().parent / AIID_RELATIVE]
    looked = list(dict.fromkeys(c.resolve() for c in candidates))
    return next((c for c in looked if c.is_file()), None), looked


def _say(text: str) -> None:
    print(f"[seed] {text}", flush=True)


def _node(doc: dict[str, Any], role: str) -> dict[str, Any] | None:
    return next((n for n in doc["nodes"] if n.get("role") == role), None)


async def _international_total(http: aiohttp.ClientSession, node: dict[str, Any]) -> int:
    headers = {"Authorization": f"Bearer {node['tokens']['viewer']}"}
    async with http.get(f"{node['url']}/api/v1/stats", headers=headers) as r:
        return int((await r.json())["total"]) if r.status == 200 else -1


async def _snapshot_when_complete(node: dict[str, Any], expected: int, within_s: float) -> None:
    """Wait until the international body counts ``expected`` incidents, then have it sign."""
    deadline = time.monotonic() + within_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        total = await _international_total(http, node)
        while total < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            total = await _international_total(http, node)
        headers = {"Authorization": f"Bearer {node['tokens']['operator']}"}
        async with http.post(f"{node['url']}/api/v1/stats/snapshot", headers=headers) as r:
            if r.status != 201:
                _say(f"{node['id']} did not sign a snapshot now (HTTP {r.status}); its timer "
                     "will publish one")
                return
            body = await r.json()
    _say(f"{node['id']} signed a statistics snapshot of {body['snapshot']['total']} incidents "
         "and sent it to every member")


async def seed_aiid(doc: dict[str, Any], data: Path) -> None:
    path, looked = find_aiid_csv()
    if path is None:
        _say("no AI Incident Database snapshot found (looked at "
             + ", ".join(map(str, looked)) + "); the demo runs without seed data. "
             "Set BEACON_AIID_CSV to AIID's incidents.csv to seed it.")
        return
    corpus = await asyncio.to_thread(read_corpus, path)
    if corpus.fatal:
        _say(f"{path} cannot be imported ({corpus.problems[0]}); no seed data")
        return
    targets = targets_from_demo(data / "demo.json", "international-body")
    if not targets:
        _say("the demo has no international body to import the AI Incident Database; "
             "no seed data")
        return
    _say(f"filing {len(corpus.records)} AI Incident Database reports as {targets[0].node_id}'s "
         "own (CC BY-SA 4.0, Responsible AI Collaborative)")
    summary = await import_corpus(corpus, targets[:1], default=None, progress=sys.stdout)
    counts = {o: summary.total(o) for o in ("filed", "present", "refused", "failed")}
    _say(", ".join(f"{k} {v}" for k, v in counts.items()))
    international = _node(doc, "international-body")
    if international is not None:
        await _snapshot_when_complete(international, counts["filed"] + counts["present"], 120)
    member = _node(doc, "member")
    if member is not None:
        _say(f"dashboard: {member['url']}/dashboard (sign in with a token from "
             f"{data / 'demo.json'})")


async def seed_demo(doc: dict[str, Any], data: Path, seed: str) -> None:
    """Seed a running demo; a failure is reported and leaves the federation running."""
    try:
        if seed == "aiid":
            await seed_aiid(doc, data)
    except (Error, aiohttp.ClientError, OSError, TimeoutError) as e:
        _say(f"seeding stopped: {e}; the federation keeps running")
