"""RFC 9162 §2.1 Merkle tree math for a node's append-only log: hashes, proofs, verifiers.

    >>> hashes = [leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")]
    >>> tree = MerkleTree(hashes)
    >>> tree.root() == root([b"a", b"b", b"c"])
    True
    >>> verify_inclusion(hashes[2], 2, 3, tree.inclusion_proof(2), tree.root())
    >>> old = tree.root(2)
    >>> verify_consistency(2, 3, old, tree.root(), tree.consistency_proof(2, 3))

A :class:`MerkleTree` is a *view* over leaf hashes that are stored elsewhere (the node keeps them
in SQLite; tests keep them in a list). It only needs a ``Sequence[bytes]``: anything with
``len()`` and ``[i]``, so a list that the node appends to, or a lazy wrapper around its store,
both work, and the tree grows with it. Because the log is append-only, the hash of a *perfect*
subtree (``2**h`` leaves starting at a multiple of ``2**h``) never changes once all its leaves
exist, so those hashes are memoised in ``cache`` (a dict by default; pass a persistent mapping to
survive restarts). Every range that RFC 9162's recursions visit splits into O(log n) perfect
subtrees, so once warm, a root, an inclusion proof or a consistency proof for *any* past size
costs O(log n) lookups. Subtrees lower than :attr:`MerkleTree.CACHE_MIN_HEIGHT` are recomputed
from their (at most 16) leaves instead, which keeps the cache about n/16 entries.

The verifiers follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by step and raise :class:`ProofError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, MutableMapping, Sequence

from federation.errors import Error

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256 of the empty string (RFC 9162 §2.1.1)."""


class ProofError(Error):
    """A Merkle proof does not verify or cannot be made; ``kind`` names which proof."""

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(f"{kind} proof: {detail}")


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: ``SHA-256(0x00 || data)``; the prefix keeps leaves and nodes apart."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root(leaves: Iterable[bytes]) -> bytes:
    """Return MTH(D[n]) of the leaf *data* ``leaves`` (not their hashes).

    Args:
        leaves: the entries of the log, in order.

    Returns:
        The 32-byte root hash; :data:`EMPTY_ROOT` for no leaves.
    """
    return MerkleTree([leaf_hash(d) for d in leaves]).root()


