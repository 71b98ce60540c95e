"""Webhook signatures, bodies, the retry schedule, role filtering and registration checks."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest

from federation.webhooks import (
    EVENTS,
    MAX_ATTEMPTS,
    WebhookEvent,
    check_registration,
    gives_up,
    retry_delay,
    signature,
    wants,
    webhook_body,
)

NOTIFY = WebhookEvent("notify", "gb-7.serious", "notify-duty-officer", "gb-7",
                      "Tell the duty officer", key="notify:3", role="duty-officer")


def test_signature_is_the_rfc4231_hmac_sha256_vector() -> None:
    # RFC 4231 §4.3, test case 2: key "Jefe", data "what do ya want for nothing?"
    assert signature(b"Jefe", b"what do ya want for nothing?") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


def test_a_receiver_verifies_the_body_bytes_it_got() -> None:
    secret = b"s3cret-s3cret-s3cret"
    body = webhook_body(NOTIFY, node="gb", at="2026-11-29T23:00:00Z")
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature(secret, body), expected)
    assert signature(secret, body + b" ") != expected
    assert signature(b"another-secret-of-16", body) != expected


def test_body_carries_the_fields_a_receiver_needs() -> None:
    doc = json.loads(webhook_body(NOTIFY, node="gb", at="2026-11-29T23:00:00Z"))
    assert doc == {"id": "gb:notify:3", "event": "notify", "node": "gb",
                   "at": "2026-11-29T23:00:00Z", "run_id": "gb-7.serious",
                   "step": "notify-duty-officer", "incident_id": "gb-7",
                   "message": "Tell the duty officer", "role": "duty-officer"}


def test_backoff_doubles_and_scales_with_the_node_time_scale() -> None:
    delays = [retry_delay(n, time_scale=1.0) for n in range(1, MAX_ATTEMPTS)]
    assert delays == [timedelta(seconds=s) for s in (10, 20, 40, 80, 160)]
    assert sum(delays, timedelta()) < timedelta(minutes=6)  # "a few minutes", then failed
    assert retry_delay(3, time_scale=0.001) == timedelta(seconds=0.04)


def test_gives_up_after_the_last_attempt_only() -> None:
    assert [gives_up(n) for n in range(1, MAX_ATTEMPTS + 1)] == \
        [False] * (MAX_ATTEMPTS - 1) + [True]


@pytest.mark.parametrize(("roles", "expected"), [
    (["operator"], set(EVENTS)),
    (["responder"], set(EVENTS)),
    (["auditor"], {"deadline-missed", "emergency"}),
    (["viewer"], {"emergency"}),
    (["viewer", "auditor"], {"deadline-missed", "emergency"}),
])
def test_roles_choose_the_events(roles: list[str], expected: set[str]) -> None:
    got = {e for e in EVENTS if wants(roles, WebhookEvent(e, "r", "s", "i", "m", key="k",
                                                          role="duty-officer"))}
    assert got == expected


def test_a_responder_hook_gets_duty_notifications_only() -> None:
    head = WebhookEvent("notify", "r", "s", "i", "m", key="k", role="head-of-authority")
    assert wants(["responder"], NOTIFY)
    assert not wants(["responder"], head)
    assert wants(["operator"], head)


def test_registration_problems_name_each_field() -> None:
    assert check_registration("https://hooks.example/b", ["operator"], "x" * 16) == []
    problems = check_registration("ftp://hooks.example/b", ["operator", "root"], "short")
    assert [p.path for p in problems] == ["$.url", "$.roles", "$.secret"]
    assert "http://" in problems[0].message and "16" in problems[2].message
    assert [p.path for p in check_registration("http://", [], None)] == \
        ["$.url", "$.roles", "$.secret"]


def test_mailto_addresses_are_webhook_targets() -> None:
    assert check_registration("mailto:duty@gb.example", ["responder"], "x" * 16) == []
    for bad in ("mailto:duty", "mailto:a@b.example,c@d.example", "mailto:", "mail:x@y.example"):
        assert [p.path for p in check_registration(bad, ["responder"], "x" * 16)] == ["$.url"]
