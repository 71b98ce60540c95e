"""Coverage: every severity x {own, affecting a peer, a peer's} starts at least one playbook, and
``beacon playbooks validate`` fails when one does not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from federation.coverage import KINDS, coverage_gaps, covering
from federation.severity import Severity
from node.cli import main as cli
from node.core.playbook_files import load_playbooks

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_playbooks_cover_every_cell() -> None:
    playbooks = load_playbooks(REPO / "playbooks")
    assert coverage_gaps(playbooks) == []
    assert covering(playbooks, Severity.SERIOUS_HAZARD, "own") == ["serious-hazard-near-miss"]
    assert "disaster-response" in covering(playbooks, Severity.DISASTER, "own")
    assert covering(playbooks, Severity.INCIDENT, "peers") == ["peer-incident-intake"]
    assert covering(playbooks, Severity.SERIOUS_INCIDENT, "affecting-a-peer") == [
        "serious-incident-cross-border"]


def test_a_missing_playbook_is_a_gap_that_says_what_to_add() -> None:
    playbooks = [p for p in load_playbooks(REPO / "playbooks")
                 if p.id != "serious-hazard-near-miss"]
    gaps = coverage_gaps(playbooks)
    assert [(g.severity, g.kind) for g in gaps] == [("serious-hazard", "own"),
                                                   ("serious-hazard", "affecting-a-peer")]
    assert "an incident filed here of severity serious-hazard" in str(gaps[0])
    assert len(coverage_gaps([])) == len(Severity) * len(KINDS)


def test_the_cli_check_fails_on_a_gap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "playbooks"
    shutil.copytree(REPO / "playbooks", folder)
    assert cli.main(["playbooks", "validate", str(folder)]) == 0
    (folder / "peer-incident-intake.yaml").unlink()
    assert cli.main(["playbooks", "validate", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "no playbook starts for a peer's incident of severity serious-hazard" in err
    assert "coverage gap(s)" in err
