"""``beacon import aiid``: file the AI Incident Database as one node's own reports.

    $ beacon import aiid ../shared/data/aiid/incidents.csv --node http://127.0.0.1:8404 --token T
    $ beacon import aiid incidents.csv --nodes demo-data/demo.json --default-node gb
    $ beacon import aiid incidents.csv --dry-run          # check files and mapping, file nothing

``classifications_{CSETv1,CSETv0,MIT,GMF}.csv`` beside the incidents file are joined by incident
id when present. The mapping itself is pure (``federation.aiid``, ``docs/aiid-mapping.md``); this
module reads the files, checks them, and talks to the nodes.

**Broken input.** Every row is checked before anything is filed, and every problem is reported
as ``incidents.csv line 57: date 'xx' is not a date``. A broken row is not filed; neither is an
incident whose classification row is broken (filing it without its classification would file
a wrong severity, and a re-run would then skip it as already present). A problem that cannot be
pinned on one incident — a missing column, an unreadable Incident ID — stops the import before
anything is filed. Any broken row makes the exit status 1.

**Idempotence, asking the nodes.** Before filing, the importer lists each target node's own
incidents (``GET /api/v1/incidents?origin=<id>``, 500 a page). A listed incident is a candidate
when its title equals the title of an AIID incident to import; for each candidate the full
document (``GET /api/v1/incidents/{id}``) is fetched and its ``source`` (``AIID`` and the record
id) decides. Titles only narrow the search — a report someone filed by hand under the same title
has no AIID ``source`` and does not count. An incident present at *any* target is skipped, so a
re-run with a different spreading files nothing twice. If list items ever carry ``source``, it
is used directly and the per-candidate fetch is skipped. Not covered: two importers running at
once, and an imported report whose title was since revised (it would be filed again).

**No blind retries.** A POST that fails without an answer (connection lost, 5xx) may or may not
have been filed; it is counted as failed, and the next run's check finds out which.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from federation import aiid
from federation.messages import SERVER_FIELDS, incident_from_report
from node.cli.aiid_csv import (
    AiidImportError,
    Corpus,
    RowProblem,
    read_corpus,
)
from node.core.schemas import default_schemas
from node.pipeline.context import utcnow


# -- talking to the nodes -------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    node_id: str
    url: str
    token: str = field(repr=False)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def targets_from_demo(path: Path, role: str = "member") -> list[Target]:
    """The nodes of a ``beacon demo`` (its ``demo.json``) that have ``role``, with their
    operator tokens."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return [Target(n["id"], n["url"].rstrip("/"), n["tokens"]["operator"])
                for n in doc["nodes"] if n.get("role", "member") == role]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise AiidImportError(f"{path}: not a readable demo.json ({e})") from e


class NodeClient:
    """The few HTTP calls the importer makes, with errors turned into ``AiidImportError``."""

    def __init__(self, http: aiohttp.ClientSession, concurrency: int) -> None:
        self.http = http
        self.gate = asyncio.Semaphore(concurrency)

    async def _get(self, target: Target, path: str) -> Any:
        try:
            async with self.gate, self.http.get(target.url + path,
                                                headers=target.headers) as r:
                if r.status in (401, 403):
                    raise AiidImportError(f"{target.url} refused the token: {await r.text()}")
                if r.status != 200:
                    raise AiidImportError(f"GET {target.url}{path}: HTTP {r.status}")
                return await r.json()
        except aiohttp.ClientError as e:
            raise AiidImportError(f"cannot reach {target.url}: {e}") from e

    async def get_json(self, target: Target, path: str) -> Any:
        """GET a JSON document from a node (``AiidImportError`` if refused or unreachable)."""
        return await self._get(target, path)

    async def node_id(self, target: Target) -> str:
        return str((await self._get(target, "/healthz"))["node"])

    async def members(self, target: Target) -> list[str]:
        roster = (await self._get(target, "/api/v1/roster"))["roster"]
        return [str(m["id"]) for m in roster["members"]]

    async def imported(self, target: Target, titles: set[str]) -> set[str]:
        """Import keys (``AIID:<id>``) of reports this node has filed itself."""
        keys: set[str] = set()
        candidates: list[str] = []
        cursor = ""
        while True:
            page = await self._get(target, f"/api/v1/incidents?origin={target.node_id}"
                                           f"&limit=500&cursor={cursor}")
            for item in page["items"]:
                if "source" in item:
                    key = aiid.import_key(item)
                    keys.update([key] if key else [])
                elif item.get("title") in titles:
                    candidates.append(item["id"])
            if not page.get("next"):
                break
            cursor = page["next"]
        docs = await asyncio.gather(*(self._get(target, f"/api/v1/incidents/{i}")
                                      for i in candidates))
        return keys | {k for k in map(aiid.import_key, docs) if k}

    async def file(self, target: Target, report: dict[str, Any]) -> tuple[str, str]:
        """POST one report: ``("filed", id)``, ``("refused", reasons)`` or ``("failed", why)``."""
        try:
            async with self.gate, self.http.post(target.url + "/api/v1/incidents", json=report,
                                                 headers=target.headers) as r:
                if r.status == 201:
                    return "filed", str((await r.json())["id"])
                if r.status in (401, 403):
                    raise AiidImportError(f"{target.node_id} refused the token: "
                                          f"{await r.text()}")
                if r.status == 400:
                    errors = (await r.json()).get("errors", [])
                    return "refused", "; ".join(f"{e['path']}: {e['message']}" for e in errors)
                return "failed", f"HTTP {r.status}: {(await r.text())[:200]}"
        except (aiohttp.ClientError, TimeoutError) as e:
            return "failed", f"no answer ({str(e) or type(e).__name__})"


