"""Fault-injection tests reuse the integration fixtures (real nats-server, real nodes)."""

from tests.integration.conftest import http

__all__ = ["http"]
