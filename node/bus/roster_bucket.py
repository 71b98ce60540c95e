"""The JetStream KV bucket ``roster``: its stream settings and what each member may write there.

    >>> member_publish_subjects("jp")
    ['$KV.roster.*.jp']

Distribution must not let one member block or rewrite the chain (see docs/decisions.md, "Threat
model of roster distribution"). The server enforces two things:

- **Namespaces.** A member's NATS user may publish only ``$KV.roster.<anything>.<its id>``: its
  own copy of each version (``v<N>.<member>``). ``put``, ``create``, ``delete`` and ``purge`` of
  nats-py all publish to ``$KV.<bucket>.<key>``, so this one grant covers every write and refuses
  every write to another member's key or to the legacy ``v<N>`` key (admin only). No member gets
  ``$JS.API.STREAM.PURGE``/``MSG.DELETE``/``UPDATE``.
- **No roll-ups.** A ``Nats-Rollup: all`` header on a message a member *may* publish would erase
  the whole stream (nats-server honours it for any subject of a stream with
  ``allow_rollup_hdrs``, which ``create_key_value`` always sets). So the bucket's stream is made
  here, without roll-ups and with purge denied; the cost is that ``kv.purge`` does not work
  (``kv.delete`` of one's own key still does), which roster distribution never needs.

In the leaf topology a leaf domain's ``KV_roster`` is a mirror of the hub's (``leaf_setup``).
:func:`open_bucket` then reads the local mirror and sends writes to the hub's bucket through the
hub's domain prefix, ``$JS.hub.API.$KV.roster.<key>`` (which the hub maps to ``$KV.roster.<key>``:
nats-server denies plain ``$KV.>`` across a link between two JetStream domains). The Go client
does the same for a mirrored bucket; nats-py does not, hence the small adapter here.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, cast

import nats.js.errors
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue

BUCKET = "roster"
STREAM_NAME = f"KV_{BUCKET}"
MAX_COPY_BYTES = 256 * 1024  # a roster of a few hundred members fits many times over

log = logging.getLogger("beacon.roster")


def member_publish_subjects(node_id: str, hub_api: str | None = None) -> list[str]:
    """The only subjects of the bucket a member's NATS user may publish to; ``hub_api``
    (``$JS.hub.API``) adds the same keys written from a leaf domain into the hub's bucket."""
    own = [f"$KV.{BUCKET}.*.{node_id}"]
    return own if hub_api is None else [*own, f"{hub_api}.{own[0]}"]


class _WritesThroughPrefix:
    """What a :class:`KeyValue` uses of its JetStream context, with every publish (put,
    create, update, delete) sent to ``<api prefix>.<subject>``; reads stay local."""

    def __init__(self, js: JetStreamContext, api_prefix: str) -> None:
        self._js, self._prefix = js, api_prefix

    def __getattr__(self, name: str) -> Any:
        return getattr(self._js, name)

    async def publish(self, subject: str, payload: bytes = b"", **kwargs: Any) -> api.PubAck:
        return await self._js.publish(f"{self._prefix}.{subject}", payload, **kwargs)


async def open_bucket(js: JetStreamContext) -> KeyValue:
    """The ``roster`` bucket as this node sees it: its domain's own, or (at a leaf) the local
    mirror for reads with writes going to the hub's. Raises BucketNotFoundError while the
    admin has not created it yet."""
    try:
        info = await js.stream_info(STREAM_NAME)
    except nats.js.errors.NotFoundError as e:
        raise nats.js.errors.BucketNotFoundError from e
    mirror = info.config.mirror
    if mirror is None or mirror.external is None or not mirror.external.api:
        return await js.key_value(BUCKET)
    writer = cast(JetStreamContext, _WritesThroughPrefix(js, mirror.external.api))
    return KeyValue(name=BUCKET, stream=STREAM_NAME, pre=f"$KV.{BUCKET}.", js=writer,
                    direct=bool(info.config.allow_direct or info.config.mirror_direct))


def stream_config(replicas: int = 1) -> api.StreamConfig:
    """A KV bucket (nats-py opens it with ``js.key_value``) whose stream refuses roll-ups,
    purges and message deletes from anyone but an administrator changing the config."""
    return api.StreamConfig(
        name=STREAM_NAME, subjects=[f"$KV.{BUCKET}.>"],
        description="signed roster versions; each member writes only v<N>.<its id>",
        retention=api.RetentionPolicy.LIMITS, discard=api.DiscardPolicy.NEW,
        storage=api.StorageType.FILE, num_replicas=replicas,
        max_msgs_per_subject=1, max_msg_size=MAX_COPY_BYTES,
        allow_direct=True, allow_rollup_hdrs=False, deny_delete=True, deny_purge=True)


async def ensure_bucket(js: JetStreamContext, *, replicas: int = 1) -> None:
    """As the hub's admin identity: create the bucket, or bring an old one (made by
    ``create_key_value``, roll-ups allowed) to the safe settings."""
    try:
        info = await js.stream_info(STREAM_NAME)
    except nats.js.errors.NotFoundError:
        await js.add_stream(stream_config(replicas))
        return
    cfg = info.config
    if cfg.allow_rollup_hdrs or not cfg.deny_purge or not cfg.deny_delete \
            or cfg.num_replicas != replicas:
        log.warning("roster bucket allowed roll-ups or purges, or has other replicas; "
                    "updating its stream config")
        await js.update_stream(replace(cfg, allow_rollup_hdrs=False, deny_purge=True,
                                       deny_delete=True, num_replicas=replicas))
