"""A node's TOML configuration.

    cfg = NodeConfig.load(Path("gb/node.toml")); cfg.node_id
    'gb'

Example file (``beacon init`` writes one)::

    [node]
    id = "gb"
    role = "member"                # or "international-body"
    data_dir = "/srv/beacon/gb"    # SQLite database and keys live here
    time_scale = 1.0               # multiplies every scheduled duration (demos use 0.001)
    check_batches = "loop"         # where fetched reports are verified: "loop", "threads" or
                                   # "processes" (env BEACON_CHECK_BATCHES overrides it)
    playbooks_dir = "/srv/beacon/playbooks"   # optional; default: the shared playbooks/

    [http]
    host = "127.0.0.1"
    port = 8101

    [nats]
    url = "nats://127.0.0.1:4222"
    nkey_seed_file = "/srv/beacon/gb/nats.nk"   # the node's NATS user (nkey) seed

    [keys]
    signing_key_file = "/srv/beacon/gb/signing.key"
    encryption_key_file = "/srv/beacon/gb/encryption.key"

    [trust]
    roster_file = "/srv/beacon/roster.json"     # the DSSE-signed genesis (or newer) roster
    max_skew_seconds = 300
    max_message_bytes = 262144

    [log]
    checkpoint_interval_seconds = 30   # scaled by time_scale
    witness_threshold = 2              # cosignatures that make a checkpoint "witnessed"

    [stats]
    snapshot_interval_seconds = 60     # international body only; scaled by time_scale

    [providers]
    # "immediately" (the default): a provider token's report, declaration, evaluation or
    # monitoring signal is signed and exchanged when filed. "after-review": it is held here as
    # pending until an operator releases (signs and publishes) or rejects it.
    exchange_provider_filings = "immediately"

    [smtp]                             # optional: for webhooks registered as mailto:…
    host = "127.0.0.1"
    port = 25
    from = "beacon@gb.example"

Relative paths are resolved against the config file's folder.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from federation.errors import Error

EXCHANGE_POLICIES = ("immediately", "after-review")
# Where a fetched batch of inbound messages is checked (node/bus/checkers.py); the first is the
# default, the one that measured best on a 2-core host (docs/performance.md, "Where a batch is
# checked").
CHECK_MODES = ("loop", "threads", "processes")
CHECK_ENV = "BEACON_CHECK_BATCHES"


class ConfigError(Error):
    """The node's configuration file is missing, unreadable or incomplete."""


