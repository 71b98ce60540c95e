"""The assurance flag and independent evaluators across a federation in one process (issue 12):
a model above a threshold without an approved safety case is flagged at every node, with the
reason; a review recorded for an independent evaluator is signed by its authority's node,
names the organisation, and changes the flag everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from federation.model_registry import model_body, review_body
from federation.tripwires import evaluation_body
from node.pipeline import assurance, flow, registry
from tests.pipeline.world import World

NODES = ("gb", "fr", "jp", "int")
BIG = {"developer": "Example AI", "model": "ExampleLM", "version": "3.0",
       "deployment_jurisdictions": ["fr"], "training_compute_flop": 3e25,
       "safety_case": {"reference": "https://example.org/sc", "status": "submitted"}}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with World.create(tmp_path, ["gb", "fr", "jp"]) as w:
        yield w


def register(world: World, at: str, body: dict[str, object]) -> str:
    ctx = world.nodes[at]
    doc = model_body(body, origin=at, now=ctx.now(), revision=1) | {"revision": 1}
    flow.sign_and_record(ctx, doc)
    world.deliver()
    return str(doc["id"])


def flag(world: World, node: str, model: str) -> dict[str, object]:
    ctx = world.nodes[node]
    return registry.flags(ctx.store, ctx.tripwires)[model]


def review(world: World, at: str, model: str, verdict: str,
           organisation: str | None = None) -> dict[str, object]:
    ctx = world.nodes[at]
    current = registry.current(ctx.store, model)
    assert current is not None
    doc = review_body(current, {"verdict": verdict, "findings": "checked"}, origin=at,
                      reviewer=organisation or f"{at}: reviewer", now=ctx.now(),
                      organisation=organisation)
    flow.sign_and_record(ctx, doc)
    world.deliver()
    world.clock.advance(seconds=1)
    return doc


def test_above_the_compute_threshold_without_approval_is_flagged_everywhere(world: World) -> None:
    model = register(world, "gb", BIG)
    small = register(world, "gb", BIG | {"model": "SmallLM", "training_compute_flop": 1e22})
    for n in NODES:
        f = flag(world, n, model)
        assert (f["flagged"], f["safety_case"], f["thresholds"]) == (
            True, "submitted", ["ai-act-51-2"]), n
        assert "Art. 51(2)" in str(f["reason"]) and "submitted" in str(f["reason"]), n
        assert flag(world, n, small)["flagged"] is False, n
    summary = assurance.summary(world.nodes["int"].store, world.nodes["int"].tripwires)
    assert summary["models_above_threshold_without_approved_safety_case"] == 1
    assert summary["flagged_models"] == [model]

    review(world, "fr", model, "rejected")
    assert {n: flag(world, n, model)["safety_case"] for n in NODES} == dict.fromkeys(
        NODES, "rejected")
    review(world, "jp", model, "approved")  # the newest verdict decides
    assert not any(flag(world, n, model)["flagged"] for n in NODES)
    summary = assurance.summary(world.nodes["int"].store, world.nodes["int"].tripwires)
    assert summary["models_above_threshold_without_approved_safety_case"] == 0


def test_a_tripwire_crossing_puts_a_small_model_above_a_threshold(world: World) -> None:
    model = register(world, "gb", BIG | {"model": "SmallLM", "training_compute_flop": 1e22})
    assert flag(world, "fr", model)["flagged"] is False
    ctx = world.nodes["gb"]
    wire = ctx.tripwires.for_domain("cbrn")
    assert wire is not None
    doc = evaluation_body({"developer": "Example AI", "model": "SmallLM", "version": "3.0",
                           "suite": "s", "domain": "cbrn", "score": wire.early_warning,
                           "evaluator": "UK AISI", "evaluated_at": "2026-11-25T00:00:00Z"},
                          ctx.tripwires, origin="gb", now=ctx.now())
    flow.sign_and_record(ctx, doc | {"model_ref": model}, qualifier=doc["level"])
    world.deliver()
    for n in NODES:
        f = flag(world, n, model)
        assert f["flagged"] is True and f["thresholds"] == ["cbrn early-warning"], n


def test_an_independent_evaluators_review_is_signed_by_its_node_and_names_it(
        world: World) -> None:
    model = register(world, "gb", BIG)
    # a member's authority may not review its own registration; its independent evaluator may
    doc = review(world, "gb", model, "approved", organisation="Example Evaluations Ltd")
    assert (doc["reviewer_kind"], doc["organisation"], doc["origin"]) == (
        "independent", "Example Evaluations Ltd", "gb")
    for n in NODES:
        [r] = registry.reviews_of(world.nodes[n].store, model)
        assert (r["reviewer_kind"], r["organisation"]) == ("independent",
                                                           "Example Evaluations Ltd"), n
        assert flag(world, n, model)["flagged"] is False, n
