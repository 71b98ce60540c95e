"""docker-compose.yml and ``beacon deploy init``, tested without a container engine.

The compose file is validated against the Compose specification's JSON schema (vendored in
tests/data/compose-spec/, see its SOURCE.md); every file it mounts must exist in freshly
generated bundles; no node container may mount another authority's secrets; and the services
are started as compose would start them (``compose_local``: same configs, same commands, each
service on its own loopback address as a container on its own address) and exchange, escalate
and witness end to end.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import nats
import pytest

from federation.subjects import STREAM
from node.cli.main import main
from node.cli.provision import genesis_document, sign_genesis
from node.core.identity import load_signing_key
from node.pipeline.context import utcnow
from tests.integration.compose_local import (
    COMPOSE,
    ROOT,
    LocalCompose,
    host_mounts,
    load_compose,
)
from tests.integration.conftest import free_base_port, report, wait_for

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "compose-spec" / "compose_spec.json"
MEMBERS = ["gb", "fr", "jp"]
NODES = [*MEMBERS, "int"]
NATS = ["nats-1", "nats-2", "nats-3"]
SECRET_NAMES = {"signing.key", "encryption.key", "nats.nk", "tokens.json", "admin.nk"}
LEAF_COMPOSE = ROOT / "docker-compose.leaf.yml"
LEAF_NATS = ["nats-hub", *(f"nats-{m}" for m in MEMBERS)]


def _validator() -> jsonschema.Draft201909Validator:
    # The file declares ".../draft/2019-09/schema#", a spelling jsonschema does not look up.
    return jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))


@pytest.mark.parametrize("compose_file", [COMPOSE, LEAF_COMPOSE], ids=["hub", "leaf"])
def test_compose_file_validates_against_the_compose_spec(compose_file: Path) -> None:
    doc = load_compose(compose_file)
    errors = sorted(_validator().iter_errors(doc), key=str)
    assert errors == [], [e.message for e in errors]
    broken = copy.deepcopy(doc)  # the check can fail: a misspelt key is caught
    broken["services"]["gb"]["volume"] = broken["services"]["gb"].pop("volumes")
    assert list(_validator().iter_errors(broken))


def _loopback_hosts(names: list[str] = [*NATS, *NODES], first: int = 1) -> dict[str, str]:  # noqa: B006
    """One loopback address per service, in a /24 picked per process (parallel runs); the
    leaf topology's services take addresses from ``first`` = 101 on, beside the hub's."""
    for attempt in range(50):
        net = f"127.{100 + (os.getpid() + attempt) % 150}.{(os.getpid() // 150 + attempt) % 250}"
        hosts = {name: f"{net}.{i + first}" for i, name in enumerate(names)}
        try:
            for addr in hosts.values():
                with socket.socket() as s:
                    s.bind((addr, 4222))
            return hosts
        except OSError:
            continue
    raise RuntimeError("no free loopback /24 for the compose services")


@pytest.fixture(scope="module")
def hosts() -> dict[str, str]:
    return _loopback_hosts()


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory, hosts: dict[str, str]) -> Path:
    out = tmp_path_factory.mktemp("compose") / "deploy"
    overrides = [a for name, addr in hosts.items() for a in ("--host", f"{name}={addr}")]
    assert main(["deploy", "init", "--members", ",".join(MEMBERS), "--out", str(out),
                 *overrides]) == 0
    return out


def _mounted_files(doc: dict[str, Any], service: str, deploy: Path) -> list[Path]:
    mounts = host_mounts(doc, service, deploy, deploy.parent / "volumes")
    found: list[Path] = []
    for path in mounts.values():
        if path.is_relative_to(deploy):
            found += [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return found


def test_every_mounted_file_exists_in_the_bundles(deploy: Path) -> None:
    doc = load_compose()
    for service, spec in doc["services"].items():
        for target, path in host_mounts(doc, service, deploy, deploy.parent / "v").items():
            if path.is_relative_to(deploy):
                assert path.exists(), f"{service} mounts {path} at {target}: not generated"
        assert service in NATS or "beacon" in spec["command"], service
    config_mounts = [host_mounts(doc, s, deploy, deploy)["/etc/nats/nats.conf"] for s in NATS]
    assert [p.name for p in config_mounts] == [f"{s}.conf" for s in NATS]
    for node in NODES:
        assert doc["services"][node]["command"][-1] == "/bundle/node.toml"
        assert (deploy / node / "node.toml").read_text().count(str(deploy)) == 0  # relative


def test_no_container_can_read_another_authoritys_secrets(deploy: Path) -> None:
    doc = load_compose()
    for service in doc["services"]:
        secrets = [p for p in _mounted_files(doc, service, deploy) if p.name in SECRET_NAMES]
        if service in NODES:
            assert {p.name for p in secrets} == SECRET_NAMES - {"admin.nk"}, service
            assert all(p.parent == deploy / service for p in secrets), (service, secrets)
        elif service == "nats-setup":
            assert [p.name for p in secrets] == ["admin.nk"]
        else:
            assert secrets == [], service
            conf = _mounted_files(doc, service, deploy)[0].read_text()
            seeds = [(deploy / n / "nats.nk").read_text().strip() for n in NODES]
            seeds.append((deploy / "setup" / "admin.nk").read_text().strip())
            assert conf.count('"nkey": "U') == len(seeds)  # public nkeys …
            assert not [s for s in seeds if s in conf]     # … and never a seed
    for node in NODES:
        for name in SECRET_NAMES - {"admin.nk"}:
            assert (deploy / node / name).stat().st_mode & 0o077 == 0, (node, name)


@pytest.fixture(scope="module")
def compose(deploy: Path, hosts: dict[str, str]) -> Iterator[LocalCompose]:
    with LocalCompose(load_compose(), deploy, hosts, deploy.parent) as c:
        for server in NATS:
            c.start(server)
        setup = c.start("nats-setup")
        assert setup.wait(timeout=90) == 0, c.log("nats-setup")
        for node in NODES:
            c.start(node)
        yield c


def _url(hosts: dict[str, str], node: str, path: str) -> str:
    return f"http://{hosts[node]}:8400{path}"


def _auth(deploy: Path, node: str, role: str) -> dict[str, str]:
    tokens = json.loads((deploy / node / "tokens.json").read_text())
    return {"Authorization": f"Bearer {tokens[role]}"}


async def test_compose_processes_exchange_escalate_and_witness(
        compose: LocalCompose, deploy: Path, hosts: dict[str, str]) -> None:
    await _exchange_escalate_witness(compose, deploy, hosts)
    await _stream_is_replicated(deploy, hosts)


async def _exchange_escalate_witness(compose: LocalCompose, deploy: Path,
                                     hosts: dict[str, str]) -> None:
    async with aiohttp.ClientSession() as http:
        async def healthy(node: str) -> bool:
            assert compose.procs[node].poll() is None, compose.log(node)
            async with http.get(_url(hosts, node, "/healthz")) as r:
                return r.status == 200 and (await r.json()).get("nats") == "connected"
        for node in NODES:
            await wait_for(lambda node=node: healthy(node), within_s=60)

        async with http.post(_url(hosts, "gb", "/api/v1/incidents"),
                             headers=_auth(deploy, "gb", "operator"),
                             json=report(title="Across the compose services")) as r:
            assert r.status == 201, await r.text()
            incident = (await r.json())["id"]

        for peer in ("fr", "jp", "int"):
            async def stored(peer: str = peer) -> bool:
                async with http.get(_url(hosts, peer, f"/api/v1/incidents/{incident}"),
                                    headers=_auth(deploy, peer, "viewer")) as r:
                    return r.status == 200 and (await r.json())["verified"] is True
            await wait_for(stored, within_s=30)

        async def escalated() -> Any:  # the report affects fr: fr is escalated to
            async with http.get(_url(hosts, "fr", "/api/v1/escalations"),
                                headers=_auth(deploy, "fr", "viewer")) as r:
                return [e for e in (await r.json())["items"] if e["incident_id"] == incident]
        [esc] = await wait_for(escalated, within_s=30)
        assert esc["origin"] == "gb" and esc["tier"] == 1

        async with http.post(_url(hosts, "gb", "/api/v1/log/checkpoint"),
                             headers=_auth(deploy, "gb", "operator")) as r:
            size = (await r.json())["size"]

        async def witnessed() -> bool:
            async with http.get(_url(hosts, "gb", "/api/v1/log/checkpoints/gb"),
                                headers=_auth(deploy, "gb", "viewer")) as r:
                top = (await r.json())["items"][0]
            return top["size"] == size and {"fr", "jp", "int"} <= set(top["cosigned_by"])
        await wait_for(witnessed, within_s=45)


async def _stream_is_replicated(deploy: Path, hosts: dict[str, str]) -> None:
    nc = await nats.connect(f"nats://{hosts['nats-1']}:4222",
                            nkeys_seed=str(deploy / "setup" / "admin.nk"))
    try:
        info = await nc.jetstream().stream_info(STREAM)
        assert info.config.num_replicas == 3
        assert info.cluster is not None and len(info.cluster.replicas or []) == 2
    finally:
        await nc.close()


FORBIDDEN_API = [
    "$JS.API.STREAM.CREATE.BEACON", "$JS.API.STREAM.UPDATE.BEACON",
    "$JS.API.STREAM.PURGE.BEACON", "$JS.API.STREAM.MSG.DELETE.BEACON",
    "$JS.API.STREAM.DELETE.roster", "$JS.API.STREAMS",
    "$JS.API.CONSUMER.DELETE.BEACON.node-gb",             # its own, too: the admin's job
    "$JS.API.CONSUMER.MSG.NEXT.BEACON.node-fr",           # fr's queue
    "$JS.API.CONSUMER.CREATE.BEACON.node-fr",
    "$JS.API.CONSUMER.CREATE.BEACON.spy.beacon.v1.>",     # an ephemeral reader of everything
    "$JS.ACK.BEACON.node-fr.1.1.1.1.1",                  # acking away fr's messages
    "$JS.API.DIRECT.GET.BEACON",                          # reading the stream around consumers
]


async def test_node_credentials_refuse_jetstream_apis_outside_the_grant(
        compose: LocalCompose, deploy: Path, hosts: dict[str, str]) -> None:
    """Against the real cluster, with the credentials deploy init generated for gb."""
    await _refused_outside_the_grant(f"nats://{hosts['nats-1']}:4222", deploy / "gb" / "nats.nk")


async def test_leaf_node_credentials_refuse_jetstream_apis_outside_the_grant(
        leaf_compose: LocalCompose, leaf_deploy: Path, leaf_hosts: dict[str, str]) -> None:
    """The same, against gb's own leaf server (its grant adds only its roster keys in the
    hub's bucket, ``$JS.hub.API.$KV.roster.*.gb``)."""
    await _refused_outside_the_grant(f"nats://{leaf_hosts['nats-gb']}:4222",
                                     leaf_deploy / "gb" / "nats.nk",
                                     extra=["$JS.hub.API.$KV.roster.v9.fr",
                                            "$JS.hub.API.STREAM.DELETE.BEACON",
                                            "$JS.fr.API.STREAM.INFO.OUTBOX-fr"])


