"""A node's context in-process (real SQLite store, real keys, no NATS, no HTTP) for tests that
drive the store and the signing pipeline directly.

    >>> # ctx, files = open_local_node(tmp_path, "gb", peers=("fr",))
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from node.cli.provision import (
    NodeFiles,
    genesis_document,
    member_entry,
    provision_node,
    sign_genesis,
    write_config,
)
from node.core.config import NodeConfig
from node.pipeline.context import NodeContext


def open_local_node(tmp_path: Path, node_id: str, *, peers: tuple[str, ...] = (),
                    role: str = "member") -> tuple[NodeContext, dict[str, NodeFiles]]:
    """Provision ``node_id`` and ``peers`` under ``tmp_path`` and open ``node_id``'s context;
    the caller closes it."""
    now = datetime.now(UTC)
    files = {node_id: provision_node(tmp_path / node_id, node_id, role=role)}
    files |= {n: provision_node(tmp_path / n, n, role="member") for n in peers}
    doc = genesis_document([member_entry(f, now=now) for f in files.values()],
                           council=[f.signing_key.public.keyid for f in files.values()],
                           threshold=1, now=now)
    (tmp_path / "roster.json").write_bytes(
        sign_genesis(doc, [f.signing_key for f in files.values()]).to_json())
    config: NodeConfig = write_config(files[node_id], roster_file=tmp_path / "roster.json",
                                      nats_url="nats://127.0.0.1:1", http_port=1)
    return NodeContext.open(config), files
