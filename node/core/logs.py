"""Structured JSON logs, one object per line, on stderr.

    configure_logging(node_id="gb")
    log.info("stored", extra={"digest": d})   # digest is the correlation id
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

_EXTRA_FIELDS = ("digest", "subject", "reason", "incident_id", "run_id")


class JsonFormatter(logging.Formatter):
    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id

    def format(self, record: logging.LogRecord) -> str:
        doc = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
               "level": record.levelname.lower(), "node": self.node_id, "logger": record.name,
               "msg": record.getMessage()}
        for k in _EXTRA_FIELDS:
            if hasattr(record, k):
                doc[k] = getattr(record, k)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def configure_logging(node_id: str, level: int | None = None) -> None:
    """JSON lines on stderr; ``BEACON_LOG_LEVEL=DEBUG`` adds one line per signed or stored
    message, keyed by its digest."""
    if level is None:
        name = os.environ.get("BEACON_LOG_LEVEL", "INFO").upper()
        level = logging.getLevelNamesMapping().get(name, logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(node_id))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
