"""C2SP signed notes, tlog-checkpoints and tlog-cosignatures: published vectors and round trips."""

from __future__ import annotations

import hashlib

import pytest

from federation.checkpoint import (
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    Checkpoint,
    NoteError,
    NoteSignature,
    add_cosignatures,
    cosign,
    cosigned_message,
    key_id,
    open_note,
    parse_note,
    sign_checkpoint,
    verify_cosignature,
    verify_note,
)
from federation.errors import SignatureError
from federation.keys import PublicKey, SigningKey, b64, unb64
from federation.merkle import EMPTY_ROOT, MerkleTree, leaf_hash, verify_consistency
from tests.unit.conftest import seeded_key

# --- Published vectors ----------------------------------------------------------------------
# From golang.org/x/mod, sumdb/note/note_test.go (TestNewVerifier, TestSign, TestOpen), commit
# 02c991387e35f9e4c0a9b7ce137717055f8d716d. Go's note package is the reference implementation
# of https://c2sp.org/signed-note. A vkey is name+hex(key id)+base64(0x01 || public key); an skey
# is PRIVATE+KEY+name+hex(key id)+base64(0x01 || seed).
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
PETER_SIG = ("— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKv"
             "qfqdngotpRZb6KE6RyyBwJnAM=\n")
ENOCH_SIG = ("— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTG"
             "wnWLox33WWd1RvMc+QQ=\n")

# From https://c2sp.org/tlog-cosignature (C2SP/C2SP tlog-cosignature.md, commit
# 01194db11950a0ae2b2b2401afa0a4063a822458): the example cosigned checkpoint and the example
# signed message of its "Ed25519 signed message" section.
SPEC_NOTE = (
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2"
    "q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2"
    "oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)
SPEC_COSIGNED_MESSAGE = (
    b"cosignature/v1\n"
    b"time 1679315147\n"
    b"example.com/behind-the-sofa\n"
    b"20852163\n"
    b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)


def _vkey(vkey: str) -> tuple[str, bytes, PublicKey]:
    name, hash_hex, encoded = vkey.split("+", 2)
    raw = unb64(encoded)
    assert raw[0] == SIG_ED25519
    return name, bytes.fromhex(hash_hex), PublicKey(raw[1:])


LOG = seeded_key(1)
WITNESS = seeded_key(2)
OTHER = seeded_key(3)
CP = Checkpoint("beacon/fr", 3, MerkleTree([leaf_hash(b"a"), leaf_hash(b"b"),
                                             leaf_hash(b"c")]).root())
T = 1_790_000_000


# --- Key ids and the signed-note format -----------------------------------------------------
@pytest.mark.parametrize("vkey", [PETER_VKEY, ENOCH_VKEY])
def test_key_id_matches_go_note_vkeys(vkey: str) -> None:
    name, expected, public = _vkey(vkey)
    assert key_id(name, SIG_ED25519, public) == expected


def test_key_id_follows_the_spec_formula() -> None:
    for sig_type in (SIG_ED25519, SIG_COSIGNATURE_V1):
        data = b"beacon/fr" + b"\x0a" + bytes([sig_type]) + LOG.public.raw
        assert key_id("beacon/fr", sig_type, LOG.public) == hashlib.sha256(data).digest()[:4]
    # One key may serve as log and witness key: the type byte keeps the key ids apart.
    assert key_id("beacon/fr", SIG_ED25519, LOG.public) != key_id(
        "beacon/fr", SIG_COSIGNATURE_V1, LOG.public)


def test_signature_line_matches_go_note_sign() -> None:
    name, kid, public = _vkey(PETER_VKEY)
    key = SigningKey.from_seed(unb64(PETER_SKEY.split("+", 4)[4])[1:])
    assert key.public == public
    line = NoteSignature(name, kid, key.sign(GO_TEXT.encode())).line()
    assert line == PETER_SIG


def test_parse_note_matches_go_note_open() -> None:
    note = parse_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG)
    assert note.text == GO_TEXT
    assert [(s.name, s.key_id.hex()) for s in note.signatures] == [
        ("PeterNeumann", "c74f20a3"), ("EnochRoot", "af0cfe78")]
    for sig, vkey in zip(note.signatures, [PETER_VKEY, ENOCH_VKEY], strict=True):
        _vkey(vkey)[2].verify(note.text.encode(), sig.signature)
    assert note.to_text() == GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG


