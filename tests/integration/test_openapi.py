"""The OpenAPI document is complete and true: every route is in it, every reference resolves,
and schemathesis, fuzzing a live node, finds no 5xx and no answer that breaks the document.

Fuzzing is bounded and deterministic: ``MAX_EXAMPLES`` generated requests per operation and
generation mode (valid and invalid input; 40, or ``BEACON_FUZZ_EXAMPLES`` for a deeper local
run), Hypothesis derandomised, no shrinking, no example database. Each operation is called
with a token of a role it allows (operator when it can), so the handlers behind the role check
are reached; operations with an ``{id}`` are fuzzed once more with real ids (an incident, a run,
escalations in the inbox), so that more than 404s are seen.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis.errors
import jsonschema
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from node.app import init_app
from node.core.config import NodeConfig
from node.http.appkeys import NODE
from node.web import openapi
from node.web.openapi import ENDPOINTS
from tests.integration.conftest import MINIMAL_REPORT, Federation
from tests.integration.world import World, build_world, call

MAX_EXAMPLES = int(os.environ.get("BEACON_FUZZ_EXAMPLES", "40"))  # more for a deep local run
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
FUZZED = sorted((k for k, ep in ENDPOINTS.items() if ep.media != "text/event-stream"),
                key=lambda k: (k[1], k[0]))


@pytest.fixture(scope="module")
def doc(fed: Federation) -> dict[str, Any]:
    r = call(fed, "gb", "GET", "/api/v1/openapi.json", None)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    return body


@pytest.fixture(scope="module")
def world(fed: Federation) -> Iterator[World]:
    yield build_world(fed)


@pytest.fixture(scope="module")
def schema(doc: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_dict(doc)


def test_every_registered_route_is_documented(fed: Federation, doc: dict[str, Any]) -> None:
    app = init_app(NodeConfig.load(Path(fed.node("gb")["config"])))
    try:
        registered = set(openapi.registered_operations(app))
        assert openapi.undocumented(app) == [], "describe these in node/http/api_spec.py"
    finally:
        app[NODE].close()
    served = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert served == registered
    assert set(ENDPOINTS) - registered == set(), "node/http/api_spec.py describes routes that " \
                                                 "no longer exist"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def _validator(doc: dict[str, Any], component: str) -> jsonschema.Draft202012Validator:
    registry: Registry[Any] = Registry().with_resource(
        "urn:beacon:openapi", Resource.from_contents(doc, default_specification=DRAFT202012))
    return jsonschema.Draft202012Validator(
        {"$ref": f"urn:beacon:openapi#/components/schemas/{component}"}, registry=registry,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_every_reference_resolves_inside_the_document(doc: dict[str, Any]) -> None:
    refs = set(_refs(doc))
    assert refs, "the document references its schemas"
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref  # nothing to fetch from elsewhere
        node: Any = doc
        for part in ref[2:].split("/"):
            node = node[part]
        assert isinstance(node, dict), ref
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_the_report_schema_is_what_the_handler_takes(doc: dict[str, Any]) -> None:
    report = _validator(doc, "report")
    assert not list(report.iter_errors(MINIMAL_REPORT))
    for extra in ({"origin": "fr"}, {"id": "gb-0123456789abcdef"}, {"revision": 2},
                  {"severty": "hazard"}):
        assert list(report.iter_errors({**MINIMAL_REPORT, **extra})), extra
    assert list(report.iter_errors({**MINIMAL_REPORT, "affected_jurisdictions": ["xx"]}))
    without_defaults = {k: v for k, v in MINIMAL_REPORT.items()
                        if k not in ("red_lines", "affected_jurisdictions")}
    assert not list(report.iter_errors(without_defaults))
    assert not list(_validator(doc, "report-changes").iter_errors({"severity": "disaster"}))


def _answer_validator(doc: dict[str, Any], method: str, path: str,
                      status: int) -> jsonschema.Draft202012Validator:
    pointer = "/".join(p.replace("~", "~0").replace("/", "~1") for p in (
        "paths", path, method.lower(), "responses", str(status), "content", "application/json",
        "schema"))
    registry: Registry[Any] = Registry().with_resource(
        "urn:beacon:openapi", Resource.from_contents(doc, default_specification=DRAFT202012))
    return jsonschema.Draft202012Validator({"$ref": f"urn:beacon:openapi#/{pointer}"},
                                           registry=registry)


def test_a_withheld_entry_matches_the_document(fed: Federation, doc: dict[str, Any]) -> None:
    filed = call(fed, "gb", "POST", "/api/v1/incidents", "operator",
                 json={**MINIMAL_REPORT, "tlp": "RED", "affected_jurisdictions": []})
    assert filed.status_code == 201, filed.text
    r = call(fed, "gb", "GET", "/api/v1/log/entries", "auditor")
    items = r.json()["items"]
    assert any(i["digest"] == filed.json()["digest"] and "withheld" in i for i in items)
    assert any("envelope" in i for i in items)
    errors = list(_answer_validator(doc, "GET", "/api/v1/log/entries", 200).iter_errors(
        r.json()))
    assert not errors, errors[0].message


def _token(fed: Federation, roles: tuple[str, ...]) -> str:
    role = "operator" if not roles or "operator" in roles else roles[0]
    return str(fed.node("gb")["tokens"][role])


def _fuzz(fed: Federation, schema: Any, method: str, path: str, mode: GenerationMode,
          **fixed: Any) -> None:
    operation = schema[path][method]
    headers = {"Authorization": f"Bearer {_token(fed, ENDPOINTS[(method, path)].roles)}"}
    base_url = fed.node("gb")["url"]
    session = requests.Session()

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    def run(case: Any) -> None:
        case.call_and_validate(base_url=base_url, session=session, headers=headers,
                               checks=CHECKS, timeout=15)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        assert mode == GenerationMode.NEGATIVE  # nothing invalid to send (no parameters)
    finally:
        session.close()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["valid", "invalid"])
@pytest.mark.parametrize(("method", "path"), FUZZED)
def test_schemathesis_finds_nothing(fed: Federation, schema: Any, world: World, method: str,
                                    path: str, mode: GenerationMode) -> None:
    _fuzz(fed, schema, method, path, mode)


REAL_IDS = {
    ("GET", "/api/v1/incidents/{id}"): lambda w: w.incident,
    ("POST", "/api/v1/incidents/{id}/revisions"): lambda w: w.incident,
    ("GET", "/api/v1/runs/{id}"): lambda w: w.run,
    ("POST", "/api/v1/runs/{id}/declare"): lambda w: w.run,
    ("POST", "/api/v1/escalations/{id}/ack"): lambda w: w.escalations[0],
    ("POST", "/api/v1/escalations/{id}/decline"): lambda w: w.escalations[1],
}


@pytest.mark.parametrize(("method", "path"), sorted(REAL_IDS, key=lambda k: (k[1], k[0])))
def test_schemathesis_with_real_ids(fed: Federation, schema: Any, world: World, method: str,
                                    path: str) -> None:
    _fuzz(fed, schema, method, path, GenerationMode.POSITIVE,
          path_parameters={"id": REAL_IDS[(method, path)](world)})


ROLES = ("operator", "responder", "auditor", "viewer")
COVERAGE = settings(max_examples=1, derandomize=True, database=None, deadline=None,
                    phases=[Phase.explicit], suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), FUZZED)
def test_schemathesis_coverage_phase_as_every_role(fed: Federation, schema: Any, world: World,
                                                   method: str, path: str, role: str) -> None:
    """Schemathesis's coverage phase: boundary and just-out-of-bounds values of every
    parameter and body field, missing and malformed ones, wrong types and media types — run as
    explicit examples (no Hypothesis search), with each role's token, so a role refused at the
    door (403) and the handlers behind it are both seen. No 5xx; every answer as documented."""
    base_url = fed.node("gb")["url"]
    headers = {"Authorization": f"Bearer {fed.node('gb')['tokens'][role]}"}
    seen: list[int] = []
    with requests.Session() as session:
        def check(case: Any) -> None:
            seen.append(1)
            case.call_and_validate(base_url=base_url, session=session, headers=headers,
                                   checks=CHECKS, timeout=15)

        test = create_test(operation=schema[path][method], test_func=check,
                           config=HypothesisTestConfig(project=schema.config, settings=COVERAGE,
                                                       modes=[HypothesisTestMode.COVERAGE]))
        test()
    assert seen, "the coverage phase sent nothing"
