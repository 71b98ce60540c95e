"""Fixtures for the pure-core unit tests: fixed-seed keys, the project's schemas, a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from federation.keys import SigningKey
from federation.schema import SchemaSet
from node.core.schemas import default_schemas

NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)


def seeded_key(n: int) -> SigningKey:
    """A deterministic signing key: seed = 32 bytes of ``n`` (stable test vectors)."""
    return SigningKey.from_seed(bytes([n]) * 32)


@pytest.fixture
def schemas() -> SchemaSet:
    return default_schemas()


@pytest.fixture
def now() -> datetime:
    return NOW
