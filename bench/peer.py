"""Peer: medallion, the OASIS TAXII 2.1 reference server (memory backend), ingesting the same
AI Incident Database incidents as STIX 2.1 that a Beacon node ingests as signed reports.

    $ .venv/bin/python -m bench.suite --peer 1000     # part of ``make bench``

The first N incidents of ``../shared/data/aiid/incidents.csv`` (read in place) become reports
(``federation.aiid.to_report``), incidents issued by gb (``incident_from_report``), and, for
medallion, the STIX objects ``beacon export stix`` would give for each
(``federation.stix.report_objects``; the extension-definition object is left out, as in
tests/integration/test_stix_taxii.py, because medallion 3.0.0 cannot list an object whose
``version`` is not a timestamp). medallion runs as its own process on 127.0.0.1; each
incident's objects are POSTed as one envelope, one after another (a TAXII client's add), and
its rate is objects (and incidents) per second until the last add has been answered.
Visibility latency: an add, then ``GET …/objects/<incident id>/`` polled until it answers 200.

Beacon's figure beside it: the same incidents signed by gb, published into JetStream, and the
time until fr's ``/healthz`` counts them all (``bench.consumer.end_to_end``); its visibility
latency is ``bench.latency.offered_latency`` at 10 per second.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.consumer import end_to_end
from bench.latency import offered_latency
from bench.procs import cpu_s, load_average
from federation.aiid import to_report
from federation.canonical import encode
from federation.envelope import Envelope, payload_type
from federation.messages import incident_from_report
from federation.stix import report_objects
from federation.taxii import TAXII_MEDIA
from node.cli.aiid_csv import read_corpus
from node.cli.demo_seed import find_aiid_csv
from node.core.identity import load_signing_key
from tests.integration.conftest import Federation
from tests.integration.medallion import running_medallion

# HTTP Basic, the only sign-in medallion's sample configuration offers (a loopback bench user).
TAXII = {"Accept": TAXII_MEDIA,
         "Authorization": "Basic " + base64.b64encode(b"beacon:s3cret").decode()}


def aiid_reports(n: int) -> list[dict[str, Any]]:
    """The first ``n`` AIID incidents as reports (what ``beacon import aiid`` files)."""
    path, looked = find_aiid_csv()
    if path is None:
        raise FileNotFoundError("the AIID snapshot (incidents.csv) is not at "
                                + ", ".join(map(str, looked)) + "; set BEACON_AIID_CSV")
    return [to_report(record) for _, record in read_corpus(path, limit=n).records]


def issued(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reports as incidents issued by gb now (a node refuses one issued over five minutes
    before it receives it, and medallion's part can take that long)."""
    now = datetime.now(UTC)
    return [incident_from_report(r, origin="gb", now=now) for r in reports]


async def _add(http: aiohttp.ClientSession, url: str, objects: list[dict[str, Any]]) -> None:
    headers = {**TAXII, "Content-Type": TAXII_MEDIA}
    async with http.post(url, headers=headers,
                         data=json.dumps({"objects": objects})) as r:
        body = await r.json(content_type=None)
        if r.status not in (200, 202) or body.get("failure_count"):
            raise RuntimeError(f"medallion refused an add: HTTP {r.status} {body}")


async def _medallion_figures(root: str, cid: str, pid: int, bundles: list[list[dict[str, Any]]],
                             samples: list[list[dict[str, Any]]]) -> dict[str, Any]:
    objects_url = f"{root}collections/{cid}/objects/"
    async with aiohttp.ClientSession() as http:
        cpu0, t0 = cpu_s(pid), time.perf_counter()
        for objects in bundles:
            await _add(http, objects_url, objects)
        elapsed, cpu = time.perf_counter() - t0, cpu_s(pid) - cpu0
        lat = []
        for objects in samples:
            t1 = time.perf_counter()
            await _add(http, objects_url, objects)
            while True:
                async with http.get(f"{objects_url}{objects[0]['id']}/", headers=TAXII) as r:
                    await r.read()
                    if r.status == 200:
                        break
                if time.perf_counter() - t1 > 30:
                    raise TimeoutError(f"{objects[0]['id']} was not visible within 30 s")
                await asyncio.sleep(0.003)
            lat.append(1000 * (time.perf_counter() - t1))
    n_objects = sum(len(b) for b in bundles)
    lat.sort()
    return {"incidents": len(bundles), "objects": n_objects,
            "objects_per_s": round(n_objects / elapsed, 1),
            "incidents_per_s": round(len(bundles) / elapsed, 1),
            "cpu_us_per_incident": round(1e6 * cpu / len(bundles)),
            "visible_p50_ms": round(lat[len(lat) // 2], 1),
            "visible_max_ms": round(lat[-1], 1), "visibility_samples": len(lat)}


def _stix(docs: list[dict[str, Any]], sent: set[str]) -> list[list[dict[str, Any]]]:
    """One envelope per incident, each object sent once: medallion refuses (as a failure) a
    version it already holds, and the identities, the marking and an organisation that is
    both developer and deployer recur; a client adding incidents one by one sends them once."""
    out = []
    for doc in docs:
        objects = [o for o in report_objects(doc, "GB") if o["type"] != "extension-definition"]
        fresh = {o["id"]: o for o in objects if o["id"] not in sent}
        sent.update(fresh)
        out.append(list(fresh.values()))
    return out


def peer(fed: Federation, n: int, samples: int = 10) -> dict[str, Any]:
    """medallion's and fr's ingest of the same ``n`` AIID incidents, in the same run."""
    reports = aiid_reports(n + samples)
    docs = issued(reports)
    bulk, probes = docs[:n], docs[n:]
    with (tempfile.TemporaryDirectory() as tmp,
          running_medallion(Path(tmp), page_size=100) as (root, cid, pid)):
        sent: set[str] = set()
        taxii = asyncio.run(_medallion_figures(root, cid, pid, _stix(bulk, sent),
                                               _stix(probes, sent)))
    key = load_signing_key(Path(fed.node("gb")["signing_key_file"]))
    signed = [Envelope.sign(payload_type("incident"), encode(d), [key]).to_json()
              for d in issued(reports)]
    ingest = asyncio.run(end_to_end(fed, signed[:n], "fr"))
    visible = asyncio.run(offered_latency(fed, signed[n:], 10, "fr"))
    beacon = {"reports": n, "reports_per_s": round(ingest["rate"], 1),
              "cpu_us_per_report": round(ingest["cpu_us"]),
              "visible_p50_ms": visible.get("p50_ms"), "visible_max_ms": visible.get("max_ms")}
    return {"incidents": n, "source": "AI Incident Database snapshot (../shared/data/aiid)",
            "load_average": load_average(), "medallion": taxii, "beacon_fr": beacon,
            "ratio_reports_over_incidents": round(beacon["reports_per_s"]
                                                  / taxii["incidents_per_s"], 1),
            "ratio_reports_over_objects": round(beacon["reports_per_s"]
                                                / taxii["objects_per_s"], 1)}
