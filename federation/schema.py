"""JSON Schema 2020-12 validation of every message, on the way in and on the way out.

    >>> s = SchemaSet([{"$id": "https://x/a.v1.json", "type": "object", "required": ["n"]}])
    >>> s.problems("a", {})[0].message
    "'n' is a required property"

The set is built from schema documents that the caller has read (``node.core.schemas`` reads
``schemas/``); this module never touches the file system. Schemas refer to each other by relative
``$ref`` resolved through a ``referencing.Registry`` keyed by ``$id``.

Two validators per schema: a compiled one (jsonschema-rs, a few µs per incident) decides, and
python-jsonschema (hundreds of µs) runs only on a message the compiled one refuses, to explain
it — so the problems a sender reads (paths, messages, the cap, one message per bad timestamp)
are exactly those python-jsonschema always gave. A message is accepted only if both agree: when
the compiled validator accepts, python-jsonschema is not asked; when it refuses and
python-jsonschema finds nothing, the message is valid (python-jsonschema's answer stands).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Any

import jsonschema
import jsonschema_rs
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from federation.errors import MAX_PROBLEMS, Problem, SchemaError
from federation.jsonbounds import check_bounds


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


def _identity(value: Any) -> Hashable:
    """A hashable stand-in equal for JSON-equal values (1 == 1.0, true != 1, key order free).
    Depth is bounded by ``check_bounds`` before validation, so this recursion is too."""
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, dict):
        return ("object", frozenset((k, _identity(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("array", tuple(_identity(v) for v in value))
    return ("scalar", value)  # str, int, float: Python's == is JSON's here


def _unique_items(validator: Any, unique: bool, instance: Any, schema: Any
                  ) -> Iterator[jsonschema.ValidationError]:
    """``uniqueItems`` in linear time. jsonschema's own falls back to comparing every pair when
    items do not sort (objects, mixed types): 100,000 small objects in a 1 MiB body were hours
    of CPU on the node's event loop."""
    if unique and isinstance(instance, list):
        seen: set[Hashable] = set()
        for i, item in enumerate(instance):
            key = _identity(item)
            if key in seen:
                yield jsonschema.ValidationError(f"has non-unique elements (item {i} repeats "
                                                 "an earlier one)")
                return
            seen.add(key)


_Validator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft202012Validator, {"uniqueItems": _unique_items})


def _conforms(name: str) -> Callable[[Any], bool]:
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    return lambda value: checker.conforms(value, name)


# The compiled validator checks formats with python-jsonschema's own checkers: its built-in
# "date-time" accepts a leap second (23:59:60), which python-jsonschema refuses and Python's
# datetime cannot hold, so the two would disagree on what is valid.
_FORMATS = {name: _conforms(name)
            for name in jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers}


class SchemaSet:
    """Validators for Beacon's schemas, looked up by short name (``incident`` for incident.v1)."""

    def __init__(self, documents: Iterable[Mapping[str, Any]]) -> None:
        docs = list(documents)
        resources = [(d["$id"], Resource.from_contents(d, default_specification=DRAFT202012))
                     for d in docs]
        self._registry: Registry[Any] = Registry().with_resources(resources)
        self._documents: dict[str, Mapping[str, Any]] = {}
        self._validators: dict[str, jsonschema.protocols.Validator] = {}
        self._compiled: dict[str, Any] = {}
        rs_registry = jsonschema_rs.Registry([(str(d["$id"]), dict(d)) for d in docs])
        for d in docs:
            name = str(d["$id"]).rsplit("/", 1)[-1].removesuffix(".v1.json")
            jsonschema.Draft202012Validator.check_schema(d)
            self._documents[name] = d
            self._validators[name] = _Validator(
                d, registry=self._registry,
                format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
            self._compiled[name] = jsonschema_rs.validator_for(
                dict(d), registry=rs_registry, validate_formats=True, formats=_FORMATS)

    def names(self) -> list[str]:
        return sorted(self._documents)

    def document(self, name: str) -> Mapping[str, Any]:
        return self._documents[name]

    def problems(self, name: str, instance: Any, *, bounded: bool = False) -> list[Problem]:
        """Every validation failure of ``instance`` against schema ``name``, sorted by path.
        ``bounded``: the caller parsed it with ``jsonbounds.parse_json``, which bounded it."""
        try:
            validator = self._validators[name]
        except KeyError:
            return [Problem("$.type", f"no schema for message type {name!r}")]
        try:
            if not bounded:
                check_bounds(instance)  # the validators recurse: bound the depth first
        except SchemaError as e:
            return e.problems
        if self._compiled_accepts(name, instance):
            return []
        # Stop one past the cap: the answer lists no more (errors.capped), and validating the
        # rest of 90,000 bad entries is seconds of CPU for nothing.
        found: dict[Problem, str] = {}  # problem -> the keyword that failed
        for error in validator.iter_errors(instance):
            found.setdefault(_problem(error), str(error.validator))
            if len(found) > MAX_PROBLEMS:
                break
        # A bad timestamp fails its pattern (UTC, with a Z) and its format (date-time): say it
        # once, with the pattern's message, which says what to send.
        patterned = {p.path for p, keyword in found.items() if keyword == "pattern"}
        return sorted((p for p, keyword in found.items()
                       if not (keyword == "format" and p.path in patterned)),
                      key=lambda p: p.path)

    def _compiled_accepts(self, name: str, instance: Any) -> bool:
        """The fast path. A value the compiled validator cannot convert (an integer beyond 64
        bits, a non-JSON type) is left to python-jsonschema rather than refused here."""
        try:
            return bool(self._compiled[name].is_valid(instance))
        except (ValueError, TypeError, OverflowError):
            return False

    def validate(self, name: str, instance: Any, *, bounded: bool = False) -> None:
        """Raise SchemaError naming every problem, or return if ``instance`` is valid."""
        problems = self.problems(name, instance, bounded=bounded)
        if problems:
            raise SchemaError(problems, schema_id=name)

