"""The escalation figures from the tables a node keeps (``escalation_figures``, folded in as
documents arrive) equal what parsing every stored document again computed, with the closures
matched the old way (each escalation against every resolution), as documents arrive: acks,
declines, steps acked by another recipient, resolutions naming escalations or closing an
incident's, open and overdue; across a later clock, a store opened again, an upgraded store
holding escalations from before its tables, and documents that tie (one id from two origins,
answers at one instant, deadlines and resolutions at the very instant)."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from unittest.mock import patch

import pytest

from bench import size_escalations as bench
from federation import stats_summary
from federation.stats import percentile
from federation.stats_summary import (
    Answer,
    Closure,
    EscalationFacts,
    ack_samples,
    ack_times,
    escalation_states,
    escalation_summary,
    ranked_percentile,
)
from federation.step_messages import StepUpdate
from federation.timeutil import format_instant
from node.pipeline import statistics
from node.store import db
from node.store import escalation_states as tables
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


def _tied_messages(rnd: random.Random, n: int) -> list[tuple[str, dict[str, Any]]]:
    """Documents drawn from few ids, incidents and instants (a half-hour grid around ``NOW``),
    so that they collide: one escalation id signed by two origins, a recipient's ack, decline
    and step at one instant, a recipient listed twice, deadlines and resolutions at the very
    instant of ``NOW`` or of an escalation."""
    members = ("gb", "fr", "de", "jp")

    def at() -> str:
        return format_instant(bench.NOW + timedelta(minutes=30 * rnd.randint(-4, 4)))

    ids = [f"esc-{k}" for k in range(max(2, n // 4))]
    incidents = ("gb-inc-a", "gb-inc-b", "fr-inc-c")
    out: list[tuple[str, dict[str, Any]]] = []
    for _ in range(n):
        roll = rnd.random()
        origin = rnd.choice(members)
        if roll < 0.3:
            out.append(("escalation", {
                "type": "escalation", "id": rnd.choice(ids), "origin": origin,
                "incident_id": rnd.choice(incidents), "tier": rnd.choice((1, 2)),
                "issued_at": at(), "deadline": at(),
                "to": [rnd.choice(members) for _ in range(rnd.randint(1, 3))],
                "acks": rnd.choice(("any", "all"))}))
        elif roll < 0.75:
            kind = rnd.choice(("ack", "decline"))
            out.append((kind, {"type": kind, "origin": origin,
                               "escalation_id": rnd.choice(ids), "incident_id": "x",
                               "issued_at": at()}))
        elif roll < 0.85:
            out.append(("step", {
                "type": "step", "origin": origin, "issued_at": at(), "run_id": "run-1",
                "step_id": "escalate-1", "incident_id": "x",
                "status": rnd.choice(("succeeded", "succeeded", "failed")),
                "by": rnd.choice(members), "escalation_id": rnd.choice(ids), "to": ["fr"]}))
        else:
            out.append(("resolution", {
                "type": "resolution", "origin": origin, "incident_id": rnd.choice(incidents),
                "issued_at": at(),
                **({"escalation_ids": rnd.sample(ids, 1)} if rnd.random() < 0.4 else {})}))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_documents_that_tie_give_the_figures_every_document_gives(seed: int) -> None:
    rnd = random.Random(seed)  # noqa: S311 - reproducible data, not a secret
    docs = _tied_messages(rnd, rnd.choice((8, 30, 90)))
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "s.sqlite3")
        try:
            done = 0
            for cut in [*sorted(rnd.sample(range(len(docs) + 1), 2)), len(docs)]:
                bench.fill(store, docs[done:cut], batch=5)
                done = cut
                for minutes in (-90, 0, 1, 30, 600):  # before, at and after the deadlines
                    ctx = bench.context(store)
                    now = bench.NOW + timedelta(minutes=minutes)
                    ctx.now = lambda now=now: now  # type: ignore[method-assign,misc]
                    assert statistics.escalation_figures(ctx) == _old_figures(ctx)
        finally:
            store.close()


def test_a_store_opened_again_goes_on_from_its_tables() -> None:
    """The tables persist with their watermark: a store opened again parses only what arrived
    since it was last read, and says what parsing everything says."""
    docs = bench.messages(300, seed=5)
    random.Random(5).shuffle(docs)  # noqa: S311 - reproducible data, not a secret
    parsed: list[int] = []
    facts = statistics._facts

    def counting(rows: Any) -> Any:
        parsed.append(len(rows))
        return facts(rows)

    with tempfile.TemporaryDirectory() as tmp, \
            patch.object(statistics, "_facts", counting), \
            patch.object(statistics, "_FOLD_BATCH", 37), \
            patch.object(statistics, "_FOLD_INLINE", 10**6):  # many transactions, one call
        path = Path(tmp) / "s.sqlite3"
        for part in (docs[:200], docs[200:], []):
            store = Store.open(path)
            try:
                parsed.clear()
                bench.fill(store, part)
                ctx = bench.context(store)
                assert statistics.escalation_figures(ctx) == _old_figures(ctx)
                assert sum(parsed) == len(part)  # only what arrived since, nothing twice
                assert statistics.escalation_figures(ctx) == _old_figures(ctx)
                assert sum(parsed) == len(part)
            finally:
                store.close()


def test_two_connections_to_one_store_agree() -> None:
    """Another process (a second connection) that folded documents in first leaves the
    tables as one fold would: neither folds a document twice nor misses one."""
    docs = bench.messages(120, seed=8)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.sqlite3"
        one, two = Store.open(path), Store.open(path)
        try:
            for part in (docs[:150], docs[150:]):
                bench.fill(one, part)
                for store in (two, one):
                    ctx = bench.context(store)
                    assert statistics.escalation_figures(ctx) == _old_figures(ctx)
        finally:
            one.close()
            two.close()


def test_an_upgraded_store_fills_its_tables_from_the_escalations_it_holds() -> None:
    """A store written before the escalation tables existed (its escalations, answers and
    resolutions only as envelopes) gets them by the migration and fills them from the
    envelopes it holds."""
    index = next(i for i, script in enumerate(db.MIGRATIONS)
                 if "CREATE TABLE escalation_facts" in script)
    docs = bench.messages(200, seed=11)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.sqlite3"
        with patch.object(db, "MIGRATIONS", db.MIGRATIONS[:index]):
            old = Store.open(path)
            bench.fill(old, docs[:250])
            assert not old.query("SELECT name FROM sqlite_master WHERE name = "
                                 "'escalation_facts'")
            old.close()
        store = Store.open(path)
        try:
            bench.fill(store, docs[250:])
            ctx = bench.context(store)
            # More than a call folds (``_FOLD_INLINE``): the first call says it is counting,
            # the background loop's rounds fold the rest (the next test, step by step).
            assert "counting" in statistics.escalation_figures(ctx)[1]
            while not statistics.fold_escalations(store, statistics._FOLD_ROUND):
                pass
            assert statistics.escalation_figures(ctx) == _old_figures(ctx)
            assert store.scalar("SELECT COUNT(*) FROM escalation_facts") == 200
        finally:
            store.close()


@pytest.mark.parametrize("seed", range(20))
def test_a_percentile_from_two_ranked_values_is_the_percentile(seed: int) -> None:
    rnd = random.Random(seed)  # noqa: S311 - reproducible data, not a secret
    values = [rnd.choice((0.0, rnd.uniform(0, 1e4), float(rnd.randint(0, 9))))
              for _ in range(rnd.randint(1, 40))]
    for q in (0, 10, 50, 90, 99.5, 100):
        assert ranked_percentile(len(values), q, sorted(values).__getitem__) == \
            percentile(values, q)


def test_ranked_ack_times_read_from_either_end_are_the_sorted_ones() -> None:
    rnd = random.Random(4)  # noqa: S311 - reproducible data, not a secret
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "s.sqlite3")
        try:
            for n in (1, 2, 3, 6, 11):
                values = [rnd.choice((1.0, 2.5, rnd.random())) for _ in range(n)]
                with store.transaction() as tx:
                    tx.execute("DELETE FROM escalation_samples")
                    tables.settle(tx, "e", "answered", "[]", [
                        (f"r{i}", 1, v) for i, v in enumerate(values)])
                ordered = sorted(values)
                for k in range(n):
                    for count in (1, 2, 3):
                        assert tables.samples_at(store, 1, n, k, count) == \
                            ordered[k:k + count]
        finally:
            store.close()


def test_an_upgraded_store_answers_at_once_while_the_background_catches_up() -> None:
    """An upgraded store holding more unfolded documents than a call folds (``_FOLD_INLINE``)
    answers at once with the figures of exactly the documents folded so far and says how far
    the counting has come (``counting``); a snapshot is refused meanwhile (never signed with
    partial figures); the background loop (``escalation_figures_loop``) folds the rest in
    bounded rounds, and then the answer is the whole one, with no marker."""
    import asyncio  # noqa: PLC0415 - this test only

    from node.store import records  # noqa: PLC0415

    index = next(i for i, script in enumerate(db.MIGRATIONS)
                 if "CREATE TABLE escalation_facts" in script)
    docs = bench.messages(150, seed=21)
    random.Random(21).shuffle(docs)  # noqa: S311 - reproducible data, not a secret
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.sqlite3"
        with patch.object(db, "MIGRATIONS", db.MIGRATIONS[:index]):
            old = Store.open(path)
            bench.fill(old, docs)
            old.close()
        store, reference = Store.open(path), Store.open(Path(tmp) / "ref.sqlite3")
        rounds: list[int] = []
        facts = statistics._facts

        def counting(rows: Any) -> Any:
            rounds.append(len(rows))
            return facts(rows)

        try:
            stored = int(store.scalar("SELECT COUNT(*) FROM envelopes"))
            ctx = bench.context(store)
            with patch.object(statistics, "_FOLD_INLINE", 60), \
                    patch.object(statistics, "_FOLD_ROUND", 45), \
                    patch.object(statistics, "_FOLD_BATCH", 25), \
                    patch.object(statistics, "_facts", counting):
                for call in (1, 2):
                    ack, figures = statistics.escalation_figures(ctx)
                    assert figures.pop("counting") == {"folded": 60 * call, "stored": stored}
                    # The figures of the documents folded: those of a store holding only them.
                    seen = tables.watermark(store)
                    with reference.transaction() as tx:
                        for r in store.query("SELECT * FROM envelopes WHERE rowid <= ?",
                                             (seen,)):  # idempotent: by digest
                            records.insert_envelope(tx, r["digest"], r["message_type"],
                                                    r["origin"], r["subject"], r["envelope"],
                                                    r["received_at"], local=False)
                    assert (ack, figures) == _old_figures(bench.context(reference))
                with pytest.raises(statistics.StillCounting, match=r"180 of .* documents"):
                    statistics.build_snapshot(cast(Any, SimpleNamespace(
                        store=store, now=ctx.now, node_id="int")))

                async def caught_up() -> None:
                    loop = asyncio.create_task(statistics.escalation_figures_loop(ctx, 0.01))
                    try:
                        for _ in range(1000):  # bounded: rounds of 45 of a few hundred
                            if tables.watermark(store) == stored:
                                return
                            await asyncio.sleep(0.01)
                        raise AssertionError("the loop did not catch up")
                    finally:
                        loop.cancel()

                rounds.clear()
                asyncio.run(caught_up())
                assert rounds and max(rounds) <= 25 and sum(rounds) == stored - 180
            assert statistics.escalation_figures(ctx) == _old_figures(ctx)
            assert "counting" not in statistics.escalation_figures(ctx)[1]
        finally:
            store.close()
            reference.close()
