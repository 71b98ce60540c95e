"""Global statistics through a real federation: the AIID corpus, RED stubs, signed snapshots.

The whole AI Incident Database snapshot is imported by the international body of a real
``beacon demo`` as its own origin (``beacon import aiid --node <int> --token <int operator>``):
every report's origin is ``int``. Its totals by year and by affected country, for
``basis=observed`` and ``basis=all``, must equal a count of the CSV files made here with the csv
module, and its CSV answer must say what its JSON says. Two members report one event and link the
reports: the statistics count one event, with both reporters. A TLP:RED report filed at gb must
raise int's count through its signed stub while int holds no text of it. int's signed snapshot
must reach every member, which must show it as verified; the test checks the Ed25519 signature
itself with PyNaCl against int's key in the roster.

The federation runs with ``--time-scale 0.0001`` (a 24-hour acknowledgement deadline is 8.6 s;
int's snapshot timer fires every second), so overdue escalations happen within the test.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import hashlib
import io
import json
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import nacl.signing
import pytest

from federation.aiid_places import COUNTRY_NAMES, ISO_COUNTRIES
from node.cli.importer import add_parser, run
from tests.integration.conftest import Federation, report, running_federation, wait_for

AIID_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "aiid" / "incidents.csv"
MEMBERS = ["gb", "fr", "jp"]


@pytest.fixture(scope="module")
def sfed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with running_federation(tmp_path_factory.mktemp("stats"), MEMBERS, time_scale=0.0001) as f:
        yield f


async def get(http: aiohttp.ClientSession, fed: Federation, node: str, path: str,
              role: str = "viewer", status: int = 200) -> Any:
    async with http.get(fed.url(node, path), headers=fed.auth(node, role)) as r:
        body = await r.json()
        assert r.status == status, body
        return body


async def post(http: aiohttp.ClientSession, fed: Federation, node: str, path: str,
               body: Any = None, role: str = "operator") -> tuple[int, Any]:
    async with http.post(fed.url(node, path), json=body, headers=fed.auth(node, role)) as r:
        return r.status, await r.json()


def _published(name: str) -> dict[str, dict[str, str]]:
    with (AIID_CSV.parent / name).open(newline="", encoding="utf-8") as f:
        return {r["Incident ID"]: r for r in csv.DictReader(f) if r["Published"] == "True"}


def _named(text: str) -> list[str]:
    # Every whole-name match, minus those inside a longer one ("Northern Ireland" is GB, not
    # also IE); "uk" only in capitals.
    found = [(m.start(), m.end(), COUNTRY_NAMES[name]) for name in COUNTRY_NAMES
             for m in re.finditer(r"(?<![\w.])" + re.escape(name) + r"(?!\w)", text, re.I)
             if name != "uk" or m.group(0) == "UK"]
    kept = [f for f in found if not any(o[0] <= f[0] and f[1] <= o[1] and o[1] - o[0] > f[1] - f[0]
                                        for o in found)]
    return list(dict.fromkeys(code for _, _, code in sorted(kept)))


def independent_count(path: Path) -> tuple[int, Counter[int], Counter[str | None],
                                           Counter[str | None]]:
    """Rows of AIID's incidents.csv, their years, and their affected countries as observed
    (a location field) and as observed-or-derived (else the title or description names one),
    with nothing but the csv and re modules over the files (only the ISO list and the table of
    country names are shared with the mapping: they are data, not rules)."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    v1, v0 = _published("classifications_CSETv1.csv"), _published("classifications_CSETv0.csv")
    observed: Counter[str | None] = Counter()
    anything: Counter[str | None] = Counter()
    for r in rows:
        cell = v1.get(r["incident_id"], {}).get("Location Country (two letters)", "").strip()
        seen = ([cell] if cell in ISO_COUNTRIES else
                [COUNTRY_NAMES[cell.lower()]] if cell.lower() in COUNTRY_NAMES else [])
        if not seen:
            parts = re.split(r"[/,]", v0.get(r["incident_id"], {}).get("Location", ""))
            seen = list(dict.fromkeys(COUNTRY_NAMES[p.strip().lower()] for p in parts
                                      if p.strip().lower() in COUNTRY_NAMES))
        told = seen or _named(f"{r['title']}\n{r['description']}")
        observed.update(seen or [None])   # type: ignore[list-item]
        anything.update(told or [None])   # type: ignore[list-item]
    return len(rows), Counter(int(r["date"][:4]) for r in rows), observed, anything


