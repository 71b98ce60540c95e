"""JetStream across domains: each jurisdiction's NATS server is a leaf of the hub (DESIGN §3).

    >>> [s.name for s in hub_stream(["gb", "fr"]).sources or []]
    ['OUTBOX-int', 'OUTBOX-gb', 'OUTBOX-fr']

Every server has its own JetStream domain (the jurisdiction's id; ``hub`` for the
international body's), so a node's ``$JS.API`` stays on its own server and its streams survive a
cut link. Per domain:

* ``OUTBOX-<id>`` captures what the local node publishes (its own origin's subjects only), so a
  publish is acknowledged locally even while the link to the hub is down;
* ``BEACON`` (the name every node consumes from, unchanged) has no subjects of its own: on the
  hub it *sources* every domain's outbox; on a leaf it sources the local outbox and the hub's
  ``BEACON``. Sources resume from their last position when the link comes back, so nothing is
  lost; the hub sources only outboxes, never a leaf's ``BEACON``, so nothing loops. A node sees
  its own messages twice at most (once local, once back from the hub) and receivers are
  idempotent on the digest anyway.
* the ``roster`` bucket and the node's durable consumer, as in one domain (``stream_setup``).
  The roster bucket is per domain here: roster *updates* still travel as signed messages and
  in the logs, but the KV copies are not yet mirrored across domains.
"""

from __future__ import annotations

import dataclasses

import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, api

from federation.subjects import DURABLE_TYPES, PREFIX, STREAM
from node.bus import roster_bucket
from node.bus.stream_setup import ensure_consumer, stream_config

HUB_DOMAIN = "hub"
HUB_NODE = "int"


def outbox_config(origin: str) -> api.StreamConfig:
    subjects = [s for t in DURABLE_TYPES
                for s in (f"{PREFIX}.{t}.{origin}", f"{PREFIX}.{t}.{origin}.>")]
    return dataclasses.replace(stream_config(), name=f"OUTBOX-{origin}", subjects=subjects)


def _source(name: str, domain: str | None) -> api.StreamSource:
    external = None if domain is None else api.ExternalStream(api=f"$JS.{domain}.API")
    return api.StreamSource(name=name, external=external)


def hub_stream(members: list[str]) -> api.StreamConfig:
    sources = [_source(f"OUTBOX-{HUB_NODE}", None)]
    sources += [_source(f"OUTBOX-{m}", m) for m in members]
    return dataclasses.replace(stream_config(), subjects=None, sources=sources)


def leaf_stream(origin: str) -> api.StreamConfig:
    return dataclasses.replace(stream_config(), subjects=None, sources=[
        _source(f"OUTBOX-{origin}", None), _source(STREAM, HUB_DOMAIN)])


async def _put_stream(js: JetStreamContext, config: api.StreamConfig) -> None:
    assert config.name is not None  # noqa: S101 - every config here is named
    try:
        await js.stream_info(config.name)
    except nats.js.errors.NotFoundError:
        await js.add_stream(config)
        return
    await js.update_stream(config)


async def setup_outbox(js: JetStreamContext, node_id: str) -> None:
    """Step 1, on every server: the outbox that acknowledges the local node's publications."""
    await _put_stream(js, outbox_config(node_id))


async def outbox_reachable(nc: NATS, domain: str) -> None:
    """Raises until the hub sees ``domain``'s outbox across its leaf link: a source created
    before that is only retried by the server, with a back-off of many seconds."""
    await nc.jetstream(domain=domain, timeout=2.0).stream_info(f"OUTBOX-{domain}")


async def setup_domain(js: JetStreamContext, node_id: str, members: list[str]) -> None:
    """Step 2, as the admin of one domain, the hub's (``node_id == "int"``) first, once every
    leaf's outbox is reachable from it; then each leaf: BEACON, bucket, consumer."""
    await _put_stream(js, hub_stream(members) if node_id == HUB_NODE else leaf_stream(node_id))
    await roster_bucket.ensure_bucket(js)
    await ensure_consumer(js, f"node-{node_id}")
