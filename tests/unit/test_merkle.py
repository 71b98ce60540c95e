"""RFC 9162 Merkle math: published CT vectors verbatim, a naive reference, all small trees."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import pytest

from federation.errors import Error
from federation.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# --- Published vectors ----------------------------------------------------------------------
# From github.com/transparency-dev/merkle, rfc6962/rfc6962_test.go (TestRFC6962Hasher),
# commit 78493b07ef9b552e3379abf9e23d4da26fbe797c.
HASHER_VECTORS = [
    ("empty root", EMPTY_ROOT,
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ("empty leaf", leaf_hash(b""),
     "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    ("leaf", leaf_hash(b"L123456"),
     "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"),
    ("node", node_hash(b"N123", b"N456"),
     "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"),
]

# From github.com/transparency-dev/merkle, proof/verify_test.go (the CT test tree of 8 leaves,
# inherited from google/certificate-transparency's merkle_tree_test), commit
# 02194e9afb6c1d95b5381350007963aa70fff472. ``leaves``, ``roots`` (roots[i] is the root of the
# first i+1 leaves), ``inclusionProofs`` ({leaf (1-based), size, proof}) and
# ``consistencyProofs`` ({size1, size2, proof}) are copied verbatim.
LEAVES = [bytes.fromhex(h) for h in [
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]]
ROOTS = [bytes.fromhex(h) for h in [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]]
INCLUSION_VECTORS: list[tuple[int, int, list[str]]] = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY_VECTORS: list[tuple[int, int, list[str]]] = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
# Also from proof/verify_test.go: an arbitrary non-root hash used as a wrong root.
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")

CT_TREE = MerkleTree([leaf_hash(d) for d in LEAVES])


# --- A naive reference: RFC 9162 §2.1 definitions, written out directly ---------------------
def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(hashes: Sequence[bytes]) -> bytes:
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = _k(len(hashes))
    return node_hash(ref_mth(hashes[:k]), ref_mth(hashes[k:]))


def ref_path(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    if len(hashes) == 1:
        return []
    k = _k(len(hashes))
    if m < k:
        return [*ref_path(m, hashes[:k]), ref_mth(hashes[k:])]
    return [*ref_path(m - k, hashes[k:]), ref_mth(hashes[:k])]


def ref_subproof(m: int, hashes: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if b else [ref_mth(hashes)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, hashes[:k], b), ref_mth(hashes[k:])]
    return [*ref_subproof(m - k, hashes[k:], False), ref_mth(hashes[:k])]


MAX_N = 70
HASHES = [leaf_hash(i.to_bytes(2, "big")) for i in range(MAX_N)]


def _flip(data: bytes, pos: int) -> bytes:
    """``data`` with the byte at ``pos`` (mod its length) changed."""
    pos %= len(data)
    return data[:pos] + bytes([data[pos] ^ 0x5A]) + data[pos + 1:]


def _fails(fn: Callable[..., None], *args: object) -> bool:
    try:
        fn(*args)
    except ProofError:
        return True
    return False


# --- Tests ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("desc", "got", "want"), HASHER_VECTORS)
def test_hasher_matches_transparency_dev_vectors(desc: str, got: bytes, want: str) -> None:
    assert got.hex() == want, desc


def test_roots_of_ct_test_tree() -> None:
    for size in range(1, 9):
        assert CT_TREE.root(size) == ROOTS[size - 1], size
        assert root(LEAVES[:size]) == ROOTS[size - 1], size
    assert CT_TREE.root(0) == root([]) == EMPTY_ROOT


@pytest.mark.parametrize(("leaf", "size", "path"), INCLUSION_VECTORS)
def test_inclusion_proofs_match_ct_vectors(leaf: int, size: int, path: list[str]) -> None:
    proof = CT_TREE.inclusion_proof(leaf - 1, size)
    assert [p.hex() for p in proof] == path
    verify_inclusion(leaf_hash(LEAVES[leaf - 1]), leaf - 1, size, proof, ROOTS[size - 1])


@pytest.mark.parametrize(("size1", "size2", "path"), CONSISTENCY_VECTORS)
def test_consistency_proofs_match_ct_vectors(size1: int, size2: int, path: list[str]) -> None:
    proof = CT_TREE.consistency_proof(size1, size2)
    assert [p.hex() for p in proof] == path
    verify_consistency(size1, size2, ROOTS[size1 - 1], ROOTS[size2 - 1], proof)


@pytest.mark.parametrize(("leaf", "size", "path"), INCLUSION_VECTORS[1:])
def test_corrupted_ct_inclusion_proofs_fail(leaf: int, size: int, path: list[str]) -> None:
    # The probes of transparency-dev's corruptInclusionProof.
    index, rt, lh = leaf - 1, ROOTS[size - 1], leaf_hash(LEAVES[leaf - 1])
    proof = [bytes.fromhex(p) for p in path]
    probes: list[tuple[bytes, int, int, list[bytes], bytes]] = [
        (lh, index - 1, size, proof, rt), (lh, index + 1, size, proof, rt),
        (lh, index ^ 2, size, proof, rt), (lh, index, size * 2, proof, rt),
        (lh, index, size // 2, proof, rt), (leaf_hash(b"WrongLeaf"), index, size, proof, rt),
        (lh, index, size, proof, EMPTY_ROOT), (lh, index, size, proof, SOME_HASH),
        (lh, index, size, [*proof, rt], rt), (lh, index, size, [rt, *proof], rt),
        (lh, index, size, proof[:-1], rt), (lh, index, size, [proof[0], SOME_HASH, *proof[1:]], rt),
    ]
    probes += [(lh, index, size, [*proof[:i], _flip(p, 0), *proof[i + 1:]], rt)
               for i, p in enumerate(proof)]
    for probe in probes:
        assert _fails(verify_inclusion, *probe), probe[1:3]


@pytest.mark.parametrize(("size1", "size2", "path"), CONSISTENCY_VECTORS[1:])
def test_corrupted_ct_consistency_proofs_fail(size1: int, size2: int, path: list[str]) -> None:
    # The probes of transparency-dev's corruptConsistencyProof.
    r1, r2 = ROOTS[size1 - 1], ROOTS[size2 - 1]
    proof = [bytes.fromhex(p) for p in path]
    probes: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (size1 - 1, size2, r1, r2, proof), (size1 + 1, size2, r1, r2, proof),
        (size1 ^ 2, size2, r1, r2, proof), (size1, size2 * 2, r1, r2, proof),
        (size1, size2 // 2, r1, r2, proof), (size1, size2, SOME_HASH, r2, proof),
        (size1, size2, r1, SOME_HASH, proof), (size1, size2, r2, r1, proof),
        (size1, size2, r1, r2, []), (size1, size2, r1, r2, [*proof, r1]),
        (size1, size2, r1, r2, [*proof, r2]), (size1, size2, r1, r2, [r1, *proof]),
        (size1, size2, r1, r2, [r2, *proof]), (size1, size2, r1, r2, [proof[0], *proof]),
        (size1, size2, r1, r2, proof[:-1]),
    ]
    probes += [(size1, size2, r1, r2, [*proof[:i], _flip(p, 0), *proof[i + 1:]])
               for i, p in enumerate(proof)]
    for probe in probes:
        assert _fails(verify_consistency, *probe), probe[:2]


def test_tree_matches_naive_reference_for_all_small_sizes() -> None:
    tree = MerkleTree(HASHES)
    for n in range(1, MAX_N + 1):
        assert tree.root(n) == ref_mth(HASHES[:n])
        for i in range(n):
            assert tree.inclusion_proof(i, n) == ref_path(i, HASHES[:n])
        for m in range(1, n):
            assert tree.consistency_proof(m, n) == ref_subproof(m, HASHES[:n], True)


def test_every_inclusion_proof_verifies_and_every_corruption_fails() -> None:
    tree = MerkleTree(HASHES)
    for n in range(1, MAX_N + 1):
        rt = tree.root(n)
        for i in range(n):
            path = tree.inclusion_proof(i, n)
            verify_inclusion(HASHES[i], i, n, path, rt)
            # Any single changed byte: in the leaf, the root or any path element (the position
            # walks through all 32 bytes as i and n vary).
            assert _fails(verify_inclusion, _flip(HASHES[i], i + n), i, n, path, rt)
            assert _fails(verify_inclusion, HASHES[i], i, n, path, _flip(rt, i * n))
            for j, p in enumerate(path):
                bad = [*path[:j], _flip(p, i + j + n), *path[j + 1:]]
                assert _fails(verify_inclusion, HASHES[i], i, n, bad, rt), (i, n, j)
            # Wrong index (another leaf of the same tree) or a tree twice or half as big.
            for other in {i - 1, i + 1, i ^ 1, i ^ 2} - {i}:
                assert _fails(verify_inclusion, HASHES[i], other, n, path, rt), (i, other, n)
            for size in {n * 2, n // 2, 0}:
                assert _fails(verify_inclusion, HASHES[i], i, size, path, rt), (i, n, size)
            assert _fails(verify_inclusion, HASHES[i], i, n, [*path, rt], rt)
            if path:
                assert _fails(verify_inclusion, HASHES[i], i, n, path[:-1], rt)


def test_every_consistency_proof_verifies_and_every_corruption_fails() -> None:
    tree = MerkleTree(HASHES)
    roots = [tree.root(n) for n in range(MAX_N + 1)]
    for n in range(1, MAX_N + 1):
        for m in range(0, n + 1):
            path = tree.consistency_proof(m, n)
            verify_consistency(m, n, roots[m], roots[n], path)
            if m in (0, n):
                assert path == []
                continue
            assert _fails(verify_consistency, m, n, _flip(roots[m], m + n), roots[n], path)
            assert _fails(verify_consistency, m, n, roots[m], _flip(roots[n], m * n), path)
            for j, p in enumerate(path):
                bad = [*path[:j], _flip(p, m + j + n), *path[j + 1:]]
                assert _fails(verify_consistency, m, n, roots[m], roots[n], bad), (m, n, j)
            # The same roots claimed for other sizes. (Not n ± 1: a proof's shape need not pin
            # the new size, e.g. 1 → 3 and 1 → 4 both prove with [leaf 1, right subtree]; the
            # signed checkpoint binds the size to its root.)
            for mm, nn in {(m - 1, n), (m + 1, n), (m ^ 2, n), (m, n * 2), (m, n // 2),
                           (n, m)} - {(m, n)}:
                assert _fails(verify_consistency, mm, nn, roots[m], roots[n], path), (m, n, mm, nn)
            assert _fails(verify_consistency, m, n, roots[n], roots[m], path)
            assert _fails(verify_consistency, m, n, roots[m], roots[n], path[:-1])
            assert _fails(verify_consistency, m, n, roots[m], roots[n], [*path, roots[n]])
            assert _fails(verify_consistency, m, n, roots[m], roots[n], [path[0], *path])


def test_two_checkpoints_of_one_size_with_different_roots_are_inconsistent() -> None:
    # Equivocation: the log shows one history to some witnesses and another to others.
    forked = MerkleTree([*HASHES[:10], leaf_hash(b"forged"), *HASHES[11:20]])
    honest = MerkleTree(HASHES[:20])
    path = honest.consistency_proof(12, 20)
    with pytest.raises(ProofError, match="rebuilds old root"):
        verify_consistency(12, 20, forked.root(12), honest.root(20), path)
    with pytest.raises(ProofError, match="old root .* of size 20 is not"):
        verify_consistency(20, 20, forked.root(20), honest.root(20), [])


def test_edge_cases_outside_the_rfc_algorithms() -> None:
    h = HASHES[0]
    verify_consistency(0, 5, EMPTY_ROOT, HASHES[4], [])
    verify_consistency(5, 5, h, h, [])
    with pytest.raises(ProofError, match=r"old size 6 is not in 0\.\.5"):
        verify_consistency(6, 5, h, h, [])
    with pytest.raises(ProofError, match="expected none"):
        verify_consistency(5, 5, h, h, [h])
    with pytest.raises(ProofError, match="of size 0 is not"):
        verify_consistency(0, 5, h, h, [])
    with pytest.raises(ProofError, match="path is empty"):
        verify_consistency(1, 2, h, h, [])
    with pytest.raises(ProofError, match="old_root has 9 bytes"):
        verify_consistency(1, 2, b"WrongRoot", h, [h])
    with pytest.raises(ProofError, match=r"path\[0\] has 0 bytes"):
        verify_inclusion(h, 0, 2, [b""], h)
    with pytest.raises(ProofError, match="leaf index 0 is not in a tree of size 0"):
        verify_inclusion(h, 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ProofError, match="too many"):
        verify_inclusion(h, 0, 1, [h], h)
    with pytest.raises(ProofError, match="too few"):
        verify_inclusion(h, 0, 2, [], h)
    with pytest.raises(ProofError, match="leads to root"):
        verify_inclusion(h, 0, 1, [], HASHES[1])
    verify_inclusion(h, 0, 1, [], h)


def test_proof_requests_beyond_the_log_are_refused() -> None:
    tree = MerkleTree(HASHES[:5])
    with pytest.raises(ProofError, match="tree size 6 asked for, but the log has 5"):
        tree.root(6)
    with pytest.raises(ProofError, match="leaf index 5 is not in a tree of size 5"):
        tree.inclusion_proof(5)
    with pytest.raises(ProofError, match="old size 4 is not in 0..3"):
        tree.consistency_proof(4, 3)
    with pytest.raises(Error):
        tree.consistency_proof(1, 9)


class CountingLeaves(Sequence[bytes]):
    """A stand-in for the node's store: counts how many leaf hashes are fetched."""

    def __init__(self, hashes: list[bytes]) -> None:
        self.hashes = hashes
        self.reads = 0

    def __len__(self) -> int:
        return len(self.hashes)

    def __getitem__(self, i: int) -> bytes:  # type: ignore[override]
        self.reads += 1
        return self.hashes[i]


