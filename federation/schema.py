"""JSON Schema 2020-12 validation of every message, on the way in and on the way out.

    >>> s = SchemaSet([{"$id": "https://x/a.v1.json", "type": "object", "required": ["n"]}])
    >>> s.problems("a", {})[0].message
    "'n' is a required property"

The set is built from schema documents that the caller has read (``node.schemas`` reads
``schemas/``); this module never touches the file system. Schemas refer to each other by relative
``$ref`` resolved through a ``referencing.Registry`` keyed by ``$id``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from federation.errors import Problem, SchemaError


def json_path(parts: Iterable[str | int]) -> str:
    """``["ai_system", "name"]`` → ``$.ai_system.name``; ``["x", 0]`` → ``$.x[0]``."""
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def _problem(error: jsonschema.ValidationError) -> Problem:
    """One validation error as a Problem; a missing property is named by its own path.

    jsonschema reports ``required`` at the parent object (``$``); a client pointing at the field
    needs ``$.title``. The property is the one whose message this error carries.
    """
    parts: list[str | int] = list(error.absolute_path)
    if (error.validator == "required" and isinstance(error.instance, dict)
            and isinstance(error.validator_value, list)):
        parts += [p for p in error.validator_value if p not in error.instance
                  and error.message == f"{p!r} is a required property"][:1]
    return Problem(json_path(parts), error.message)


class SchemaSet:
    """Validators for Beacon's schemas, looked up by short name (``incident`` for incident.v1)."""

    def __init__(self, documents: Iterable[Mapping[str, Any]]) -> None:
        docs = list(documents)
        resources = [(d["$id"], Resource.from_contents(d, default_specification=DRAFT202012))
                     for d in docs]
        self._registry: Registry[Any] = Registry().with_resources(resources)
        self._documents: dict[str, Mapping[str, Any]] = {}
        self._validators: dict[str, jsonschema.protocols.Validator] = {}
        for d in docs:
            name = str(d["$id"]).rsplit("/", 1)[-1].removesuffix(".v1.json")
            jsonschema.Draft202012Validator.check_schema(d)
            self._documents[name] = d
            self._validators[name] = jsonschema.Draft202012Validator(
                d, registry=self._registry,
                format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)

    def names(self) -> list[str]:
        return sorted(self._documents)

    def document(self, name: str) -> Mapping[str, Any]:
        return self._documents[name]

    def problems(self, name: str, instance: Any) -> list[Problem]:
        """Every validation failure of ``instance`` against schema ``name``, sorted by path."""
        try:
            validator = self._validators[name]
        except KeyError:
            return [Problem("$.type", f"no schema for message type {name!r}")]
        found = dict.fromkeys(_problem(e) for e in validator.iter_errors(instance))
        return sorted(found, key=lambda p: p.path)

    def validate(self, name: str, instance: Any) -> None:
        """Raise SchemaError naming every problem, or return if ``instance`` is valid."""
        problems = self.problems(name, instance)
        if problems:
            raise SchemaError(problems, schema_id=name)
