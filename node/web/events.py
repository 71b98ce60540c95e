"""Live updates for the web console: ``GET /api/v1/events`` (Server-Sent Events).

    hub = EventHub(ctx, bus); app[HUB] = hub   # events.setup(app) does this
    curl -N -H 'Authorization: Bearer …' http://127.0.0.1:8401/api/v1/events

Every writer of the store — the API, the NATS consumer, the playbook timers, the witness —
commits through ``NodeContext.transaction``, and the pipeline notes what each transaction
changed (``ctx.emit``); after the commit the hub pushes it to every connected client. Nothing
polls SQLite. Peers and health live in memory and are looked at every ``POLL_SECONDS`` while
someone listens.

Events are hints, not data: they carry ids and counts, and the console fetches what it shows
through the JSON API, so access rules live in one place. ``quarantine`` events go only to the
roles that may read the quarantine. Event kinds: ``hello`` (on connect: reload everything),
``incident`` ``{id, revision, origin, severity}``, ``escalation`` ``{open}``, ``run``
``{id, incident_id, state}``, ``quarantine`` ``{count}``, ``checkpoint`` ``{origin, size,
status}``, ``peer`` ``{id, at}``, ``health`` (the ``/healthz`` fields that change), ``webhook``
``{id, status}`` (a delivery ended: delivered or failed; operators only).
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

from node.bus.transport import Bus
from node.http.appkeys import BUS, NODE
from node.http.middleware import principal
from node.http.sessions import current_session
from node.pipeline.context import LiveEvent, NodeContext
from node.store import records, runs
from node.store.auth import Principal, token_revoked_at
from node.store.witness import checkpoint_status

log = logging.getLogger("beacon.events")
routes = web.RouteTableDef()

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
QUEUE_LIMIT = 512  # a client this far behind is dropped; it reconnects and reloads
QUARANTINE_ROLES = frozenset({"auditor", "operator"})
ONLY_FOR = {"quarantine": QUARANTINE_ROLES, "webhook": frozenset({"operator"})}


@dataclass(eq=False)  # identity, not value: clients live in a set
class _Client:
    role: str
    queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))


class EventHub:
    """Hands what each commit changed to every subscriber's queue (pushed by the pipeline
    through ``NodeContext.commit_listeners``), plus peer and health changes, which live in
    memory, watched every ``POLL_SECONDS`` while someone listens."""

    def __init__(self, ctx: NodeContext, bus: Bus) -> None:
        self.ctx = ctx
        self.bus = bus
        self.clients: set[_Client] = set()
        self._marks: dict[str, Any] = {}
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        ctx.commit_listeners.append(self.on_commit)

    def subscribe(self, role: str) -> _Client:
        self._loop = asyncio.get_running_loop()
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
        with contextlib.suppress(ValueError):
            self.ctx.commit_listeners.remove(self.on_commit)
        for c in list(self.clients):
            with contextlib.suppress(asyncio.QueueFull):
                c.queue.put_nowait(None)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        for c in list(self.clients):
            if kind in ONLY_FOR and c.role not in ONLY_FOR[kind]:
                continue
            try:
                c.queue.put_nowait((kind, data))
            except asyncio.QueueFull:
                self.clients.discard(c)
                with contextlib.suppress(asyncio.QueueEmpty):
                    c.queue.get_nowait()
                c.queue.put_nowait(None)

    def on_commit(self, events: list[LiveEvent]) -> None:
        """Called by ``NodeContext.transaction`` after each commit that changed something."""
        if not self.clients or self._loop is None:
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not self._loop:  # a commit in a worker thread: queues are the loop's
            self._loop.call_soon_threadsafe(self.on_commit, events)
            return
        try:
            for kind, data in _merge(events):
                self.publish(kind, self._complete(kind, data))
        except Exception:  # live updates are hints: never fail the writer over one
            log.exception("could not hand a commit's changes to live clients")

    def _complete(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """Fill in what the writer did not know (figures read after the commit)."""
        store = self.ctx.store
        if kind == "escalation":
            return {"open": runs.count_open_escalations(store)}
        if kind == "run":
            return runs.run_state(store, data["id"]) or data
        if kind == "checkpoint" and "status" not in data:
            status = checkpoint_status(store, data["origin"], data["size"])
            return {**data, "status": status or "own"}
        return data

    async def run(self) -> None:
        while not self._closed:
            if self.clients:
                try:
                    self.poll()
                except Exception:  # a failed look must not end live updates for good
                    log.exception("could not check peers and health for events")
            await asyncio.sleep(POLL_SECONDS)

    # -- what changed outside the store ---------------------------------------------------------
    def _watermarks(self) -> dict[str, Any]:
        return {"peers": {p: str(b.get("seen_at")) for p, b in self.bus.peers.items()},
                "health": self._health()}

    def _health(self) -> dict[str, Any]:
        return {"nats": self.ctx.nats_state, "outbox_depth": records.outbox_depth(self.ctx.store),
                "roster_version": self.ctx.roster.version,
                "late_clocks": len(self.ctx.late_clocks),
                "tasks_failing": sorted(self.ctx.supervisor.failing())}

    def poll(self) -> None:
        """Publish peer heartbeats and health changes seen since the last look."""
        old, new = self._marks, self._watermarks()
        self._marks = new
        for peer, seen in new["peers"].items():
            if old.get("peers", {}).get(peer) != seen:
                self.publish("peer", {"id": peer, "at": seen})
        if new["health"] != old.get("health"):
            self.publish("health", new["health"])


def _merge(events: list[LiveEvent]) -> list[LiveEvent]:
    """One event per thing changed in a commit: counts add up, repeats collapse."""
    out: dict[str, LiveEvent] = {}
    for kind, data in events:
        if kind == "quarantine":
            prev = out.get("quarantine", (kind, {"count": 0}))[1]["count"]
            out["quarantine"] = (kind, {"count": prev + int(data.get("count", 1))})
        else:
            out[f"{kind}:{json.dumps(data, sort_keys=True)}"] = (kind, data)
    return list(out.values())


HUB = web.AppKey("events", EventHub)


def _frame(kind: str, data: dict[str, Any], event_id: int) -> bytes:
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def _still_allowed(request: web.Request, who: Principal) -> bool:
    """Checked at every keep-alive: a stream ends when its token is revoked or, for the
    console, when its session ends (sign-out, expiry). Keep-alives are not user activity."""
    if "Authorization" not in request.headers:
        return current_session(request, touch=False) is not None
    known, revoked_at = token_revoked_at(request.app[NODE].store, who.token_id)
    return known and revoked_at is None


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
