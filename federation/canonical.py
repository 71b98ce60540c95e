"""Canonical message bytes (RFC 8785, JCS) and message digests.

    >>> encode({"b": 1, "a": "x"})
    b'{"a":"x","b":1}'
    >>> digest(b"{}")[:16]
    '44136fa355b3678a'

The digest of a message body is its identity everywhere: the ``Nats-Msg-Id`` header, the store's
dedup key and the Merkle leaf (DESIGN §4).
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

from federation.errors import Problem, SchemaError
from federation.jsonbounds import parse_json


def encode(document: Any) -> bytes:
    """Encode a JSON-compatible value with RFC 8785 (sorted keys, no spaces, ES6 numbers)."""
    try:
        return bytes(rfc8785.dumps(document))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as e:
        raise SchemaError([Problem("$", f"cannot be canonically encoded: {e}")]) from e


def digest(body: bytes) -> str:
    """Return the lowercase hex SHA-256 of a message body: the message's identity."""
    return hashlib.sha256(body).hexdigest()


def decode(body: bytes) -> Any:
    """Parse a message body; only call this on bytes whose signature has already verified.

    Strictly (``jsonbounds``, ``strict=True``): a body that JCS could not have produced, or one
    out of bounds, is refused.

    Raises:
        SchemaError: not UTF-8 JSON, too deep, or holding what JCS cannot encode.
    """
    return parse_json(body, what="payload", strict=True)
