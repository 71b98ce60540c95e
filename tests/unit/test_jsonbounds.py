"""Untrusted JSON is parsed within bounds: deep nesting, lone surrogates and other encodings are
SchemaErrors (an HTTP 400, a quarantined message), never a RecursionError (a 500, a traceback)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from federation.canonical import encode
from federation.errors import MAX_PROBLEMS, MAX_TEXT, Problem, SchemaError, capped
from federation.jsonbounds import MAX_DEPTH, check_bounds, parse_json
from federation.schema import SchemaSet


def nested(depth: int) -> bytes:
    return b'{"a":' * (depth - 1) + b"[]" + b"}" * (depth - 1)


def test_the_deepest_accepted_document_still_encodes_and_validates(schemas: SchemaSet) -> None:
    value = parse_json(nested(MAX_DEPTH))
    assert encode(value).startswith(b'{"a":')  # rfc8785 recursed this far without trouble
    assert schemas.problems("incident", value)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 999, 1000, 100_000])
def test_deeper_nesting_is_a_schema_error(depth: int) -> None:
    with pytest.raises(SchemaError, match=rf"nests {depth} levels deep, limit {MAX_DEPTH}"):
        parse_json(nested(depth))


def test_a_deep_value_built_in_memory_is_refused_by_validation_not_recursion(
        schemas: SchemaSet) -> None:
    value: Any = []
    for _ in range(5000):  # deeper than Python's recursion limit
        value = [value]
    with pytest.raises(SchemaError, match="nested deeper"):
        check_bounds(value)
    [problem] = schemas.problems("incident", value)
    assert "nested deeper" in problem.message


@pytest.mark.parametrize(("data", "message"), [
    (b'{"t": "\\ud800"}', "lone UTF-16 surrogate"),
    (b'{"\\udfff": 1}', "lone UTF-16 surrogate"),
    ("\ufeff{}".encode("utf-16"), "not UTF-8"),
    (b"\xef\xbb\xbf{}", "not JSON"),  # a UTF-8 byte-order mark is not JSON (RFC 8259 §8.1)
    (b"\xff", "not UTF-8"),
    (b"1" * 5000, "not JSON"),  # beyond Python's int digit limit: a ValueError, not a crash
])
def test_text_that_cannot_be_stored_or_signed_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        parse_json(data)


def test_an_answer_names_at_most_the_cap_and_counts_the_rest() -> None:
    many = [Problem(f"$.x[{i}]", "bad " * 1000) for i in range(90_000)]
    shown = capped(many)
    assert len(shown) == MAX_PROBLEMS + 1
    assert all(len(p.message) <= MAX_TEXT for p in shown)
    assert shown[-1].message.startswith(f"at least {90_000 - MAX_PROBLEMS} more")
    assert capped(many[:3]) == [Problem(p.path, p.message[:MAX_TEXT - 1] + "…")
                                for p in many[:3]]


def test_validation_stops_after_the_cap(schemas: SchemaSet) -> None:
    bad = {"type": "incident", "affected_jurisdictions": [f"X{i}" for i in range(90_000)]}
    problems = schemas.problems("incident", bad)
    assert MAX_PROBLEMS < len(problems) <= MAX_PROBLEMS + 1


@pytest.mark.parametrize(("items", "unique"), [
    ([{"a": i} for i in range(50_000)], True),  # did not sort: compared every pair (hours)
    ([1, "1", True, None, [1], {"a": 1}], True),
    ([1, 1.0], False), ([{"a": 1, "b": 2}, {"b": 2, "a": 1}], False), ([True, 1], True),
    ([[1, [2]], [1, [2.0]]], False),
])
def test_unique_items_in_linear_time_with_json_equality(schemas: SchemaSet, items: list[Any],
                                                         unique: bool) -> None:
    doc = {"type": "incident", "red_lines": items}
    repeated = [p for p in schemas.problems("incident", doc)
                if p.path == "$.red_lines" and "non-unique" in p.message]
    assert (not repeated) == unique, json.dumps(items)[:80]
