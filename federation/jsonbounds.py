"""Parse untrusted JSON within bounds that every later step (RFC 8785 encoding, JSON Schema
validation, ``json.dumps``, SQLite) can handle — and, for signed bodies, strictly.

    >>> parse_json(b'{"a": [1, 2]}')
    {'a': [1, 2]}
    >>> parse_json(b"[" * 100 + b"]" * 100)
    Traceback (most recent call last):
    ...
    federation.errors.SchemaError: $: body nests 100 levels deep, limit 32; flatten the document
    >>> parse_json(b'{"a": 1, "a": 2}', what="payload", strict=True)
    Traceback (most recent call last):
    ...
    federation.errors.SchemaError: $: payload: the key 'a' appears twice in one object

Why bounds: those steps recurse. A 2 KB body nested 1,000 levels deep raises ``RecursionError``
(not a ``ValueError``) in the parser or, just under the parser's limit, in the encoder or the
validator; a string with a lone UTF-16 surrogate (``"\\ud800"``) parses but cannot be stored or
signed as UTF-8. Depth is measured on the text before parsing (``nesting_depth``, no recursion),
surrogates right after, before anything else sees the value. Beacon's deepest message is far
shallower than ``MAX_DEPTH``.

Why strict for signed bodies: every one is made by ``canonical.encode``, which cannot produce
duplicate keys, NaN or Infinity, or integer literals outside ±(2**53 - 1) other than a double's
digits (JCS writes 2e20 as ``200000000000000000000``); a body that holds them was not
made by a Beacon node, and some break later and elsewhere (``int()`` refuses 4,300+ digits with a
``ValueError`` that is not a ``JSONDecodeError``). ``strict=True`` refuses them here, in one place.
"""

from __future__ import annotations

import json
import re
from typing import Any

import rfc8785

from federation.errors import Problem, SchemaError

MAX_DEPTH = 32
MAX_SAFE_INTEGER = 2**53 - 1  # RFC 7493 (I-JSON) §2.2; RFC 8785 §3.2.2.3
MAX_INTEGER_DIGITS = 21  # JCS writes doubles below 10**21 in full; bounds the work of int()
# A JSON string literal (escapes included); its brackets are text, not structure.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def nesting_depth(text: bytes) -> int:
    """The deepest level of ``[`` / ``{`` nesting in ``text``, measured without parsing it;
    malformed text gives a best guess (the parser refuses it afterwards anyway).

        >>> nesting_depth(b'{"a": [1, {"b": "[[["}]}')
        3
    """
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub(b'""', text)):
        if m.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


class _Refused(ValueError):
    """Raised inside the strict parser's hooks; becomes a SchemaError."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for k, v in pairs:
        if k in seen:
            raise _Refused(f"the key {k!r} appears twice in one object")
        seen[k] = v
    return seen


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _integer(text: str) -> int | float:
    """An integer literal as JCS writes numbers: exact below 2**53, else a double's digits.

    RFC 8785 §3.2.2.3 prints every double below 10**21 without an exponent, so the float
    2e20 is written ``200000000000000000000``; that literal is the double, not a big integer.
    Any other literal outside the safe range (``9007199254740993``) names a number no double
    holds, which no Beacon node can have signed.

        >>> _integer("200000000000000000000"), _integer("-64663453104988350")
        (2e+20, -6.466345310498835e+16)
    """
    if len(text.lstrip("-")) <= MAX_INTEGER_DIGITS:
        value = int(text)
        if abs(value) <= MAX_SAFE_INTEGER:
            return value
        if rfc8785.dumps(float(value)) == text.encode():
            return float(value)
    raise _Refused(f"integer {text[:24]}{'…' if len(text) > 24 else ''} is outside "
                   f"±(2**53 - 1) and is not how RFC 8785 writes any double; JSON numbers "
                   f"keep only doubles exactly")


# One decoder of each kind, built once: ``json.loads`` with hooks builds a ``JSONDecoder`` per
# call (a fifth of parsing a small envelope). ``decode`` is what ``json.loads`` calls; the
# decoders hold no state between calls.
_STRICT = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_constant,
                           parse_int=_integer)
_PLAIN = json.JSONDecoder()


def parse_json(data: bytes | str, *, what: str = "body", strict: bool = False) -> Any:
    """Parse UTF-8 JSON within bounds (see the module doc); ``strict`` for signed bodies.

    Raises:
        SchemaError: not UTF-8, not JSON, too deep, a string that is not valid Unicode, or
            (strict) what JCS cannot encode.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    # Nesting can be no deeper than the number of opening brackets in the text: below the
    # limit, the regex scan (a quarter of an incident's parse) is not needed.
    opening = raw.count(b"[") + raw.count(b"{")
    depth = nesting_depth(raw) if opening > MAX_DEPTH else opening
    if depth > MAX_DEPTH:
        raise SchemaError([Problem("$", f"{what} nests {depth} levels deep, limit {MAX_DEPTH}; "
                                        "flatten the document")])
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        if text.startswith("\ufeff"):  # as json.loads says it (decode() alone would not)
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        value = (_STRICT if strict else _PLAIN).decode(text)
    except UnicodeDecodeError as e:
        raise SchemaError([Problem("$", f"{what} is not JSON: not UTF-8 ({e.reason} at byte "
                                        f"{e.start}); send JSON encoded as UTF-8")]) from e
    except _Refused as e:
        raise SchemaError([Problem("$", f"{what}: {e}")]) from e
    except ValueError as e:  # JSONDecodeError, and ints beyond Python's digit limit
        raise SchemaError([Problem("$", f"{what} is not JSON: {e}")]) from e
    except RecursionError as e:  # not reachable below MAX_DEPTH; kept as a last guard
        raise _too_deep() from e
    # The depth is measured above; strict UTF-8 bytes without a backslash-u escape cannot hold a
    # lone surrogate, so the walk over the parsed value would find nothing (it was a quarter
    # of the inbound CPU: the envelope and its payload are both parsed here).
    if isinstance(data, str) or b"\\u" in raw:
        check_bounds(value)
    return value


def check_bounds(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Raise SchemaError if ``value`` nests deeper than ``max_depth`` or holds a string (or key)
    that is not valid Unicode. Iterative, so it cannot itself overflow the stack."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise _too_deep(max_depth)
            if isinstance(item, dict):
                for key in item:
                    _check_text(key)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise SchemaError([Problem("$", f"a string holds {text[e.start:e.end]!r}, a lone "
                                        "UTF-16 surrogate that is not a character; "
                                        "send valid Unicode")]) from e


def _too_deep(max_depth: int = MAX_DEPTH) -> SchemaError:
    return SchemaError([Problem("$", f"JSON nested deeper than {max_depth} levels; "
                                     "flatten the document")])
