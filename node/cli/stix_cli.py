"""``beacon export stix`` and ``beacon import taxii``: Beacon to STIX 2.1 and back, over TAXII 2.1.

    $ beacon export stix --node http://127.0.0.1:8401 --token T --out bundle.json
    $ beacon import taxii http://taxii.example/api1/ --collection ID --token T \\
          --node http://127.0.0.1:8402 --node-token T2

**Export** reads every collection the token may read from the node's own TAXII server
(``node.http.taxii``), every version, and writes one STIX bundle: what a TAXII client would get, so
TLP is decided exactly as it is for TAXII (no AMBER for a viewer token; never AMBER+STRICT/RED).

**Import** pages through one collection of any TAXII 2.1 server (bearer ``--token``, or HTTP
Basic ``--user`` with ``--password``/``$TAXII_PASSWORD``), maps incidents with
``federation.stix_import`` and files them at ``--node`` through its HTTP API, like
``beacon import aiid``. Every object it cannot map is named on stderr. It is idempotent: each
filed report carries ``source.stix_id``; before filing, the node's own reports whose titles match
are fetched, and a report already there is skipped — or, if the incoming version differs (a
newer revision at the source), the changed fields are filed as a new revision of it. A changed
TLP label is refused (a revision cannot change it); a report whose title changed at the source
is not found and is filed again. Affected jurisdictions that are not members of the target
federation are dropped (and said so), since a node refuses them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp

from federation.errors import Error
from federation.stix import stix_id
from federation.stix_import import plan_import
from federation.taxii import TAXII_MEDIA
from node.cli.aiid_csv import AiidImportError
from node.cli.importer import NodeClient, Progress, Target

PAGE = 100
MAX_PAGES = 100_000  # a bound on paging, far above any real collection


class TaxiiError(Error):
    """A TAXII server cannot be read (unreachable, refused, not TAXII 2.1)."""


async def fetch_objects(http: aiohttp.ClientSession, collection_url: str,
                        headers: dict[str, str], versions: str = "last") -> list[Any]:
    """Every object of a collection, following ``next`` (TAXII 2.1 §5.3)."""
    url = collection_url.rstrip("/") + "/objects/"
    out: list[Any] = []
    params = {"limit": str(PAGE), "match[version]": versions}
    for _ in range(MAX_PAGES):
        try:
            async with http.get(url, params=params, headers=headers) as r:
                if r.status != 200:
                    raise TaxiiError(f"GET {url}: HTTP {r.status}: {(await r.text())[:200]}")
                page = await r.json(content_type=None)
        except aiohttp.ClientError as e:
            raise TaxiiError(f"cannot reach {url}: {e}") from e
        out += page.get("objects", [])
        if not page.get("more") or not page.get("next"):
            return out
        params["next"] = str(page["next"])
    raise TaxiiError(f"{url}: more than {MAX_PAGES} pages; is the server's next looping?")


def _taxii_headers(args: argparse.Namespace) -> dict[str, str]:
    headers = {"Accept": TAXII_MEDIA}
    if getattr(args, "user", None):
        password = args.password or os.environ.get("TAXII_PASSWORD", "")
        pair = f"{args.user}:{password}".encode()
        headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"  # RFC 7617
    elif args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    return headers


# -- export ---------------------------------------------------------------------------------
async def export_bundle(node_url: str, token: str) -> dict[str, Any]:
    root = node_url.rstrip("/") + "/taxii2/api/"
    headers = {"Accept": TAXII_MEDIA, "Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        async with http.get(root + "collections/", headers=headers) as r:
            if r.status != 200:
                raise TaxiiError(f"{node_url} refused to list collections: HTTP {r.status}: "
                                 f"{(await r.text())[:200]}")
            collections = (await r.json(content_type=None)).get("collections", [])
        found: dict[tuple[str, str], Any] = {}
        for c in collections:
            for obj in await fetch_objects(http, f"{root}collections/{c['id']}/", headers,
                                           "all"):
                found[(obj["id"], str(obj.get("modified", obj.get("created", ""))))] = obj
    objects = [found[k] for k in sorted(found)]
    digest = hashlib.sha256("\n".join(f"{i} {v}" for i, v in sorted(found)).encode())
    return {"type": "bundle", "id": stix_id("bundle", digest.hexdigest()), "objects": objects}


def run_export(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("BEACON_TOKEN", "")
    if not token:
        raise TaxiiError("give the node's token: --token T or $BEACON_TOKEN")
    bundle = asyncio.run(export_bundle(args.node, token))
    args.out.write_text(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n")
    kinds: dict[str, int] = {}
    for obj in bundle["objects"]:
        kinds[obj["type"]] = kinds.get(obj["type"], 0) + 1
    print(f"wrote {len(bundle['objects'])} STIX objects to {args.out} ("
          + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + ")")
    return 0


# -- import ---------------------------------------------------------------------------------
async def _present(client: NodeClient, target: Target,
                   titles: set[str]) -> dict[str, dict[str, Any]]:
    """The reports this node filed whose titles are being imported, by ``source.stix_id``."""
    candidates, cursor = [], ""
    for _ in range(MAX_PAGES):
        page = await client.get_json(target, f"/api/v1/incidents?origin={target.node_id}"
                                             f"&limit=500&cursor={cursor}")
        candidates += [i["id"] for i in page["items"] if i.get("title") in titles]
        if not page.get("next"):
            break
        cursor = page["next"]
    docs = await asyncio.gather(*(client.get_json(target, f"/api/v1/incidents/{i}")
                                  for i in candidates))
    return {str(d["source"]["stix_id"]): d for d in docs
            if isinstance(d.get("source"), dict) and d["source"].get("stix_id")}


async def _revise(http: aiohttp.ClientSession, target: Target, incident: str,
                  changes: dict[str, Any]) -> tuple[str, str]:
    """File the changed fields as a new revision: ``("revised", id)`` or an outcome why not."""
    try:
        async with http.post(f"{target.url}/api/v1/incidents/{incident}/revisions",
                             json=changes, headers=target.headers) as r:
            if r.status == 201:
                return "revised", incident
            return ("refused" if r.status < 500 else "failed"), (await r.text())[:300]
    except (aiohttp.ClientError, TimeoutError) as e:
        return "failed", f"no answer ({str(e) or type(e).__name__})"


async def _file_or_revise(http: aiohttp.ClientSession, client: NodeClient, target: Target,
                          report: dict[str, Any], current: dict[str, Any] | None,
                          ) -> tuple[str, str]:
    """File a new report, or revise the one filed before if the incoming one differs."""
    if current is None:
        return await client.file(target, report)
    changes = {k: v for k, v in report.items() if current.get(k) != v}
    if not changes:
        return "present", current["id"]
    if "tlp" in changes:
        return "refused", (f"TLP changed from {current.get('tlp')} to {report['tlp']}; a "
                           f"revision cannot change it, so {current['id']} is left as it is")
    return await _revise(http, target, str(current["id"]), changes)


async def import_collection(args: argparse.Namespace, node_token: str) -> int:
    collection_url = f"{args.url.rstrip('/')}/collections/{args.collection}/"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        objects = await fetch_objects(http, collection_url, _taxii_headers(args))
        batch = plan_import(objects, collection_url)
        client = NodeClient(http, 8)
        target = Target("", args.node.rstrip("/"), node_token)
        target = Target(await client.node_id(target), target.url, node_token)
        members = set(await client.members(target))
        present = await _present(client, target, {r["title"] for _, r in batch.reports})
        print(f"read {len(objects)} objects from {collection_url}: "
              f"{len(batch.reports)} reports, {len(batch.unmapped)} not mapped")
        problems = list(batch.unmapped)
        bar = Progress(len(batch.reports))
        for key, report in batch.reports:
            dropped = [j for j in report.get("affected_jurisdictions", [])
                       if j not in members]
            if dropped:
                report["affected_jurisdictions"] = [
                    j for j in report["affected_jurisdictions"] if j in members]
                problems.append(f"{key}: not members here, dropped from "
                                f"affected_jurisdictions: {', '.join(dropped)}")
            outcome, detail = await _file_or_revise(http, client, target, report,
                                                    present.get(key))
            if outcome not in ("filed", "revised", "present"):
                problems.append(f"{key}: {outcome} at {target.node_id}: {detail}")
            bar.advance(outcome)
        bar.close()
    for line in problems:
        print(line, file=sys.stderr)
    counts = bar.counts
    print(f"filed {counts['filed']}, revised {counts['revised']}, already present "
          f"{counts['present']}, refused "
          f"{counts['refused']}, failed {counts['failed']}, not mapped {len(batch.unmapped)}")
    return 1 if counts["refused"] or counts["failed"] else 0


def run_import(args: argparse.Namespace) -> int:
    node_token = args.node_token or os.environ.get("BEACON_TOKEN", "")
    if not node_token:
        raise TaxiiError("give the Beacon node's operator token: --node-token T or "
                         "$BEACON_TOKEN")
    try:
        return asyncio.run(import_collection(args, node_token))
    except AiidImportError as e:
        raise TaxiiError(str(e)) from e


# -- command line ---------------------------------------------------------------------------
def add_import_parser(sources: Any) -> None:
    """Add ``import taxii`` beside ``import aiid``."""
    t = sources.add_parser("taxii", help="STIX 2.1 incidents from a TAXII 2.1 collection")
    t.add_argument("url", help="the TAXII API root, e.g. http://taxii.example/api1/")
    t.add_argument("--collection", required=True, metavar="ID", help="the collection id")
    t.add_argument("--token", help="bearer token for the TAXII server")
    t.add_argument("--user", help="HTTP Basic user for the TAXII server (medallion)")
    t.add_argument("--password", help="HTTP Basic password (default: $TAXII_PASSWORD)")
    t.add_argument("--node", required=True, metavar="URL", help="the Beacon node to file at")
    t.add_argument("--node-token", help="its operator token (default: $BEACON_TOKEN)")


def add_export_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("export", help="export what a node holds in a standard format")
    formats = p.add_subparsers(dest="format", required=True, metavar="FORMAT")
    s = formats.add_parser("stix", help="a STIX 2.1 bundle of every report the token may read")
    s.add_argument("--node", required=True, metavar="URL", help="the node, e.g. "
                                                                 "http://127.0.0.1:8401")
    s.add_argument("--token", help="a token of the node (default: $BEACON_TOKEN)")
    s.add_argument("--out", type=Path, required=True, help="where to write the bundle")
