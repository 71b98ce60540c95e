"""The typed keys under which the aiohttp application holds the node's parts."""

from __future__ import annotations

from aiohttp import web

from node.bus import Bus
from node.context import NodeContext
from node.timers import RunTimers
from node.translog import TransparencyLog
from node.webhooks import WebhookDispatcher

NODE = web.AppKey("node", NodeContext)
BUS = web.AppKey("bus", Bus)
LOG = web.AppKey("log", TransparencyLog)
TIMERS = web.AppKey("timers", RunTimers)
WEBHOOKS = web.AppKey("webhooks", WebhookDispatcher)
