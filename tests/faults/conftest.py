"""Fault-injection tests reuse the integration fixtures (a real federation on loopback)."""

from tests.integration.conftest import http  # noqa: F401 - a fixture, used by name
