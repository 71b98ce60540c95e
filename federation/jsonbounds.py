"""Parse untrusted JSON within bounds that every later step (RFC 8785 encoding, JSON Schema
validation, ``json.dumps``, SQLite) can handle.

    >>> parse_json(b'{"a": [1, 2]}')
    {'a': [1, 2]}
    >>> parse_json(b"[" * 100 + b"]" * 100)
    Traceback (most recent call last):
    ...
    federation.errors.SchemaError: $: JSON nested deeper than 32 levels; flatten the document

Why: those steps recurse. A 2 KB body nested 1,000 levels deep raises ``RecursionError`` (not a
``ValueError``) in the parser or, just under the parser's limit, in the encoder or the validator;
a string with a lone UTF-16 surrogate (``"\\ud800"``) parses but cannot be stored or signed as
UTF-8. Both are refused here, right after parsing and before anything else sees the value.
Beacon's deepest message is far shallower than ``MAX_DEPTH``.
"""

from __future__ import annotations

import json
from typing import Any

from federation.errors import Problem, SchemaError

MAX_DEPTH = 32


def parse_json(data: bytes | str, *, what: str = "body") -> Any:
    """Parse UTF-8 JSON and check it with ``check_bounds``.

    Raises:
        SchemaError: not UTF-8, not JSON, too deep, or a string that is not valid Unicode.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text)
    except UnicodeDecodeError as e:
        raise SchemaError([Problem("$", f"{what} is not JSON: not UTF-8 ({e.reason} at byte "
                                        f"{e.start}); send JSON encoded as UTF-8")]) from e
    except ValueError as e:  # JSONDecodeError, and ints beyond Python's digit limit
        raise SchemaError([Problem("$", f"{what} is not JSON: {e}")]) from e
    except RecursionError as e:
        raise _too_deep() from e
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