@pytest.mark.parametrize("bad", [
    # Go's TestOpen badMsgs, plus a tab (another control character) and a missing dash.
    GO_TEXT,
    GO_TEXT + "\n",
    GO_TEXT + "\n" + PETER_SIG[:-1],
    "\x01" + GO_TEXT + "\n" + PETER_SIG,
    b"\xff" + (GO_TEXT + "\n" + PETER_SIG).encode(),
    GO_TEXT + "\n" + PETER_SIG[:-1].replace("PeterNeumann", "Bad Name"),
    GO_TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name"),
    GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    GO_TEXT + "\t\n" + PETER_SIG,
    GO_TEXT + "\n" + PETER_SIG.replace("— ", "- "),
    GO_TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter+Neumann"),
    GO_TEXT + "\n" + "— PeterNeumann AAAA\n",
    GO_TEXT + "\n" + PETER_SIG * 101,
])
def test_malformed_notes_are_rejected(bad: str | bytes) -> None:
    with pytest.raises(NoteError):
        parse_note(bad)


# --- Checkpoints ----------------------------------------------------------------------------
def test_spec_example_checkpoint_and_cosignature_parse() -> None:
    note = parse_note(SPEC_NOTE)
    cp = Checkpoint.from_body(note.text)
    assert (cp.origin, cp.size, b64(cp.root_hash)) == (
        "example.com/behind-the-sofa", 20852163, "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    log_sig, witness_sig = note.signatures
    assert len(log_sig.signature) == 64
    # timestamped_signature: u64 big-endian timestamp, then the Ed25519 signature.
    assert len(witness_sig.signature) == 8 + 64
    assert int.from_bytes(witness_sig.signature[:8], "big") == 1679315147
    assert cosigned_message(cp, 1679315147) == SPEC_COSIGNED_MESSAGE


def test_checkpoint_body_is_the_c2sp_text() -> None:
    assert CP.body() == f"beacon/fr\n3\n{b64(CP.root_hash)}\n".encode()
    ext = Checkpoint("beacon/fr", 0, EMPTY_ROOT, ("ext one", "ext two"))
    assert ext.body().endswith(b"=\next one\next two\n")
    assert Checkpoint.from_body(ext.body().decode()) == ext


@pytest.mark.parametrize(("body", "match"), [
    ("beacon/fr\n3\n", "needs origin, size and root"),
    ("beacon/fr\n03\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", "leading zeros"),
    ("beacon/fr\n-1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", "leading zeros"),
    ("beacon/fr\n١\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", "leading zeros"),
    ("beacon/fr\n3\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n", "not base64"),
    ("beacon/fr\n3\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=\n", "not canonical"),
    ("beacon/fr\n3\nAAAA\n", "root has 3 bytes"),
    ("beacon/fr\n3\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n", "extension line"),
    ("\n3\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", "origin"),
    ("beacon/fr\n18446744073709551616\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", "uint64"),
    ("beacon/fr\n3\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "newline"),
])
def test_malformed_checkpoints_are_rejected(body: str, match: str) -> None:
    with pytest.raises(NoteError, match=match):
        Checkpoint.from_body(body)


def test_checkpoint_note_round_trip() -> None:
    note = sign_checkpoint(CP, "beacon/fr", LOG)
    assert note.startswith(CP.body().decode() + "\n— beacon/fr ")
    assert verify_note(note, "beacon/fr", LOG.public) == CP
    assert verify_note(note.encode(), "beacon/fr", LOG.public) == CP
    assert parse_note(note).to_text() == note
    # Fixed seed, deterministic Ed25519: the same note every time.
    assert sign_checkpoint(CP, "beacon/fr", LOG) == note


def test_tampered_checkpoint_fails() -> None:
    note = sign_checkpoint(CP, "beacon/fr", LOG)
    other_root = b64(EMPTY_ROOT)
    for tampered in (note.replace("\n3\n", "\n4\n", 1),
                     note.replace(b64(CP.root_hash), other_root, 1),
                     note.replace("beacon/fr\n", "beacon/gb\n", 1)):
        with pytest.raises(SignatureError, match="log signature of beacon/fr on .* does not"):
            verify_note(tampered, "beacon/fr", LOG.public)
    sig = parse_note(note).signatures[0]
    flipped = NoteSignature(sig.name, sig.key_id, bytes([sig.signature[0] ^ 1]) + sig.signature[1:])
    with pytest.raises(SignatureError, match="does not verify"):
        verify_note(CP.body().decode() + "\n" + flipped.line(), "beacon/fr", LOG.public)


def test_wrong_key_or_name_finds_no_signature() -> None:
    note = sign_checkpoint(CP, "beacon/fr", LOG)
    with pytest.raises(SignatureError, match=r"no valid signature .*\(trusted: beacon/fr\)"):
        verify_note(note, "beacon/fr", OTHER.public)
    with pytest.raises(SignatureError, match="no valid signature"):
        verify_note(note, "beacon/gb", LOG.public)
    with pytest.raises(SignatureError, match="no valid signature"):
        open_note(note, {}, {"beacon/fr": LOG.public})


def test_unknown_signatures_are_ignored_but_a_bad_known_one_rejects() -> None:
    note = sign_checkpoint(CP, "beacon/fr", LOG)
    stranger = parse_note(sign_checkpoint(CP, "beacon/xx", OTHER)).signatures[0]
    # Same name, another key: a different key id, so it is someone else's line (spec: ignore).
    impostor = parse_note(sign_checkpoint(CP, "beacon/fr", OTHER)).signatures[0]
    with_extra = add_cosignatures(note, [stranger, impostor])
    assert verify_note(with_extra, "beacon/fr", LOG.public) == CP
    # A line that claims the trusted (name, key id) but carries another key's signature.
    forged = NoteSignature("beacon/fr", key_id("beacon/fr", SIG_ED25519, LOG.public),
                           impostor.signature)
    with pytest.raises(SignatureError, match="log signature of beacon/fr"):
        verify_note(note + forged.line(), "beacon/fr", LOG.public)


# --- Cosignatures ---------------------------------------------------------------------------
def test_cosignature_round_trip() -> None:
    cosig = cosign(CP, "beacon/gb", WITNESS, T)
    assert cosig.key_id == key_id("beacon/gb", SIG_COSIGNATURE_V1, WITNESS.public)
    assert cosig.signature[:8] == T.to_bytes(8, "big")
    WITNESS.public.verify(cosigned_message(CP, T), cosig.signature[8:])
    assert verify_cosignature(CP, cosig, "beacon/gb", WITNESS.public) == T
    assert verify_cosignature(CP, cosig, "beacon/gb", WITNESS.public, now=T) == T

    note = add_cosignatures(sign_checkpoint(CP, "beacon/fr", LOG), [cosig])
    opened = open_note(note, {"beacon/fr": LOG.public},
                       {"beacon/gb": WITNESS.public, "beacon/de": OTHER.public}, now=T)
    assert opened.checkpoint == CP
    assert opened.signed_by == {"beacon/fr"}
    assert opened.cosigned_by == {"beacon/gb": T}
    # Cosignatures ride along unnoticed by a verifier that only trusts the log.
    assert verify_note(note, "beacon/fr", LOG.public) == CP


def test_a_node_can_log_and_witness_with_one_key() -> None:
    # beacon/fr logs with LOG and also cosigns its own checkpoint under the same name and key.
    cosig = cosign(CP, "beacon/fr", LOG, T)
    note = add_cosignatures(sign_checkpoint(CP, "beacon/fr", LOG), [cosig])
    opened = open_note(note, {"beacon/fr": LOG.public}, {"beacon/fr": LOG.public})
    assert opened.signed_by == {"beacon/fr"}
    assert opened.cosigned_by == {"beacon/fr": T}


def test_tampered_cosignature_fails() -> None:
    cosig = cosign(CP, "beacon/gb", WITNESS, T)
    later = NoteSignature(cosig.name, cosig.key_id,
                          (T + 1).to_bytes(8, "big") + cosig.signature[8:])
    with pytest.raises(SignatureError, match="cosignature of beacon/gb on beacon/fr size 3"):
        verify_cosignature(CP, later, "beacon/gb", WITNESS.public)
    other_cp = Checkpoint("beacon/fr", 4, CP.root_hash)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_cosignature(other_cp, cosig, "beacon/gb", WITNESS.public)
    with pytest.raises(SignatureError, match="expected beacon/gb\\+"):
        verify_cosignature(CP, cosig, "beacon/gb", OTHER.public)
    with pytest.raises(SignatureError, match="in the future"):
        verify_cosignature(CP, cosig, "beacon/gb", WITNESS.public, now=T - 1)
    short = NoteSignature(cosig.name, cosig.key_id, cosig.signature[8:])
    with pytest.raises(SignatureError, match="expected 72"):
        verify_cosignature(CP, short, "beacon/gb", WITNESS.public)
    # A log signature is not a cosignature, even from the same key: the key ids differ.
    log_line = parse_note(sign_checkpoint(CP, "beacon/gb", WITNESS)).signatures[0]
    with pytest.raises(SignatureError, match="cosignature is by beacon/gb\\+"):
        verify_cosignature(CP, log_line, "beacon/gb", WITNESS.public)
    # In a note, a known witness's bad cosignature rejects the whole note.
    note = add_cosignatures(sign_checkpoint(CP, "beacon/fr", LOG), [later])
    with pytest.raises(SignatureError, match="cosignature of beacon/gb"):
        open_note(note, {"beacon/fr": LOG.public}, {"beacon/gb": WITNESS.public})


def test_add_cosignatures_replaces_a_witness_older_line() -> None:
    note = sign_checkpoint(CP, "beacon/fr", LOG)
    note = add_cosignatures(note, [cosign(CP, "beacon/gb", WITNESS, T)])
    note = add_cosignatures(note, [cosign(CP, "beacon/gb", WITNESS, T + 60),
                                   cosign(CP, "beacon/de", OTHER, T + 5)])
    assert [s.name for s in parse_note(note).signatures] == ["beacon/fr", "beacon/gb", "beacon/de"]
    opened = open_note(note, {"beacon/fr": LOG.public},
                       {"beacon/gb": WITNESS.public, "beacon/de": OTHER.public})
    assert opened.cosigned_by == {"beacon/gb": T + 60, "beacon/de": T + 5}
    with pytest.raises(NoteError, match="key name"):
        add_cosignatures(note, [NoteSignature("bad name", b"\0" * 4, b"\0" * 72)])


def test_bad_names_and_timestamps_are_refused_when_signing() -> None:
    with pytest.raises(NoteError, match="key name"):
        sign_checkpoint(CP, "beacon fr", LOG)
    with pytest.raises(NoteError, match="key name"):
        cosign(CP, "", WITNESS, T)
    with pytest.raises(NoteError, match="timestamp"):
        cosign(CP, "beacon/gb", WITNESS, -1)
    with pytest.raises(NoteError, match="timestamp"):
        cosign(CP, "beacon/gb", WITNESS, 2**63)


def test_witness_flow_with_consistency_proof() -> None:
    # What a witness does (DESIGN §6): verify the log's note, check consistency from the last
    # size it saw, then cosign.
    hashes = [leaf_hash(b"%d" % i) for i in range(40)]
    tree = MerkleTree(hashes)
    old = Checkpoint("beacon/fr", 25, tree.root(25))
    new = Checkpoint("beacon/fr", 40, tree.root(40))
    seen = verify_note(sign_checkpoint(new, "beacon/fr", LOG), "beacon/fr", LOG.public)
    verify_consistency(old.size, seen.size, old.root_hash, seen.root_hash,
                       tree.consistency_proof(old.size, seen.size))
    cosig = cosign(seen, "beacon/gb", WITNESS, T)
    assert verify_cosignature(new, cosig, "beacon/gb", WITNESS.public) == T
