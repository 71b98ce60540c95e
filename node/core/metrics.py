"""Prometheus metrics of one node (served at ``GET /metrics``).

    >>> m = Metrics()
    >>> m.quarantined.labels(reason="bad-signature").inc()

Each node process has its own registry, so tests that run several apps in one process do not
share counters.
"""

from __future__ import annotations

from functools import partial

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # Every metric registers in this node's own registry.
        counter = partial(Counter, registry=self.registry)
        gauge = partial(Gauge, registry=self.registry)
        histogram = partial(Histogram, registry=self.registry)
        self.messages_in = counter("beacon_messages_in_total", "Verified messages stored",
                                   ["type"])
        self.duplicates = counter("beacon_messages_duplicate_total",
                                  "Messages received again (idempotent, not stored twice)")
        self.messages_out = counter("beacon_messages_out_total", "Messages published to NATS",
                                    ["type"])
        self.quarantined = counter("beacon_messages_quarantined_total",
                                   "Inbound messages refused, by reason", ["reason"])
        self.roster_candidates_refused = counter(
            "beacon_roster_candidates_refused_total",
            "Copies of a next roster version that did not verify (each counted once)")
        self.verify_seconds = histogram(
            "beacon_verify_seconds", "Time to verify one inbound message",
            buckets=(0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05))
        self.end_to_end_seconds = histogram(
            "beacon_end_to_end_seconds", "issued_at to stored at this node",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 30, 300))
        self.outbox_depth = gauge("beacon_outbox_depth", "Signed messages not yet on NATS")
        self.nats_connected = gauge("beacon_nats_connected", "1 while connected to NATS")
        # Refreshed at scrape time from the store and JetStream (node.http.observe): cheap reads.
        self.consumer_lag = gauge("beacon_consumer_lag_messages",
                                  "Messages in the stream not yet delivered to this node's "
                                  "consumer (JetStream num_pending; NaN if unknown)")
        self.consumer_ack_pending = gauge("beacon_consumer_ack_pending_messages",
                                          "Messages delivered to this node but not yet "
                                          "acknowledged")
        self.open_runs = gauge("beacon_runs_open", "Playbook runs still running")
        self.overdue_clocks = gauge("beacon_clocks_overdue",
                                    "Running playbook runs whose current step's deadline has "
                                    "passed without the timer having fired (a stuck scheduler)")
        self.missed_clocks = gauge("beacon_clocks_missed",
                                   "Deadlines missed in runs still running, by step action "
                                   "(report: a regulatory reporting clock)", ["action"])
        self.overdue_escalations = gauge("beacon_escalations_overdue",
                                         "Escalations in this node's inbox still open past "
                                         "their deadline")
        self.scheduler_running = gauge("beacon_scheduler_running",
                                       "1 while the deadline scheduler runs")
        # Reliability (node.core.supervisor, node.pipeline.timers, federation.heartbeat).
        self.task_restarts = counter("beacon_task_restarts_total",
                                     "Background tasks restarted after a failure, by task",
                                     ["task"])
        self.deadline_retries = counter("beacon_deadline_retries_total",
                                        "Deadline firings that failed and were retried")
        self.late_clocks = gauge("beacon_clocks_late",
                                 "Deadlines whose firing failed and is being retried")
        self.heartbeats_refused = counter("beacon_heartbeats_refused_total",
                                          "Peer heartbeats dropped, by reason", ["reason"])
        # Webhooks (node.notify.webhooks): final outcomes, failed attempts, and the queue at scrape.
        self.webhook_deliveries = counter("beacon_webhook_deliveries_total",
                                          "Webhook deliveries finished, by outcome (delivered, "
                                          "or failed after every retry)", ["outcome"])
        self.webhook_attempt_errors = counter("beacon_webhook_attempt_errors_total",
                                              "Webhook attempts that failed (error status, "
                                              "refused, timed out); retried until the last")
        self.webhook_round_errors = counter("beacon_webhook_dispatcher_errors_total",
                                            "Rounds of the webhook dispatcher that failed and "
                                            "were restarted")
        self.webhook_queue = gauge("beacon_webhook_stored_deliveries", "Webhook deliveries in the "
                                   "store, by status (pending: still to be attempted)",
                                   ["status"])