# -- progress and summary -------------------------------------------------------------------
class Progress:
    """A bar on a terminal; otherwise a line every tenth of the way (for logs and CI)."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total, self.done = total, 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.counts: Counter[str] = Counter()
        self._drawn = 0.0

    def advance(self, outcome: str) -> None:
        self.done += 1
        self.counts[outcome] += 1
        text = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        if self.tty:
            now = time.monotonic()
            if now - self._drawn > 0.1 or self.done == self.total:
                self._drawn = now
                filled = 30 * self.done // max(self.total, 1)
                self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] "
                                  f"{self.done}/{self.total}  {text}\x1b[K")
                self.stream.flush()
        elif self.done == self.total or self.done % max(self.total // 10, 1) == 0:
            print(f"imported {self.done}/{self.total} ({text})", file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty and self.total:
            self.stream.write("\n")


@dataclass
class Summary:
    per_node: dict[str, Counter[str]] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)

    def count(self, node: str, outcome: str) -> None:
        self.per_node.setdefault(node, Counter())[outcome] += 1

    def total(self, outcome: str) -> int:
        return sum(c[outcome] for c in self.per_node.values())


OUTCOMES = ("filed", "present", "refused", "failed")


async def import_corpus(corpus: Corpus, targets: list[Target], *, default: str | None,
                        concurrency: int = 8, progress: TextIO | None = None) -> Summary:
    """File every sound record at the node ``assign_origin`` picks (with one target: there);
    skip those already there.

    Raises:
        AiidImportError: a node cannot be reached or refuses the token.
    """
    summary = Summary()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        client = NodeClient(http, concurrency)
        members = await client.members(targets[0])
        check_mapping(corpus, members)
        titles = {aiid.to_report(rec)["title"] for _, rec in corpus.records}
        present: dict[str, str] = {}
        found = await asyncio.gather(*(client.imported(t, titles) for t in targets))
        for target, keys in zip(targets, found, strict=True):
            present.update(dict.fromkeys(keys, target.node_id))
        by_id = {t.node_id: t for t in targets}
        home = _default_node(targets, default)
        bar = Progress(len(corpus.records), progress)

        async def one(line: int, record: aiid.AiidRecord) -> None:
            node = present.get(aiid.record_key(record.incident_id))
            outcome = "present"
            if node is None:
                node = aiid.assign_origin(record, list(by_id), home)
                outcome, detail = await client.file(by_id[node],
                                                    aiid.to_report(record, members))
                if outcome != "filed":
                    summary.refusals.append(f"{corpus.source} line {line}: incident "
                                            f"{record.incident_id} {outcome} at {node}: "
                                            f"{detail}")
            summary.count(node, outcome)
            bar.advance(outcome)

        try:
            async with asyncio.TaskGroup() as group:
                for line, record in corpus.records:
                    group.create_task(one(line, record))
        except* AiidImportError as eg:
            raise eg.exceptions[0] from None
        finally:
            bar.close()
    return summary


def _default_node(targets: Sequence[Target], default: str | None) -> str:
    """Where an incident with no member country is filed: ``default``, or the only target."""
    if default is None and len(targets) == 1:
        return targets[0].node_id
    if default is None:
        raise AiidImportError("say which node files the incidents with no member country "
                              "(--default-node ID): none is picked at random, so that "
                              "statistics by origin mean something")
    return default


def check_mapping(corpus: Corpus, members: Sequence[str] = ()) -> list[RowProblem]:
    """Map every record and validate it as the node will; drop and report any that fail."""
    schemas = default_schemas()
    known = set(schemas.document("incident").get("properties", {})) - set(SERVER_FIELDS)
    kept, problems = [], []
    for line, record in corpus.records:
        report = aiid.to_report(record, members)
        doc = incident_from_report(report, origin="int", now=utcnow())
        found = [f"{p.path}: {p.message}" for p in schemas.problems("incident", doc)]
        found += [f"$.{k}: not a report field" for k in report if k not in known]
        if found:
            problems += [RowProblem(corpus.source, line, f"maps to an invalid report: {m}")
                         for m in found]
        else:
            kept.append((line, record))
    corpus.records = kept
    corpus.problems += problems
    return problems


# -- command line ---------------------------------------------------------------------------
def add_parser(subparsers: Any) -> Any:
    """Add ``import`` with its ``aiid`` source to the ``beacon`` command's subparsers; returns
    the sources' subparsers, so that other sources (``taxii``, ``node.cli.stix_cli``) join."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "import", help="file reports from a public incident database at member nodes")
    sources = p.add_subparsers(dest="source", required=True, metavar="SOURCE")
    a = sources.add_parser("aiid", help="the AI Incident Database (incidents.csv)")
    a.add_argument("csv", type=Path, help="AIID incidents.csv; classifications_*.csv beside it "
                                          "are joined when present")
    where = a.add_mutually_exclusive_group()
    where.add_argument("--node", metavar="URL", help="file every incident at this node")
    where.add_argument("--nodes", type=Path, metavar="DEMO_JSON",
                       help="file at the member nodes of a beacon demo: each incident at "
                            "the member of its observed country, else at --default-node")
    a.add_argument("--token", help="operator token for --node (default: $BEACON_TOKEN)")
    a.add_argument("--default-node", metavar="ID",
                   help="with --nodes: where incidents with no member country go "
                        "(required with --nodes)")
    a.add_argument("--limit", type=int, metavar="N", help="import only the first N rows")
    a.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    a.add_argument("--dry-run", action="store_true",
                   help="check the files and the mapping; contact no node, file nothing")
    return sources


