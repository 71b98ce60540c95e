"""The ``beacon`` command as a user runs it: playbook validation and CACAO export, init."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SHARED = Path(__file__).resolve().parents[3] / "shared"


def beacon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_shipped_playbooks_validate() -> None:
    r = beacon("playbooks", "validate")
    assert r.returncode == 0, r.stderr
    assert "14 playbook(s) valid" in r.stdout
    assert "every severity x {own, affecting a peer, peer's} starts at least one" in r.stdout


def test_malformed_playbook_is_refused_with_file_line_and_path(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(
        "id: broken-playbook\nversion: 1\ntitle: Broken playbook\ndescription: d\n"
        'created: "2026-01-01T00:00:00Z"\ntrigger:\n  scope: own\nsteps:\n'
        "  - id: tell\n    action: notfy\n    role: duty-officer\n")
    r = beacon("playbooks", "validate", str(tmp_path))
    assert r.returncode == 1
    assert f"{tmp_path / 'broken.yaml'}:10: $.steps[0].action:" in r.stderr
    assert "notfy" in r.stderr


def test_cacao_export_validates_against_the_official_schemas(tmp_path: Path) -> None:
    r = beacon("playbooks", "export", "--format", "cacao", str(tmp_path))
    assert r.returncode == 0, r.stderr
    files = sorted(tmp_path.glob("*.cacao.json"))
    assert len(files) == 14
    # Independently of Beacon's own checker: the official schemas, as DESIGN §5 says.
    docs = [json.loads(p.read_text()) for p in (SHARED / "schemas-external/cacao-2.0").rglob(
        "*.json")]
    registry: Registry[object] = Registry().with_resources(
        (d["$id"], Resource.from_contents(d, default_specification=DRAFT202012)) for d in docs)
    top = next(d for d in docs if d["$id"].endswith("/playbook.json"))
    validator = jsonschema.Draft202012Validator(top, registry=registry)
    for f in files:
        doc = json.loads(f.read_text())
        errors = [e.message for e in validator.iter_errors(doc)]
        assert errors == [], (f.name, errors[:3])
        steps = doc["workflow"]
        for sid, step in steps.items():
            targets = [step.get(k) for k in ("on_completion", "on_success", "on_failure")]
            assert all(t in steps for t in targets if t), (f.name, sid)
            assert not (step.get("on_completion") and (step.get("on_success")
                                                      or step.get("on_failure"))), sid
        assert any(s.get("timeout") for s in steps.values()) or f.name.startswith("hazard")


def test_init_creates_keys_config_and_roster_entry(tmp_path: Path) -> None:
    r = beacon("init", "--id", "de", "--dir", str(tmp_path / "de"))
    assert r.returncode == 0, r.stderr
    entry = json.loads((tmp_path / "de" / "member.json").read_text())
    assert entry["id"] == "de" and entry["keys"][0]["scheme"] == "ed25519"
    assert (tmp_path / "de" / "signing.key").stat().st_mode & 0o077 == 0
    assert "node.toml" in r.stdout
    bad = beacon("init", "--id", "DE!", "--dir", str(tmp_path / "x"))
    assert bad.returncode == 2 and "lowercase" in bad.stderr
