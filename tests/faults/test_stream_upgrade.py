"""Upgrade: a stream created by an older version (fewer message types, other limits) is
reconciled by the admin set-up step, so the new type is stored instead of retried forever."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client

from federation.subjects import STREAM, stream_subjects
from node.bus.natsconf import NkeyUser, find_nats_server, server_config
from node.bus.stream_setup import consumer_config, setup_jetstream, stream_config
from tests.integration.conftest import free_base_port, wait_for

OLD_SUBJECTS = [s for s in stream_subjects() if s not in ("beacon.v1.advisory.>",
                                                          "beacon.v1.sealed.>")]


@pytest.fixture
async def admin_nc(tmp_path: Path) -> AsyncIterator[tuple[Client, str, Path]]:
    """An admin connection to a fresh JetStream server, its URL and the admin's nkey file."""
    admin = NkeyUser.create()
    admin.save(tmp_path / "admin.nk")
    port = free_base_port(1)
    conf = tmp_path / "nats.conf"
    conf.write_text(server_config(port=port, store_dir=tmp_path / "js", admin=admin.public,
                                  nodes={}))
    with (tmp_path / "nats.log").open("ab") as log:
        proc = subprocess.Popen([find_nats_server(), "-c", str(conf)], stdout=log,  # noqa: S603
                                stderr=subprocess.STDOUT)
    try:
        async def up() -> Client | None:
            try:
                return await nats.connect(f"nats://127.0.0.1:{port}",
                                          nkeys_seed=str(tmp_path / "admin.nk"),
                                          connect_timeout=1, allow_reconnect=False)
            except (OSError, nats.errors.Error):
                return None
        nc = await wait_for(up, within_s=15, every_s=0.1)
        yield nc, f"nats://127.0.0.1:{port}", tmp_path / "admin.nk"
        await nc.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_setup_reconciles_an_old_stream_and_consumer(
        admin_nc: tuple[Client, str, Path]) -> None:
    nc, url, admin_nk = admin_nc
    js = nc.jetstream()
    old = dataclasses.replace(stream_config(), subjects=OLD_SUBJECTS, duplicate_window=30.0)
    await js.add_stream(old)
    await js.add_consumer(STREAM, dataclasses.replace(consumer_config("node-gb"), ack_wait=3.0,
                                                      filter_subject="beacon.v1.incident.>"))
    with pytest.raises(nats.js.errors.NoStreamResponseError):  # the defect: never stored
        await js.publish("beacon.v1.advisory.gb", b"{}", timeout=2)

    # The set-up step as an operator runs it after an upgrade.
    done = await asyncio.to_thread(subprocess.run, [  # noqa: S603
        sys.executable, "-m", "node.cli", "nats-setup", "--url", url, "--admin-nkey",
        str(admin_nk), "--nodes", "gb,fr"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

    info = await js.stream_info(STREAM)
    assert set(info.config.subjects or []) == set(stream_subjects())
    assert info.config.duplicate_window == pytest.approx(120.0)
    ack = await js.publish("beacon.v1.advisory.gb", b"{}", timeout=2)
    assert ack.stream == STREAM and ack.seq == 1
    for durable in ("node-gb", "node-fr"):
        cfg = (await js.consumer_info(STREAM, durable)).config
        assert (cfg.filter_subject, cfg.ack_wait) == ("beacon.v1.>", 10.0), (durable, cfg)
    assert (await js.consumer_info(STREAM, "node-gb")).num_pending == 1  # it sees the advisory

    await setup_jetstream(js, ["node-gb", "node-fr"])  # idempotent: nothing lost on a re-run
    assert (await js.stream_info(STREAM)).state.messages == 1
