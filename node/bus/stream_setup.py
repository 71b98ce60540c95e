"""The federation's JetStream objects, created *and reconciled* by the administrative user.

    >>> # nc = await nats.connect(url, nkeys_seed=admin_nk)
    >>> # await setup_jetstream(nc.jetstream(), durables=["node-gb", "node-fr"], replicas=3)
    >>> # $ beacon nats-setup --url nats://a:4222,nats://b:4222 --admin-nkey admin.nk \\
    >>> #       --nodes gb,fr,jp,int --replicas 3          # the same, for a deployment

Nodes hold least-privilege credentials and cannot create or change streams; this setup step runs
with the admin nkey (``beacon demo`` runs it at every start, before the nodes). It does not stop
at "exists": a stream created by an older version keeps its old subject list, so a new message
type would never be stored and its outbox rows would be retried forever. So each start compares
the stream's subjects, limits and replicas, and each node's consumer, with what this version
wants, and updates what differs (``STREAM.UPDATE``; ``CONSUMER.CREATE`` updates an existing
durable's editable fields). Settings JetStream cannot change in place (storage, retention,
a consumer's deliver policy) are reported with what to do instead of silently kept.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, api

from federation.errors import Error
from federation.subjects import PREFIX, STREAM, stream_subjects
from node.bus import roster_bucket

log = logging.getLogger("beacon.streams")


class StreamSetupError(Error):
    """A stream or consumer differs in a way JetStream cannot change in place."""


def stream_config(replicas: int = 1) -> api.StreamConfig:
    return api.StreamConfig(
        name=STREAM, subjects=stream_subjects(), storage=api.StorageType.FILE,
        retention=api.RetentionPolicy.LIMITS, duplicate_window=120.0,
        max_msg_size=1024 * 1024, num_replicas=replicas)


def consumer_config(durable: str) -> api.ConsumerConfig:
    return api.ConsumerConfig(
        durable_name=durable, name=durable, deliver_policy=api.DeliverPolicy.ALL,
        ack_policy=api.AckPolicy.EXPLICIT, ack_wait=10.0, max_ack_pending=4096,
        filter_subject=f"{PREFIX}.>")


def stream_drift(have: api.StreamConfig, want: api.StreamConfig) -> list[str]:
    """Names of the fields of ``have`` that differ from ``want`` (subjects as a set)."""
    fixed = [f for f in ("storage", "retention") if getattr(have, f) != getattr(want, f)]
    if fixed:
        raise StreamSetupError(f"stream {STREAM} has {fixed} different from this version's; "
                               "JetStream cannot change them in place: back the stream up, "
                               "delete it and run the setup again")
    drift = [] if set(have.subjects or []) == set(want.subjects or []) else ["subjects"]
    drift += [f for f in ("max_msg_size", "num_replicas") if getattr(have, f) != getattr(want, f)]
    if abs((have.duplicate_window or 0.0) - (want.duplicate_window or 0.0)) > 1e-3:
        drift.append("duplicate_window")
    return drift


async def ensure_stream(js: JetStreamContext, replicas: int = 1) -> list[str]:
    """Create the stream, or update the fields that drifted; return what was changed."""
    want = stream_config(replicas)
    try:
        info = await js.stream_info(STREAM)
    except nats.js.errors.NotFoundError:
        await js.add_stream(want)
        log.info("created stream %s (R%d)", STREAM, replicas)
        return ["created"]
    drift = stream_drift(info.config, want)
    if drift:
        # Keep what this version does not manage (limits an operator set, sources, …).
        updated = dataclasses.replace(info.config, **{f: getattr(want, f) for f in drift})
        await js.update_stream(updated)
        log.warning("stream %s reconciled: %s updated to this version's", STREAM, drift)
    return drift


async def ensure_consumer(js: JetStreamContext, durable: str) -> list[str]:
    """Create a node's durable consumer, or update its editable fields; return what changed."""
    want = consumer_config(durable)
    try:
        have = (await js.consumer_info(STREAM, durable)).config
    except nats.js.errors.NotFoundError:
        await js.add_consumer(STREAM, want)
        return ["created"]
    if have.deliver_policy != want.deliver_policy or have.ack_policy != want.ack_policy:
        raise StreamSetupError(f"consumer {durable} has another deliver or ack policy; delete "
                               "it (the node then redelivers from the start, harmlessly: "
                               "receivers are idempotent) and run the setup again")
    drift = [f for f in ("filter_subject", "ack_wait", "max_ack_pending")
             if getattr(have, f) != getattr(want, f)]
    if drift:
        await js.add_consumer(STREAM, want)
        log.warning("consumer %s reconciled: %s updated", durable, drift)
    return drift


