"""The suite's benchmarks (``make bench``) at their smallest, so that they cannot rot: each runs
against real processes and must give every figure it promises, as a positive number.

No figure is judged: a benchmark never fails on a number (issue 13); only a missing or zero
figure, which means the benchmark itself broke, fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.catchup import catchup
from bench.peer import peer
from bench.scale import scale
from bench.size_node import QUERIES, size_node
from tests.integration.conftest import Federation


def _positive(figures: dict[str, Any], *names: str) -> None:
    for name in names:
        value = figures.get(name)
        assert isinstance(value, int | float) and value > 0, (name, figures)


def test_catchup_drains_what_was_published_while_the_node_was_down(fed: Federation) -> None:
    figures = catchup(fed, 40, floor_us=70.0)
    assert figures["reports"] == 40
    _positive(figures, "reports_per_s", "cpu_us_per_report", "floor_over_cpu", "drain_s",
              "node_peak_rss_mb")


def test_peer_measures_medallion_and_beacon_on_the_same_incidents(fed: Federation) -> None:
    figures = peer(fed, 4, samples=2)
    _positive(figures["medallion"], "objects_per_s", "incidents_per_s", "visible_p50_ms")
    _positive(figures["beacon_fr"], "reports_per_s", "visible_p50_ms")
    _positive(figures, "ratio_reports_over_incidents", "ratio_reports_over_objects")
    assert figures["medallion"]["incidents"] == figures["beacon_fr"]["reports"] == 4


def test_size_times_every_query_of_a_node_serving_a_filled_store(fed: Federation) -> None:
    figures = size_node(300, runs=1, fed=fed)
    _positive(figures, "node_rss_mb_serving", "node_peak_rss_mb", "db_mb", *QUERIES)


def test_scale_measures_cpu_and_latency_per_federation_size(fed: Federation) -> None:
    [figures] = scale([3], rate=20, seconds=1, fed=fed)
    assert figures["members"] == 3 and figures["visible_at_fr"] == figures["reports"] == 20
    _positive(figures, "cpu_us_per_report_per_node", "p50_ms", "p99_ms", "node_rss_mb_mean")


def _suite(tmp_path: Path, *sizes: str) -> tuple[dict[str, Any], str]:
    """``bench.suite`` with ``sizes`` (scale, size-node and peer skipped): its results.json
    and the document it wrote its tables into."""
    out, doc = tmp_path / "results.json", tmp_path / "performance.md"
    subprocess.run([sys.executable, "-m", "bench.suite", *sizes, "--scale", "0",
                    "--size-node", "0", "--peer", "0", "--out", str(out), "--doc", str(doc)],
                   check=True, timeout=600, cwd=Path(__file__).parents[2])
    return json.loads(out.read_text()), doc.read_text()


def test_the_suite_writes_every_figure_from_one_federation(tmp_path: Path) -> None:
    """``make bench``'s wiring: the consumer and the suite's benchmarks on one federation,
    into ``results.json`` and both tables of the document."""
    report, text = _suite(tmp_path, "--messages", "30", "--latency-samples", "2",
                          "--rate-seconds", "0.05", "--size-reports", "50", "--catchup", "20")
    assert report["ingest"]["reports"] == 30 and report["catchup"]["reports"] == 20
    _positive(report["ingest"], "reports_per_s", "cpu_us_per_report")
    assert [o["offered_per_s"] for o in report["offered_latency_gb_to_fr"]] == [10, 100, 200,
                                                                                1000]
    assert "<!-- bench:begin -->" in text and "<!-- bench-suite:begin -->" in text
    assert "floor / node CPU" in text


def test_a_latency_only_suite_skips_every_part_asked_for_at_zero(tmp_path: Path) -> None:
    """``--messages 0`` (and every other part at 0) skips that part, as ``--help`` says: a
    latency-only run gives the offered-rate figures and nothing else, and its table."""
    report, text = _suite(tmp_path, "--messages", "0", "--latency-samples", "0",
                          "--rate-seconds", "0.05", "--size-reports", "0", "--catchup", "0")
    assert [o["offered_per_s"] for o in report["offered_latency_gb_to_fr"]] == [10, 100, 200,
                                                                                1000]
    assert all(o["visible"] == o["reports"] for o in report["offered_latency_gb_to_fr"])
    for skipped in ("floor", "ingest", "pipeline_in_process", "filing_latency_gb_to_fr_ms",
                    "size", "catchup", "scale", "peer_medallion", "size_node"):
        assert skipped not in report
    assert "offered 200/s" in text and "floor / node CPU" not in text
