"""The node's shape, checked: no import cycle anywhere in ``node/``, and the layers that
``make lint`` enforces with import-linter (pyproject.toml, ``[tool.importlinter]``) hold.

An import cycle in ``node/`` once was a recursion inside one transaction (engine → outgoing →
ingest → engine); the pipeline now returns messages instead, and this keeps it that way.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def test_no_module_of_node_takes_part_in_an_import_cycle() -> None:
    graph = grimp.build_graph("node")
    cycles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported != module and graph.chain_exists(importer=imported, imported=module):
                cycles.append(f"{module} -> {imported} -> ... -> {module}")
    assert cycles == []


def test_the_layer_contracts_hold() -> None:
    done = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