async def _targets(args: argparse.Namespace) -> list[Target]:
    if args.nodes:
        targets = targets_from_demo(args.nodes)
        if not targets:
            raise AiidImportError(f"{args.nodes}: lists no member node")
    else:
        token = args.token or os.environ.get("BEACON_TOKEN", "")
        target = Target("", args.node.rstrip("/"), token)
        async with aiohttp.ClientSession() as http:
            targets = [Target(await NodeClient(http, 1).node_id(target), target.url, token)]
    ids = [t.node_id for t in targets]
    if args.default_node is not None and args.default_node not in ids:
        raise AiidImportError(f"--default-node {args.default_node}: not one of {', '.join(ids)}")
    return targets


def run(args: argparse.Namespace) -> int:
    """Run ``beacon import aiid``: 0 if every row was filed or present, 1 otherwise.

    Raises:
        AiidImportError: bad arguments, an unreadable file, an unreachable node.
    """
    if args.concurrency < 1 or (args.limit is not None and args.limit < 0):
        raise AiidImportError("--concurrency must be at least 1 and --limit not negative")
    if not args.dry_run and not args.nodes and not (args.node and (
            args.token or os.environ.get("BEACON_TOKEN"))):
        raise AiidImportError("say where to file: --node URL with --token T (or "
                              "$BEACON_TOKEN), or --nodes demo-data/demo.json")
    corpus = read_corpus(args.csv, args.limit)
    classes = ", ".join(f"{k} {v}" for k, v in corpus.classification_rows.items()) or "none"
    print(f"read {len(corpus.records)} sound incidents from {args.csv} "
          f"(classification rows: {classes})")
    if corpus.fatal:
        _report_problems(corpus.problems)
        print("nothing filed: fix the files and run again", file=sys.stderr)
        return 1
    if args.dry_run:
        check_mapping(corpus)
        _report_problems(corpus.problems)
        print(f"dry run: {len(corpus.records)} reports would be filed, "
              f"{len(corpus.problems)} problems")
        return 1 if corpus.problems else 0

    async def main() -> Summary:
        targets = await _targets(args)
        return await import_corpus(corpus, targets, default=args.default_node,
                                   concurrency=args.concurrency)

    summary = asyncio.run(main())
    _report_problems(corpus.problems)
    for line in summary.refusals:
        print(line, file=sys.stderr)
    print(_format_summary(summary, len(corpus.problems)))
    bad = corpus.problems or summary.total("refused") or summary.total("failed")
    if summary.total("failed"):
        print("some reports got no answer; run again: what was filed is skipped",
              file=sys.stderr)
    return 1 if bad else 0


def _report_problems(problems: list[RowProblem]) -> None:
    for p in problems:
        print(p, file=sys.stderr)


def _format_summary(summary: Summary, broken: int) -> str:
    lines = [f"{'node':<8}" + "".join(f"{o:>9}" for o in OUTCOMES)]
    for node, counts in sorted(summary.per_node.items()):
        lines.append(f"{node:<8}" + "".join(f"{counts[o]:>9}" for o in OUTCOMES))
    lines.append(f"{'total':<8}" + "".join(f"{summary.total(o):>9}" for o in OUTCOMES))
    lines.append(f"broken rows (not filed): {broken}")
    return "\n".join(lines)
