"""Load the project's JSON Schemas from ``schemas/`` into a ``SchemaSet``.

    >>> "incident" in default_schemas().names()
    True

``BEACON_SCHEMAS`` overrides the directory (see ``node.core.resources``).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from federation.schema import SchemaSet
from node.core.resources import resource_dir


def read_schema_documents(directory: Path | None = None) -> list[dict[str, object]]:
    directory = resource_dir("schemas") if directory is None else directory
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.v1.json"))]


@functools.cache
def default_schemas() -> SchemaSet:
    return SchemaSet(read_schema_documents())
