"""Create a node's files: keys, NATS identity, config, and the roster entry that lists it.

    files = provision_node(Path("demo/gb"), "gb", role="member", ...)
    envelope = sign_genesis(entries, council=[...], keys=[...], now=now)

Used by ``beacon init`` for one node and by ``beacon demo`` for a whole local federation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from federation.envelope import Envelope
from federation.keys import EncryptionKey, SigningKey, unb64
from federation.roster import sign_roster_document
from federation.timeutil import format_time
from node.bus.natsconf import NkeyUser
from node.core.config import NodeConfig
from node.core.identity import (
    create_encryption_key,
    create_signing_key,
    load_encryption_key,
    load_signing_key,
)
from node.pipeline.context import utcnow
from node.store.auth import ROLES, issue_token
from node.store.db import Store

INTERNATIONAL_BODY = "int"
JURISDICTIONS = {"gb": "United Kingdom", "fr": "France", "jp": "Japan", "us": "United States",
                 "de": "Germany", "ca": "Canada", "kr": "Republic of Korea", "sg": "Singapore",
                 "in": "India", "cn": "China", "int": "International body"}


@dataclass(frozen=True)
class NodeFiles:
    node_id: str
    role: str
    directory: Path
    signing_key: SigningKey
    encryption_key: EncryptionKey
    nkey: NkeyUser

    @property
    def config_file(self) -> Path:
        return self.directory / "node.toml"

    @property
    def signing_key_file(self) -> Path:
        return self.directory / "signing.key"

    @property
    def encryption_key_file(self) -> Path:
        return self.directory / "encryption.key"

    @property
    def nkey_file(self) -> Path:
        return self.directory / "nats.nk"


def provision_node(directory: Path, node_id: str, *, role: str) -> NodeFiles:
    """Create (or reuse, if present) the node's key files in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    sk, ek, nk = (directory / "signing.key", directory / "encryption.key",
                  directory / "nats.nk")
    signing = load_signing_key(sk) if sk.exists() else create_signing_key(sk)
    encryption = load_encryption_key(ek) if ek.exists() else create_encryption_key(ek)
    if nk.exists():
        nkey = NkeyUser.load(nk)
    else:
        nkey = NkeyUser.create()
        nkey.save(nk)
    return NodeFiles(node_id, role, directory, signing, encryption, nkey)


def write_config(files: NodeFiles, *, roster_file: Path, nats_url: str, http_port: int,
                 time_scale: float = 1.0, http_host: str = "127.0.0.1",
                 data_dir: Path | None = None, relative: bool = False) -> NodeConfig:
    """Write ``node.toml``; ``relative=True`` writes paths relative to its folder (bundles)."""
    config = NodeConfig(
        node_id=files.node_id, role=files.role, data_dir=data_dir or files.directory,
        http_host=http_host, http_port=http_port, nats_url=nats_url,
        nkey_seed_file=files.nkey_file, signing_key_file=files.signing_key_file,
        encryption_key_file=files.encryption_key_file, roster_file=roster_file,
        time_scale=time_scale, path=files.config_file)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    files.config_file.write_text(
        config.to_toml(relative_to=files.directory if relative else None), encoding="utf-8")
    return config


def provision_federation(folders: dict[str, Path], members: list[str], roster_file: Path, *,
                         now: datetime) -> dict[str, NodeFiles]:
    """Keys for every node of ``folders`` (members, then the international body ``int``), and
    a genesis roster signed by the founding members unless ``roster_file`` exists already.
    Shared by ``beacon demo`` and ``beacon deploy init``."""
    files = {nid: provision_node(folder, nid, role="international-body"
                                 if nid == INTERNATIONAL_BODY else "member")
             for nid, folder in folders.items()}
    if not roster_file.exists():
        entries = [member_entry(f, now=now) for f in files.values()]
        council = [files[m].signing_key.public.keyid for m in members]
        doc = genesis_document(entries, council=council, threshold=len(members) // 2 + 1,
                               now=now)
        roster_file.write_bytes(sign_genesis(doc, [files[m].signing_key for m in members])
                                .to_json())
    return files


def admin_user(path: Path) -> NkeyUser:
    """The NATS admin user (stream administration), created once and kept in ``path``."""
    admin = NkeyUser.load(path) if path.exists() else NkeyUser.create()
    admin.save(path)
    return admin


def issue_tokens(db_path: Path, node_id: str, label: str) -> dict[str, str]:
    """One API token per role, never expiring: the operator replaces them after the first
    sign-in (``beacon users``); kept with the node's files, readable by its owner only."""
    store = Store.open(db_path)
    try:
        now = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
        # A provider token speaks for one developer (the demo's example provider); an
        # evaluator token for one independent evaluator (the demo's example organisation).
        return {role: issue_token(store, role, label=f"{label} {role} at {node_id}", now=now,
                                  expires=None,
                                  developer="Example AI" if role == "provider" else None,
                                  organisation=f"Example Evaluations ({node_id})"
                                  if role == "evaluator" else None)
                for role in ROLES}
    finally:
        store.close()


def member_entry(files: NodeFiles, *, now: datetime, name: str | None = None) -> dict[str, Any]:
    """The roster entry for a node: its public keys, valid from ``now``."""
    since = format_time(now - timedelta(minutes=5))  # tolerate small clock differences
    return {
        "id": files.node_id,
        "name": name or f"{JURISDICTIONS.get(files.node_id, files.node_id.upper())} authority",
        "jurisdiction": JURISDICTIONS.get(files.node_id, files.node_id.upper()),
        "role": files.role,
        "log_origin": f"beacon/{files.node_id}",
        "keys": [{"keyid": files.signing_key.public.keyid, "scheme": "ed25519",
                  "public": files.signing_key.public.to_b64(), "not_before": since}],
        "encryption_keys": [{"keyid": _x25519_keyid(files.encryption_key), "scheme": "x25519",
                             "public": files.encryption_key.public_b64, "not_before": since}],
    }


def _x25519_keyid(key: EncryptionKey) -> str:
    return hashlib.sha256(unb64(key.public_b64)).hexdigest()


def genesis_document(entries: list[dict[str, Any]], *, council: list[str], threshold: int,
                     now: datetime, federation: str = "beacon-demo",
                     valid_for: timedelta = timedelta(days=365)) -> dict[str, Any]:
    return {"type": "roster", "federation": federation, "version": 1,
            "issued_at": format_time(now), "expires": format_time(now + valid_for),
            "members": entries, "council": {"keyids": council, "threshold": threshold}}


def sign_genesis(document: dict[str, Any], keys: list[SigningKey]) -> Envelope:
    ptype, body = sign_roster_document(document)
    return Envelope.sign(ptype, body, keys)
