"""``beacon import aiid`` through a real federation: int's counts equal an independent count.

The first 60 AIID incidents are filed through the members of a real ``beacon demo`` (at the member
of an observed country, else at ``--default-node gb``); the international body ``int`` receives
them over NATS. Its totals
and counts by year must equal a count of the CSV made here with the csv module alone. A second
run must file nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.cli.importer import add_parser, run
from tests.integration.conftest import Federation, barrier, wait_for

AIID_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "aiid" / "incidents.csv"
SUBSET = 60


def independent_count(path: Path, limit: int) -> tuple[int, Counter[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = [r for _, r in zip(range(limit), csv.DictReader(f), strict=False)]
    return len(rows), Counter(r["date"][:4] for r in rows)


def args(fed: Federation) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="beacon")
    add_parser(p.add_subparsers(dest="command", required=True))
    return p.parse_args(["import", "aiid", str(AIID_CSV), "--nodes",
                         str(fed.data / "demo.json"), "--default-node", "gb",
                         "--limit", str(SUBSET)])


def totals(summary: str) -> dict[str, int]:
    """The summary table's ``total`` row, by column name."""
    lines = summary.splitlines()
    header = next(line for line in lines if line.startswith("node")).split()[1:]
    row = next(line for line in lines if line.startswith("total")).split()[1:]
    return dict(zip(header, map(int, row), strict=True))


async def listing(http: aiohttp.ClientSession, fed: Federation, node: str,
                  query: str = "") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        async with http.get(fed.url(node, f"/api/v1/incidents?limit=500&cursor={cursor}{query}"),
                            headers=fed.auth(node, "viewer")) as r:
            assert r.status == 200, await r.text()
            page = await r.json()
        items += page["items"]
        if not page["next"]:
            return items
        cursor = page["next"]


async def test_import_through_members_adds_up_at_int(
        fed: Federation, http: aiohttp.ClientSession,
        capsys: pytest.CaptureFixture[str]) -> None:
    total, by_year = independent_count(AIID_CSV, SUBSET)
    assert total == SUBSET

    assert await asyncio.to_thread(run, args(fed)) == 0
    assert totals(capsys.readouterr().out) == {"filed": SUBSET, "present": 0, "refused": 0,
                                               "failed": 0}

    async def all_at_int() -> Any:
        items = await listing(http, fed, "int")
        return len(items) >= SUBSET and items
    items = await wait_for(all_at_int, within_s=60)
    assert len(items) == total
    assert Counter(i["occurred_at"][:4] for i in items) == by_year
    origins = Counter(i["origin"] for i in items)
    assert set(origins) <= set(fed.members) and origins.most_common(1)[0][0] == "gb"

    # Each member holds, as its own, exactly the share int says it filed.
    for member in fed.members:
        own = await listing(http, fed, member, f"&origin={member}")
        assert len(own) == origins[member]

    assert await asyncio.to_thread(run, args(fed)) == 0
    assert totals(capsys.readouterr().out) == {"filed": 0, "present": SUBSET, "refused": 0,
                                               "failed": 0}
    # Anything wrongly filed by the second run would have reached int before a sentinel filed
    # after it by every member.
    sentinels = {await barrier(http, fed, member, ["int"]) for member in fed.members}
    assert len([i for i in await listing(http, fed, "int") if i["id"] not in sentinels]) == total
