"""``beacon users``: API tokens of one node, managed on its store.

    $ beacon users add --config gb/node.toml --role responder --label "duty officer A"
    bkn_3f2a9c01d4e5_...          (printed once: only its Argon2id hash is kept)
    $ beacon users add --config gb/node.toml --role auditor --expires 30d
    $ beacon users add --config gb/node.toml --role operator --expires never
    $ beacon users add --config gb/node.toml --role provider --developer "Example AI"
    $ beacon users add --config gb/node.toml --role evaluator --organisation "Example Evals Ltd"
    $ beacon users list --config gb/node.toml
    $ beacon users revoke --config gb/node.toml 3f2a9c01d4e5

The commands open the node's SQLite store directly. That is safe while the node runs: the store
is in WAL mode with a busy timeout, and the node checks a token's row on every request, so a
revoked token is refused at once. Each creation and revocation is recorded in the audit trail
(``via = 'cli'``) with the operating-system user who ran the command.

Tokens expire a year after creation unless ``--expires`` says otherwise: a duration (``30d``,
``12h``, ``P90D``), an RFC 3339 time or date (``2027-06-30``, ``2027-06-30T12:00:00Z``), or
``never`` — which must be written out, so a token that lives forever is a decision someone made.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from federation.durations import parse_duration
from federation.errors import Error, SchemaError
from federation.timeutil import format_time, parse_time
from node.core.config import NodeConfig
from node.http.audit_trail import record
from node.pipeline.context import utcnow
from node.store.auth import (
    ROLES,
    is_expired,
    issue_token,
    list_token_rows,
    revoke_token,
    token_revoked_at,
)
from node.store.db import Store

DEFAULT_EXPIRES = "365d"


def expiry(text: str, now: datetime) -> str | None:
    """The ``expires_at`` that ``--expires TEXT`` means at ``now``; None for ``never``.

    Raises:
        Error: not a duration, a date or ``never``, or a time that has already passed.
    """
    text = text.strip()
    if text.lower() == "never":
        return None
    try:
        at = now + parse_duration(text)
    except ValueError:
        try:
            at = parse_time(text + "T00:00:00Z" if len(text) == 10 else text, "--expires")
        except SchemaError:
            raise Error(f"--expires {text!r} is not a duration (30d, 12h), an RFC 3339 date "
                        f"or time (2027-06-30, 2027-06-30T12:00:00Z), or 'never'") from None
    if at <= now:
        raise Error(f"--expires {text!r} is in the past ({format_time(at)}); give a later time")
    return format_time(at)


def add_parser(sub: Any) -> None:
    """Add ``users add|list|revoke`` to the ``beacon`` command's subparsers."""
    u = sub.add_parser("users", help="create, list and revoke a node's API tokens")
    us = u.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    a = us.add_parser("add", help="create a token and print it (once)")
    a.add_argument("--config", type=Path, required=True, help="the node's TOML config")
    a.add_argument("--role", choices=ROLES, required=True)
    a.add_argument("--label", default=None,
                   help="who holds it, e.g. 'duty officer A' (default: the role)")
    a.add_argument("--developer", default=None,
                   help="provider tokens only: the developer it files for, e.g. 'Example AI'")
    a.add_argument("--organisation", default=None,
                   help="evaluator tokens only: the independent evaluator's organisation, "
                        "named on every safety-case review it records")
    a.add_argument("--expires", default=DEFAULT_EXPIRES, metavar="WHEN",
                   help="a duration (30d, 12h), an RFC 3339 date or time, or 'never' "
                        f"(default: {DEFAULT_EXPIRES}, a year)")
    lst = us.add_parser("list", help="list tokens (ids, roles, labels; never secrets)")
    lst.add_argument("--config", type=Path, required=True, help="the node's TOML config")
    lst.add_argument("--json", action="store_true", help="print JSON instead of a table")
    r = us.add_parser("revoke", help="revoke a token by its id")
    r.add_argument("--config", type=Path, required=True, help="the node's TOML config")
    r.add_argument("token_id", help="the token's id (the part after 'bkn_')")


def _now() -> str:
    return format_time(utcnow())


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in a minimal container
        return "unknown"


def add(store: Store, role: str, label: str | None, expires: str = DEFAULT_EXPIRES,
        developer: str | None = None, organisation: str | None = None) -> str:
    """Create a token, record who created it, and return the token (the only copy)."""
    label = (label or role).strip()
    if not label or len(label) > 200:
        raise Error("--label must be 1-200 characters")
    at = utcnow()
    now = format_time(at)
    token = issue_token(store, role, label=label, now=now, expires=expiry(expires, at),
                        developer=developer, organisation=organisation)
    token_id = token.split("_", 2)[1]
    record(store, at=now, via="cli", method="CLI",
           path=f"users add --role {role} --expires {expires}", status=0, label=_os_user(),
           target=token_id)
    return token


def list_tokens(store: Store, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every token (never its hash); ``expires`` None means never, ``expired`` is as of ``now``."""
    now = now or utcnow()
    rows = list_token_rows(store)
    return [{"id": r["token_id"], "role": r["role"], "label": r["label"],
             "created": r["created_at"], "revoked": r["revoked_at"],
             "expires": r["expires_at"], "expired": is_expired(r["expires_at"], now)}
            for r in rows]


def revoke(store: Store, token_id: str) -> None:
    """Revoke a token; raise if there is no such live token."""
    known, revoked_at = token_revoked_at(store, token_id)
    if not known:
        raise Error(f"no token with id {token_id!r}; 'beacon users list' shows the ids")
    if revoked_at is not None:
        raise Error(f"token {token_id} was already revoked at {revoked_at}")
    now = _now()
    if not revoke_token(store, token_id, now=now):
        raise Error(f"token {token_id} could not be revoked; try again")
    record(store, at=now, via="cli", method="CLI", path="users revoke", status=0,
           label=_os_user(), target=token_id)


def _table(tokens: list[dict[str, Any]]) -> str:
    head = ("ID", "ROLE", "CREATED", "EXPIRES", "REVOKED", "LABEL")
    rows = [(t["id"], t["role"], t["created"],
             (t["expires"] or "never") + (" (expired)" if t["expired"] else ""),
             t["revoked"] or "-", t["label"]) for t in tokens]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head) - 1)]
    lines = ["  ".join([*(str(c).ljust(w) for c, w in zip(r[:-1], widths, strict=True)),
                        str(r[-1])]) for r in [head, *rows]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    config = NodeConfig.load(args.config)
    store = Store.open(config.db_path)
    try:
        if args.users_command == "add":
            token = add(store, args.role, args.label, args.expires, args.developer,
                        args.organisation)
            print(token)
            print("store it now: only its hash is kept, it cannot be shown again",
                  file=sys.stderr)
        elif args.users_command == "list":
            tokens = list_tokens(store)
            print(json.dumps(tokens, indent=2) if args.json else _table(tokens))
        else:
            revoke(store, args.token_id)
            print(f"revoked {args.token_id}")
    finally:
        store.close()
    return 0
