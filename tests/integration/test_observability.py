"""``/healthz`` reports NATS, store and scheduler; ``/metrics`` has the gauges an operator
watches: consumer lag, open runs, overdue escalations and clocks, outbox depth.

The federation runs at ``--time-scale 0.0001``: a 24-hour acknowledgement deadline is 8.6 s, so an
unanswered escalation goes overdue within the test.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import Federation, report, running_federation

SCALE = 0.0001


@pytest.fixture(scope="module")
def ofed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with running_federation(tmp_path_factory.mktemp("ofed"), ["gb", "fr"], time_scale=SCALE) as f:
        yield f


def samples(fed: Federation, node: str) -> dict[str, float]:
    r = requests.get(fed.url(node, "/metrics"), timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def wait_for_sample(fed: Federation, node: str, name: str, at_least: float,
                    within_s: float = 30.0) -> dict[str, float]:
    deadline = time.monotonic() + within_s
    while True:
        found = samples(fed, node)
        if found.get(name, -1) >= at_least:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not >= {at_least} within {within_s}s: "
                                 f"{found.get(name)}")
        time.sleep(0.2)


def test_healthz_reports_nats_store_and_scheduler(ofed: Federation) -> None:
    r = requests.get(ofed.url("gb", "/healthz"), timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["node"] == "gb"
    assert (body["nats"], body["store"], body["scheduler"]) == ("connected", "ok", "running")
    assert body["outbox_depth"] >= 0


def test_metrics_cover_the_federation(ofed: Federation) -> None:
    headers = {"Authorization": f"Bearer {ofed.node('fr')['tokens']['operator']}"}
    r = requests.post(ofed.url("fr", "/api/v1/incidents"), headers=headers, timeout=10,
                      json=report(title="Unanswered at gb", affected_jurisdictions=["gb"]))
    assert r.status_code == 201, r.text

    gb = wait_for_sample(ofed, "gb", 'beacon_messages_in_total{type=incident}', 1)
    assert gb["beacon_consumer_lag_messages"] >= 0
    assert not math.isnan(gb["beacon_consumer_lag_messages"])
    assert gb["beacon_consumer_ack_pending_messages"] >= 0
    assert gb["beacon_scheduler_running"] == 1 and gb["beacon_nats_connected"] == 1
    assert gb["beacon_verify_seconds_count"] >= 1
    assert gb["beacon_end_to_end_seconds_count"] >= 1
    assert gb["beacon_outbox_depth"] >= 0
    assert gb["beacon_clocks_overdue"] == 0  # the scheduler fires deadlines on time
    fr = samples(ofed, "fr")
    assert fr['beacon_messages_out_total{type=incident}'] >= 1
    assert fr["beacon_runs_open"] >= 1  # the origin runs the cross-border playbook

    # Nobody at gb acknowledges: the escalation goes overdue in gb's inbox, and at fr the
    # deadline of the escalate step is missed (the run moves to the next tier).
    wait_for_sample(ofed, "gb", "beacon_escalations_overdue", 1)
    wait_for_sample(ofed, "fr", "beacon_clocks_missed{action=escalate}", 1)
