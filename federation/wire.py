"""The common shape of every typed wire message: header fields, unknown fields, plain JSON.

    >>> from datetime import datetime, timezone
    >>> from federation.answers import Ack
    >>> a = Ack("fr", datetime(2026, 11, 20, 9, tzinfo=timezone.utc), "gb-00000001.notify",
    ...         "gb-0123456789abcdef", extra={"future_field": 1})
    >>> a.to_dict()["issued_at"], a.to_dict()["future_field"]
    ('2026-11-20T09:00:00.000Z', 1)

A model is a frozen dataclass whose fields are the message's known fields; ``extra`` keeps the
fields it does not know, so a message from a peer on a newer minor version survives a round trip
(STYLE.md point 3). ``to_dict`` writes the body a schema in ``schemas/`` validates: a field that
is ``None`` is absent, datetimes become RFC 3339 UTC, bytes become base64, tuples become lists.
Models do not validate themselves (a peer's message parses as it was signed); the ``build_*``
functions beside each model refuse what a node must not sign, with a ``MessageError``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Self, TypeVar

from federation.errors import MessageError
from federation.keys import b64
from federation.timeutil import format_instant, format_time, parse_time

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def plain(value: Any) -> Any:
    """``value`` as JSON data: datetimes, bytes, tuples and nested parts converted."""
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, bytes):
        return b64(value)
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, WirePart):
        return value.to_dict()
    return value


def _fields_dict(obj: Any, skip: frozenset[str]) -> dict[str, Any]:
    return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)
            if f.name not in skip and getattr(obj, f.name) is not None}


@dataclass(frozen=True)
class WirePart:
    """A nested object of a message (a threshold, a playbook reference); ``None`` is absent."""

    def to_dict(self) -> dict[str, Any]:
        return _fields_dict(self, frozenset())


@dataclass(frozen=True)
class WireMessage:
    """Base of the typed messages: ``TYPE``, the header, and the fields this version does not
    know (``extra``)."""

    TYPE: ClassVar[str] = ""
    origin: str
    issued_at: datetime
    extra: Mapping[str, Any] = field(default_factory=dict, kw_only=True, repr=False,
                                     compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The message body (what is signed): known fields over any unknown ones. ``issued_at``
        carries milliseconds, so two deliberate acts a moment apart are two messages."""
        return {**self.extra, "type": self.TYPE, **_fields_dict(self, frozenset({"extra"})),
                "issued_at": format_instant(self.issued_at)}

    @classmethod
    def unknown(cls, d: Mapping[str, Any]) -> dict[str, Any]:
        """The fields of ``d`` that this model does not name (kept in ``extra``)."""
        known = {f.name for f in dataclasses.fields(cls)} | {"type"}
        return {k: v for k, v in d.items() if k not in known}


M = TypeVar("M", bound=WireMessage)
_HEADER = frozenset({"origin", "issued_at", "extra"})


def text_message(cls: type[M], d: Mapping[str, Any]) -> M:
    """``cls`` read from ``d``, for a model whose own fields are all text (``str``, or
    ``str | None`` with a default): a required field is ``d[name]``, an optional one
    ``d.get(name)``. Models with numbers, times or lists write their ``from_dict`` by hand.

        >>> from federation.answers import Ack
        >>> text_message(Ack, {"type": "ack", "origin": "fr", "issued_at": "2026-11-20T09:00:00Z",
        ...                    "escalation_id": "gb-1.notify", "incident_id": "gb-1", "x": 1}).extra
        {'x': 1}
    """
    own = {f.name: d[f.name] if f.default is dataclasses.MISSING else d.get(f.name, f.default)
           for f in dataclasses.fields(cls) if f.name not in _HEADER}
    return cls(d["origin"], parse_time(d["issued_at"]), **own, extra=cls.unknown(d))


@dataclass(frozen=True)
class TextMessage(WireMessage):
    """A message whose own fields are all text: ``from_dict`` reads them by name
    (``text_message``)."""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        return text_message(cls, d)


def require(message_type: str, ok: bool, reason: str) -> None:
    """Refuse to build ``message_type`` unless ``ok``."""
    if not ok:
        raise MessageError(message_type, reason)


def require_digest(message_type: str, value: str, what: str) -> None:
    require(message_type, bool(_DIGEST.match(value)),
            f"{what} {value!r} is not a sha256 digest (64 lowercase hex digits)")


def optional_tuple(value: Any) -> tuple[Any, ...] | None:
    return None if value is None else tuple(value)
