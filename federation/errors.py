"""The one error hierarchy of the protocol core.

    >>> try:
    ...     raise RejectedMessage("origin-mismatch", "signed by fr but claims origin gb")
    ... except Error as e:
    ...     e.reason
    'origin-mismatch'

Adapters in ``node/`` wrap library exceptions into these (``raise StoreError(...) from e``) and a
single HTTP middleware turns them into ``{"errors": [{"path", "message"}]}`` responses.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document: where (a JSON path like ``$.ai_system.name``) and what."""

    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


# An answer names at most this many problems, each at most MAX_TEXT characters: a 500 KiB report
# with 90,000 bad entries must not come back as a 10 MB error list (issue 9).
MAX_PROBLEMS = 50
MAX_TEXT = 300


def capped(problems: list[Problem]) -> list[Problem]:
    """The first ``MAX_PROBLEMS`` problems, clipped, plus one that says how many were left out.

    Validators stop after ``MAX_PROBLEMS + 1``, so the count left out is a lower bound.
    """
    shown = [Problem(_clip(p.path), _clip(p.message)) for p in problems[:MAX_PROBLEMS]]
    if left := len(problems) - len(shown):
        shown.append(Problem("$", f"at least {left} more problem(s) not listed; fix the first "
                                  f"{MAX_PROBLEMS} and send again"))
    return shown


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"


class Error(Exception):
    """Base of every error Beacon raises on purpose."""


class SchemaError(Error):
    """A document does not match its JSON Schema; ``problems`` names every failure."""

    def __init__(self, problems: list[Problem], schema_id: str = "") -> None:
        self.problems = problems
        self.schema_id = schema_id
        first = problems[0] if problems else Problem("$", "invalid")
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{first.path}: {first.message}{more}")


class SignatureError(Error):
    """A signature does not verify, or no trusted key signed."""


class RejectedMessage(Error):
    """An inbound message failed a check; ``reason`` is a stable machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class RosterError(Error):
    """A roster (or a rotation to a new version) breaks the trust rules."""


class ThresholdError(RosterError):
    """Too few distinct trusted keys signed."""


class MessageError(Error):
    """A wire message cannot be built from what the caller holds: the builder refuses rather
    than sign a placeholder. ``message_type`` names the message, ``reason`` what is missing."""

    def __init__(self, message_type: str, reason: str) -> None:
        self.message_type = message_type
        self.reason = reason
        super().__init__(f"cannot build the {message_type} message: {reason}")


class UnknownReferenceError(MessageError):
    """The message would be about something (an incident, an emergency) the caller does not
    hold, so a field it must sign (a digest, a threshold) has no true value."""

    def __init__(self, message_type: str, kind: str, ref_id: str, need: str) -> None:
        self.kind = kind
        self.ref_id = ref_id
        super().__init__(message_type, f"this node holds no {kind} {ref_id!r}, so it has no "
                                       f"{need} to sign; receive or record the {kind} first")
