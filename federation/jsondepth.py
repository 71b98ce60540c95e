"""How deeply a JSON text nests, measured without parsing it (parsing is what recursion breaks).

    >>> nesting_depth(b'{"a": [1, {"b": "[[["}]}')
    3
    >>> nesting_depth(b"[" * 5000) > MAX_DEPTH
    True

Python's ``json`` parser recurses once per level and raises ``RecursionError`` (not a
``ValueError``) at about a thousand levels; ``jsonschema`` recurses again while validating. No
Beacon message nests more than a handful of levels, so a bound far below the interpreter's limit
turns a hostile document into an ordinary refusal before anything recurses over it.
"""

from __future__ import annotations

import re

MAX_DEPTH = 64
# A JSON string literal (escapes included); its brackets are text, not structure.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def nesting_depth(text: bytes) -> int:
    """The deepest level of ``[`` / ``{`` nesting in ``text``; malformed text gives a best guess
    (the parser refuses it afterwards anyway)."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub(b'""', text)):
        if m.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(0, depth - 1)
    return deepest
