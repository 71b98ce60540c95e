"""C2SP tlog-checkpoint signed notes and tlog-cosignature witness cosignatures (DESIGN §6).

    >>> from federation.keys import SigningKey
    >>> from federation.merkle import EMPTY_ROOT
    >>> log, witness = SigningKey.from_seed(bytes(32)), SigningKey.from_seed(bytes([1]) * 32)
    >>> cp = Checkpoint("beacon/fr", 0, EMPTY_ROOT)
    >>> note = sign_checkpoint(cp, "beacon/fr", log)
    >>> note = add_cosignatures(note, [cosign(cp, "beacon/gb", witness, 1700000000)])
    >>> opened = open_note(note, {"beacon/fr": log.public}, {"beacon/gb": witness.public})
    >>> opened.checkpoint == cp, sorted(opened.signed_by), opened.cosigned_by
    (True, ['beacon/fr'], {'beacon/gb': 1700000000})

A note is its text (``origin\\nsize\\nbase64(root)\\n`` plus optional extension lines), a blank
line, then lines ``— <name> base64(key id || signature)``. A log signs the text with Ed25519
(signature type 0x01, https://c2sp.org/signed-note); a witness signs ``cosignature/v1\\ntime
<t>\\n`` + text and puts the 8-byte timestamp before its signature (type 0x04,
https://c2sp.org/tlog-cosignature). Beacon names logs and witnesses ``beacon/<node id>``; a node
may use one Ed25519 key for both roles because the key ids and the signed messages differ by
type (no origin is ``cosignature/v1``). Time is passed in; nothing here reads the clock.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from federation.errors import Error, SignatureError
from federation.keys import PublicKey, SigningKey, b64, unb64
from federation.merkle import HASH_SIZE

SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 100  # as Go's golang.org/x/mod/sumdb/note; the spec requires at least 16
_DASH = "\u2014 "
_SIZE = re.compile(r"0|[1-9][0-9]*")
_MAX_SIZE = 2**64 - 1
_MAX_TIMESTAMP = 2**63 - 1


class NoteError(Error):
    """A note or checkpoint is malformed; the message says which rule it broke."""


def _check_name(name: str) -> None:
    # signed-note: "Key names MUST be non-empty and MUST NOT contain any Unicode spaces or plus".
    if not name or "+" in name or any(c.isspace() for c in name):
        raise NoteError(f"key name {name!r} is empty or has a space or '+'")


def key_id(name: str, sig_type: int, public: PublicKey) -> bytes:
    """Return the 4-byte key id ``SHA-256(name || 0x0A || sig_type || public key)[:4]``.

    Args:
        name: the key name (``beacon/<node id>``).
        sig_type: :data:`SIG_ED25519` for a log key, :data:`SIG_COSIGNATURE_V1` for a witness.
        public: the Ed25519 public key.

    Returns:
        The key id bytes, as they lead the decoded signature.
    """
    data = name.encode("utf-8") + b"\n" + bytes([sig_type]) + public.raw
    return hashlib.sha256(data).digest()[:4]


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key id and the signature bytes after it."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The line as it appears in a note, newline included."""
        return f"{_DASH}{self.name} {b64(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    """A parsed, not yet verified, signed note; ``text`` includes its final newline."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def to_text(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size, RFC 9162 root hash, optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise NoteError(f"checkpoint origin {self.origin!r} is empty or has a newline")
        if not 0 <= self.size <= _MAX_SIZE:
            raise NoteError(f"checkpoint size {self.size} is not a uint64")
        if len(self.root_hash) != HASH_SIZE:
            raise NoteError(f"checkpoint root has {len(self.root_hash)} bytes, expected 32")
        for line in self.extensions:
            if not line or "\n" in line:
                raise NoteError(f"checkpoint extension line {line!r} is empty or has a newline")

    def body(self) -> bytes:
        """The note text: the bytes a log signs (and, after a prefix, a witness signs)."""
        lines = [self.origin, str(self.size), b64(self.root_hash), *self.extensions]
        return "".join(f"{line}\n" for line in lines).encode("utf-8")

    @classmethod
    def from_body(cls, text: str) -> Checkpoint:
        """Parse a checkpoint's note text, accepting only the one encoding :meth:`body` makes.

        Raises:
            NoteError: the text is not a well-formed checkpoint.
        """
        if not text.endswith("\n"):
            raise NoteError("checkpoint text does not end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError(f"checkpoint has {len(lines)} lines, needs origin, size and root")
        origin, size, root_b64, *extensions = lines
        if not _SIZE.fullmatch(size):
            raise NoteError(f"checkpoint size {size!r} is not a decimal without leading zeros")
        try:
            root_hash = unb64(root_b64)
        except (binascii.Error, ValueError) as e:
            raise NoteError(f"checkpoint root {root_b64!r} is not base64") from e
        checkpoint = cls(origin, int(size), root_hash, tuple(extensions))
        # Only one text per checkpoint, so a signature can be checked over body() (STYLE §4).
        if checkpoint.body() != text.encode("utf-8"):
            raise NoteError(f"checkpoint root {root_b64!r} is not canonical base64")
        return checkpoint


@dataclass(frozen=True)
class OpenedCheckpoint:
    """A checkpoint whose log signature verified, with who signed and who cosigned (and when)."""

    checkpoint: Checkpoint
    signed_by: frozenset[str]
    cosigned_by: Mapping[str, int]


def parse_note(text: str | bytes) -> Note:
    """Split a signed note into its text and signature lines, checking only the syntax.

    Args:
        text: the whole note, signatures included.

    Returns:
        The note; nothing in it is trusted until a signature verifies.

    Raises:
        NoteError: the note breaks a rule of https://c2sp.org/signed-note.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise NoteError("note is not valid UTF-8") from e
    if any(c < " " and c != "\n" for c in text):
        raise NoteError("note has an ASCII control character other than newline")
    # "the text is separated from the signatures by the last empty line in the note".
    cut = text.rfind("\n\n")
    if cut < 0:
        raise NoteError("note has no blank line before its signatures")
    body, sig_block = text[:cut + 1], text[cut + 2:]
    if not sig_block.endswith("\n"):
        raise NoteError("note has no signature lines, or the last one lacks a newline")
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has {len(lines)} signatures, at most {MAX_SIGNATURES} allowed")
    return Note(body, tuple(_parse_signature_line(line) for line in lines))


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(_DASH):
        raise NoteError(f"signature line {line[:40]!r} does not start with an em dash and space")
    name, sep, encoded = line[len(_DASH):].partition(" ")
    if not sep:
        raise NoteError(f"signature line {line[:40]!r} has no space between name and signature")
    _check_name(name)
    try:
        raw = unb64(encoded)
    except (binascii.Error, ValueError) as e:
        raise NoteError(f"signature of {name!r} is not base64") from e
    if len(raw) < 5:
        raise NoteError(f"signature of {name!r} has {len(raw)} bytes, needs a key id and more")
    return NoteSignature(name, raw[:4], raw[4:])


def sign_checkpoint(checkpoint: Checkpoint, name: str, key: SigningKey) -> str:
    """Sign ``checkpoint`` as a log (Ed25519, signature type 0x01) and return the note text.

    Args:
        checkpoint: the tree head to publish.
        name: the log's key name; by C2SP convention (and Beacon's) the origin.
        key: the log's signing key.

    Returns:
        The signed note, ready to publish or to pass to :func:`add_cosignatures`.

    Raises:
        NoteError: ``name`` is not a valid key name.
    """
    _check_name(name)
    sig = NoteSignature(name, key_id(name, SIG_ED25519, key.public), key.sign(checkpoint.body()))
    return Note(checkpoint.body().decode("utf-8"), (sig,)).to_text()


def cosigned_message(checkpoint: Checkpoint, timestamp: int) -> bytes:
    """The bytes a witness signs: ``cosignature/v1\\ntime <timestamp>\\n`` + checkpoint body."""
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp} is not in 0..2^63-1")
    return b"cosignature/v1\ntime %d\n" % timestamp + checkpoint.body()


def cosign(checkpoint: Checkpoint, witness_name: str, key: SigningKey,
           timestamp: int) -> NoteSignature:
    """Cosign ``checkpoint`` as a witness (tlog-cosignature v1, signature type 0x04).

    Call this only after checking a consistency proof from the last checkpoint seen of
    this origin: the cosignature says the witness saw no other, inconsistent, tree.

    Args:
        checkpoint: the (verified) checkpoint.
        witness_name: the witness's key name, ``beacon/<node id>``.
        key: the witness's signing key.
        timestamp: the signing time in POSIX seconds, passed in by the caller.

    Returns:
        The signature line to add with :func:`add_cosignatures`.

    Raises:
        NoteError: a bad name or a timestamp outside 0..2^63-1.
    """
    _check_name(witness_name)
    sig = key.sign(cosigned_message(checkpoint, timestamp))
    return NoteSignature(witness_name, key_id(witness_name, SIG_COSIGNATURE_V1, key.public),
                         timestamp.to_bytes(8, "big") + sig)


def verify_cosignature(checkpoint: Checkpoint, cosignature: NoteSignature, witness_name: str,
                       public: PublicKey, *, now: int | None = None) -> int:
    """Check one witness cosignature on ``checkpoint``; return its timestamp.

    Args:
        checkpoint: the checkpoint the cosignature is on.
        cosignature: the parsed signature line.
        witness_name: the name the witness is trusted under.
        public: the witness's public key.
        now: if given, the latest acceptable timestamp (POSIX seconds, skew included).

    Returns:
        The cosignature's timestamp, POSIX seconds.

    Raises:
        SignatureError: the line is not this witness's, or the signature does not verify.
    """
    expected_id = key_id(witness_name, SIG_COSIGNATURE_V1, public)
    if cosignature.name != witness_name or cosignature.key_id != expected_id:
        raise SignatureError(
            f"cosignature is by {cosignature.name}+{cosignature.key_id.hex()}, "
            f"expected {witness_name}+{expected_id.hex()}")
    if len(cosignature.signature) != 8 + 64:
        raise SignatureError(f"cosignature of {witness_name} has {len(cosignature.signature)} "
                             "bytes after the key id, expected 72 (timestamp and Ed25519)")
    timestamp = int.from_bytes(cosignature.signature[:8], "big")
    if timestamp > _MAX_TIMESTAMP:
        raise SignatureError(f"cosignature of {witness_name} has timestamp {timestamp} > 2^63-1")
    if now is not None and timestamp > now:
        raise SignatureError(f"cosignature of {witness_name} is from {timestamp}, "
                             f"in the future of {now}")
    try:
        public.verify(cosigned_message(checkpoint, timestamp), cosignature.signature[8:])
    except SignatureError as e:
        raise SignatureError(f"cosignature of {witness_name} on {checkpoint.origin} size "
                             f"{checkpoint.size} does not verify") from e
    return timestamp


def _pairs(keys: Mapping[str, PublicKey] | Iterable[tuple[str, PublicKey]],
           sig_type: int) -> dict[tuple[str, bytes], PublicKey]:
    items = keys.items() if isinstance(keys, Mapping) else keys
    return {(name, key_id(name, sig_type, public)): public for name, public in items}


def open_note(
    text: str | bytes,
    log_keys: Mapping[str, PublicKey] | Iterable[tuple[str, PublicKey]],
    witness_keys: Mapping[str, PublicKey] | Iterable[tuple[str, PublicKey]] = (),
    *,
    now: int | None = None,
) -> OpenedCheckpoint:
    """Verify a checkpoint note against trusted log keys and (optionally) witness keys.

    Per https://c2sp.org/signed-note, lines whose (name, key id) match no trusted key are
    ignored; a line that matches one but fails to verify rejects the whole note.

    Args:
        text: the note.
        log_keys: trusted log keys by name (signature type 0x01); one must have signed.
        witness_keys: trusted witness keys by name (cosignature type 0x04).
        now: if given, reject cosignatures timestamped after it (POSIX seconds).

    Returns:
        The checkpoint, the log key names that signed it and, per witness name, the latest
        timestamp of its valid cosignature.

    Raises:
        NoteError: the note or its checkpoint text is malformed.
        SignatureError: a trusted key's signature fails, or no trusted log key signed.
    """
    note = parse_note(text)
    # Parsed, not yet trusted: from_body is strict, so body() is exactly the signed text.
    checkpoint = Checkpoint.from_body(note.text)
    logs, witnesses = _pairs(log_keys, SIG_ED25519), _pairs(witness_keys, SIG_COSIGNATURE_V1)
    signed_by: set[str] = set()
    cosigned_by: dict[str, int] = {}
    for sig in note.signatures:
        if (public := logs.get((sig.name, sig.key_id))) is not None:
            try:
                public.verify(checkpoint.body(), sig.signature)
            except SignatureError as e:
                raise SignatureError(f"log signature of {sig.name} on {checkpoint.origin} "
                                     f"size {checkpoint.size} does not verify") from e
            signed_by.add(sig.name)
        elif (public := witnesses.get((sig.name, sig.key_id))) is not None:
            t = verify_cosignature(checkpoint, sig, sig.name, public, now=now)
            cosigned_by[sig.name] = max(t, cosigned_by.get(sig.name, t))
    if not signed_by:
        trusted = ", ".join(sorted({name for name, _ in logs})) or "none"
        raise SignatureError(f"checkpoint of {checkpoint.origin} has no valid signature from a "
                             f"trusted log key (trusted: {trusted})")
    return OpenedCheckpoint(checkpoint, frozenset(signed_by), cosigned_by)


def verify_note(text: str | bytes, name: str, public: PublicKey) -> Checkpoint:
    """Verify a checkpoint note signed by one log key and return the checkpoint.

    Args:
        text: the note.
        name: the log's key name (``beacon/<node id>``, as its origin).
        public: the log's public key.

    Returns:
        The checkpoint; other signature lines (cosignatures, unknown keys) are ignored.

    Raises:
        NoteError: the note or its checkpoint text is malformed.
        SignatureError: ``name``'s signature is missing or does not verify.
    """
    return open_note(text, {name: public}).checkpoint


def add_cosignatures(text: str | bytes, cosignatures: Iterable[NoteSignature]) -> str:
    """Return the note with ``cosignatures`` appended.

    A new line replaces an earlier one with the same name and key id, so a witness's fresh
    cosignature supersedes its old one instead of piling up. Nothing is verified here.

    Args:
        text: the signed note.
        cosignatures: lines from :func:`cosign` (or any other note signatures).

    Returns:
        The note text with the lines added.

    Raises:
        NoteError: the note is malformed, or the result would have too many signatures.
    """
    note = parse_note(text)
    new = list(cosignatures)
    for sig in new:
        _check_name(sig.name)
    replaced = {(s.name, s.key_id) for s in new}
    kept = [s for s in note.signatures if (s.name, s.key_id) not in replaced]
    if len(kept) + len(new) > MAX_SIGNATURES:
        raise NoteError(f"note would have {len(kept) + len(new)} signatures, "
                        f"at most {MAX_SIGNATURES} allowed")
    return Note(note.text, (*kept, *new)).to_text()