def import_args(fed: Federation) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="beacon")
    add_parser(p.add_subparsers(dest="command", required=True))
    return p.parse_args(["import", "aiid", str(AIID_CSV), "--node", fed.url("int", ""),
                         "--token", fed.node("int")["tokens"]["operator"]])


async def total_at(http: aiohttp.ClientSession, fed: Federation, node: str) -> int:
    return int((await get(http, fed, node, "/api/v1/stats"))["total"])


def grouped(body: dict[str, Any], dim: str) -> dict[Any, int]:
    return {g["key"][dim]: g["count"] for g in body["groups"]}


# -- the AIID corpus --------------------------------------------------------------------------
async def test_int_imports_the_aiid_corpus_as_its_own_and_counts_it_as_the_csv_does(
        sfed: Federation, http: aiohttp.ClientSession) -> None:
    total, by_year, observed, anything = independent_count(AIID_CSV)
    assert total > 1000 and None in observed and len(anything) > len(observed)

    assert await asyncio.to_thread(run, import_args(sfed)) == 0

    async def all_at_int() -> Any:
        body = await get(http, sfed, "int", "/api/v1/stats?by=year")
        return body["total"] >= total and body
    body = await wait_for(all_at_int, within_s=120, every_s=0.5)
    assert body["total"] == total

    # Filed by the international body as its own: no origin invented.
    by_origin = await get(http, sfed, "int", "/api/v1/stats?by=origin")
    assert by_origin["groups"] == [{"key": {"origin": "int"}, "count": total}]
    for basis in ("observed", "all"):
        years = await get(http, sfed, "int", f"/api/v1/stats?by=year&basis={basis}")
        assert grouped(years, "year") == dict(by_year), basis
        assert [g["key"]["year"] for g in years["groups"]] == sorted(by_year)
        countries = await get(http, sfed, "int", f"/api/v1/stats?by=country&basis={basis}")
        assert countries["total"] == total and countries["basis"] == basis
        assert grouped(countries, "country") == dict(
            observed if basis == "observed" else anything), basis

    # Every member holds every CLEAR report too: the same figures everywhere (once each has
    # caught up: they receive the reports at their own pace).
    for member in MEMBERS:
        async def same(member: str = member) -> bool:
            return bool(await get(http, sfed, member, "/api/v1/stats?by=year") == body)
        await wait_for(same, within_s=60, every_s=0.5)
    since = await get(http, sfed, "int", "/api/v1/stats?by=year&since=2020-01-01"
                                         "&until=2021-12-31")
    assert since["total"] == by_year[2020] + by_year[2021]
    assert since["undated"] == 0   # every AIID incident has a date


@pytest.mark.parametrize("by", ["year", "origin,severity,year", "harm_type,month"])
async def test_csv_says_what_json_says(sfed: Federation, http: aiohttp.ClientSession,
                                       by: str) -> None:
    dims = by.split(",")
    as_json = await get(http, sfed, "int", f"/api/v1/stats?by={by}")
    async with http.get(sfed.url("int", f"/api/v1/stats?by={by}"),
                        headers={**sfed.auth("int", "viewer"), "Accept": "text/csv"}) as r:
        assert r.status == 200
        assert r.content_type == "text/csv"
        assert int(r.headers["X-Total-Count"]) == as_json["total"]
        rows = list(csv.reader(io.StringIO(await r.text())))
    assert rows[0] == [*dims, "count"]

    def cell(value: Any) -> str:
        return "" if value is None else str(value)
    assert rows[1:] == [[cell(g["key"][d]) for d in dims] + [str(g["count"])]
                        for g in as_json["groups"]]