async def _refused_outside_the_grant(url: str, seed: Path, extra: list[str] | None = None,
                                     ) -> None:
    forbidden = [*FORBIDDEN_API, *(extra or [])]
    errors: list[str] = []

    async def on_error(e: Exception) -> None:
        errors.append(str(e).lower())
    nc = await nats.connect(url, error_cb=on_error, nkeys_seed=str(seed),
                            inbox_prefix="_INBOX_gb")
    try:
        info = await nc.jetstream().stream_info(STREAM)  # inside the grant: answered
        assert info.config.name == STREAM
        for subject in forbidden:
            await nc.publish(subject, b"{}")
        for subject in ("_INBOX_fr.>", "beacon.v1.>", "$KV.roster.>"):
            await nc.subscribe(subject)
        await nc.flush()

        def refused(verb: str, subject: str) -> bool:
            return any(f'permissions violation for {verb} to "{subject.lower()}"' in e
                       or f'permissions violation for {verb} "{subject.lower()}"' in e
                       for e in errors)

        async def all_refused() -> bool:
            return (all(refused("publish", s) for s in forbidden)
                    and all(refused("subscription", s)
                            for s in ("_INBOX_fr.>", "beacon.v1.>", "$KV.roster.>")))
        await wait_for(all_refused, within_s=10)
    finally:
        await nc.close()


