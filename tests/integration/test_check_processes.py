"""A node configured with ``check_batches = "processes"`` (here through ``BEACON_CHECK_BATCHES``)
drains a backlog through its checker processes: every genuine report stored, every forgery
quarantined with its reason, and no checker process left behind when the node stops."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bench.catchup import descendants
from bench.latency import stored_count
from bench.procs import healthy, start_node, stop_node
from federation.keys import SigningKey
from node.core.config import CHECK_ENV
from node.core.identity import load_signing_key
from tests.integration.conftest import Federation, wait_for
from tests.integration.test_forgery import _envelope, _incident, _quarantine, _tampered

SUBJECT = "beacon.v1.incident.gb.serious-incident"
GENUINE = 300  # more than a fetch batch (256): full batches and a partial one


@pytest.fixture(scope="module")
def fed_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    before = os.environ.get(CHECK_ENV)
    os.environ[CHECK_ENV] = "processes"  # every node the federation starts inherits it
    try:
        f = Federation(tmp_path_factory.mktemp("fedp"), ["gb", "fr", "jp"])
        try:
            f.start(within_s=240)  # three nodes, each with a fork server, on a shared machine
            yield f
        finally:
            f.stop()
    finally:
        if before is None:
            os.environ.pop(CHECK_ENV, None)
        else:
            os.environ[CHECK_ENV] = before


async def _publish(fed: Federation, items: list[tuple[str, bytes]]) -> None:
    import nats  # noqa: PLC0415 - as the benchmarks publish: straight into JetStream

    nc = await nats.connect(fed.doc["nats"]["url"],
                            nkeys_seed=fed.doc["nats"]["admin_credentials"])
    try:
        js = nc.jetstream()
        for i in range(0, len(items), 100):
            await asyncio.gather(*(js.publish(s, d) for s, d in items[i:i + 100]))
    finally:
        await nc.close()


def _gone(pids: list[int]) -> bool:
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        if stat[0] != "Z":
            return False
    return True


async def test_a_node_checking_in_processes_drains_and_quarantines(
        fed_processes: Federation) -> None:
    fed = fed_processes
    gb_key = load_signing_key(Path(fed.node("gb")["signing_key_file"]))
    fr_key = load_signing_key(Path(fed.node("fr")["signing_key_file"]))
    stranger = SigningKey.from_seed(bytes(range(32)))
    bad = {"tampered": (_tampered(_incident("gb"), gb_key), "bad-signature"),
           "stranger": (_envelope(_incident("gb"), stranger), "bad-signature"),
           "fr-key-on-gb-subject": (_envelope(_incident("gb"), fr_key), "origin-mismatch"),
           "schema": (_envelope(_incident("gb", severity="apocalyptic"), gb_key), "schema"),
           "junk": (b"\x00\xffnot json", "malformed-envelope")}
    good = [_envelope(_incident("gb", title=f"Drained in a process {i}"), gb_key)
            for i in range(GENUINE)]
    items = [(SUBJECT, d) for d in good[:100]] + [(SUBJECT, d) for d, _ in bad.values()] \
        + [(SUBJECT, d) for d in good[100:]]
    url = fed.node("fr")["url"]
    async with aiohttp.ClientSession() as http:
        before = await stored_count(http, url)
        quarantined = len(await _quarantine(http, fed, "fr"))
        stop_node(fed, "fr")
        await _publish(fed, items)  # a backlog while fr is down
        start_node(fed, "fr")
        await healthy(http, url, within_s=240)

        async def drained() -> bool:
            return await stored_count(http, url) >= before + GENUINE

        await wait_for(drained, within_s=120)
        assert await stored_count(http, url) == before + GENUINE
        q = await _quarantine(http, fed, "fr")
        # Distinct messages: on a loaded host a batch stored after its ack_wait is redelivered,
        # and a forgery coming back is quarantined again (the genuine ones are idempotent).
        new = {(i["data_b64"], i["reason"]) for i in q[:len(q) - quarantined]}
        assert sorted(r for _, r in new) == sorted(r for _, r in bad.values())

        pid = int(fed.node("fr")["pid"])
        workers = descendants(pid)
        assert workers, "fr checked its backlog without checker processes"
        stop_node(fed, "fr")
        deadline = time.monotonic() + 30
        while not _gone(workers) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert _gone(workers), f"checker processes {workers} outlived their node"
        start_node(fed, "fr")
        await healthy(http, url, within_s=240)
