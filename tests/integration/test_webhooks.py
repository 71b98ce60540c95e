"""Webhooks across real nodes: a notify step reaches a receiver, HMAC-signed; a dead endpoint is
retried and marked failed while a hanging one and a good one do not hold anything up; a
delivery in flight when the node is killed is delivered after the restart; a mailto: webhook
sends mail through a real (local, aiosmtpd) SMTP server.

The federation runs with ``--time-scale 0.0001``: the tier-1 acknowledgement deadline (PT24H)
is 8.6 s, so "approaching" and "missed" arrive within seconds, and the whole retry schedule of
a dead webhook (10 s … 160 s at scale 1) takes about 31 ms.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import hmac
import json
import os
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from federation.webhooks import MAX_ATTEMPTS
from tests.integration.conftest import Federation, report, running_federation, wait_for

SCALE = 0.0001
SECRET = "correct horse battery staple"


@dataclass
class Receiver:
    """Webhook endpoints on 127.0.0.1: /good answers 200, /hang never answers (until the test
    ends), /flaky hangs until ``release`` is set, then answers 200."""

    base: str = ""
    got: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    hung: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    ending: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        name = request.match_info["name"]
        if name == "hang":
            self.hung += 1
            await self.ending.wait()
        elif name == "flaky" and not self.release.is_set():
            self.got.append(("flaky-held", dict(request.headers), body))
            await asyncio.wait({asyncio.ensure_future(self.release.wait()),
                                asyncio.ensure_future(self.ending.wait())},
                               return_when=asyncio.FIRST_COMPLETED)
            return web.Response(status=503)  # the node was killed before it could hear this
        self.got.append((name, dict(request.headers), body))
        return web.Response(text="ok")

    def events(self, name: str) -> list[dict[str, Any]]:
        return [json.loads(b) for n, _, b in self.got if n == name]


@pytest.fixture(scope="module")
def wfed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with running_federation(tmp_path_factory.mktemp("wfed"), ["gb", "fr"],
                            time_scale=SCALE) as f:
        yield f


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{name}", rec.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rec.base = f"http://127.0.0.1:{port}"
    try:
        yield rec
    finally:
        rec.ending.set()
        await runner.cleanup()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens here once the socket closes


async def _call(http: aiohttp.ClientSession, fed: Federation, node: str, method: str,
                path: str, role: str = "operator", **kw: Any) -> tuple[int, Any]:
    async with http.request(method, fed.url(node, path), headers=fed.auth(node, role),
                            **kw) as r:
        return r.status, (await r.json() if r.status != 204 else None)


async def _register(http: aiohttp.ClientSession, fed: Federation, node: str, url: str,
                    roles: list[str]) -> str:
    status, body = await _call(http, fed, node, "POST", "/api/v1/webhooks",
                               json={"url": url, "roles": roles, "secret": SECRET})
    assert status == 201, body
    assert set(body) == {"id", "url", "roles", "created_at"} and body["roles"] == roles
    return str(body["id"])


async def _deliveries(http: aiohttp.ClientSession, fed: Federation, node: str,
                      hook: str) -> list[dict[str, Any]]:
    status, body = await _call(http, fed, node, "GET", f"/api/v1/webhooks/{hook}/deliveries")
    assert status == 200, body
    items: list[dict[str, Any]] = body["items"]
    return items


async def _file(http: aiohttp.ClientSession, fed: Federation, title: str) -> str:
    status, body = await _call(http, fed, "gb", "POST", "/api/v1/incidents",
                               json=report(title=title))
    assert status == 201, body
    return str(body["id"])


def _signed_right(headers: dict[str, str], body: bytes) -> bool:
    want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("X-Beacon-Signature", ""), want)


async def test_registration_is_checked_and_for_operators_only(
        wfed: Federation, http: aiohttp.ClientSession) -> None:
    status, body = await _call(http, wfed, "gb", "POST", "/api/v1/webhooks",
                               json={"url": "file:///etc/passwd", "roles": ["root"],
                                     "secret": "short"})
    assert status == 400
    assert [e["path"] for e in body["errors"]] == ["$.url", "$.roles", "$.secret"]
    status, body = await _call(http, wfed, "gb", "POST", "/api/v1/webhooks", "responder",
                               json={"url": "http://127.0.0.1:9/x", "roles": ["operator"],
                                     "secret": SECRET})
    assert status == 403, body
    status, body = await _call(http, wfed, "gb", "GET", "/api/v1/webhooks/wh-none/deliveries")
    assert status == 404 and body["errors"][0]["path"] == "$"


async def test_notify_step_arrives_signed_and_a_dead_hook_fails_without_stalling(
        wfed: Federation, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    # Registered first, the hanging endpoint's deliveries come first in the queue: a
    # dispatcher that waited for it (10 s per attempt) would hold up every other webhook.
    hang = await _register(http, wfed, "gb", receiver.base + "/hang", ["operator"])
    dead = await _register(http, wfed, "gb", f"http://127.0.0.1:{closed_port()}/x",
                           ["operator"])
    good = await _register(http, wfed, "gb", receiver.base + "/good", ["operator"])
    await _register(http, wfed, "fr", receiver.base + "/fr", ["responder"])
    incident = await _file(http, wfed, "Webhook delivery")

    async def notified() -> Any:
        return [(h, b) for n, h, b in receiver.got if n == "good"
                and json.loads(b)["event"] == "notify" and json.loads(b)["incident_id"] == incident
                and json.loads(b)["step"] == "notify-duty-officer"]
    # More than one playbook may tell the duty officer; each notification is checked alike.
    (headers, raw), *_ = await wait_for(notified, within_s=8)
    assert _signed_right(headers, raw)
    doc = json.loads(raw)
    assert doc["step"] == "notify-duty-officer" and doc["node"] == "gb"
    _, runs = await _call(http, wfed, "gb", "GET", f"/api/v1/runs?incident={incident}")
    assert doc["run_id"] in [r["id"] for r in runs["items"]] and doc["message"]
    assert receiver.hung >= 1  # the hanging endpoint holds its request: the good one still got it

    async def escalated_at_fr() -> Any:
        return [e for e in receiver.events("fr") if e["event"] == "escalation"
                and e["incident_id"] == incident]
    [esc] = await wait_for(escalated_at_fr)
    assert esc["node"] == "fr" and "tier 1" in esc["message"]

    async def dead_failed() -> Any:
        return [d for d in await _deliveries(http, wfed, "gb", dead)
                if d["body"]["incident_id"] == incident and d["status"] == "failed"
                and d["body"].get("step") == "notify-duty-officer"]
    failed, *_ = await wait_for(dead_failed, within_s=15)
    assert failed["attempts"] == MAX_ATTEMPTS and failed["event"] == "notify"
    assert "Connect" in failed["last_error"] and failed["response_code"] is None

    # gb's run step and fr's inbox item share the tier-1 deadline: both sides hear it coming
    # and hear it pass (while /hang still hangs)
    for hook, event in [(h, e) for h in ("good", "fr")
                        for e in ("deadline-approaching", "deadline-missed")]:
        async def arrived(hook: str = hook, event: str = event) -> Any:
            return [e for e in receiver.events(hook)
                    if e["event"] == event and e["incident_id"] == incident
                    and e["step"] == "escalate-affected-peers"]
        await wait_for(arrived, within_s=20)

    _, listing = await _call(http, wfed, "gb", "GET", "/api/v1/webhooks")
    by_id = {w["id"]: w for w in listing["items"]}
    assert "secret" not in json.dumps(listing) and SECRET not in json.dumps(listing)
    assert by_id[dead]["deliveries"]["failed"] >= 1
    assert "Connect" in by_id[dead]["last_delivery"]["last_error"]  # later events: retrying
    assert by_id[good]["deliveries"]["delivered"] >= 3
    assert by_id[hang]["deliveries"]["delivered"] == 0
    async with http.get(wfed.url("gb", "/metrics")) as r:
        metrics = await r.text()
    assert 'beacon_webhook_deliveries_total{outcome="failed"}' in metrics
    assert 'beacon_webhook_stored_deliveries{status="failed"}' in metrics

    assert (await _call(http, wfed, "gb", "DELETE", f"/api/v1/webhooks/{dead}"))[0] == 204
    status, _ = await _call(http, wfed, "gb", "GET", f"/api/v1/webhooks/{dead}/deliveries")
    assert status == 404
    assert (await _call(http, wfed, "gb", "DELETE", f"/api/v1/webhooks/{hang}"))[0] == 204


async def test_a_delivery_in_flight_at_a_crash_is_delivered_after_restart(
        wfed: Federation, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    flaky = await _register(http, wfed, "gb", receiver.base + "/flaky", ["responder"])
    incident = await _file(http, wfed, "Webhook across a crash")

    async def held() -> Any:
        return [json.loads(b) for n, _, b in receiver.got if n == "flaky-held"
                and json.loads(b)["incident_id"] == incident]
    first, *_ = await wait_for(held)
    os.kill(wfed.node("gb")["pid"], signal.SIGKILL)  # the attempt never gets its answer
    receiver.release.set()
    wfed.spawn_node("gb")

    async def delivered() -> Any:
        return [e for e in receiver.events("flaky") if e["id"] == first["id"]]
    await wait_for(delivered, within_s=30)
    [row] = [d for d in await _deliveries(http, wfed, "gb", flaky)
             if d["body"]["id"] == first["id"]]
    assert row["status"] == "delivered" and row["attempts"] == 1 and row["response_code"] == 200

    async def settled() -> Any:  # let the restarted node finish starting before it is stopped
        async with http.get(wfed.url("gb", "/healthz")) as r:
            return (await r.json()).get("nats") == "connected"
    await wait_for(settled)


class _Mailbox:
    """aiosmtpd handler: keeps what it was handed."""

    def __init__(self) -> None:
        self.mails: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.mails.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted for delivery"


async def test_a_mailto_hook_sends_signed_mail_through_smtp(
        wfed: Federation, http: aiohttp.ClientSession) -> None:
    box = _Mailbox()
    smtp = Controller(box, hostname="127.0.0.1", port=closed_port())
    smtp.start()
    try:
        running = [p for p in wfed.extra if p.poll() is None]  # gb, restarted by a test above
        if running:
            running[-1].terminate()  # a graceful stop (SIGTERM) must end the dispatcher too
            running[-1].wait(timeout=20)
        else:
            os.kill(wfed.node("gb")["pid"], signal.SIGKILL)
        config = Path(wfed.node("gb")["config"])
        config.write_text(config.read_text() + f'\n[smtp]\nhost = "127.0.0.1"\n'
                          f'port = {smtp.port}\nfrom = "beacon@gb.example"\n')
        wfed.spawn_node("gb")

        async def up() -> Any:
            async with http.get(wfed.url("gb", "/healthz")) as r:
                return (await r.json()).get("nats") == "connected"
        await wait_for(up, within_s=30)
        hook = await _register(http, wfed, "gb", "mailto:duty@gb.example", ["responder"])
        incident = await _file(http, wfed, "Webhook by mail")

        async def mailed() -> Any:
            return [m for m in box.mails if incident.encode() in m[1]
                    and b"notify-duty-officer" in m[1]]
        (rcpt, raw), *_ = await wait_for(mailed)
        mail = email.message_from_bytes(raw, policy=email.policy.default)
        assert rcpt == ["duty@gb.example"] and mail["From"] == "beacon@gb.example"
        assert mail["Subject"].startswith("[Beacon gb] notify: ")
        text = mail.get_content().encode()
        assert json.loads(text)["incident_id"] == incident
        # mail transport adds a line ending to the text and may fold the header: strip both
        assert _signed_right({"X-Beacon-Signature": mail["X-Beacon-Signature"].strip()},
                             text.rstrip(b"\r\n"))
        [row] = [d for d in await _deliveries(http, wfed, "gb", hook)
                 if d["body"]["incident_id"] == incident and d["event"] == "notify"
                 and d["body"]["run_id"] == json.loads(text)["run_id"]
                 and d["body"]["step"] == "notify-duty-officer"]
        assert row["status"] == "delivered" and row["response_code"] == 250
    finally:
        smtp.stop()
