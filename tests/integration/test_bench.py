"""The suite's benchmarks (``make bench``) at their smallest, so that they cannot rot: each runs
against real processes and must give every figure it promises, as a positive number.

No figure is judged: a benchmark never fails on a number (issue 13); only a missing or zero
figure, which means the benchmark itself broke, fails here.
"""

from __future__ import annotations

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
