"""The node's shape, checked: no import cycle anywhere in ``node/``, the layers that
``make lint`` enforces with import-linter (pyproject.toml, ``[tool.importlinter]``) hold, and
every SQL statement sits in ``node/store/`` (STYLE.md point 19), in a module whose docstring
names the tables it touches.

An import cycle in ``node/`` once was a recursion inside one transaction (engine → outgoing →
ingest → engine); the pipeline now returns messages instead, and this keeps it that way.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
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


# A statement, not a word: "DELETE /api/v1/webhooks/{id}" or "one UPDATE that sets" is prose.
SQL = re.compile(r"\bSELECT\s.+?\bFROM\b|\bSELECT\s+(?:COUNT|COALESCE|MAX|MIN|1)\b"
                 r"|\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b|\bUPDATE\s+\w+\s+SET\b"
                 r"|\bDELETE\s+FROM\b|\bCREATE\s+(?:TABLE|INDEX)\b", re.DOTALL)
# Modules other work (the preparedness branch) is moving into node/store right now; empty this
# list once it has landed.
SQL_STILL_OUTSIDE_STORE: frozenset[str] = frozenset()  # every statement is in node/store


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes (prose, never run)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def string_literals(source: str) -> Iterator[tuple[int, str]]:
    """``(line, text)`` of every string literal that is not a docstring; an f-string's
    replacement fields read as ``?``, so that ``f"SELECT {cols} FROM t"`` is still a statement."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    parts_of_fstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            texts = []
            for part in node.values:
                parts_of_fstrings.add(id(part))
                texts.append(part.value if isinstance(part, ast.Constant) else "?")
            yield node.lineno, "".join(str(t) for t in texts)
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in skip and id(node) not in parts_of_fstrings):
            yield node.lineno, node.value


def sql_in(path: Path) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line}: {text[:60]!r}"
            for line, text in string_literals(path.read_text()) if SQL.search(text)]


def test_the_sql_detector_finds_statements_and_passes_prose() -> None:
    source = ('"""Doc: SELECT x FROM t is prose here."""\n'
              'a = "SELECT document FROM runs WHERE id = ?"\n'
              'b = f"SELECT {cols}, document FROM incidents"\n'
              'c = ("INSERT OR IGNORE INTO incident_links(a) "\n     "VALUES (?)")\n'
              'd = "UPDATE escalations SET assignee = ?"\n'
              'e = "DELETE FROM web_sessions"\n'
              'f = ("DELETE", "/api/v1/webhooks/{id}")\n'
              'g = "one conditional UPDATE that sets it"\n')
    found = sorted(line for line, text in string_literals(source) if SQL.search(text))
    assert found == [2, 3, 4, 6, 7]  # a, b, c (two lines, one literal), d, e


def test_every_sql_statement_is_in_the_store_layer() -> None:
    """SQL outside node/store is a query a handler wrote for itself: name it in the store."""
    found = [hit for path in sorted((ROOT / "node").rglob("*.py"))
             if path.parent.name != "store"
             and str(path.relative_to(ROOT)) not in SQL_STILL_OUTSIDE_STORE
             for hit in sql_in(path)]
    assert found == [], "move these queries into a module of node/store:\n" + "\n".join(found)


# The tables a statement reads or writes (a table-valued function such as json_each( is none).
TABLE = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+([a-z_]+)(?![a-z_(])")


def test_each_store_module_names_its_tables_in_its_docstring() -> None:
    missing = {}
    for path in sorted((ROOT / "node" / "store").glob("*.py")):
        source = path.read_text()
        doc = ast.get_docstring(ast.parse(source)) or ""
        tables = {t for _, text in string_literals(source) for t in TABLE.findall(text)}
        unnamed = sorted(t for t in tables if not re.search(rf"\b{t}\b", doc))
        if unnamed:
            missing[path.name] = unnamed
    assert missing == {}, "say in the module docstring which tables it touches"