@dataclass(frozen=True)
class NodeConfig:
    node_id: str
    role: str
    data_dir: Path
    http_host: str
    http_port: int
    nats_url: str
    nkey_seed_file: Path | None
    signing_key_file: Path
    encryption_key_file: Path | None
    roster_file: Path
    time_scale: float = 1.0
    max_skew_seconds: float = 300.0
    max_message_bytes: int = 256 * 1024
    checkpoint_interval_seconds: float = 30.0
    witness_threshold: int = 2
    stats_snapshot_interval_seconds: float = 60.0
    playbooks_dir: Path | None = None
    path: Path | None = None
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = ""
    exchange_provider_filings: str = "immediately"  # or "after-review" (node/http/held.py)
    check_batches: str = CHECK_MODES[0]

    @property
    def db_path(self) -> Path:
        return self.data_dir / "beacon.sqlite3"

    @property
    def nats_servers(self) -> list[str]:
        """``nats.url`` may list several servers of one cluster, comma-separated."""
        return [u.strip() for u in self.nats_url.split(",") if u.strip()]

    @property
    def inbox_prefix(self) -> str:
        # A per-node inbox, so that NATS permissions can keep replies to one node private.
        return f"_INBOX_{self.node_id}"

    @property
    def durable_name(self) -> str:
        return f"node-{self.node_id}"

    @classmethod
    def load(cls, path: Path) -> NodeConfig:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise ConfigError(f"config file {path} not found; create one with `beacon init`") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from e
        base = path.resolve().parent
        try:
            return cls._from_dict(raw, base, path)
        except KeyError as e:
            raise ConfigError(f"{path}: missing setting {e.args[0]!r}") from e

    @classmethod
    def _from_dict(cls, raw: dict[str, Any], base: Path, path: Path) -> NodeConfig:
        node, http, nats, keys, trust, tlog, stats, smtp, providers = (
            raw.get(s, {}) for s in ("node", "http", "nats", "keys", "trust", "log", "stats",
                                     "smtp", "providers"))

        def p(value: str | None) -> Path | None:
            return None if value is None else (base / value).resolve()

        role = node.get("role", "member")
        if role not in ("member", "international-body"):
            raise ConfigError(f"{path}: node.role must be 'member' or 'international-body', "
                              f"not {role!r}")
        exchange = providers.get("exchange_provider_filings", "immediately")
        if exchange not in EXCHANGE_POLICIES:
            raise ConfigError(f"{path}: providers.exchange_provider_filings must be "
                              f"'immediately' or 'after-review', not {exchange!r}")
        check = os.environ.get(CHECK_ENV) or node.get("check_batches", CHECK_MODES[0])
        if check not in CHECK_MODES:
            where = CHECK_ENV if os.environ.get(CHECK_ENV) else f"{path}: node.check_batches"
            raise ConfigError(f"{where} must be one of {', '.join(map(repr, CHECK_MODES))}, "
                              f"not {check!r}")
        data_dir = p(node["data_dir"])
        signing = p(keys["signing_key_file"])
        roster = p(trust["roster_file"])
        assert data_dir and signing and roster  # noqa: S101 - p() maps str to Path
        return cls(
            node_id=node["id"], role=role, data_dir=data_dir,
            http_host=http.get("host", "127.0.0.1"), http_port=int(http.get("port", 8100)),
            nats_url=nats.get("url", "nats://127.0.0.1:4222"),
            nkey_seed_file=p(nats.get("nkey_seed_file")),
            signing_key_file=signing, encryption_key_file=p(keys.get("encryption_key_file")),
            roster_file=roster, time_scale=float(node.get("time_scale", 1.0)),
            max_skew_seconds=float(trust.get("max_skew_seconds", 300)),
            max_message_bytes=int(trust.get("max_message_bytes", 256 * 1024)),
            checkpoint_interval_seconds=float(tlog.get("checkpoint_interval_seconds", 30)),
            witness_threshold=int(tlog.get("witness_threshold", 2)),
            stats_snapshot_interval_seconds=float(stats.get("snapshot_interval_seconds", 60)),
            playbooks_dir=p(node.get("playbooks_dir")), path=path,
            smtp_host=smtp.get("host"), smtp_port=int(smtp.get("port", 25)),
            smtp_from=str(smtp.get("from", "")), exchange_provider_filings=exchange,
            check_batches=check,
        )

    def to_toml(self, relative_to: Path | None = None) -> str:
        """The TOML text; with ``relative_to`` (the config file's folder) every path is written
        relative to it, so a bundle can be moved or mounted anywhere (``beacon deploy init``)."""

        def s(path: Path) -> str:
            return str(path) if relative_to is None else os.path.relpath(path, relative_to)

        doc: dict[str, Any] = {
            "node": {"id": self.node_id, "role": self.role, "data_dir": s(self.data_dir),
                     "time_scale": self.time_scale},
            "http": {"host": self.http_host, "port": self.http_port},
            "nats": {"url": self.nats_url},
            "keys": {"signing_key_file": s(self.signing_key_file)},
            "trust": {"roster_file": s(self.roster_file),
                      "max_skew_seconds": self.max_skew_seconds,
                      "max_message_bytes": self.max_message_bytes},
            "log": {"checkpoint_interval_seconds": self.checkpoint_interval_seconds,
                    "witness_threshold": self.witness_threshold},
            "stats": {"snapshot_interval_seconds": self.stats_snapshot_interval_seconds},
        }
        if self.nkey_seed_file:
            doc["nats"]["nkey_seed_file"] = s(self.nkey_seed_file)
        if self.playbooks_dir:
            doc["node"]["playbooks_dir"] = s(self.playbooks_dir)
        if self.encryption_key_file:
            doc["keys"]["encryption_key_file"] = s(self.encryption_key_file)
        if self.smtp_host:
            doc["smtp"] = {"host": self.smtp_host, "port": self.smtp_port,
                           "from": self.smtp_from}
        if self.check_batches != CHECK_MODES[0]:
            doc["node"]["check_batches"] = self.check_batches
        if self.exchange_provider_filings != "immediately":
            doc["providers"] = {"exchange_provider_filings": self.exchange_provider_filings}
        return tomli_w.dumps(doc)
