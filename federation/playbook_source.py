"""YAML with positions: load a playbook file and map every JSON path back to its line.

    >>> data, source = load_yaml("id: x\\nsteps:\\n  - id: a\\n    action: close\\n", "p.yaml")
    >>> source.line_of("$.steps[0].action")
    4
    >>> str(source.problem("$.steps[0].nope", "unknown"))
    'p.yaml:3: $.steps[0].nope: unknown'

PyYAML's node API (``compose``) keeps a start mark on every node; we build the Python data from
the same node tree, so a schema error's path (``$.steps[2].deadline``) finds the line the author
wrote. A path that does not exist (a missing property) falls back to its nearest ancestor.
Timestamps stay text, because the schemas want RFC 3339 strings, not ``datetime`` objects.
Duplicate keys, which PyYAML would silently collapse to the last one, are reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from federation.schema import json_path


@dataclass(frozen=True)
class PlaybookProblem:
    """One problem in a playbook file: where (file, 1-based line, JSON path) and what."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "path": self.path, "message": self.message}


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves timestamps as the text the author wrote."""


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    if not isinstance(node, yaml.ScalarNode):  # the implicit tag only resolves on scalars
        raise yaml.constructor.ConstructorError(None, None, "timestamp must be a scalar",
                                                node.start_mark)
    return str(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)

_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


@dataclass
class SourceMap:
    """JSON path → 1-based line of one YAML document, and problems found while loading it."""

    file: str
    lines: dict[str, int] = field(default_factory=dict)
    problems: list[PlaybookProblem] = field(default_factory=list)

    def line_of(self, path: str) -> int:
        """The line of ``path``, or of its nearest ancestor that exists in the source."""
        while path not in self.lines and path != "$":
            segments = list(_SEGMENT.finditer(path))
            path = path[: segments[-1].start()] if segments else "$"
        return self.lines.get(path, 1)

    def problem(self, path: str, message: str) -> PlaybookProblem:
        # A schema error about unexpected keys points at the object; point at the key instead.
        unknown = re.match(r"'([^']+)' does not match any of the regexes", message)
        if unknown and f"{path}.{unknown[1]}" in self.lines:
            key = f"{path}.{unknown[1]}"
            return PlaybookProblem(self.file, self.line_of(key), key,
                                   f"unknown field {unknown[1]!r} (only x- fields are free)")
        keys = re.findall(r"'([^']+)'", message.rsplit("(", 1)[-1]) if "unexpected" in message \
            else []
        for key in keys:
            if f"{path}.{key}" in self.lines:
                return PlaybookProblem(self.file, self.line_of(f"{path}.{key}"),
                                       f"{path}.{key}", message)
        return PlaybookProblem(self.file, self.line_of(path), path, message)

    def index(self, node: yaml.Node, parts: list[str | int]) -> None:
        here = json_path(parts)
        self.lines.setdefault(here, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                child = json_path([*parts, key])
                if key in seen:
                    self.problems.append(PlaybookProblem(
                        self.file, key_node.start_mark.line + 1, child,
                        f"duplicate key {key!r} (YAML keeps only the last one)"))
                seen.add(key)
                self.lines[child] = key_node.start_mark.line + 1
                self.index(value_node, [*parts, key])
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.index(item, [*parts, i])


def load_yaml(text: str, filename: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document; syntax errors become problems with the line PyYAML reports.

    Args:
        text: YAML source.
        filename: the name problems carry.

    Returns:
        The data (``None`` if it could not be parsed) and its source map with any problems.
    """
    source = SourceMap(filename)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            source.problems.append(PlaybookProblem(filename, 1, "$", "the file is empty"))
            return None, source
        source.index(node, [])
        return loader.construct_document(node), source
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        source.problems.append(PlaybookProblem(filename, line, "$", f"YAML syntax: {e.problem}"))
    except yaml.YAMLError as e:
        source.problems.append(PlaybookProblem(filename, 1, "$", f"YAML: {e}"))
    finally:
        loader.dispose()
    return None, source
