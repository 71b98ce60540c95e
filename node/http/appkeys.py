"""The typed keys under which the aiohttp application holds the node's parts."""

from __future__ import annotations

from aiohttp import web

from node.bus.transport import Bus
from node.notify.webhooks import WebhookDispatcher
from node.pipeline.context import NodeContext
from node.pipeline.timers import RunTimers
from node.pipeline.translog import TransparencyLog

NODE = web.AppKey("node", NodeContext)
BUS = web.AppKey("bus", Bus)
LOG = web.AppKey("log", TransparencyLog)
TIMERS = web.AppKey("timers", RunTimers)
WEBHOOKS = web.AppKey("webhooks", WebhookDispatcher)
