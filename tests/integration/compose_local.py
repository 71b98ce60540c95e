"""Run ``docker-compose.yml`` without a container engine: the same commands, as processes.

    services = load_compose()
    with LocalCompose(services, deploy_dir, hosts, work) as c: c.start(["nats-1", ...])

What stands in for the engine, and nothing else: an image's entrypoint (``nats-server`` for the
NATS image, the installed ``beacon`` for ours), each mount (the container path in an argument
is replaced by the host path it mounts; a named volume becomes a folder under ``work``;
``/run/secrets/<name>`` becomes the secret's file), ``working_dir``, and container DNS (a
service name in a URL becomes its loopback address — ``beacon deploy init --host`` made the
generated configs listen there, as a container listens on its own address).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from node.bus.natsconf import find_nats_server

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def load_compose(path: Path = COMPOSE) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc


def host_mounts(doc: dict[str, Any], service: str, deploy: Path,
                volumes: Path) -> dict[str, Path]:
    """Container path → host path, for every mount of ``service`` (binds, volumes, secrets)."""
    spec = doc["services"][service]
    mounts: dict[str, Path] = {}
    for v in spec.get("volumes", []):
        source, target = v.split(":")[:2]
        if source.startswith("./deploy"):
            mounts[target] = deploy / source.removeprefix("./deploy").lstrip("/")
        else:
            mounts[target] = volumes / source
    for name in spec.get("secrets", []):
        file = doc["secrets"][name]["file"]
        mounts[f"/run/secrets/{name}"] = deploy / file.removeprefix("./deploy/")
    return mounts


def local_argv(doc: dict[str, Any], service: str, deploy: Path, volumes: Path,
               hosts: dict[str, str]) -> tuple[list[str], Path | None]:
    """The command compose would run for ``service``, with host paths and addresses."""
    spec = doc["services"][service]
    mounts = host_mounts(doc, service, deploy, volumes)
    argv = [str(a) for a in spec["command"]]
    if "image" in spec and spec["image"].startswith("nats:"):
        argv = [find_nats_server(), *argv]  # the image's entrypoint
    else:
        assert argv[0] == "beacon", argv
        argv[0] = str(Path(sys.executable).parent / "beacon")
    for target in sorted(mounts, key=len, reverse=True):
        argv = [str(mounts[target]) + a[len(target):] if a.startswith(target) else a
                for a in argv]
    names = "|".join(re.escape(n) for n in hosts)
    argv = [re.sub(rf"//({names}):", lambda m: f"//{hosts[m.group(1)]}:", a) for a in argv]
    cwd = None
    if "working_dir" in spec:
        cwd = mounts.get(spec["working_dir"])
        assert cwd is not None, f"{service}: working_dir {spec['working_dir']} is not a mount"
        cwd.mkdir(parents=True, exist_ok=True)
    return argv, cwd


class LocalCompose:
    """Start services as compose would (in the order given); stop them all on exit."""

    def __init__(self, doc: dict[str, Any], deploy: Path, hosts: dict[str, str],
                 work: Path) -> None:
        self.doc, self.deploy, self.hosts, self.work = doc, deploy, hosts, work
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, service: str) -> subprocess.Popen[bytes]:
        argv, cwd = local_argv(self.doc, service, self.deploy, self.work / "volumes",
                               self.hosts)
        with (self.work / f"{service}.log").open("ab") as log:
            p = subprocess.Popen(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,  # noqa: S603
                                 stdin=subprocess.DEVNULL)
        self.procs[service] = p
        return p

    def log(self, service: str) -> str:
        return (self.work / f"{service}.log").read_text(errors="replace")

    def stop(self) -> None:
        for p in reversed(list(self.procs.values())):
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def __enter__(self) -> LocalCompose:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
