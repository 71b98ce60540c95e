"""Parse JSON from the wire strictly: what RFC 8785 (JCS) can encode, and nothing else.

    >>> loads(b'{"a": 1}', "payload")
    {'a': 1}
    >>> loads(b'{"a": 1, "a": 2}', "payload")
    Traceback (most recent call last):
    ...
    federation.errors.SchemaError: $: payload: the key 'a' appears twice in one object

Every signed body is made by ``canonical.encode``, which cannot produce duplicate keys, NaN or
Infinity, integers outside ±(2**53 - 1), lone surrogates or deep nesting; a body that contains
them was not made by a Beacon node. Python's ``json`` accepts all of these, and some break later
and elsewhere (SQLite refuses lone surrogates, ``int()`` refuses 4,300+ digits with a
``ValueError`` that is not a ``JSONDecodeError``, the parser overflows the stack on deep nesting),
so they are refused here, in one place, as a ``SchemaError`` naming the problem.
"""

from __future__ import annotations

import json
from typing import Any

from federation.errors import Problem, SchemaError
from federation.jsondepth import MAX_DEPTH, nesting_depth

MAX_SAFE_INTEGER = 2**53 - 1  # RFC 7493 (I-JSON) §2.2; RFC 8785 §3.2.2.3
MAX_INTEGER_DIGITS = 20  # far beyond the safe range; bounds the work before int() runs


class _Refused(ValueError):
    """Raised inside the parser's hooks; turned into a SchemaError by ``loads``."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for k, v in pairs:
        if k in seen:
            raise _Refused(f"the key {k!r} appears twice in one object")
        seen[k] = v
    return seen


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS or abs(int(text)) > MAX_SAFE_INTEGER:
        raise _Refused(f"integer {text[:24]}{'…' if len(text) > 24 else ''} is outside "
                       f"±(2**53 - 1), the range JSON numbers keep exactly")
    return int(text)


def _check_strings(value: Any) -> None:
    """Refuse lone surrogates (``"\\ud800"``): valid JSON escapes, but not Unicode text."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError as e:
                raise _Refused(f"a string holds a lone surrogate at {e.start}") from e


def loads(data: bytes, what: str, path: str = "$") -> Any:
    """Parse ``data`` (UTF-8 JSON) strictly; ``what`` names it in errors ("payload").

    Raises:
        SchemaError: not UTF-8 JSON, or it holds what JCS cannot encode (see the module doc).
    """
    depth = nesting_depth(data)
    if depth > MAX_DEPTH:
        raise SchemaError([Problem(path, f"{what} nests {depth} levels deep, limit {MAX_DEPTH}")])
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=_object,
                         parse_constant=_constant, parse_int=_integer)
        _check_strings(doc)
    except UnicodeDecodeError as e:
        raise SchemaError([Problem(path, f"{what} is not JSON (not UTF-8): {e}")]) from e
    except json.JSONDecodeError as e:
        raise SchemaError([Problem(path, f"{what} is not JSON: {e}")]) from e
    except _Refused as e:
        raise SchemaError([Problem(path, f"{what}: {e}")]) from e
    return doc
