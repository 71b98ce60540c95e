"""The ``step`` message: evidence is checked field by field, and its body is what the schema
takes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from federation.errors import MessageError
from federation.schema import SchemaSet
from federation.step_messages import StepUpdate, build_step, evidence_problems

T = datetime(2026, 11, 20, 9, tzinfo=UTC)
GOOD = [{"url": "https://example.org/r.pdf", "sha256": "0f" * 32}]


@pytest.mark.parametrize(("evidence", "path"), [
    ("not a list", "$.evidence"),
    ([{"url": "https://e.org/a", "sha256": "AB" * 32}], "$.evidence[0].sha256"),
    ([{"url": "https://e.org/a", "sha256": "ab" * 31}], "$.evidence[0].sha256"),
    ([{"url": "ftp://e.org/a", "sha256": "ab" * 32}], "$.evidence[0].url"),
    ([{"url": "https://e.org/a", "sha256": "ab" * 32, "extra": 1}], "$.evidence[0]"),
])
def test_bad_evidence_is_named_by_its_path(evidence: object, path: str) -> None:
    assert [p for p, _ in evidence_problems(evidence)] == [path]


def test_good_evidence_passes_and_the_body_validates_and_reads_back(schemas: SchemaSet) -> None:
    assert evidence_problems(GOOD) == []
    m = build_step(origin="gb", issued_at=T, run_id="gb-00000001", step_id="art73-report",
                   incident_id="gb-0123456789abcdef", status="succeeded", by="alice",
                   note="filed", evidence=GOOD, run={"id": "gb-00000001"})
    doc = m.to_dict()
    assert schemas.problems("step", doc) == []
    assert schemas.problems("step", {**doc, "evidence": [{"url": "x", "sha256": "y"}]})
    assert StepUpdate.from_dict(doc).to_dict() == doc
    with pytest.raises(MessageError):
        build_step(origin="gb", issued_at=T, run_id="gb-00000001", step_id="s",
                   incident_id="gb-0123456789abcdef", status="succeeded", by="alice",
                   evidence=[{"url": "https://e.org", "sha256": "x"}])
