"""The benchmark's own pieces: its floor measures what it says, its table replaces itself.

The benchmarks never fail on a number; these tests only check that `make bench` writes
what it claims (a floor made of its parts, one table between the markers, however often run).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.floor import floor_us
from bench.size import size
from bench.table import BEGIN, END, write_table
from tests.unit.factories import member_key, signed_incident

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_floor_is_verify_plus_compiled_validation() -> None:
    key = member_key("gb")
    msgs = [signed_incident(key, "gb", NOW)[0].to_json() for _ in range(5)]
    f = floor_us(msgs, key.public)
    parts = f["verify_us"] + f["compiled_validate_us"]
    assert f["floor_us"] == pytest.approx(parts, abs=0.11)  # each figure rounded on its own
    assert f["floor_with_python_jsonschema_us"] > f["floor_us"]


def test_table_is_written_between_the_markers_once(tmp_path: Path) -> None:
    key = member_key("gb")
    report = {
        "measured_at": "2026-03-01T00:00:00+00:00", "machine": "test",
        "floor": floor_us([signed_incident(key, "gb", NOW)[0].to_json()], key.public),
        "ingest": {"reports": 7, "reports_per_s": 1, "cpu_us_per_report": 2.0,
                   "floor_over_cpu": 0.5},
        "pipeline_in_process": {"reports_per_s": 3},
        "filing_latency_gb_to_fr_ms": {"samples": 1, "p50": 1.0, "p99": 2.0, "max": 3.0},
        "size": size(50),
    }
    doc = tmp_path / "performance.md"
    doc.write_text(f"# Title\n\n{BEGIN}\nold table\n{END}\n\nAfter.\n")
    write_table(doc, report)
    write_table(doc, report)
    text = doc.read_text()
    assert text.startswith("# Title\n") and text.endswith("\nAfter.\n")
    assert "old table" not in text and text.count(BEGIN) == 1
    assert "fr drains 7 pre-signed reports" in text and "size: 50 stored reports" in text
