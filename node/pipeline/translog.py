"""This node's transparency log over the store: checkpoints, proofs and their publication.

    log = TransparencyLog(ctx)
    log.publish_checkpoint()                # signs and queues a checkpoint if the log grew
    log.inclusion_proof(digest, size)       # {"leaf_index", "tree_size", "path"}

The leaves live in the ``log_leaves`` table (one per envelope this node signs, appended in the same
transaction as the envelope); the Merkle math is ``federation.merkle``. Each checkpoint is a C2SP
signed note under the name ``beacon/<id>`` and travels in a signed ``checkpoint`` message together
with an RFC 9162 consistency proof from the previous checkpoint, so that every peer can witness it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any, overload

from federation.checkpoint import Checkpoint, add_cosignatures, parse_note, sign_checkpoint
from federation.keys import b64
from federation.log_messages import TreeHead, build_checkpoint, log_name
from federation.merkle import MerkleTree, ProofError
from node.core.errors import NotFound
from node.pipeline import flow
from node.pipeline.context import NodeContext
from node.store import witness as checkpoints
from node.store.db import Store
from node.store.log import count_leaves, leaf_hashes, leaf_index

log = logging.getLogger("beacon.log")


class StoredLeaves(Sequence[bytes]):
    """The leaf hashes in the store, read in blocks; full blocks never change, so stay cached."""

    BLOCK = 1024

    def __init__(self, store: Store) -> None:
        self._store = store
        self._blocks: dict[int, list[bytes]] = {}

    def __len__(self) -> int:
        return count_leaves(self._store)

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | Sequence[bytes]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        block, offset = divmod(index, self.BLOCK)
        rows = self._blocks.get(block)
        if rows is None or offset >= len(rows):
            start = block * self.BLOCK
            rows = leaf_hashes(self._store, start, start + self.BLOCK)
            if len(rows) == self.BLOCK:
                self._blocks[block] = rows
        if offset >= len(rows):
            raise IndexError(index)
        return rows[offset]


class TransparencyLog:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.name = log_name(ctx.node_id)
        self.tree = MerkleTree(StoredLeaves(ctx.store))

    def latest(self, origin: str | None = None) -> dict[str, Any] | None:
        return checkpoints.latest_checkpoint(self.ctx.store, origin or self.ctx.node_id)

    def publish_checkpoint(self, *, force: bool = False) -> dict[str, Any] | None:
        """Sign and queue a checkpoint of the current log if it grew (or if ``force``)."""
        ctx = self.ctx
        size = self.tree.size
        last = self.latest()
        if last is not None and last["size"] == size and not force:
            return None
        if last is not None and last["size"] == size:
            return last
        root = self.tree.root(size)
        head = Checkpoint(self.name, size, root)
        note = sign_checkpoint(head, self.name, ctx.signing_key)
        previous = None if last is None else TreeHead(last["size"], bytes(last["root"]))
        proof = [] if last is None else self.tree.consistency_proof(last["size"], size)
        msg = build_checkpoint(origin=ctx.node_id, issued_at=ctx.now(),
                               checkpoint=head, note=note,
                               previous=previous, consistency=proof)
        doc, at = msg.to_dict(), ctx.stamp()
        with ctx.transaction() as tx:
            digest = flow.sign_and_record(ctx, doc, tx=tx)
            checkpoints.record_own_checkpoint(tx, ctx.node_id, size, root, note, digest,
                                              doc["issued_at"], at)
        log.info("published checkpoint of size %d", size, extra={"digest": digest})
        return self.latest()

    def note_with_cosignatures(self, origin: str | None = None) -> str:
        """The latest checkpoint note of ``origin`` (default: this node) with every cosignature
        line this node holds for it."""
        cp = self.latest(origin)
        if cp is None:
            raise NotFound(f"checkpoint of {origin or self.ctx.node_id!r}")
        lines = [r["line"] for r in checkpoints.cosignatures_of(self.ctx.store, cp["origin"],
                                                                 cp["size"])]
        if not lines:
            return str(cp["note"])
        # Read the stored lines as signatures of a note with the same text, then merge them.
        text = parse_note(cp["note"]).text
        sigs = parse_note(text + "\n" + "".join(f"{line}\n" for line in lines)).signatures
        return add_cosignatures(cp["note"], sigs)

    def inclusion_proof(self, digest: str, size: int | None) -> dict[str, Any]:
        index = leaf_index(self.ctx.store, digest)
        if index is None:
            raise NotFound(f"log entry with digest {digest}")
        n = self.tree.size if size is None else size
        if index >= n:
            raise ProofError("inclusion", f"entry {index} is not in a tree of size {n}; "
                                          "ask for a larger size")
        return {"leaf_index": index, "tree_size": n,
                "path": [b64(h) for h in self.tree.inclusion_proof(index, n)]}

    def consistency_proof(self, old: int, new: int) -> list[str]:
        return [b64(h) for h in self.tree.consistency_proof(old, new)]


async def checkpoint_loop(ctx: NodeContext, tlog: TransparencyLog) -> None:
    """Publish a checkpoint whenever the log has grown, every ``checkpoint_interval``."""
    interval = max(0.5, ctx.config.checkpoint_interval_seconds * ctx.config.time_scale)
    while True:
        try:
            tlog.publish_checkpoint()
        except Exception:  # keep publishing later; the log itself is safe in the store
            log.exception("could not publish a checkpoint")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.sleep(interval)
