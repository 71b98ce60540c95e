"""Hostile JSON for fuzzing what a node reads from the bus: strategies and hand-made bodies.

    >>> hostile_bodies(b'{"title":"t","tlp":"GREEN"}')["duplicate key"]
    b'{"title":"first","title":"second","tlp":"GREEN"}'

Shared by the pure property tests (``tests/unit/test_inbound_fuzz.py``) and the integration
fuzzing of a running federation (``tests/faults/test_bus_fuzz.py``).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

json_scalars = (st.none() | st.booleans() | st.integers() | st.text(max_size=40)
                | st.floats(allow_nan=True, allow_infinity=True))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``value`` (object keys and array indexes), nested ones included."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


def replaced(doc: Any, path: tuple[Any, ...], value: Any, *, delete: bool) -> Any:
    """A deep copy of ``doc`` with the value at ``path`` replaced by ``value`` (or deleted)."""
    doc = json.loads(json.dumps(doc))
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


def _with_title(good: bytes, fragment: str) -> bytes:
    """``good`` (JCS bytes with a ``title`` and, after it, a ``tlp``) with its ``"title":"…"``
    member replaced by the raw JSON ``fragment``."""
    start = good.index(b'"title":')
    end = good.index(b',"tlp"', start)
    return good[:start] + fragment.encode("utf-8", "surrogatepass") + good[end:]


def hostile_bodies(good: bytes) -> dict[str, bytes]:
    """Bodies a Beacon node could never have signed (JCS cannot encode them), made from
    ``good``: each is refused as ``malformed-payload`` however well it is signed."""
    return {
        "deep array": _with_title(good, '"title":' + "[" * 5000 + "]" * 5000),
        "deep object": _with_title(good, '"title":' + '{"a":' * 1500 + "1" + "}" * 1500),
        "deep unclosed": b"[" * 100_000,
        "invalid UTF-8": good.replace(b'"title":"', b'"title":"\xff\xfe', 1),
        "NaN": _with_title(good, '"title":NaN'),
        "Infinity": _with_title(good, '"title":-Infinity'),
        "duplicate key": _with_title(good, '"title":"first","title":"second"'),
        "big integer": _with_title(good, '"title":' + "9" * 5000),
        "beyond 2**53": _with_title(good, '"title":9007199254740993'),
        "lone surrogate": _with_title(good, '"title":"\\ud800 report"'),
    }
