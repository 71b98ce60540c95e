"""Every message type, generated from its schema in ``schemas/``, signed by a real member and
put through a peer's whole inbound path: the checks, the batch commit, the reactions.

A message that is valid under its schema but means nothing (an ack for an escalation nobody
sent, a cosignature of an unknown checkpoint, a review of a model never registered, a link to
incidents that do not exist) must be stored, ignored or refused with a specific reason. It
must never reach ``processing-error``: that quarantine means a handler raised, which logs a
traceback and is a bug (issue #9). Bodies come from schemathesis's JSON Schema generator (its
port of hypothesis-jsonschema; the original package cannot run with the Hypothesis
schemathesis needs), fed the schema files themselves with their ``$ref``s resolved. After the
fuzzing, a real report still travels: nothing stopped the peer.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from federation.canonical import encode
from federation.envelope import Envelope, payload_type
from federation.errors import SchemaError
from federation.message_types import MessageType
from federation.subjects import subject_for
from node.core.resources import resource_dir
from node.store import records
from tests.integration.conftest import MINIMAL_REPORT
from tests.pipeline.world import World

# Drawing one roster or statistics document takes the generator seconds (many required,
# patterned, nested fields), so those two get fewer examples.
EXAMPLES = {"roster": 6, "stats": 8}


def fuzz(message_type: str) -> settings:
    return settings(max_examples=EXAMPLES.get(message_type, 20), deadline=None, database=None,
                    derandomize=True, suppress_health_check=list(HealthCheck))


def _schema_files() -> dict[str, dict[str, Any]]:
    out = {}
    for p in sorted(resource_dir("schemas").glob("*.v1.json")):
        doc = json.loads(p.read_text(encoding="utf-8"))
        out[str(doc["$id"]).rsplit("/", 1)[1]] = doc
    return out


SCHEMAS = _schema_files()


def resolved(node: Any, base: str) -> Any:
    """``node`` with every ``$ref`` (local or to another schema file) replaced by its target.

    The generator takes one self-contained schema; Beacon's schemas refer to each other
    (``common.v1.json#/$defs/timestamp``) and none is recursive, so inlining terminates.
    """
    if isinstance(node, list):
        return [resolved(v, base) for v in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        file, _, fragment = str(node["$ref"]).partition("#")
        file = file or base
        target: Any = SCHEMAS[file]
        for part in filter(None, fragment.split("/")):
            target = target[part]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return {**resolved(copy.deepcopy(target), file), **resolved(rest, base)}
    return {k: resolved(v, base) for k, v in node.items() if k not in ("$id", "$schema", "$defs")}


def documents(message_type: str) -> st.SearchStrategy[Any]:
    """Bodies valid under ``schemas/<message_type>.v1.json``."""
    name = f"{message_type}.v1.json"
    body = {"required": True, "content": {"application/json": {
        "schema": resolved(SCHEMAS[name], name)}}}
    api = schemathesis.openapi.from_dict({
        "openapi": "3.1.0", "info": {"title": message_type, "version": "1"},
        "paths": {"/m": {"post": {"requestBody": body,
                                  "responses": {"200": {"description": "stored"}}}}}})
    return api["/m"]["POST"].as_strategy(generation_mode=GenerationMode.POSITIVE).map(
        lambda case: case.body)


OWNED_ID = re.compile(r"^[a-z][a-z0-9-]{1,31}-(model|eval|run|review|signal)-")


def owned(doc: dict[str, Any], origin: str) -> dict[str, Any]:
    """``doc`` with the ids a member may sign only for itself rewritten to name ``origin``,
    so that the generated document gets past the ownership check and into the pipeline."""
    doc = dict(doc)
    if isinstance(doc.get("id"), str):
        doc["id"] = OWNED_ID.sub(lambda m: f"{origin}-{m.group(1)}-", doc["id"])
        if doc["type"] == "incident":
            doc["id"] = f"{origin}-{doc['id'].rsplit('-', 1)[-1]}"
    if doc["type"] == "link" and isinstance(doc.get("incident_id"), str):
        doc["incident_id"] = f"{origin}-{doc['incident_id'].rsplit('-', 1)[-1]}"
    return doc


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with World.create(tmp_path_factory.mktemp("fuzz"), ["gb", "fr"]) as w:
        yield w


def processing_errors(world: World) -> list[str]:
    return [f"{name}: {row['detail']}" for name, ctx in world.nodes.items()
            for row in ctx.store.query("SELECT detail FROM quarantine "
                                       "WHERE reason = 'processing-error'")]


@pytest.mark.parametrize("message_type", get_args(MessageType))
def test_schema_valid_messages_never_break_a_peer(world: World, message_type: str) -> None:
    gb = world.nodes["gb"]
    reached: list[str] = []

    @fuzz(message_type)
    @given(doc=documents(message_type))
    def receive(doc: Any) -> None:
        assume(isinstance(doc, dict))
        doc = owned({**doc, "type": message_type, "origin": "gb"}, "gb")
        if "issued_at" in doc:
            doc["issued_at"] = gb.now_text()
        try:
            body = encode(doc)  # what a member could sign: JCS-encodable JSON
        except SchemaError:
            assume(False)
        envelope = Envelope.sign(payload_type(message_type), body, [gb.signing_key])
        before = len(world.refused)
        for name in ("fr", "int"):
            world._receive(name, world.nodes[name], subject_for(message_type, "gb"),
                           envelope.to_json())
        reached.append(world.refused[-1][1].reason if len(world.refused) > before else "accepted")
        assert not processing_errors(world), processing_errors(world)
        world.deliver()  # what the peers' reactions caused travels too
        assert not processing_errors(world), processing_errors(world)

    receive()
    # Most generated documents must get past the inbound checks, or the reactions go untested.
    assert reached.count("accepted") > len(reached) // 2, Counter(reached)


def test_a_report_still_travels_after_the_fuzzing(world: World) -> None:
    doc = world.file("gb", **dict(MINIMAL_REPORT, title="after the fuzz"))
    world.deliver()
    for name in ("fr", "int"):
        assert records.get_incident(world.nodes[name].store, doc["id"]) is not None, name
    assert not processing_errors(world)


def test_the_resolver_inlines_references_across_files() -> None:
    schema = resolved(SCHEMAS["training-run.v1.json"], "training-run.v1.json")
    assert "$ref" not in json.dumps(schema)
    assert Path(resource_dir("schemas") / "common.v1.json").exists()
