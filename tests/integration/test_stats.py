"""Global statistics through a real federation: the AIID corpus, RED stubs, signed snapshots.

The whole AI Incident Database snapshot is filed through the members of a real ``beacon demo``
(``beacon import aiid --nodes``); the international body ``int`` counts what reaches it over NATS.
Its totals and counts by year must equal a count of the CSV made here with the csv module alone,
and its CSV answer must say what its JSON says. A TLP:RED report filed at gb must raise int's
count through its signed stub while int holds no text of it. int's signed snapshot must reach
every member, which must show it as verified; the test checks the Ed25519 signature itself with
PyNaCl against int's key in the roster.

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
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import nacl.signing
import pytest

from node.importer import add_parser, run
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


def independent_count(path: Path) -> tuple[int, Counter[int]]:
    """Rows of AIID's incidents.csv and their years, with nothing but the csv module."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return len(rows), Counter(int(r["date"][:4]) for r in rows)


def import_args(fed: Federation) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="beacon")
    add_parser(p.add_subparsers(dest="command", required=True))
    return p.parse_args(["import", "aiid", str(AIID_CSV), "--nodes",
                         str(fed.data / "demo.json")])


async def total_at(http: aiohttp.ClientSession, fed: Federation, node: str) -> int:
    return int((await get(http, fed, node, "/api/v1/stats"))["total"])


# -- the AIID corpus --------------------------------------------------------------------------
async def test_int_counts_the_aiid_corpus_as_an_independent_count_does(
        sfed: Federation, http: aiohttp.ClientSession) -> None:
    total, by_year = independent_count(AIID_CSV)
    assert total > 1000

    assert await asyncio.to_thread(run, import_args(sfed)) == 0

    async def all_at_int() -> Any:
        body = await get(http, sfed, "int", "/api/v1/stats?by=year")
        return body["total"] >= total and body
    body = await wait_for(all_at_int, within_s=120, every_s=0.5)
    assert body["total"] == total
    assert {g["key"]["year"]: g["count"] for g in body["groups"]} == dict(by_year)
    assert [g["key"]["year"] for g in body["groups"]] == sorted(by_year)

    # Every member holds every CLEAR report too: the same figures everywhere (once each has
    # caught up: they receive the reports at their own pace).
    for member in MEMBERS:
        async def same(member: str = member) -> bool:
            return bool(await get(http, sfed, member, "/api/v1/stats?by=year") == body)
        await wait_for(same, within_s=60, every_s=0.5)

    # Spread over the members; each counted once whatever the grouping.
    by_origin = await get(http, sfed, "int", "/api/v1/stats?by=origin")
    assert {g["key"]["origin"] for g in by_origin["groups"]} == set(MEMBERS)
    assert sum(g["count"] for g in by_origin["groups"]) == total
    since = await get(http, sfed, "int", "/api/v1/stats?by=year&since=2020-01-01"
                                         "&until=2021-12-31")
    assert since["total"] == by_year[2020] + by_year[2021]


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
    ("by=colour", "$.query.by"), ("by=year,year", "$.query.by"),
    ("since=yesterday", "$.query.since"),
    ("since=2024-02-01&until=2024-01-01", "$.query.since"), ("format=xml", "$.query.format"),
])
async def test_a_bad_query_is_a_400_naming_the_parameter(
        sfed: Federation, http: aiohttp.ClientSession, query: str, path: str) -> None:
    body = await get(http, sfed, "gb", f"/api/v1/stats?{query}", status=400)
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
