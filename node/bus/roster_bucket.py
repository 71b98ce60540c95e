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
"""

from __future__ import annotations

import logging
from dataclasses import replace

import nats.js.errors
from nats.js import JetStreamContext, api

BUCKET = "roster"
STREAM_NAME = f"KV_{BUCKET}"
MAX_COPY_BYTES = 256 * 1024  # a roster of a few hundred members fits many times over

log = logging.getLogger("beacon.roster")


def member_publish_subjects(node_id: str) -> list[str]:
    """The only subjects of the bucket a member's NATS user may publish to."""
    return [f"$KV.{BUCKET}.*.{node_id}"]


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
