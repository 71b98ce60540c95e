"""Live updates for the web console: ``GET /api/v1/events`` (Server-Sent Events).

    >>> # hub = EventHub(ctx, bus); app[HUB] = hub   # events.setup(app) does this
    >>> # curl -N -H 'Authorization: Bearer …' http://127.0.0.1:8401/api/v1/events

One background task per node watches the store (a handful of indexed ``MAX``/``COUNT`` reads
every ``POLL_SECONDS``, and only while someone is listening) and fans out what changed to every
connected client. Watching the store rather than hooking the code that writes it catches every
writer — the API, the NATS consumer, the playbook timers, the witness — with no coupling.

Events are hints, not data: they carry ids and counts, and the console fetches what it shows
through the JSON API, so access rules live in one place. ``quarantine`` events go only to the
roles that may read the quarantine. Event kinds: ``hello`` (on connect: reload everything),
``incident`` ``{id, revision, origin, severity}``, ``escalation`` ``{open}``, ``run``
``{id, incident_id, state}``, ``quarantine`` ``{count}``, ``checkpoint`` ``{origin, size,
status}``, ``peer`` ``{id, at}``, ``health`` (the ``/healthz`` fields that change).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from node import records
from node.appkeys import BUS, NODE
from node.auth import Principal
from node.bus import Bus
from node.context import NodeContext
from node.middleware import principal
from node.sessions import current_session

log = logging.getLogger("beacon.events")
routes = web.RouteTableDef()

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
QUEUE_LIMIT = 512  # a client this far behind is dropped; it reconnects and reloads
QUARANTINE_ROLES = frozenset({"auditor", "operator"})


@dataclass(eq=False)  # identity, not value: clients live in a set
class _Client:
    role: str
    queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))


class EventHub:
    """Watches the store for changes and hands them to every subscriber's queue."""

    def __init__(self, ctx: NodeContext, bus: Bus) -> None:
        self.ctx = ctx
        self.bus = bus
        self.clients: set[_Client] = set()
        self._marks: dict[str, Any] = {}
        self._closed = False

    def subscribe(self, role: str) -> _Client:
        if not self.clients:
            self._marks = self._watermarks()  # report changes from now on, not history
        client = _Client(role)
        self.clients.add(client)
        return client

    def unsubscribe(self, client: _Client) -> None:
        self.clients.discard(client)

    def close(self) -> None:
        """End every stream (the server is shutting down)."""
        self._closed = True
        for c in list(self.clients):
            with contextlib.suppress(asyncio.QueueFull):
                c.queue.put_nowait(None)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        for c in list(self.clients):
            if kind == "quarantine" and c.role not in QUARANTINE_ROLES:
                continue
            try:
                c.queue.put_nowait((kind, data))
            except asyncio.QueueFull:
                self.clients.discard(c)
                with contextlib.suppress(asyncio.QueueEmpty):
                    c.queue.get_nowait()
                c.queue.put_nowait(None)

    async def run(self) -> None:
        while not self._closed:
            if self.clients:
                try:
                    self.poll()
                except Exception:  # a failed poll must not end live updates for good
                    log.exception("could not poll the store for events")
            await asyncio.sleep(POLL_SECONDS)

    # -- what changed ---------------------------------------------------------------------------
    def _watermarks(self) -> dict[str, Any]:
        q = self.ctx.store.scalar
        return {
            "revision": q("SELECT COALESCE(MAX(rowid), 0) FROM incident_revisions"),
            "escalations": tuple(self.ctx.store.query(
                "SELECT COUNT(*), MAX(received_at), MAX(answered_at), "
                "SUM(status = 'open') FROM escalations")[0]),
            "run": q("SELECT COALESCE(MAX(updated_at), '') FROM runs"),
            "quarantine": q("SELECT COALESCE(MAX(seq), 0) FROM quarantine"),
            "checkpoint": q("SELECT COALESCE(MAX(received_at), '') FROM checkpoints"),
            "cosignature": q("SELECT COALESCE(MAX(at), '') FROM cosignatures"),
            "peers": {p: str(b.get("seen_at")) for p, b in self.bus.peers.items()},
            "health": self._health(),
        }

    def _health(self) -> dict[str, Any]:
        return {"nats": self.ctx.nats_state, "outbox_depth": records.outbox_depth(self.ctx.store),
                "roster_version": self.ctx.roster.version,
                "late_clocks": len(self.ctx.late_clocks),
                "tasks_failing": sorted(self.ctx.supervisor.failing())}

    def poll(self) -> None:
        """Compare the store with the last watermarks and publish one event per change."""
        old, new = self._marks, self._watermarks()
        self._marks = new
        store = self.ctx.store
        if new["revision"] != old.get("revision"):
            for r in store.query("SELECT r.id, r.revision, i.origin, i.severity FROM "
                                 "incident_revisions r LEFT JOIN incidents i ON i.id = r.id "
                                 "WHERE r.rowid > ? ORDER BY r.rowid LIMIT 200",
                                 (old.get("revision", 0),)):
                self.publish("incident", {"id": r["id"], "revision": r["revision"],
                                          "origin": r["origin"], "severity": r["severity"]})
        if new["escalations"] != old.get("escalations"):
            self.publish("escalation", {"open": int(new["escalations"][3] or 0)})
        if new["run"] != old.get("run"):
            for r in store.query("SELECT id, incident_id, state FROM runs WHERE updated_at > ? "
                                 "ORDER BY updated_at LIMIT 200", (old.get("run", ""),)):
                self.publish("run", {"id": r["id"], "incident_id": r["incident_id"],
                                     "state": r["state"]})
        if new["quarantine"] != old.get("quarantine"):
            self.publish("quarantine", {"count": int(new["quarantine"])
                                        - int(old.get("quarantine", 0))})
        if new["checkpoint"] != old.get("checkpoint") or \
                new["cosignature"] != old.get("cosignature"):
            for r in store.query("SELECT origin, MAX(size) AS size, status FROM checkpoints "
                                 "WHERE received_at > ? GROUP BY origin",
                                 (old.get("checkpoint", ""),)):
                self.publish("checkpoint", {"origin": r["origin"], "size": r["size"],
                                            "status": r["status"]})
            if new["checkpoint"] == old.get("checkpoint"):
                self.publish("checkpoint", {"origin": None, "size": None, "status": "cosigned"})
        for peer, seen in new["peers"].items():
            if old.get("peers", {}).get(peer) != seen:
                self.publish("peer", {"id": peer, "at": seen})
        if new["health"] != old.get("health"):
            self.publish("health", new["health"])


