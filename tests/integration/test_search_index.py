"""Search on a running node: the ``search-index`` task indexes what the node stores, and a report
is found at once, before the task got to it, and after a revision (node/store/search.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from node.core.config import NodeConfig
from node.store import search
from node.store.db import Store
from tests.integration.conftest import Federation, barrier, report, wait_for


async def _found(http: aiohttp.ClientSession, fed: Federation, node: str, q: str) -> list[str]:
    async with http.get(fed.url(node, "/api/v1/incidents"), params={"q": q, "limit": "50"},
                        headers=fed.auth(node, "viewer")) as r:
        assert r.status == 200, await r.text()
        return [item["id"] for item in (await r.json())["items"]]


async def test_reports_are_found_at_once_then_through_the_index_and_after_a_revision(
        fed: Federation, http: aiohttp.ClientSession) -> None:
    ids: list[str] = []
    for word in ("Quokka-4471", "Wombat-4471"):
        async with http.post(fed.url("gb", "/api/v1/incidents"),
                             headers=fed.auth("gb", "operator"),
                             json=report(title=f"Search probe {word}")) as r:
            assert r.status == 201, await r.text()
            ids.append(str((await r.json())["id"]))
        assert await _found(http, fed, "gb", word.lower()) == ids[-1:]  # at once
    await barrier(http, fed, "gb", ["fr"])
    assert await _found(http, fed, "fr", "QUOKKA-4471") == ids[:1]  # a peer's report, too

    store = Store.open(NodeConfig.load(Path(fed.node("gb")["config"])).db_path)
    try:
        async def indexed() -> bool:
            return search.backlog(store) == 0
        await wait_for(indexed, within_s=30)
        assert await _found(http, fed, "gb", "4471") == ids[::-1]  # newest first, via the index

        async with http.post(fed.url("gb", f"/api/v1/incidents/{ids[0]}/revisions"),
                             headers=fed.auth("gb", "operator"),
                             json={"title": "Search probe Numbat-4471"}) as r:
            assert r.status == 201, await r.text()
        assert await _found(http, fed, "gb", "numbat-4471") == ids[:1]  # the new text at once
        assert await _found(http, fed, "gb", "quokka-4471") == []  # the old one gone
        await wait_for(indexed, within_s=30)
        assert await _found(http, fed, "gb", "numbat-4471") == ids[:1]  # re-indexed
        assert await _found(http, fed, "gb", "quokka-4471") == []
    finally:
        store.close()
    async with http.get(fed.url("gb", "/healthz")) as r:
        tasks: dict[str, Any] = (await r.json())["tasks"]
    assert tasks["search-index"]["state"] == "running"
    assert tasks["search-index"]["restarts"] == 0
