"""A plain ``pip install .`` (not editable) into a fresh venv gives a working ``beacon``.

The schemas and playbooks live at the top of the project, outside any package; this proves the
installed copy finds them (``node.core.resources``) from a folder that has no checkout around it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.integration.conftest import free_base_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("install")
    src = work / "src"  # a copy, so the build cannot reach the checkout's own files
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", ".git", "demo-data", "*.egg-info", "build", "__pycache__", ".*_cache"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(src)],
                   check=True, cwd=work, timeout=600)
    shutil.rmtree(src)
    return venv / "bin"


def test_installed_beacon_validates_the_shipped_playbooks(installed: Path,
                                                          tmp_path: Path) -> None:
    done = subprocess.run([str(installed / "beacon"), "playbooks", "validate"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    shipped = len([p for p in (ROOT / "playbooks").glob("*.yaml")
                   if p.name not in ("regimes.yaml", "tripwires.yaml")])
    assert f"{shipped} playbook(s) valid" in done.stdout


def test_installed_beacon_runs_a_demo_federation(installed: Path, tmp_path: Path) -> None:
    base = free_base_port(6)
    log = (tmp_path / "demo.out").open("wb")
    proc = subprocess.Popen([str(installed / "beacon"), "demo", "--data", str(tmp_path / "d"),
                             "--port", str(base)], cwd=tmp_path, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        health: dict[str, object] = {}
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{base + 1}/healthz",  # noqa: S310
                                            timeout=2) as r:
                    health = json.loads(r.read())
                if health.get("nats") == "connected":
                    break
            except OSError:
                pass
            time.sleep(0.2)
        out = (tmp_path / "demo.out").read_text(errors="replace")
        assert health.get("nats") == "connected" and health.get("status") == "ok", out
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
