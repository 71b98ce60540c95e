"""The NATS adapter: connection, outbox publisher, durable consumer, heartbeats, stream
and permissions, roster distribution. May import the pipeline and below.
"""
