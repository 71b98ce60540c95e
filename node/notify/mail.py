"""E-mail for webhooks registered as ``mailto:<address>``, through the SMTP server in node.toml.

    [smtp]
    host = "127.0.0.1"
    port = 25
    from = "beacon@gb.example"

    await asyncio.to_thread(send, config, "duty@gb.example", body, signature)

The mail's text is the same JSON body a web receiver gets, and it carries the same
``X-Beacon-Signature`` header, so a mail robot can check it; the subject says what happened for
people. Sending is blocking ``smtplib`` run in a worker thread with a timeout, so a slow
server holds one delivery slot, never the event loop.
"""

from __future__ import annotations

import json
import smtplib
from email.message import EmailMessage

from federation.errors import Error
from federation.webhooks import SIGNATURE_HEADER
from node.core.config import NodeConfig

TIMEOUT_SECONDS = 10.0


class MailError(Error):
    """The node cannot send mail (no SMTP server configured)."""


def message(config: NodeConfig, to: str, body: bytes, signature: str) -> EmailMessage:
    doc = json.loads(body)
    msg = EmailMessage()
    msg["From"] = config.smtp_from or f"beacon@{config.node_id}.invalid"
    msg["To"] = to
    msg["Subject"] = f"[Beacon {config.node_id}] {doc['event']}: {doc['message']}"[:200]
    msg[SIGNATURE_HEADER] = signature
    msg.set_content(body.decode(), subtype="plain", charset="utf-8", cte="8bit")
    return msg


def send(config: NodeConfig, to: str, body: bytes, signature: str) -> None:
    """Hand one message to the configured SMTP server (blocking).

    Raises:
        MailError: no ``[smtp] host`` in the node's configuration.
        OSError: the server refused or could not be reached (``smtplib.SMTPException`` is one).
    """
    if not config.smtp_host:
        raise MailError("no SMTP server configured: add [smtp] host (and port, from) to "
                        "node.toml to deliver mailto: webhooks")
    with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=TIMEOUT_SECONDS) as smtp:
        smtp.send_message(message(config, to, body, signature))
