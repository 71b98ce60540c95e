"""Roster versions after genesis: accept them under the TUF rules, share them through the
JetStream KV bucket ``roster``, and keep the chain in the store.

    roster_sync.publish(ctx, js, envelope)      # operator: POST /api/v1/roster
    await roster_sync.follow(ctx, js)           # every node: picks up v<N+1> as it appears

Each member holds its own copy of every version it accepted, under ``v<N>.<member>`` (the server
lets it write nothing else: ``node.bus.roster_bucket``). For version N+1 a node reads the copy of
every member of version N, verifies each (``Roster.verify_successor``) and takes the valid one
(``federation.roster_candidates``): junk, under-signed or missing copies are logged once and
skipped, never waited on. It then records the version with its envelope, appends the roster's
digest to its transparency log, shares its own copy, and goes straight on to N+2, so a node
that joins late walks the whole chain in one go. The legacy ``v<N>`` key (admin only) is read
too.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from federation.canonical import digest
from federation.envelope import Envelope
from federation.errors import RosterError
from federation.messages import Draft, incident_from_report
from federation.roster import Roster
from federation.roster_candidates import (
    Candidate,
    candidate_keys,
    equivocation_report,
    member_key,
    select_successor,
)
from node.bus.roster_bucket import BUCKET, open_bucket
from node.core.errors import Conflict
from node.pipeline import flow
from node.pipeline.context import NodeContext
from node.store import records
from node.store.roster import record_roster_version, roster_envelopes

log = logging.getLogger("beacon.roster")
POLL_SECONDS = 1.0


def load_chain(ctx: NodeContext) -> None:
    """On start-up: apply the versions stored after genesis, in order (expiry is checked only
    for the newest, as TUF does)."""
    stored = roster_envelopes(ctx.store, after=ctx.roster.version)
    roster, envelope = ctx.roster, ctx.roster_envelope
    for i, data in enumerate(stored):
        env = Envelope.from_json(data)
        roster = roster.verify_successor(env, ctx.now(), check_expiry=i == len(stored) - 1)
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
    record_roster_version(tx, new.version, dg, data, ctx.stamp())
    if records.insert_envelope(tx, dg, "roster", "council", f"$KV.{BUCKET}.v{new.version}", data,
                               ctx.stamp(), local=False):
        records.append_log_leaf(tx, dg)


def chain(ctx: NodeContext) -> list[Envelope]:
    """Every roster envelope this node trusts, from genesis to the current version."""
    genesis = ctx.genesis_envelope
    return [genesis, *(Envelope.from_json(data) for data in roster_envelopes(ctx.store))]


async def publish(ctx: NodeContext, js: JetStreamContext | None, envelope: Envelope) -> Roster:
    """Check a proposed next version here, refuse it if a different valid one is already out,
    then put it under this node's own key and accept it. Raises RosterError (invalid) or
    Conflict (already superseded, or NATS unreachable)."""
    current = ctx.roster
    new = current.verify_successor(envelope, ctx.now())
    if js is None:
        raise Conflict("not connected to NATS; try again when /healthz says connected")
    try:
        kv = await open_bucket(js)
        out = select_successor(current, await _read_candidates(kv, current), now=ctx.now())
    except (nats.errors.Error, TimeoutError) as e:
        raise Conflict(f"cannot read the roster bucket ({type(e).__name__}); try again when "
                       "/healthz says connected") from e
    if ctx.roster is not current or (out.envelope is not None
                                     and out.envelope.payload != envelope.payload):
        if ctx.roster.version == new.version and ctx.roster_envelope.payload == envelope.payload:
            return new  # the follower took this very version meanwhile
        raise Conflict(f"a different roster v{new.version} was already published; fetch it "
                       f"and propose v{new.version + 1} instead")
    if not await _share(ctx, kv, envelope, new.version):
        raise Conflict(f"could not write roster v{new.version} to the bucket; try again when "
                       "/healthz says connected")
    if ctx.roster is current:  # else the follower already took it from this node's own key
        accept(ctx, envelope)
    return new


async def follow(ctx: NodeContext, js: JetStreamContext) -> None:
    """Walk the chain: for the version after the current one, read every member's copy, accept
    the valid one (junk beside it never blocks), share it under this node's key, go on at once;
    poll when there is nothing newer."""
    kv = None
    refused: dict[str, str] = {}  # key -> digest of the copy last reported there
    shared = False
    while True:
        try:
            if kv is None:
                kv = await open_bucket(js)
            if not shared:
                await _share_chain(ctx, kv)
                shared = True
            advanced = await _step(ctx, kv, refused)
        except nats.js.errors.BucketNotFoundError:
            await asyncio.sleep(POLL_SECONDS)
            continue
        except (nats.errors.Error, TimeoutError) as e:
            log.warning("cannot read the roster bucket (%s); retrying", type(e).__name__)
            shared = False
            await asyncio.sleep(POLL_SECONDS * 5)
            continue
        if not advanced:
            await asyncio.sleep(POLL_SECONDS)


async def _step(ctx: NodeContext, kv: KeyValue, refused: dict[str, str]) -> bool:
    """Try to move to the next version once; True if this node's roster advanced. Each refused
    copy is logged and counted once (memory stays bounded by the number of keys read, however
    often a member rewrites its junk)."""
    current = ctx.roster
    out = select_successor(current, await _read_candidates(kv, current), now=ctx.now())
    for r in out.refused:
        if refused.get(r.source) != r.blob_digest:
            refused[r.source] = r.blob_digest
            ctx.metrics.roster_candidates_refused.inc()
            log.error("roster v%d candidate %s refused: %s", current.version + 1, r.source,
                      r.reason, extra={"digest": r.blob_digest})
    if out.rivals and out.envelope is not None:
        report_equivocation(ctx, current.version + 1, digest(out.envelope.payload), out.rivals)
    if out.envelope is None or ctx.roster is not current:
        return ctx.roster is not current  # another task (POST /roster) may have advanced it
    try:
        accept(ctx, out.envelope)
    except RosterError as e:  # it expired between the check and now: keep following
        log.error("roster v%d from %s refused at acceptance: %s", current.version + 1,
                  out.source, e)
        return False
    refused.clear()  # the keys of the next version are new ones
    await _share(ctx, kv, out.envelope, current.version + 1)
    return True


def report_equivocation(ctx: NodeContext, version: int, chosen: str,
                        rivals: tuple[str, ...]) -> None:
    """File (once per fork) a signed verification-failure incident that every member receives:
    a council that signs two version Ns can show different members different trust roots."""
    incident_id, report = equivocation_report(version, chosen, rivals, reporter=ctx.node_id)
    with ctx.transaction() as tx:
        if records.current_incident(tx, incident_id) is not None:
            return
        doc = incident_from_report(report, origin=ctx.node_id, now=ctx.now(),
                                   incident_id=incident_id)
        flow.issue(ctx, [Draft(doc, qualifier=str(doc["severity"]))], tx=tx)
    log.critical("EQUIVOCATION: the council signed %d different roster v%d documents; "
                 "following %s (lowest digest), rivals %s; filed incident %s",
                 len(rivals) + 1, version, chosen, list(rivals), incident_id)


async def _read_candidates(kv: KeyValue, current: Roster) -> list[Candidate]:
    """Every copy of version current+1 that a member of ``current`` holds (direct gets, each
    bounded by the JetStream request timeout), plus the legacy admin-written key."""
    keys = candidate_keys(current)
    entries = await asyncio.gather(*(_get(kv, k) for k in keys))
    return [Candidate(k, data) for k, data in zip(keys, entries, strict=True) if data is not None]


async def _get(kv: KeyValue, key: str) -> bytes | None:
    try:
        entry = await kv.get(key)
    except (nats.js.errors.KeyNotFoundError, nats.js.errors.InvalidKeyError):
        return None  # KeyNotFoundError covers a deleted or purged key too
    return entry.value or b""


async def _share(ctx: NodeContext, kv: KeyValue, envelope: Envelope, version: int) -> bool:
    """Keep a copy of an accepted version under this node's own key, so that a joining node
    finds an honest copy as long as one honest member holds it."""
    key = member_key(version, ctx.node_id)
    try:
        await kv.put(key, envelope.to_json())
    except (nats.errors.Error, TimeoutError) as e:
        # Not fatal to the follower: the copy is re-shared when it (re)starts.
        log.warning("cannot share roster v%d under %s (%s)", version, key, type(e).__name__)
        return False
    return True


async def _share_chain(ctx: NodeContext, kv: KeyValue) -> None:
    """Re-share every accepted version whose copy under this node's key is missing or not the
    one accepted (a lost put, a bucket re-created by the hub)."""
    for env in chain(ctx)[1:]:
        version = Roster.parse_envelope(env).version
        if await _get(kv, member_key(version, ctx.node_id)) != env.to_json():
            await _share(ctx, kv, env, version)
