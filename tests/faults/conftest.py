"""Fault-injection tests share the integration fixtures (a real federation on loopback)."""

from tests.integration.conftest import http  # noqa: F401 - re-exported fixture
