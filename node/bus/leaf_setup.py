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
  ``FANOUT``, a mirror of the hub's ``BEACON`` made for the leaves. (A source creates its
  consumer with a bare ``CONSUMER.CREATE.<stream>`` request, and that request *updates* any
  consumer of the stream it names, a durable one included: a leaf allowed it on ``BEACON``
  could rewrite the international body's durable consumer. ``FANOUT`` has no consumer but the
  leaves' own sources, so the links are allowed ``CONSUMER.CREATE.FANOUT`` only.) Sources
  resume from their last position when the link comes back, so nothing is lost; the hub
  sources only outboxes, never a leaf's ``BEACON``, so nothing loops. A member's own messages
  come back from the hub; ``Nats-Msg-Id`` (the digest) drops them within the duplicate window
  (2 min), and receivers are idempotent on the digest beyond it.
* ``KV_roster``: the hub's bucket is the one source of truth (``roster_bucket``); a leaf's
  ``KV_roster`` is a *mirror* of it (through ``$JS.hub.API``), with no subjects of its own. A
  node reads the bucket in its own domain (``js.key_value("roster")`` finds the mirror, and a
  direct get answers from it); its writes go to the hub's bucket as
  ``$JS.hub.API.$KV.roster.v<N>.<its id>`` (``roster_bucket.open_bucket``: nats-server denies
  plain ``$KV.>`` between domains), whose PubAck comes back across the link; the mirror then
  brings the new copy home. The hub's leaf users let each link
  carry only that member's own keys (``natsconf.leaf_permissions``). While a link is down a
  member can read the last mirrored roster but not share a copy: ``roster_sync`` retries.
* the node's durable consumer, as in one domain (``stream_setup``).

The hub sources each outbox through a subject filter of that member's origin only, so even a
leaf administrator who widened its own ``OUTBOX-<id>`` cannot put another origin's subjects
into the hub's ``BEACON`` (receivers re-check origin against the signer anyway).
"""

from __future__ import annotations

import dataclasses
import logging
import time

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, api

from federation.errors import Error
from federation.subjects import DURABLE_TYPES, PREFIX, STREAM
from node.bus import roster_bucket
from node.bus.natsconf import ADMIN_INBOX
from node.bus.stream_setup import as_admin, ensure_consumer, stream_config

HUB_DOMAIN = "hub"
HUB_NODE = "int"
FANOUT = "FANOUT"  # the hub's copy of BEACON that the leaves source (see the docstring)

log = logging.getLogger("beacon.streams")


class LeafSetupError(Error):
    """A domain's JetStream objects could not be set up within the time given."""


def origin_subjects(origin: str) -> list[str]:
    """The durable subjects one origin publishes: ``beacon.v1.<type>.<origin>[.<qualifier>]``."""
    return [s for t in DURABLE_TYPES
            for s in (f"{PREFIX}.{t}.{origin}", f"{PREFIX}.{t}.{origin}.>")]


def outbox_config(origin: str) -> api.StreamConfig:
    return dataclasses.replace(stream_config(), name=f"OUTBOX-{origin}",
                               subjects=origin_subjects(origin))


def _source(name: str, domain: str | None, origin: str | None = None) -> api.StreamSource:
    external = None if domain is None else api.ExternalStream(api=f"$JS.{domain}.API")
    # An empty destination filters without renaming: only this origin's subjects are taken.
    transforms = None if origin is None else [
        api.SubjectTransform(src=f"{PREFIX}.*.{origin}", dest=""),
        api.SubjectTransform(src=f"{PREFIX}.*.{origin}.>", dest="")]
    return api.StreamSource(name=name, external=external, subject_transforms=transforms)


def hub_stream(members: list[str]) -> api.StreamConfig:
    sources = [_source(f"OUTBOX-{HUB_NODE}", None, HUB_NODE)]
    sources += [_source(f"OUTBOX-{m}", m, m) for m in members]
    return dataclasses.replace(stream_config(), subjects=None, sources=sources)


def roster_mirror_config() -> api.StreamConfig:
    """A leaf's ``KV_roster``: the hub's bucket, mirrored (same name, so nats-py's
    ``key_value`` finds it; same per-key limit, so it is a valid bucket to it)."""
    hub = roster_bucket.stream_config()
    return dataclasses.replace(
        hub, subjects=None, description="mirror of the hub's roster bucket (read here, "
        "written at the hub)", mirror=_source(roster_bucket.STREAM_NAME, HUB_DOMAIN),
        mirror_direct=True)


def fanout_stream() -> api.StreamConfig:
    """On the hub: a mirror of ``BEACON``, which only the leaves' sources read."""
    return dataclasses.replace(stream_config(), name=FANOUT, subjects=None,
                               mirror=_source(STREAM, None))


def leaf_stream(origin: str) -> api.StreamConfig:
    return dataclasses.replace(stream_config(), subjects=None, sources=[
        _source(f"OUTBOX-{origin}", None), _source(FANOUT, HUB_DOMAIN)])


async def ensure_roster_mirror(js: JetStreamContext) -> None:
    """As a leaf domain's admin: make ``KV_roster`` the hub's mirror. A per-domain bucket of an
    older version cannot become a mirror in place (JetStream refuses to add ``mirror`` to a
    stream), so it is deleted and re-created: its copies were this domain's only, the hub's
    bucket is the truth, and each node re-shares its copies there when it (re)starts."""
    want = roster_mirror_config()
    try:
        info = await js.stream_info(roster_bucket.STREAM_NAME)
    except nats.js.errors.NotFoundError:
        await js.add_stream(want)
        return
    if info.config.mirror is None:
        log.warning("leaf roster bucket was a bucket of its own; replacing it by a mirror of "
                    "the hub's")
        await js.delete_stream(roster_bucket.STREAM_NAME)
        await js.add_stream(want)


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
    if node_id == HUB_NODE:
        await _put_stream(js, hub_stream(members))
        await _put_stream(js, fanout_stream())
        await roster_bucket.ensure_bucket(js)
    else:
        await _put_stream(js, leaf_stream(node_id))
        await ensure_roster_mirror(js)
    await ensure_consumer(js, f"node-{node_id}")


async def reconcile_domain(url: str, admin_nkey: str, domain: str, members: list[str], *,
                           within_s: float = 60) -> None:
    """One domain's whole set-up, as that domain's admin, retried while its server starts:
    a leaf's (``domain`` = the member id) outbox, BEACON, roster mirror and consumer; or the
    hub's (``domain == "hub"``), after waiting for every leaf's outbox (``outbox_reachable``).
    What ``beacon deploy setup`` runs, once per server, the leaves first."""
    node_id = HUB_NODE if domain == HUB_DOMAIN else domain

    async def setup(nc: NATS) -> None:
        await setup_outbox(nc.jetstream(), node_id)
        if node_id == HUB_NODE:
            for m in members:
                await outbox_reachable(nc, m)
        await setup_domain(nc.jetstream(), node_id, members)

    def fail(e: BaseException) -> Error:
        return LeafSetupError(f"set-up of JetStream domain {domain!r} at {url} failed after "
                              f"{within_s:.0f}s ({e!r}): check that its server runs, that the "
                              "admin nkey is the one in its config and, for the hub, that "
                              "every leaf is linked and set up")

    await as_admin(url, admin_nkey, setup, deadline=time.monotonic() + within_s, fail=fail,
                   what=f"domain {domain}", inbox_prefix=ADMIN_INBOX)
