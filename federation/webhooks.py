"""Webhook notifications, the pure part: who gets which event, the signed body, the retry plan.

    >>> body = webhook_body(WebhookEvent("notify", "gb-1.p", "notify-duty-officer", "gb-1",
    ...                                  "Tell the duty officer", key="n:1"), node="gb",
    ...                     at="2026-11-29T23:00:00Z")
    >>> signature(b"0123456789abcdef", body)[:7]
    'sha256='
    >>> [round(retry_delay(n, time_scale=1.0).total_seconds()) for n in range(1, 6)]
    [10, 20, 40, 80, 160]

A receiver checks ``X-Beacon-Signature`` by computing ``HMAC-SHA256(secret, raw body)`` over the
bytes it received (before parsing) and comparing in constant time (``hmac.compare_digest``), as
GitHub's and Stripe's webhook receivers do. The node delivers each event at least once: a
receiver deduplicates by the body's ``id``.

Which webhook role receives which event (``ROLE_EVENTS``) follows the API roles of
``node.store.auth.ROLES``: an ``operator`` webhook gets everything; a ``responder`` webhook gets the
work of people on duty (notify steps for duty and responder roles, escalations, deadlines,
emergencies); an ``auditor`` webhook gets missed deadlines and emergencies (the accountability
record); a ``viewer`` webhook gets emergencies only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import timedelta

from federation.errors import Problem

EVENTS = ("notify", "escalation", "deadline-approaching", "deadline-missed", "emergency")
WEBHOOK_ROLES = ("operator", "responder", "auditor", "viewer")
ROLE_EVENTS: dict[str, frozenset[str]] = {
    "operator": frozenset(EVENTS),
    "responder": frozenset(EVENTS),
    "auditor": frozenset({"deadline-missed", "emergency"}),
    "viewer": frozenset({"emergency"}),
}
# Playbook roles a notify step may name that a ``responder`` webhook is for: people on duty.
# Every other playbook role (head-of-authority, ...) reaches only ``operator`` webhooks.
DUTY_ROLES = frozenset({"duty-officer", "security-duty-officer", "incident-responder",
                        "responder"})
SIGNATURE_HEADER = "X-Beacon-Signature"
MIN_SECRET = 16
MAILTO = re.compile(r"mailto:[^@\s<>,;:]+@[^@\s<>,;:]+\.[^@\s<>,;:]+")
MAX_ATTEMPTS = 6
FIRST_RETRY_SECONDS = 10.0  # then doubling: 10, 20, 40, 80, 160 s — about 5 min in all


@dataclass(frozen=True)
class WebhookEvent:
    """Something a person should hear about now. ``key`` makes it idempotent: the same event
    found twice (a re-scan after a restart) is delivered once per webhook."""

    event: str
    run_id: str
    step: str
    incident_id: str
    message: str
    key: str
    role: str = ""  # the playbook role a notify step names


def wants(webhook_roles: tuple[str, ...] | list[str], e: WebhookEvent) -> bool:
    """Whether a webhook registered for ``webhook_roles`` receives ``e``."""
    for role in webhook_roles:
        if e.event not in ROLE_EVENTS.get(role, frozenset()):
            continue
        if role == "responder" and e.event == "notify" and e.role not in DUTY_ROLES:
            continue
        return True
    return False


def webhook_body(e: WebhookEvent, *, node: str, at: str) -> bytes:
    """The exact bytes POSTed (and signed): compact JSON, keys sorted, UTF-8."""
    doc = {"id": f"{node}:{e.key}", "event": e.event, "node": node, "at": at,
           "run_id": e.run_id, "step": e.step, "incident_id": e.incident_id,
           "message": e.message}
    if e.role:
        doc["role"] = e.role
    return json.dumps(doc, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def signature(secret: bytes, body: bytes) -> str:
    """The ``X-Beacon-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def retry_delay(attempt: int, *, time_scale: float) -> timedelta:
    """How long to wait after failed attempt number ``attempt`` (1-based): exponential backoff,
    scaled like every other node duration, so a demo at time scale 0.001 retries in ms."""
    return timedelta(seconds=FIRST_RETRY_SECONDS * 2 ** (attempt - 1) * time_scale)


def gives_up(attempts: int) -> bool:
    """After this many failed attempts the delivery is marked failed."""
    return attempts >= MAX_ATTEMPTS


def check_registration(url: object, roles: object, secret: object) -> list[Problem]:
    """Everything wrong with a webhook registration body (empty: it is fine)."""
    problems: list[Problem] = []
    if not isinstance(url, str) or len(url) > 2000 or not (
            (url.lower().startswith(("http://", "https://"))
             and url.split("://", 1)[1].strip("/")) or MAILTO.fullmatch(url)):
        problems.append(Problem("$.url", "give an absolute http:// or https:// URL, or "
                                         "mailto:<address> (at most 2000 characters)"))
    if not isinstance(roles, list) or not roles or \
            not all(isinstance(r, str) and r in WEBHOOK_ROLES for r in roles):
        problems.append(Problem("$.roles", "give a non-empty list of roles from "
                                           f"{', '.join(WEBHOOK_ROLES)}"))
    if not isinstance(secret, str) or len(secret) < MIN_SECRET or len(secret) > 512:
        problems.append(Problem("$.secret", f"give a shared secret of {MIN_SECRET} to 512 "
                                            "characters (the receiver checks the HMAC with it)"))
    return problems