@pytest.mark.parametrize(("query", "path"), [
    ("stats?by=colour", "$.query.by"), ("stats?by=year,year", "$.query.by"),
    ("stats?since=yesterday", "$.query.since"),
    ("stats?since=2024-02-01&until=2024-01-01", "$.query.since"),
    ("stats?format=xml", "$.query.format"), ("stats?basis=guessed", "$.query.basis"),
    # the incident list filtered as a chart's bar
    ("incidents?where=planet:mars", "$.query.where"), ("incidents?where=year", "$.query.where"),
    ("incidents?where=year:twenty", "$.query.where"),
    ("incidents?where=year:2020&basis=guessed", "$.query.basis"),
    ("incidents?occurred_since=soon", "$.query.occurred_since"),
])
async def test_a_bad_query_is_a_400_naming_the_parameter(
        sfed: Federation, http: aiohttp.ClientSession, query: str, path: str) -> None:
    body = await get(http, sfed, "gb", f"/api/v1/{query}", status=400)
    assert [e["path"] for e in body["errors"]] == [path]


async def test_statistics_need_a_token(sfed: Federation, http: aiohttp.ClientSession) -> None:
    for path in ("/api/v1/stats", "/api/v1/stats/summary", "/api/v1/stats/snapshot"):
        async with http.get(sfed.url("gb", path)) as r:
            assert r.status == 401


# -- RED reports travel as stubs only -----------------------------------------------------------
def int_holds_text(fed: Federation, text: str) -> list[str]:
    """Where int's store holds ``text``: raw database pages, or any decoded envelope payload."""
    db = Path(fed.node("int")["config"]).parent / "beacon.sqlite3"
    found = [p.name for p in (db, db.with_name(db.name + "-wal"))
             if p.exists() and text.encode() in p.read_bytes()]
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        for digest, envelope in conn.execute("SELECT digest, envelope FROM envelopes"):
            payload = base64.b64decode(json.loads(envelope)["payload"])
            if text.encode() in payload:
                found.append(f"envelope {digest}")
    finally:
        conn.close()
    return found


async def test_a_red_report_at_gb_raises_int_count_while_int_holds_no_text(
        sfed: Federation, http: aiohttp.ClientSession) -> None:
    before = await get(http, sfed, "int", "/api/v1/stats/summary")
    title = "RED-ONLY statistics probe 7f3c9a: model coordinated a deceptive campaign"
    status, filed = await post(http, sfed, "gb", "/api/v1/incidents", report(
        title=title, tlp="RED", severity="serious-incident", harm_types=["public-interest"],
        red_lines=["deception"], affected_jurisdictions=[],
        description="Secret detail that must never leave gb: " + title))
    assert status == 201, filed

    async def counted() -> Any:
        now = await get(http, sfed, "int", "/api/v1/stats/summary")
        return now["total"] == before["total"] + 1 and now
    after = await wait_for(counted, within_s=20)
    assert after["stubs"] == before["stubs"] + 1
    assert after["red_lines"]["deception"] == before["red_lines"]["deception"] + 1
    week = await get(http, sfed, "int", "/api/v1/stats?by=origin,severity,week")
    assert any(g["key"]["origin"] == "gb" and g["key"]["severity"] == "serious-incident"
               and g["key"]["week"] == "2026-W47" for g in week["groups"])

    await get(http, sfed, "int", f"/api/v1/incidents/{filed['id']}", status=404)
    assert int_holds_text(sfed, title) == []
    assert int_holds_text(sfed, "Secret detail") == []
    # gb itself counts the full report once (not the report and its stub twice).
    gb = await get(http, sfed, "gb", "/api/v1/stats/summary")
    assert gb["total"] == after["total"]


