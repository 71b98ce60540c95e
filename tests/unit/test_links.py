"""Links, same-as clusters counted once, candidate duplicates (federation/links.py)."""

from __future__ import annotations

from typing import Any

import pytest

from federation.errors import SchemaError
from federation.links import candidates, clusters, counted_once, link_body
from federation.schema import SchemaSet
from federation.stats import StatRecord, group_counts
from tests.unit.conftest import NOW


def report(iid: str, origin: str, severity: str = "incident", **extra: Any) -> dict[str, Any]:
    doc = {"type": "incident", "id": iid, "origin": origin, "severity": severity,
           "harm_types": ["physical"], "tlp": "GREEN", "title": f"Report {iid}",
           "ai_system": {"name": "RoboArm", "role": "r", "developer": "acme"},
           "occurred_at": "2025-03-01T00:00:00Z"}
    return doc | extra


def record(doc: dict[str, Any]) -> StatRecord:
    return StatRecord.from_incident(doc)


def test_a_link_is_a_valid_signed_message_body(schemas: SchemaSet) -> None:
    doc = link_body("gb-00000000000000aa", "fr-00000000000000bb", "same-as", origin="gb",
                    now=NOW, note="one event")
    assert schemas.problems("link", doc) == []
    with pytest.raises(SchemaError, match="same-as or related-to"):
        link_body("gb-00000000000000aa", "fr-00000000000000bb", "duplicate", origin="gb", now=NOW)
    with pytest.raises(SchemaError, match="itself"):
        link_body("gb-00000000000000aa", "gb-00000000000000aa", "same-as", origin="gb", now=NOW)


def test_same_as_is_transitive_and_ignores_unknown_ids() -> None:
    assert clusters([("a", "b"), ("c", "b"), ("x", "d")], ["a", "b", "c", "d"]) == [
        ["a", "b", "c"], ["d"]]


def test_a_cluster_counts_once_in_the_total_and_once_per_reporter() -> None:
    gb = record(report("gb-1", "gb", countries=["FR"]))
    fr = record(report("fr-1", "fr", "serious-incident", countries=["DE"],
                       occurred_at="2025-02-27T00:00:00Z"))
    jp = record(report("jp-1", "jp"))
    merged = counted_once([gb, fr, jp], [("gb-1", "fr-1")])
    assert len(merged) == 2
    cluster = next(r for r in merged if r.reporters)
    assert cluster.reporters == ("fr", "gb")
    assert cluster.severity.value == "serious-incident"      # the highest of the reports
    assert set(cluster.countries) == {"FR", "DE"}
    assert str(cluster.occurred_at) == "2025-02-27"          # the earliest
    by_origin = group_counts(merged, ["origin"])
    assert by_origin["total"] == 2
    assert {g["key"]["origin"]: g["count"] for g in by_origin["groups"]} == {
        "fr": 1, "gb": 1, "jp": 1}
    # Without the link: three events.
    assert group_counts(counted_once([gb, fr, jp], []), [])["total"] == 3


def test_candidates_name_their_reasons() -> None:
    mine = report("gb-1", "gb", title="Warehouse robot ruptures can of bear spray",
                  supporting_materials=[{"url": "https://example.org/a", "description": "d"}])
    same_url = report("fr-1", "fr", title="Something else entirely",
                      supporting_materials=[{"url": "https://example.org/a", "description": "d"}],
                      occurred_at="2024-01-01T00:00:00Z")
    same_system = report("jp-1", "jp", title="Unrelated words here",
                         occurred_at="2025-03-20T00:00:00Z")
    similar = report("us-1", "us", title="Warehouse robot ruptured a can of bear spray",
                     ai_system={"name": "Other", "role": "r"})
    unrelated = report("de-1", "de", title="Chatbot defames a mayor",
                       ai_system={"name": "Other", "role": "r"})
    found = {c.incident_id: c.reasons for c in candidates(mine, [mine, same_url, same_system,
                                                                 similar, unrelated])}
    assert set(found) == {"fr-1", "jp-1", "us-1"}
    assert found["fr-1"] == ("same source URL https://example.org/a",)
    assert found["jp-1"] == ("same AI system and developer within 30 days",)
    assert found["us-1"][0].startswith("similar title")
