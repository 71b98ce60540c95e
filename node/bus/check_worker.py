"""Checking inbound messages in a worker process (the ``processes`` setting, node/bus/checkers.py).

Only ``federation`` and the schemas are imported here: the fork server preloads this module
and loads the schemas (once per node), and its workers are forked from it with both. A worker
keeps the last roster it was sent, keyed by its digest: the node sends the roster again only
when a worker asks for it (``NEED_ROSTER``), i.e. once per worker and roster version.

What comes back is what storing needs: the verdict, the time spent and, for an accepted message,
its ``Verified`` (pickled here, off the loop). Unpickling a report's ``Verified`` in the node
costs ≈ 10 µs; parsing the envelope and payload again there (strict JSON) ≈ 30–40 µs
(docs/performance.md, "Where a batch is checked").
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from datetime import datetime
from typing import Any

from federation.errors import RejectedMessage
from federation.inbound import InboundPolicy, check_inbound
from federation.roster import Roster
from federation.schema import SchemaSet
from node.core.schemas import default_schemas

NEED_ROSTER = "need-roster"
PR_SET_PDEATHSIG = 1  # prctl(2)

# One message to check: subject, data, the time JetStream stored it.
Item = tuple[str, bytes, datetime]
# Its verdict: ("a", seconds, Verified), ("r", seconds, reason, detail), or
# ("x", seconds, repr of an unexpected error) - a bug must not stop the consumer.
Verdict = tuple[Any, ...]

# Loaded at import: in the fork server (which preloads this module) once for all its workers;
# in the node itself this is ``default_schemas``'s cached set, no extra work.
_schemas: SchemaSet | None = default_schemas()
_roster: tuple[str, Roster] | None = None


def init() -> None:
    """A worker's start: die with the node, leave Ctrl-C to it, have the schemas loaded."""
    global _schemas
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the node shuts its pool down itself
    with contextlib.suppress(OSError, AttributeError):  # Linux: no orphan if the node is killed
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if _schemas is None:
        _schemas = default_schemas()


def check_batch(roster_key: str, roster: Roster | None, policy: InboundPolicy,
                items: list[Item]) -> list[Verdict] | str:
    """Check ``items`` against the roster named ``roster_key``; ``NEED_ROSTER`` if this worker
    does not hold it and ``roster`` is None (the node then sends it)."""
    global _roster
    if _schemas is None:  # not started through init (a test calling this directly)
        init()
    assert _schemas is not None  # noqa: S101 - init sets it
    if roster is not None:
        _roster = (roster_key, roster)
    if _roster is None or _roster[0] != roster_key:
        return NEED_ROSTER
    current, schemas = _roster[1], _schemas
    out: list[Verdict] = []
    for subject, data, received_at in items:
        t0 = time.perf_counter()
        try:
            v = check_inbound(data, subject, current, schemas, received_at=received_at,
                              policy=policy)
        except RejectedMessage as e:
            out.append(("r", time.perf_counter() - t0, e.reason, e.detail))
        except Exception as e:  # noqa: BLE001 - a bug must not stop the consumer; keep evidence
            out.append(("x", time.perf_counter() - t0, repr(e)))
        else:
            out.append(("a", time.perf_counter() - t0, v))
    return out


def worker_pid() -> int:
    return os.getpid()