HUB = web.AppKey("events", EventHub)


def _frame(kind: str, data: dict[str, Any], event_id: int) -> bytes:
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def _still_allowed(request: web.Request, who: Principal) -> bool:
    """Checked at every keep-alive: a stream ends when its token is revoked or, for the
    console, when its session ends (sign-out, expiry). Keep-alives are not user activity."""
    if "Authorization" not in request.headers:
        return current_session(request, touch=False) is not None
    rows = request.app[NODE].store.query("SELECT revoked_at FROM tokens WHERE token_id = ?",
                                         (who.token_id,))
    return bool(rows) and rows[0]["revoked_at"] is None


@routes.get("/api/v1/events")
async def events(request: web.Request) -> web.StreamResponse:
    who = principal(request)
    hub = request.app[HUB]
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store",
        "X-Accel-Buffering": "no", "X-Content-Type-Options": "nosniff"})
    client = hub.subscribe(who.role)
    event_id = 0
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n" + _frame("hello", {
            "node": hub.ctx.node_id, "role": who.role}, event_id))
        while True:
            try:
                item = await asyncio.wait_for(client.queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                if not _still_allowed(request, who):
                    break
                await response.write(b": keep-alive\n\n")
                continue
            if item is None:
                break
            event_id += 1
            await response.write(_frame(*item, event_id))
    except ConnectionResetError:
        pass  # the browser went away
    finally:
        hub.unsubscribe(client)
    return response


async def _hub_lifecycle(app: web.Application) -> AsyncIterator[None]:
    hub, sup = app[HUB], app[NODE].supervisor
    sup.spawn("events", hub.run)
    yield
    hub.close()
    await sup.cancel("events")


async def _on_shutdown(app: web.Application) -> None:
    app[HUB].close()  # end open streams before the server waits for handlers


def setup(app: web.Application) -> None:
    """Serve ``/api/v1/events``; needs ``app[NODE]`` and ``app[BUS]`` set."""
    app[HUB] = EventHub(app[NODE], app[BUS])
    app.cleanup_ctx.append(_hub_lifecycle)
    app.on_shutdown.append(_on_shutdown)
    app.add_routes(routes)
