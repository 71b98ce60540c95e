"""Prometheus metrics of one node (served at ``GET /metrics``).

    >>> m = Metrics()
    >>> m.quarantined.labels(reason="bad-signature").inc()

Each node process has its own registry, so tests that run several apps in one process do not
share counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages_in = Counter("beacon_messages_in_total", "Verified messages stored",
                                   ["type"], registry=r)
        self.duplicates = Counter("beacon_messages_duplicate_total",
                                  "Messages received again (idempotent, not stored twice)",
                                  registry=r)
        self.messages_out = Counter("beacon_messages_out_total", "Messages published to NATS",
                                    ["type"], registry=r)
        self.quarantined = Counter("beacon_messages_quarantined_total",
                                   "Inbound messages refused, by reason", ["reason"], registry=r)
        self.roster_candidates_refused = Counter(
            "beacon_roster_candidates_refused_total",
            "Copies of a next roster version that did not verify (each counted once)", registry=r)
        self.verify_seconds = Histogram(
            "beacon_verify_seconds", "Time to verify one inbound message", registry=r,
            buckets=(0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05))
        self.end_to_end_seconds = Histogram(
            "beacon_end_to_end_seconds", "issued_at to stored at this node", registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 30, 300))
        self.outbox_depth = Gauge("beacon_outbox_depth", "Signed messages not yet on NATS",
                                  registry=r)
        self.nats_connected = Gauge("beacon_nats_connected", "1 while connected to NATS",
                                    registry=r)
        # Refreshed at scrape time from the store and JetStream (node.http.observe): cheap reads.
        self.consumer_lag = Gauge("beacon_consumer_lag_messages",
                                  "Messages in the stream not yet delivered to this node's "
                                  "consumer (JetStream num_pending; NaN if unknown)", registry=r)
        self.consumer_ack_pending = Gauge("beacon_consumer_ack_pending_messages",
                                          "Messages delivered to this node but not yet "
                                          "acknowledged", registry=r)
        self.open_runs = Gauge("beacon_runs_open", "Playbook runs still running", registry=r)
        self.overdue_clocks = Gauge("beacon_clocks_overdue",
                                    "Running playbook runs whose current step's deadline has "
                                    "passed without the timer having fired (a stuck scheduler)",
                                    registry=r)
        self.missed_clocks = Gauge("beacon_clocks_missed",
                                   "Deadlines missed in runs still running, by step action "
                                   "(report: a regulatory reporting clock)", ["action"],
                                   registry=r)
        self.overdue_escalations = Gauge("beacon_escalations_overdue",
                                         "Escalations in this node's inbox still open past "
                                         "their deadline", registry=r)
        self.scheduler_running = Gauge("beacon_scheduler_running",
                                       "1 while the deadline scheduler runs", registry=r)
        # Reliability (node.core.supervisor, node.pipeline.timers, federation.heartbeat).
        self.task_restarts = Counter("beacon_task_restarts_total",
                                     "Background tasks restarted after a failure, by task",
                                     ["task"], registry=r)
        self.deadline_retries = Counter("beacon_deadline_retries_total",
                                        "Deadline firings that failed and were retried",
                                        registry=r)
        self.late_clocks = Gauge("beacon_clocks_late",
                                 "Deadlines whose firing failed and is being retried",
                                 registry=r)
        self.heartbeats_refused = Counter("beacon_heartbeats_refused_total",
                                          "Peer heartbeats dropped, by reason", ["reason"],
                                          registry=r)
        # Webhooks (node.notify.webhooks): final outcomes, failed attempts, and the queue at scrape.
        self.webhook_deliveries = Counter("beacon_webhook_deliveries_total",
                                          "Webhook deliveries finished, by outcome (delivered, "
                                          "or failed after every retry)", ["outcome"],
                                          registry=r)
        self.webhook_attempt_errors = Counter("beacon_webhook_attempt_errors_total",
                                              "Webhook attempts that failed (error status, "
                                              "refused, timed out); retried until the last",
                                              registry=r)
        self.webhook_round_errors = Counter("beacon_webhook_dispatcher_errors_total",
                                            "Rounds of the webhook dispatcher that failed and "
                                            "were restarted", registry=r)
        self.webhook_queue = Gauge("beacon_webhook_stored_deliveries", "Webhook deliveries in the "
                                   "store, by status (pending: still to be attempted)",
                                   ["status"], registry=r)
