"""The escalation figures from the facts a node keeps parsed (``escalation_figures``) equal
what parsing every stored document again computed, with the closures matched the old way (each
escalation against every resolution), as documents arrive: acks, declines, steps acked by
another recipient, resolutions naming escalations or closing an incident's, open and overdue."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest

from bench import size_escalations as bench
from federation import stats_summary
from federation.stats_summary import (
    Answer,
    Closure,
    EscalationFacts,
    ack_samples,
    ack_times,
    escalation_states,
    escalation_summary,
)
from federation.step_messages import StepUpdate
from node.pipeline import statistics
from node.store.db import Store
from node.store.envelopes import documents_of_type


def _every_closure(closures: Iterable[Closure]) -> Callable[[EscalationFacts], bool]:
    """How ``escalation_states`` matched closures before: every one, per escalation."""
    closed = list(closures)
    return lambda e: any(c.closes(e) for c in closed)


def _old_figures(ctx: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    with patch.object(stats_summary, "_closer", _every_closure):
        return _parsed_anew(ctx)


def _parsed_anew(ctx: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``escalation_figures`` from every document parsed again (what it did before it kept the
    parsed facts)."""
    def documents(message_type: str) -> list[dict[str, Any]]:
        return documents_of_type(ctx.store, message_type)

    escalations = [EscalationFacts.from_document(d) for d in documents("escalation")]
    answers = [Answer.from_document(d, kind) for kind in ("ack", "decline")
               for d in documents(kind) if d.get("escalation_id")]
    steps = [StepUpdate.from_dict(d) for d in documents("step")]
    answers += [Answer(escalation_id=s.escalation_id, origin=s.by, kind="ack",
                       issued_at=s.issued_at)
                for s in steps if s.escalation_id and s.status == "succeeded" and s.by != s.origin]
    closures = [Closure.from_document(d) for d in documents("resolution")]
    states = escalation_states(escalations, answers, closures, now=ctx.now())
    return ack_times(ack_samples(escalations, answers)), escalation_summary(states)


@pytest.mark.parametrize("seed", range(8))
def test_kept_facts_give_the_figures_every_document_gives(seed: int) -> None:
    rnd = random.Random(seed)  # noqa: S311 - reproducible data, not a secret
    docs = bench.messages(rnd.choice((2, 10, 60, 200)), seed=seed)
    rnd.shuffle(docs)  # answers and resolutions before their escalation, too
    cuts = sorted(rnd.sample(range(len(docs) + 1), 3))
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "s.sqlite3")
        try:
            ctx = bench.context(store)
            done = 0
            for cut in [*cuts, len(docs)]:
                bench.fill(store, docs[done:cut], batch=7)
                for _ in range(2):  # a second read parses nothing new and says the same
                    assert statistics.escalation_figures(ctx) == _old_figures(ctx)
                done = cut
            # Time moves on: open escalations fall overdue with no new document.
            hours = rnd.choice((2, 30, 100))
            later = bench.context(store)
            later.now = lambda: bench.NOW + timedelta(hours=hours)  # type: ignore[method-assign]
            assert statistics.escalation_figures(later) == _old_figures(later)
            ack, summary = statistics.escalation_figures(ctx)
            if summary["seen"] >= 100:  # every state occurs: the comparison means something
                assert ack and all(summary[k] for k in ("answered", "closed", "open",
                                                        "overdue")), summary
        finally:
            store.close()


def test_a_store_opened_again_is_read_again() -> None:
    """The parsed facts belong to one ``Store``: another one (another node, or the same file
    opened again) parses its own."""
    docs = bench.messages(40, seed=3)
    with tempfile.TemporaryDirectory() as tmp:
        first, second = (Store.open(Path(tmp) / f"{n}.sqlite3") for n in ("a", "b"))
        try:
            bench.fill(first, docs)
            bench.fill(second, docs[:10])
            assert statistics.escalation_figures(bench.context(first)) == _old_figures(
                bench.context(first))
            assert statistics.escalation_figures(bench.context(second)) == _old_figures(
                bench.context(second))
            assert statistics.escalation_figures(bench.context(second)) != \
                statistics.escalation_figures(bench.context(first))
        finally:
            first.close()
            second.close()
