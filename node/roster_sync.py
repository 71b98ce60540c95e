"""Roster versions after genesis: accept them under the TUF rules, share them through the
JetStream KV bucket ``roster`` (one key per version, ``v<N>``), and keep the chain in the store.

    roster_sync.publish(ctx, js, envelope)      # operator: POST /api/v1/roster
    await roster_sync.follow(ctx, js)           # every node: picks up v<N+1> as it appears

``kv.create("v<N>")`` succeeds only if no version N exists yet: the bucket's compare-and-swap makes
two competing version-N proposals impossible, and the first one signed by a threshold wins. Each
node re-verifies every version against the one it trusts (``Roster.verify_successor``), records it
with its envelope, and appends the roster's digest to its transparency log. A node that was down
catches up version by version on start-up.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext

from federation.canonical import digest
from federation.envelope import Envelope
from federation.errors import RosterError
from federation.roster import Roster
from node import records
from node.context import NodeContext
from node.errors import Conflict

log = logging.getLogger("beacon.roster")
BUCKET = "roster"
POLL_SECONDS = 1.0


def load_chain(ctx: NodeContext) -> None:
    """On start-up: apply the versions stored after genesis, in order (expiry is checked only
    for the newest, as TUF does)."""
    rows = ctx.store.query("SELECT version, envelope FROM roster_versions WHERE version > ? "
                           "ORDER BY version", (ctx.roster.version,))
    roster, envelope = ctx.roster, ctx.roster_envelope
    for i, row in enumerate(rows):
        env = Envelope.from_json(bytes(row["envelope"]))
        roster = roster.verify_successor(env, ctx.now(), check_expiry=i == len(rows) - 1)
        envelope = env
    ctx.roster, ctx.roster_envelope = roster, envelope


def accept(ctx: NodeContext, envelope: Envelope) -> Roster:
    """Verify ``envelope`` as the next version and make it this node's roster (in the store,
    the log and memory). Raises RosterError saying why not."""
    new = ctx.roster.verify_successor(envelope, ctx.now())
    data = envelope.to_json()
    dg = digest(envelope.payload)
    with ctx.transaction() as tx:
        _record(ctx, tx, new, dg, data)
    ctx.roster, ctx.roster_envelope = new, envelope
    own = {k.keyid for k in new.any_signing_keys(ctx.node_id)}
    if ctx.signing_key.public.keyid not in own or not new.signing_keys(ctx.node_id, ctx.now()):
        log.error("roster v%d no longer lists a valid signing key for this node; peers will "
                  "refuse what it signs until it runs with a key the roster lists", new.version)
    log.info("accepted roster v%d (%d members)", new.version, len(new.members),
             extra={"digest": dg})
    return new


def _record(ctx: NodeContext, tx: sqlite3.Connection, new: Roster, dg: str, data: bytes) -> None:
    tx.execute("INSERT INTO roster_versions(version, digest, envelope, accepted_at) "
               "VALUES (?, ?, ?, ?)", (new.version, dg, data, ctx.stamp()))
    if records.insert_envelope(tx, dg, "roster", "council", f"$KV.{BUCKET}.v{new.version}", data,
                               ctx.stamp(), local=False):
        records.append_log_leaf(tx, dg)


def chain(ctx: NodeContext) -> list[Envelope]:
    """Every roster envelope this node trusts, from genesis to the current version."""
    rows = ctx.store.query("SELECT envelope FROM roster_versions ORDER BY version")
    genesis = ctx.genesis_envelope
    return [genesis, *(Envelope.from_json(bytes(r["envelope"])) for r in rows)]


async def publish(ctx: NodeContext, js: JetStreamContext | None, envelope: Envelope) -> Roster:
    """Check a proposed next version here first, then create its key in the bucket."""
    new = ctx.roster.verify_successor(envelope, ctx.now())
    if js is None:
        raise Conflict("not connected to NATS; try again when /healthz says connected")
    kv = await js.key_value(BUCKET)
    try:
        await kv.create(f"v{new.version}", envelope.to_json())
    except nats.js.errors.KeyWrongLastSequenceError as e:
        raise Conflict(f"roster v{new.version} was already published; fetch it and propose "
                       f"v{new.version + 1} instead") from e
    accept(ctx, envelope)
    return new


async def follow(ctx: NodeContext, js: JetStreamContext) -> None:
    """Poll the bucket for the version after the current one; apply each as it appears."""
    kv = None
    while True:
        try:
            if kv is None:
                kv = await js.key_value(BUCKET)
            entry = await kv.get(f"v{ctx.roster.version + 1}")
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.BucketNotFoundError):
            await asyncio.sleep(POLL_SECONDS)
            continue
        except (nats.errors.Error, TimeoutError) as e:
            log.warning("cannot read the roster bucket (%s); retrying", type(e).__name__)
            await asyncio.sleep(POLL_SECONDS * 5)
            continue
        try:
            accept(ctx, Envelope.from_json(entry.value or b""))
        except RosterError as e:
            # A version that does not verify is never trusted; keep polling (the council must
            # publish a good one under the next free key, or an operator must look).
            log.error("roster v%d in the bucket refused: %s", ctx.roster.version + 1, e)
            await asyncio.sleep(POLL_SECONDS * 10)
