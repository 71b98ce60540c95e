"""Read the shared playbooks and the regulatory regimes from a folder; export to OASIS CACAO 2.0.

    playbooks = load_playbooks(Path("playbooks"))          # raises PlaybookError
    good, problems = validate_folder(Path("playbooks"))    # every problem of every file
    gaps = coverage_gaps(good)                              # severities no playbook answers

The folder holds one ``*.yaml`` per playbook, ``regimes.yaml`` (schema ``regimes.v1.json``),
the regulatory clocks the playbooks name, and ``tripwires.yaml`` (``tripwires.v1.json``), the
capability tripwires evaluations are measured against. ``BEACON_PLAYBOOKS`` (or
``[node] playbooks_dir``) points a node at another folder.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

from federation.cacao import export_cacao
from federation.cacao_check import CacaoValidator, check_step_graph
from federation.coverage import coverage_gaps
from federation.playbook import Playbook, PlaybookError, PlaybookProblem, parse_playbook_yaml
from federation.playbook_source import load_yaml
from federation.regimes import NO_REGIMES, RegimeError, Regimes
from federation.tripwires import NO_TRIPWIRES, TripwireError, Tripwires
from node.core.resources import resource_dir
from node.core.schemas import default_schemas

DEFAULT_DIR = resource_dir("playbooks")
CACAO_SCHEMAS = Path(os.environ.get(
    "BEACON_CACAO_SCHEMAS",
    Path(__file__).resolve().parents[3] / "shared" / "schemas-external" / "cacao-2.0"))


REGIMES_FILE = "regimes.yaml"
TRIPWIRES_FILE = "tripwires.yaml"

__all__ = ["coverage_gaps", "default_tripwires", "export_folder", "load_playbooks", "load_regimes",
           "load_tripwires", "validate_folder"]


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in [*directory.glob("*.yaml"), *directory.glob("*.yml")]
                  if p.name not in (REGIMES_FILE, TRIPWIRES_FILE))


def load_regimes(directory: Path) -> tuple[Regimes, list[PlaybookProblem]]:
    """The regulatory clocks of ``directory/regimes.yaml`` (none if the file is absent), and the
    problems found in it (each naming file, line and JSON path)."""
    path = directory / REGIMES_FILE
    if not path.is_file():
        return NO_REGIMES, []
    data, source = load_yaml(path.read_text(encoding="utf-8"), str(path))
    problems = list(source.problems) or [
        source.problem(p.path, p.message) for p in default_schemas().problems("regimes", data)]
    if problems:
        return NO_REGIMES, problems
    try:
        return Regimes.from_dict(data), []
    except RegimeError as e:
        return NO_REGIMES, [source.problem("$.regimes", str(e))]


def load_tripwires(directory: Path = DEFAULT_DIR) -> Tripwires:
    """The capability tripwires of ``directory/tripwires.yaml`` (none if the file is absent).

    Raises:
        PlaybookError: the file breaks ``tripwires.v1.json`` or is inconsistent (a node refuses
            to start on it, as on a malformed playbook).
    """
    path = directory / TRIPWIRES_FILE
    if not path.is_file():
        return NO_TRIPWIRES
    data, source = load_yaml(path.read_text(encoding="utf-8"), str(path))
    problems = list(source.problems) or [
        source.problem(p.path, p.message) for p in default_schemas().problems("tripwires", data)]
    if not problems:
        try:
            return Tripwires.from_dict(data)
        except TripwireError as e:
            problems = [source.problem("$.tripwires", str(e))]
    raise PlaybookError(problems)


@cache
def default_tripwires() -> Tripwires:
    """The shared tripwires (``playbooks/tripwires.yaml``), read once per process."""
    return load_tripwires()


def validate_folder(directory: Path) -> tuple[list[Playbook], list[PlaybookProblem]]:
    """Parse the regimes and every playbook in ``directory``; return the good playbooks and
    every problem found."""
    regimes, problems = load_regimes(directory)
    good: list[Playbook] = []
    seen: dict[str, str] = {}
    for path in _files(directory):
        try:
            playbook = parse_playbook_yaml(path.read_text(encoding="utf-8"), str(path),
                                           schemas=default_schemas(), regimes=regimes)
        except PlaybookError as e:
            problems += e.problems
            continue
        if playbook.id in seen:
            problems.append(PlaybookProblem(
                str(path), 1, "$.id", f"id {playbook.id!r} is also used by {seen[playbook.id]}"))
            continue
        seen[playbook.id] = str(path)
        good.append(playbook)
    return good, problems


def load_playbooks(directory: Path = DEFAULT_DIR) -> list[Playbook]:
    """Every playbook of ``directory``; a node refuses to start on a malformed one."""
    if not directory.is_dir():
        raise PlaybookError([PlaybookProblem(str(directory), 0, "$",
                                             "playbook folder not found")])
    good, problems = validate_folder(directory)
    if problems:
        raise PlaybookError(problems)
    return good


def read_cacao_schemas(directory: Path = CACAO_SCHEMAS) -> list[dict[str, object]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.rglob("*.json"))]


def export_folder(directory: Path, out: Path, *, check_against: Path | None = None) -> list[str]:
    """Write one CACAO 2.0 JSON file per playbook to ``out``; return the problems found (empty
    if every export validates against the official schemas and has a sound step graph)."""
    out.mkdir(parents=True, exist_ok=True)
    validator = None
    if check_against is not None and check_against.is_dir():
        validator = CacaoValidator(read_cacao_schemas(check_against))
    problems: list[str] = []
    for playbook in load_playbooks(directory):
        doc = export_cacao(playbook)
        target = out / f"{playbook.id}.cacao.json"
        target.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        found = check_step_graph(doc) + (validator.problems(doc) if validator else [])
        problems += [f"{target}: {p}" for p in found]
    return problems
