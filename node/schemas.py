"""Load the project's JSON Schemas from ``schemas/`` into a ``SchemaSet``.

    >>> default_schemas().names()[:2]
    ['common', 'envelope']

``BEACON_SCHEMAS`` overrides the directory (for an installed node that keeps schemas elsewhere).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from federation.schema import SchemaSet

_DEFAULT_DIR = Path(__file__).resolve().parent.parent / "schemas"
SCHEMA_DIR = Path(os.environ.get("BEACON_SCHEMAS", _DEFAULT_DIR))


def read_schema_documents(directory: Path = SCHEMA_DIR) -> list[dict[str, object]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.v1.json"))]


@functools.cache
def default_schemas() -> SchemaSet:
    return SchemaSet(read_schema_documents())
