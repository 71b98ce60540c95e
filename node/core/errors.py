"""Errors the node's adapters raise; the HTTP middleware maps each to a status code."""

from __future__ import annotations

from federation.errors import Error


class NotFound(Error):
    """Something asked for does not exist here (HTTP 404)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class Conflict(Error):
    """The request contradicts the current state (HTTP 409)."""


class DemoError(Error):
    """The local demo federation could not start; the message says where to look."""