# -- signed snapshots ---------------------------------------------------------------------------
def pae(payload_type: str, body: bytes) -> bytes:
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def verify_with_roster(envelope: dict[str, Any], roster: dict[str, Any], member: str) -> str:
    """Check a DSSE envelope against ``member``'s Ed25519 keys in the roster; return the keyid."""
    keys = next(m["keys"] for m in roster["members"] if m["id"] == member)
    body = base64.b64decode(envelope["payload"])
    signed = pae(envelope["payloadType"], body)
    for key in keys:
        verify_key = nacl.signing.VerifyKey(base64.b64decode(key["public"]))
        for sig in envelope["signatures"]:
            try:
                verify_key.verify(signed, base64.b64decode(sig["sig"]))
            except nacl.exceptions.BadSignatureError:
                continue
            return str(key["keyid"])
    raise AssertionError(f"no signature by {member} verifies")


async def test_every_member_shows_the_snapshot_signed_by_int(
        sfed: Federation, http: aiohttp.ClientSession) -> None:
    status, published = await post(http, sfed, "int", "/api/v1/stats/snapshot")
    assert status == 201, published
    total = await total_at(http, sfed, "int")
    assert published["snapshot"]["total"] == total

    for member in MEMBERS:
        async def arrived(member: str = member) -> Any:
            async with http.get(sfed.url(member, "/api/v1/stats/snapshot"),
                                headers=sfed.auth(member, "viewer")) as r:
                body = await r.json()
                return r.status == 200 and body["issued_at"] >= published["issued_at"] and body
        shown = await wait_for(arrived, within_s=20)
        assert shown["verified"] is True
        assert shown["origin"] == shown["signer"]["member"] == "int"
        assert shown["signer"]["role"] == "international-body"
        assert shown["snapshot"]["type"] == "stats" and shown["snapshot"]["origin"] == "int"
        assert shown["snapshot"]["total"] == total

        envelope = shown["envelope"]
        assert envelope["payloadType"] == "application/vnd.beacon.stats.v1+json"
        body = base64.b64decode(envelope["payload"])
        assert hashlib.sha256(body).hexdigest() == shown["digest"]
        assert json.loads(body) == shown["snapshot"]
        roster = (await get(http, sfed, member, "/api/v1/roster"))["roster"]
        assert verify_with_roster(envelope, roster, "int") == shown["signer"]["keyid"]
        with pytest.raises(AssertionError, match="no signature by gb"):
            verify_with_roster(envelope, roster, "gb")

    # Only the international body signs snapshots.
    status, refused = await post(http, sfed, "gb", "/api/v1/stats/snapshot")
    assert status == 409 and "only the international body" in refused["errors"][0]["message"]
    status, _ = await post(http, sfed, "int", "/api/v1/stats/snapshot", role="viewer")
    assert status == 403


async def test_the_timer_publishes_a_new_snapshot_when_the_figures_change(
        sfed: Federation, http: aiohttp.ClientSession) -> None:
    before = await total_at(http, sfed, "int")
    status, _ = await post(http, sfed, "jp", "/api/v1/incidents", report(
        title="Snapshot timer probe", severity="hazard", affected_jurisdictions=[]))
    assert status == 201

    async def member_sees_it() -> Any:
        body = await get(http, sfed, "fr", "/api/v1/stats/snapshot")
        return body["snapshot"]["total"] == before + 1 and body
    shown = await wait_for(member_sees_it, within_s=20)   # nobody asked: int's timer did
    assert shown["verified"] is True


