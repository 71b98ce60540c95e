"""A benchmark's view into the consumer: one JSON line per stored batch and per long event-loop
slice, written only when ``BEACON_TRACE_DIR`` names a directory (``bench.latency --spy``).

    >>> tracer = Tracer.from_env("fr")    # None unless BEACON_TRACE_DIR is set
    >>> tracer is None or isinstance(tracer, Tracer)
    True

A batch line carries wall-clock times (``time.time()``, comparable with the benchmark's own
clock on the same machine): when the fetch was issued and returned, when the batch was checked,
committed and acknowledged, and the stream sequence of its first and last message, so that the
benchmark can place each report it published on the consumer's timeline. A ``lag`` line is a
slice in which the event loop ran something else for longer than ``LAG_S`` (a probe that asks
to wake every millisecond woke late): the search indexer, a timer, an HTTP request.

Off by default: the environment variable is read once, at start, and with it unset the consumer
does no extra work but one ``is None`` test per batch.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import IO, Any

LAG_S = 0.004  # a probe that woke this much later than asked marks a long slice


_OPEN: dict[Path, Tracer] = {}


class Tracer:
    def __init__(self, path: Path) -> None:
        self._out: IO[str] = path.open("a", buffering=1 << 16)

    @classmethod
    def from_env(cls, node_id: str) -> Tracer | None:
        """The node's tracer (one per process and node: the consumer and the search indexer
        write to the same file), or None when tracing is off."""
        folder = os.environ.get("BEACON_TRACE_DIR")
        if not folder:
            return None
        path = Path(folder) / f"{node_id}.jsonl"
        if path not in _OPEN:
            _OPEN[path] = cls(path)
        return _OPEN[path]

    def write(self, kind: str, **fields: Any) -> None:
        self._out.write(json.dumps({"kind": kind, **fields}) + "\n")

    def flush(self) -> None:
        self._out.flush()

    async def watch_loop(self, every_s: float = 0.001) -> None:
        """Record each slice where the loop came back to this probe ``LAG_S`` late; flush the
        lines once a second so that a benchmark reads them while the node runs."""
        last_flush = time.monotonic()
        while True:
            t0 = time.monotonic()
            await asyncio.sleep(every_s)
            late = time.monotonic() - t0 - every_s
            if late > LAG_S:
                self.write("lag", at=time.time(), late_ms=round(1000 * late, 2))
            if t0 - last_flush > 1.0:
                self.flush()
                last_flush = t0