def _split(n: int) -> int:
    """The largest power of two strictly less than ``n`` (n > 1): RFC 9162's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """RFC 9162 tree heads and proofs over a sequence of stored leaf hashes.

    Args:
        leaf_hashes: ``leaf_hash(d)`` of every entry, in log order; it may grow between calls
            but must never change an entry it already holds.
        cache: where to memoise perfect-subtree hashes, keyed ``(height, index)``; a new dict
            if omitted. Only ever holds hashes that can never change.
    """

    CACHE_MIN_HEIGHT = 4

    def __init__(
        self,
        leaf_hashes: Sequence[bytes],
        cache: MutableMapping[tuple[int, int], bytes] | None = None,
    ) -> None:
        self._leaves = leaf_hashes
        self._cache: MutableMapping[tuple[int, int], bytes] = {} if cache is None else cache

    @property
    def size(self) -> int:
        """The number of leaves currently stored."""
        return len(self._leaves)

    def root(self, size: int | None = None) -> bytes:
        """Return the root hash MTH(D[size]) of the first ``size`` leaves (default: all).

        Raises:
            ProofError: ``size`` is negative or beyond the stored leaves.
        """
        n = self._check_size("tree head", self.size if size is None else size)
        return EMPTY_ROOT if n == 0 else self._range(0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Return PATH(index, D[size]), RFC 9162 §2.1.3.1 (default size: all leaves).

        Raises:
            ProofError: ``index`` is not a leaf of a tree of ``size``, or ``size`` is too big.
        """
        n = self._check_size("inclusion", self.size if size is None else size)
        if not 0 <= index < n:
            raise ProofError("inclusion", f"leaf index {index} is not in a tree of size {n}")
        return self._path(index, 0, n)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Return PROOF(old_size, D[new_size]), RFC 9162 §2.1.4.1 (default new size: all).

        The proof is empty when ``old_size`` is 0 or equals ``new_size``: nothing to prove.

        Raises:
            ProofError: ``old_size > new_size`` or ``new_size`` is beyond the stored leaves.
        """
        n = self._check_size("consistency", self.size if new_size is None else new_size)
        if not 0 <= old_size <= n:
            raise ProofError("consistency", f"old size {old_size} is not in 0..{n}")
        if old_size in (0, n):
            return []
        return self._subproof(old_size, 0, n, True)

    def _check_size(self, kind: str, size: int) -> int:
        if not 0 <= size <= self.size:
            raise ProofError(kind, f"tree size {size} asked for, but the log has {self.size}")
        return size

    def _perfect(self, height: int, index: int) -> bytes:
        """Hash of the 2**height leaves starting at index * 2**height; cached when high enough."""
        if height == 0:
            return self._leaves[index]
        key = (height, index)
        cached = self._cache.get(key) if height >= self.CACHE_MIN_HEIGHT else None
        if cached is not None:
            return cached
        value = node_hash(self._perfect(height - 1, 2 * index),
                          self._perfect(height - 1, 2 * index + 1))
        if height >= self.CACHE_MIN_HEIGHT:
            self._cache[key] = value
        return value

    def _range(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for end > start, per the RFC 9162 §2.1.1 recursion."""
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            return self._perfect(n.bit_length() - 1, start // n)
        k = _split(n)
        # The left half of every range the RFC recursions reach is aligned, hence cacheable.
        left = (self._perfect(k.bit_length() - 1, start // k) if start % k == 0
                else self._range(start, start + k))
        return node_hash(left, self._range(start + k, end))

    def _path(self, index: int, start: int, end: int) -> list[bytes]:
        """PATH(index, D[start:end]) with ``index`` relative to ``start``."""
        n = end - start
        if n == 1:
            return []
        k = _split(n)
        if index < k:
            return [*self._path(index, start, start + k), self._range(start + k, end)]
        return [*self._path(index - k, start + k, end), self._range(start, start + k)]

    def _subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        """SUBPROOF(m, D[start:end], whole) of RFC 9162 §2.1.4.1."""
        n = end - start
        if m == n:
            # The old tree is this subtree: the verifier knows its hash unless it is a part.
            return [] if whole else [self._range(start, end)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, start, start + k, whole), self._range(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self._range(start, start + k)]


def _check_hashes(kind: str, **hashes: bytes) -> None:
    for name, value in hashes.items():
        if len(value) != HASH_SIZE:
            raise ProofError(kind, f"{name} has {len(value)} bytes, expected {HASH_SIZE}")


def _check_path(kind: str, path: Sequence[bytes]) -> None:
    for i, p in enumerate(path):
        if len(p) != HASH_SIZE:
            raise ProofError(kind, f"path[{i}] has {len(p)} bytes, expected {HASH_SIZE}")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    Args:
        leaf_hash: the leaf *hash*, ``leaf_hash(data)``.
        index: the 0-based position of the leaf.
        size: the tree size the proof was made for.
        path: the inclusion proof, as :meth:`MerkleTree.inclusion_proof` returns it.
        root: the trusted root hash for ``size`` (from a verified checkpoint).

    Raises:
        ProofError: the proof does not lead from the leaf to ``root``.
    """
    _check_hashes("inclusion", leaf_hash=leaf_hash, root=root)
    _check_path("inclusion", path)
    # RFC 9162 §2.1.3.2 step 1: the leaf must be inside the tree.
    if not 0 <= index < size:
        raise ProofError("inclusion", f"leaf index {index} is not in a tree of size {size}")
    # Step 2: fn is the leaf's index, sn the index of the tree's last leaf.
    fn, sn = index, size - 1
    # Step 3.
    r = leaf_hash
    # Step 4: walk up, hashing in each sibling from the side the tree shape dictates.
    for p in path:
        # 4a: a longer path than the tree is tall cannot be honest.
        if sn == 0:
            raise ProofError("inclusion", f"path has {len(path)} hashes, too many for "
                                          f"leaf {index} of a tree of size {size}")
        # 4b: a right child, or the last node of its level (whose sibling is on the left).
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # 4b.ii: skip the levels where this node has no right sibling to combine with.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        # 4c.
        fn >>= 1
        sn >>= 1
    # Step 5: the path must reach exactly the top, and the hash must match.
    if sn != 0:
        raise ProofError("inclusion", f"path has {len(path)} hashes, too few for "
                                      f"leaf {index} of a tree of size {size}")
    if r != root:
        raise ProofError("inclusion", f"leaf {index} leads to root {r.hex()[:16]}…, "
                                      f"expected {root.hex()[:16]}… for size {size}")


def verify_consistency(
    m: int, n: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> None:
    """Check that the tree of size ``n`` and ``new_root`` extends the one of ``m``, ``old_root``.

    RFC 9162 §2.1.4.2 covers ``0 < m < n``. Outside it: equal sizes are consistent only with
    equal roots and an empty path; size 0 only with :data:`EMPTY_ROOT` and an empty path.

    Args:
        m: the old tree size (the size a witness last saw).
        n: the new tree size (of the new checkpoint).
        old_root: the root hash at size ``m``.
        new_root: the root hash at size ``n``.
        path: the consistency proof, as :meth:`MerkleTree.consistency_proof` returns it.

    Raises:
        ProofError: the proof fails; for two signed checkpoints of one origin that is evidence of
            equivocation.
    """
    kind = "consistency"
    _check_hashes(kind, old_root=old_root, new_root=new_root)
    _check_path(kind, path)
    if not 0 <= m <= n:
        raise ProofError(kind, f"old size {m} is not in 0..{n}: a log never shrinks")
    if m in (0, n):
        if path:
            raise ProofError(kind, f"path has {len(path)} hashes, expected none for sizes "
                                   f"{m} → {n}")
        expected = EMPTY_ROOT if m == 0 else new_root
        if old_root != expected:
            raise ProofError(kind, f"old root {old_root.hex()[:16]}… of size {m} is not "
                                   f"{expected.hex()[:16]}…")
        return
    # RFC 9162 §2.1.4.2 step 1.
    if not path:
        raise ProofError(kind, f"path is empty for sizes {m} → {n}")
    # Step 2: when the old tree is a perfect left subtree the proof omits its (known) hash.
    hashes = list(path)
    if m & (m - 1) == 0:
        hashes.insert(0, old_root)
    # Step 3.
    fn, sn = m - 1, n - 1
    # Step 4: start from the smallest perfect subtree that holds the old tree's last leaf.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5: fr rebuilds the old root, sr the new one, from the same first node.
    fr = sr = hashes[0]
    # Step 6.
    for c in hashes[1:]:
        # 6a.
        if sn == 0:
            raise ProofError(kind, f"path has {len(path)} hashes, too many for sizes "
                                   f"{m} → {n}")
        # 6b: a left sibling belongs to both trees; a right one only to the new tree.
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            # 6b.ii.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        # 6c.
        fn >>= 1
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise ProofError(kind, f"path has {len(path)} hashes, too few for sizes "
                               f"{m} → {n}")
    if fr != old_root:
        raise ProofError(kind, f"path rebuilds old root {fr.hex()[:16]}…, expected "
                               f"{old_root.hex()[:16]}… for size {m}")
    if sr != new_root:
        raise ProofError(kind, f"path rebuilds new root {sr.hex()[:16]}…, expected "
                               f"{new_root.hex()[:16]}… for size {n}")
