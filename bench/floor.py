"""The cryptographic floor, measured in the same run as the node: what any correct receiver
must do per message, in a tight loop on this machine, with no I/O.

    >>> # f = floor_us(messages, public_key)   # {"verify_us": 60.1, "compiled_validate_us": ...}

Ed25519 verification of the envelope plus JSON Schema validation of the body with a compiled
validator (jsonschema-rs). The same validation with python-jsonschema is timed beside it, since
a floor built on it would flatter every ratio.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from federation.canonical import decode
from federation.envelope import Envelope
from federation.keys import PublicKey
from node.core.schemas import default_schemas


def _best_us(fn: Callable[[Any], object], items: list[Any], runs: int = 3) -> float:
    """CPU µs per item, best of ``runs`` (the machine is shared: the best run is the least
    disturbed one)."""
    best = float("inf")
    for _ in range(runs):
        t0 = time.process_time()
        for item in items:
            fn(item)
        best = min(best, (time.process_time() - t0) / len(items))
    return best * 1e6


def floor_us(messages: list[bytes], public: PublicKey) -> dict[str, float]:
    envelopes = [Envelope.from_json(m) for m in messages]
    documents = [decode(e.payload) for e in envelopes]
    schemas = default_schemas()
    compiled = schemas._compiled["incident"]  # the floor times the validator alone
    explain = schemas._validators["incident"]
    verify = _best_us(lambda e: e.verify_with([public]), envelopes)
    fast = _best_us(compiled.is_valid, documents)
    slow = _best_us(lambda d: list(explain.iter_errors(d)), documents[:300])
    return {"verify_us": round(verify, 1), "compiled_validate_us": round(fast, 2),
            "python_jsonschema_validate_us": round(slow, 1),
            "floor_us": round(verify + fast, 1),
            "floor_with_python_jsonschema_us": round(verify + slow, 1)}