async def setup_jetstream(js: JetStreamContext, durables: list[str], replicas: int = 1) -> None:
    """As the admin user: the stream, the roster bucket and each node's durable consumer."""
    await ensure_stream(js, replicas)
    await roster_bucket.ensure_bucket(js, replicas=replicas)
    for durable in durables:
        await ensure_consumer(js, durable)


async def as_admin(servers: str | list[str], admin_nkey: str,
                   action: Callable[[NATS], Awaitable[None]], *, deadline: float,
                   fail: Callable[[BaseException], Error], what: str = "JetStream",
                   inbox_prefix: str = "_INBOX") -> None:
    """Connect as the admin and run ``action``, retrying both until ``deadline`` (a
    ``time.monotonic()`` instant): a fresh server or cluster answers "JetStream unavailable"
    until it has elected its meta leader, and a container's peers may not be up yet.

    Raises:
        Error: ``fail(last exception)`` once the deadline has passed.
    """
    while True:
        try:
            nc = await nats.connect(servers=servers if isinstance(servers, list) else [servers],
                                    nkeys_seed=admin_nkey, connect_timeout=5,
                                    allow_reconnect=False, inbox_prefix=inbox_prefix)
            try:
                await action(nc)
                return
            finally:
                await nc.close()
        except (TimeoutError, OSError, nats.errors.Error) as e:
            if time.monotonic() > deadline:
                raise fail(e) from e
            log.info("%s not ready yet (%r); retrying", what, e)
            await asyncio.sleep(0.5)


async def setup_with_retry(servers: list[str], admin_nkey: str, nodes: list[str], *,
                           replicas: int = 1, within_s: float = 60) -> None:
    """Connect as the admin and run :func:`setup_jetstream`, retried (:func:`as_admin`)."""
    async def setup(nc: NATS) -> None:
        await setup_jetstream(nc.jetstream(), [f"node-{n}" for n in nodes], replicas=replicas)

    def fail(e: BaseException) -> Error:
        return StreamSetupError(f"JetStream set-up failed after {within_s:.0f}s ({e!r}): check "
                                "that the NATS servers run and that the admin nkey is the one "
                                "in their config")

    await as_admin(servers, admin_nkey, setup, deadline=time.monotonic() + within_s, fail=fail)


def _setup_arguments(p: Any) -> None:
    p.add_argument("--url", required=True, help="NATS server URL(s), comma-separated")
    p.add_argument("--admin-nkey", type=Path, required=True, help="the admin user's nkey seed")
    p.add_argument("--nodes", required=True, help="comma-separated node ids, e.g. gb,fr,int")
    p.add_argument("--replicas", type=int, choices=[1, 3, 5], default=1,
                   help="JetStream replicas (3 on a three-server cluster; default 1)")
    p.add_argument("--wait", type=float, default=60.0,
                   help="seconds to keep retrying while the servers start (default 60)")


def add_parser(sub: Any) -> None:
    help_text = ("as the NATS admin: create or reconcile the stream, the roster bucket and "
                 "every node's consumer (run it once at set-up and after every upgrade)")
    _setup_arguments(sub.add_parser("nats-setup", help=help_text))
    nats_cmd = sub.add_parser("nats", help="NATS administration (the hub operator)")
    actions = nats_cmd.add_subparsers(dest="nats_command", required=True, metavar="ACTION")
    _setup_arguments(actions.add_parser("setup", help=help_text))


def run(args: argparse.Namespace) -> int:
    asyncio.run(setup_with_retry(args.url.split(","), str(args.admin_nkey),
                                 args.nodes.split(","), replicas=args.replicas,
                                 within_s=args.wait))
    print("JetStream set-up reconciled (stream, roster bucket, consumers)")
    return 0