def test_an_existing_federations_roster_is_carried_not_replaced(
        deploy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    given = deploy / "roster.json"
    out = tmp_path / "second"
    assert main(["deploy", "init", "--members", "gb,fr,jp", "--out", str(out),
                 "--roster", str(given), "--nats-servers", "1"]) == 0
    for node in NODES:
        assert (out / node / "roster.json").read_bytes() == given.read_bytes()
    assert "cluster" not in (out / "nats" / "nats-1.conf").read_text()
    assert main(["deploy", "init", "--members", "gb", "--out", str(tmp_path / "third"),
                 "--roster", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err


async def test_a_node_folder_from_beacon_init_runs_after_it_is_moved(tmp_path: Path) -> None:
    port = free_base_port(1)
    first = tmp_path / "first" / "de"
    assert main(["init", "--id", "de", "--dir", str(first), "--port", str(port),
                 "--nats-url", "nats://127.0.0.1:1"]) == 0  # no NATS: HTTP serves anyway
    entry = json.loads((first / "member.json").read_text())
    genesis = genesis_document([entry], council=[entry["keys"][0]["keyid"]], threshold=1,
                               now=utcnow())
    key = load_signing_key(first / "signing.key")
    (first / "roster.json").write_bytes(sign_genesis(genesis, [key]).to_json())
    assert str(tmp_path) not in (first / "node.toml").read_text()  # every path relative

    moved = tmp_path / "elsewhere" / "de-node"
    moved.parent.mkdir()
    first.rename(moved)
    (tmp_path / "first").rmdir()  # nothing may be left to find at the old place
    log = (tmp_path / "node.log").open("wb")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "beacon"), "run",  # noqa: S603
                             "--config", str(moved / "node.toml")],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as http:
            async def serving() -> bool:
                assert proc.poll() is None, (tmp_path / "node.log").read_text()
                async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                    return r.status == 200 and (await r.json())["node"] == "de"
            await wait_for(serving, within_s=30)
        assert list(moved.glob("*.sqlite3*")) and not (tmp_path / "first").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


@pytest.fixture(scope="module")
def leaf_hosts() -> dict[str, str]:
    return _loopback_hosts([*LEAF_NATS, *NODES], first=101)


@pytest.fixture(scope="module")
def leaf_deploy(tmp_path_factory: pytest.TempPathFactory, leaf_hosts: dict[str, str]) -> Path:
    out = tmp_path_factory.mktemp("compose-leaf") / "deploy"
    overrides = [a for name, addr in leaf_hosts.items() for a in ("--host", f"{name}={addr}")]
    assert main(["deploy", "init", "--members", ",".join(MEMBERS), "--out", str(out),
                 "--topology", "leaf", *overrides]) == 0
    return out


def test_leaf_bundles_hold_every_mounted_file_and_their_own_server(leaf_deploy: Path,
                                                                   leaf_hosts: dict[str, str]
                                                                   ) -> None:
    doc = load_compose(LEAF_COMPOSE)
    for service in doc["services"]:
        for target, path in host_mounts(doc, service, leaf_deploy, leaf_deploy.parent).items():
            if path.is_relative_to(leaf_deploy):
                assert path.exists(), f"{service} mounts {path} at {target}: not generated"
    confs = {s: host_mounts(doc, s, leaf_deploy, leaf_deploy)["/etc/nats/nats.conf"]
             for s in LEAF_NATS}
    assert confs["nats-hub"] == leaf_deploy / "nats" / "hub.conf"
    hub = confs["nats-hub"].read_text()
    assert '"domain": "hub"' in hub and f'{leaf_hosts["nats-hub"]}:7422' in hub
    assert hub.count('"LEAFNODE"') == len(MEMBERS)  # one link user per member, leaf-only
    for m in MEMBERS:
        assert confs[f"nats-{m}"] == leaf_deploy / f"nats-{m}" / "nats.conf"
        conf = confs[f"nats-{m}"].read_text()
        assert f'"domain": "{m}"' in conf  # its own JetStream domain …
        assert f'nats-leaf://{leaf_hosts["nats-hub"]}:7422' in conf  # … a leaf of the hub
        node = (leaf_deploy / m / "node.toml").read_text()
        assert f'url = "nats://{leaf_hosts[f"nats-{m}"]}:4222"' in node  # its own server
        assert str(leaf_deploy) not in node
    assert f'url = "nats://{leaf_hosts["nats-hub"]}:4222"' in (
        leaf_deploy / "int" / "node.toml").read_text()


def _seeds(deploy: Path) -> dict[str, str]:
    """Every secret seed of the deployment, by the file that holds it."""
    files = [deploy / n / "nats.nk" for n in NODES] + [deploy / "setup" / "admin.nk"]
    files += [deploy / f"nats-{m}" / f for m in MEMBERS for f in ("admin.nk", "leaf.nk")]
    return {str(f.relative_to(deploy)): f.read_text().strip() for f in files}


def test_no_leaf_container_can_read_another_authoritys_secrets(leaf_deploy: Path) -> None:
    doc = load_compose(LEAF_COMPOSE)
    seeds = _seeds(leaf_deploy)
    for service in doc["services"]:
        mounted = _mounted_files(doc, service, leaf_deploy)
        holds = {name for name, seed in seeds.items()
                 if any(seed in p.read_text(errors="replace") for p in mounted)}
        if service in NODES:
            assert holds == {f"{service}/nats.nk"}, service
            assert all(p.is_relative_to(leaf_deploy / service) for p in mounted), service
        elif service == "nats-hub" or service == "setup-hub":
            assert holds == ({"setup/admin.nk"} if service == "setup-hub" else set()), service
        elif service.startswith("nats-"):  # a member's server: its own link seed, nothing else
            assert holds == {f"{service}/leaf.nk"}, service
            assert [p.name for p in mounted] == ["nats.conf"]
            assert mounted[0].stat().st_mode & 0o077 == 0
        else:
            member = service.removeprefix("setup-")
            assert holds == {f"nats-{member}/admin.nk"}, service


@pytest.fixture(scope="module")
def leaf_compose(leaf_deploy: Path, leaf_hosts: dict[str, str]) -> Iterator[LocalCompose]:
    with LocalCompose(load_compose(LEAF_COMPOSE), leaf_deploy, leaf_hosts,
                      leaf_deploy.parent) as c:
        for server in LEAF_NATS:
            c.start(server)
        for setup in [f"setup-{m}" for m in MEMBERS]:  # the leaves first, then the hub
            assert c.start(setup).wait(timeout=150) == 0, c.log(setup)
        assert c.start("setup-hub").wait(timeout=150) == 0, c.log("setup-hub")
        for node in NODES:
            c.start(node)
        yield c


async def test_leaf_compose_processes_exchange_escalate_and_witness(
        leaf_compose: LocalCompose, leaf_deploy: Path, leaf_hosts: dict[str, str]) -> None:
    started = time.monotonic()
    await _exchange_escalate_witness(leaf_compose, leaf_deploy, leaf_hosts)
    print(f"leaf compose: exchanged, escalated and witnessed in "
          f"{time.monotonic() - started:.1f}s after the nodes started")