def test_tree_grows_with_its_store_and_stays_cheap_once_warm() -> None:
    store = CountingLeaves([leaf_hash(i.to_bytes(4, "big")) for i in range(3000)])
    cache: dict[tuple[int, int], bytes] = {}
    tree = MerkleTree(store, cache)
    old_root = tree.root()
    assert all(height >= MerkleTree.CACHE_MIN_HEIGHT for height, _ in cache)
    assert len(cache) <= 3000 // 16 * 2
    store.reads = 0
    proof = tree.inclusion_proof(1234, 2999)
    consistency = tree.consistency_proof(1000, 2999)
    # Each proof touches O(log n) cached nodes plus at most 15 leaves per low subtree.
    assert store.reads < 150
    verify_inclusion(store.hashes[1234], 1234, 2999, proof, tree.root(2999))
    verify_consistency(1000, 2999, tree.root(1000), tree.root(2999), consistency)
    # Appending to the store extends the tree; the past stays provable and unchanged.
    store.hashes.extend(leaf_hash(b"more %d" % i) for i in range(77))
    assert tree.size == 3077
    assert tree.root(3000) == old_root
    verify_consistency(3000, 3077, old_root, tree.root(), tree.consistency_proof(3000))
    assert tree.root() == ref_mth(store.hashes)
    # A fresh tree over the same store with the persisted cache agrees.
    assert MerkleTree(store, dict(cache)).root() == tree.root()
