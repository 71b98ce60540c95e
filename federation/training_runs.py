"""Training-run declarations and the regulatory clocks they start. Pure.

    >>> from datetime import timezone
    >>> from federation.tripwires import ComputeThreshold
    >>> t = (ComputeThreshold("ai-act-51-2", "Art. 51(2)", 1e25, None),)
    >>> doc = training_run_body({"developer": "Example AI", "model": "ExampleLM-4",
    ...     "compute_flop": 2e26, "started_at": "2026-11-01T00:00:00Z"}, t, lambda c: None,
    ...     origin="gb", now=datetime(2026, 11, 2, tzinfo=timezone.utc))
    >>> doc["thresholds_crossed"], doc["clocks"]
    (['ai-act-51-2'], [])
    >>> training_run_body({"developer": "D", "model": "M", "compute_flop": 1e25,
    ...     "started_at": "2026-11-01T00:00:00Z"}, t, lambda c: None, origin="gb",
    ...     now=datetime(2026, 11, 2, tzinfo=timezone.utc))["thresholds_crossed"]   # not greater
    []
    >>> deadline_state("2026-11-15T00:00:00Z", None, datetime(2026, 11, 16, tzinfo=timezone.utc))
    'overdue'

A ``training-run`` message (``schemas/training-run.v1.json``) declares a run: developer, model,
compute in FLOP, start and expected end. The node measures it against the compute thresholds of
``playbooks/tripwires.yaml`` (10^25, the AI Act Art. 51(2) presumption, and 10^26) and signs the
clocks they start, each with its due time, so every member holds the same deadline: Art. 52(1),
two weeks after the threshold "is met or it becomes known that it will be met". A declaration
of a run planned above a threshold makes it known at the latest when the run started
(``threshold_known_at``, if given, is earlier or later as the provider states).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from federation.errors import Problem, SchemaError
from federation.regimes import Clock
from federation.timeutil import format_time, parse_time
from federation.tripwires import ComputeThreshold

DeadlineState = Literal["due", "overdue", "met"]
STATES: tuple[DeadlineState, ...] = ("due", "overdue", "met")
CLIENT_FIELDS = ("developer", "model", "compute_flop", "started_at", "expected_end",
                 "threshold_known_at", "notified_at", "notes")


def _times(body: Mapping[str, Any]) -> list[Problem]:
    problems = []
    for k in ("started_at", "expected_end", "threshold_known_at", "notified_at"):
        if k in body:
            try:
                parse_time(str(body[k]), f"$.{k}")
            except SchemaError as e:
                problems += e.problems
    if "started_at" not in body:
        problems.append(Problem("$.started_at", "when the run started (RFC 3339) is required"))
    return problems


def training_run_body(body: Mapping[str, Any], thresholds: Iterable[ComputeThreshold],
                      clock_of: Callable[[str], Clock | None], *, origin: str, now: datetime,
                      token: bytes | None = None) -> dict[str, Any]:
    """The ``training-run`` message ``origin`` signs for a client's declaration ``body``.

    Raises:
        SchemaError: an unknown field, a missing name, a negative or missing compute, a bad time.
    """
    problems = [Problem(f"$.{k}", f"unknown field; known fields are {', '.join(CLIENT_FIELDS)}")
                for k in body if k not in CLIENT_FIELDS]
    problems += [Problem(f"$.{k}", "a non-empty string is required") for k in ("developer", "model")
                 if not isinstance(body.get(k), str) or not str(body.get(k)).strip()]
    flop = body.get("compute_flop")
    if not isinstance(flop, int | float) or isinstance(flop, bool) or flop < 0:
        problems.append(Problem("$.compute_flop", f"{flop!r}: give the training compute in "
                                                  "FLOP, a number of at least 0"))
    problems += _times(body)
    if problems:
        raise SchemaError(problems, "training-run")
    # Strictly above: Art. 51(2) presumes high-impact capabilities when the training compute
    # "is greater than 10^25" floating point operations; exactly 10^25 is not.
    crossed = [t for t in thresholds if float(flop) > t.flop]  # type: ignore[arg-type]
    anchor = parse_time(str(body.get("threshold_known_at") or body["started_at"]))
    clocks = []
    for name in dict.fromkeys(t.clock for t in crossed if t.clock):
        clock = clock_of(name) if name else None
        if clock is not None:
            clocks.append({"clock": clock.id, "citation": clock.citation, "to": clock.to,
                           "anchor_at": format_time(anchor),
                           "due_at": format_time(clock.due(anchor))})
    doc = {"type": "training-run", "origin": origin, "issued_at": format_time(now),
           "id": f"{origin}-run-{(token or secrets.token_bytes(8)).hex()}"}
    return doc | {k: body[k] for k in CLIENT_FIELDS if k in body} | {
        "thresholds_crossed": [t.id for t in crossed], "clocks": clocks}


def deadline_state(due_at: str, met_at: str | None, now: datetime) -> DeadlineState:
    """Where a deadline stands at ``now``: met (done, late or not), overdue, or still due."""
    if met_at:
        return "met"
    return "overdue" if parse_time(due_at) <= now else "due"