# -- escalation response times and overdue clocks ----------------------------------------------
async def test_ack_times_and_overdue_escalations_at_int(
        sfed: Federation, http: aiohttp.ClientSession) -> None:
    acked_status, acked = await post(http, sfed, "gb", "/api/v1/incidents", report(
        title="Escalation acknowledged quickly", affected_jurisdictions=["fr"]))
    silent_status, silent = await post(http, sfed, "gb", "/api/v1/incidents", report(
        title="Escalation nobody answers", affected_jurisdictions=["jp"]))
    assert acked_status == silent_status == 201

    async def in_inbox() -> Any:
        items = (await get(http, sfed, "fr", "/api/v1/escalations?status=open"))["items"]
        return next((e for e in items if e["incident_id"] == acked["id"]), None)
    escalation = await wait_for(in_inbox)
    status, _ = await post(http, sfed, "fr", f"/api/v1/escalations/{escalation['id']}/ack",
                           role="responder")
    assert status == 201

    async def figures() -> Any:
        sm = await get(http, sfed, "int", "/api/v1/stats/summary")
        overdue = [i for i in sm["escalations"]["overdue_items"]
                   if i["incident_id"] == silent["id"] and i["tier"] == 1]
        tier1 = [t for t in sm["ack_times"] if t["tier"] == 1]
        return overdue and tier1 and (sm, overdue[0], tier1[0])
    summary, overdue, tier1 = await wait_for(figures, within_s=40, every_s=0.5)
    assert overdue["origin"] == "gb" and overdue["waiting_on"] == ["jp"]
    assert overdue["overdue_seconds"] >= 0
    assert tier1["count"] >= 1 and 0 <= tier1["median_seconds"] <= tier1["p90_seconds"] < 60
    assert summary["escalations"]["overdue"] >= 1


# -- one event reported twice ---------------------------------------------------------------------
async def test_two_members_link_their_reports_of_one_event_and_it_counts_once(
        sfed: Federation, http: aiohttp.ClientSession) -> None:
    before = await get(http, sfed, "int", "/api/v1/stats?by=origin")
    event: dict[str, Any] = {
        "title": "Delivery drone fell onto a crowded market square", "severity": "incident",
        "affected_jurisdictions": [], "occurred_at": "2026-11-01T09:00:00Z",
        "ai_system": {"name": "SkyCourier", "role": "flight control", "developer": "Aerodyne"}}
    status, at_gb = await post(http, sfed, "gb", "/api/v1/incidents", report(**event))
    assert status == 201, at_gb
    status, at_fr = await post(http, sfed, "fr", "/api/v1/incidents", report(
        **{**event, "title": "Delivery drone fell onto a crowded market-square"}))
    assert status == 201, at_fr

    async def both_at(node: str, n: int) -> Any:
        body = await get(http, sfed, node, "/api/v1/stats?by=origin")
        return body["total"] == before["total"] + n and body
    await wait_for(lambda: both_at("int", 2), within_s=20)
    await wait_for(lambda: both_at("gb", 2), within_s=20)

    # gb is told that fr's report may be the same event.
    links = await get(http, sfed, "gb", f"/api/v1/incidents/{at_gb['id']}/links")
    suggested = {c["incident_id"]: c["reasons"] for c in links["candidates"]}
    assert at_fr["id"] in suggested and len(suggested[at_fr["id"]]) >= 2
    # Only the owner links its report.
    status, refused = await post(http, sfed, "fr", f"/api/v1/incidents/{at_gb['id']}/links",
                                 {"incident_id": at_fr["id"], "relation": "same-as"})
    assert status == 403, refused
    status, linked = await post(http, sfed, "gb", f"/api/v1/incidents/{at_gb['id']}/links",
                                {"incident_id": at_fr["id"], "relation": "same-as"})
    assert status == 201, linked
    assert linked["cluster"] == sorted([at_gb["id"], at_fr["id"]])

    # Every node receives the signed link: one event, two reporters, at int and at fr.
    for node in ("int", "fr"):
        async def linked_at(node: str = node) -> Any:
            return await both_at(node, 1)
        after = await wait_for(linked_at, within_s=20)
        counts, was = grouped(after, "origin"), grouped(before, "origin")
        assert counts["gb"] == was.get("gb", 0) + 1 and counts["fr"] == was.get("fr", 0) + 1
    at_int = await get(http, sfed, "int", f"/api/v1/incidents/{at_fr['id']}/links")
    assert at_int["cluster"] == linked["cluster"]
    assert [(x["origin"], x["relation"]) for x in at_int["links"]] == [("gb", "same-as")]
    # The chart's drill-down lists the event once.
    listed = await get(http, sfed, "int", "/api/v1/incidents?where=developer:Aerodyne")
    assert listed["total"] == 1 and [i["id"] for i in listed["items"]] == [linked["cluster"][0]]
