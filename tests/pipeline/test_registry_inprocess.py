"""The model registry across a federation in one process: a registration reaches every node, a
new version is a revision, and a report naming a registered model affects where it is deployed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from federation.errors import SchemaError
from federation.model_registry import model_body, review_body
from node.pipeline import flow, registry
from tests.integration.conftest import report
from tests.pipeline.world import World

EXAMPLE = {"developer": "Example AI", "model": "ExampleLM", "version": "3.0",
           "deployment_jurisdictions": ["fr", "jp"]}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with World.create(tmp_path, ["gb", "fr", "jp", "de"]) as w:
        yield w


def register(world: World, at: str, **changes: object) -> str:
    ctx = world.nodes[at]
    draft = model_body(EXAMPLE | changes, origin=at, now=ctx.now(), revision=1)
    doc = draft | {"revision": registry.next_revision(ctx.store, draft["id"])}
    flow.sign_and_record(ctx, doc)
    return str(doc["id"])


def test_a_registration_and_its_next_version_reach_every_node(world: World) -> None:
    model = register(world, "gb")
    world.deliver()
    world.clock.advance(days=1)
    assert register(world, "gb", version="3.1") == model
    world.deliver()
    for n in ("gb", "fr", "jp", "de", "int"):
        store = world.nodes[n].store
        assert registry.current(store, model)["version"] == "3.1", n  # type: ignore[index]
        assert [v["version"] for v in registry.versions(store, model)] == ["3.0", "3.1"]
    assert [m["id"] for m in registry.listing(world.nodes["fr"].store, "example ai")] == [model]
    assert registry.listing(world.nodes["fr"].store, "Other AI") == []


def test_a_report_naming_the_model_affects_its_deployment_jurisdictions(world: World) -> None:
    model = register(world, "gb")
    world.deliver()
    doc = world.file("de", **report(affected_jurisdictions=["gb"], ai_system={
        "name": "ExampleLM", "version": "3.0", "developer": "Example AI", "role": "it did"}))
    world.deliver()
    stored = world.nodes["jp"].store.query("SELECT document FROM incidents WHERE id = ?",
                                           (doc["id"],))
    assert stored, "the report did not reach jp"
    [row] = stored
    sent = json.loads(row["document"])
    assert sent["affected_jurisdictions"] == ["gb", "fr", "jp"]
    assert sent["ai_system"]["model_ref"] == model
    for n in ("gb", "fr", "jp", "int"):
        assert [i["id"] for i in registry.incidents_of(world.nodes[n].store, model)] == [
            doc["id"]], n


def test_a_report_naming_another_version_is_not_linked(world: World) -> None:
    model = register(world, "gb")
    world.deliver()
    world.file("de", **report(affected_jurisdictions=[], ai_system={
        "name": "ExampleLM", "version": "2.0", "developer": "Example AI", "role": "it did"}))
    world.deliver()
    assert registry.incidents_of(world.nodes["gb"].store, model) == []


def test_a_member_cannot_sign_a_registration_another_member_owns(world: World) -> None:
    model = register(world, "gb")
    world.deliver()
    ctx = world.nodes["fr"]
    forged = model_body(EXAMPLE, origin="fr", now=ctx.now(), revision=2) | {"id": model}
    flow.sign_and_record(ctx, forged)
    world.deliver()
    assert ("gb", "not-owner") in [(n, r.reason) for n, r in world.refused]
    assert registry.current(world.nodes["gb"].store, model)["revision"] == 1  # type: ignore[index]


def test_fr_rejects_gbs_safety_case_and_every_node_holds_the_verdict(world: World) -> None:
    model = register(world, "gb")
    world.deliver()
    fr = world.nodes["fr"]
    current = registry.current(fr.store, model)
    assert current is not None
    with pytest.raises(SchemaError, match="another member"):
        review_body(current, {"verdict": "approved", "findings": "mine"}, origin="gb",
                    reviewer="gb", now=fr.now())
    doc = review_body(current, {"verdict": "rejected", "findings": "no uplift evals"},
                      origin="fr", reviewer="fr: reviewer", now=fr.now())
    flow.sign_and_record(fr, doc)
    world.deliver()
    for n in ("gb", "fr", "jp", "de", "int"):
        [r] = registry.reviews_of(world.nodes[n].store, model)
        assert (r["verdict"], r["origin"], r["model_revision"]) == ("rejected", "fr", 1), n
