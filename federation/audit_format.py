"""The audit bundle file: what ``beacon audit export`` writes and ``beacon verify`` reads.

    >>> doc = parse_bundle(dump_bundle(make_bundle("gb", [], [], [], [], [])))
    >>> doc["format"]
    'beacon-audit-bundle/v1'

    read_bundle(doc) checks its shape: here, "$.roster_chain: needs at least one ..."

One JSON object, written compactly (no insignificant whitespace) in ASCII::

    {"format": "beacon-audit-bundle/v1",
     "node": "gb",                                   # the member whose log this is
     "roster_chain": [<DSSE roster envelope>, ...],  # v1 (genesis), v2, ... in order
     "checkpoints": [{"note": "<C2SP signed note>"}, ...],  # ascending size, cosignatures in
     "entries": [{"index": 0, "digest": "<hex sha256 of the payload>",
                  "envelope": <DSSE envelope>}, ...],       # every leaf 0..n-1, in log order
                 # or {"index", "digest", "withheld": "TLP:RED"}: a report whose label keeps
                 # its text at the origin; its leaf still counts in every root
     "inclusion_proofs": [{"index": 0, "size": n, "path": ["<b64 hash>", ...]}, ...],
     "consistency_proofs": [{"from": m, "to": n, "path": ["<b64 hash>", ...]}, ...]}

There is no unauthenticated metadata: every value is a constant, signed, or checked against
signed data, so changing any byte of a bundle makes it fail (see ``federation.audit``). That is
why there is no ``exported_at``: it would be only the exporter's word; the report gives the time
of the latest witness cosignature instead, which is signed. A v1 reader refuses unknown fields
(an auditor must not skip evidence it does not understand) and non-canonical encodings (base64
with stray bits, signature key-id hints that name the wrong key).

This module only checks the *shape*: types, required fields, encodings. It parses and dumps
bytes handed to it; it never opens a file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from federation.envelope import Envelope
from federation.errors import Error
from federation.keys import b64, unb64
from federation.merkle import HASH_SIZE

FORMAT = "beacon-audit-bundle/v1"
MEMBER_ID = re.compile(r"[a-z][a-z0-9-]{1,31}")
HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
# Labels under which an entry's envelope may be left out (TLP 2.0: its text stays at its origin).
WITHHELD_LABELS = ("TLP:RED", "TLP:AMBER+STRICT")
_TOP = ("format", "node", "roster_chain", "checkpoints", "entries", "inclusion_proofs",
        "consistency_proofs")


class AuditError(Error):
    """The first thing in an audit bundle that does not hold.

    Attributes:
        step: which check failed: ``bundle`` (shape), ``roster``, ``entry``, ``checkpoint``,
            ``root``, ``inclusion`` or ``consistency``.
        where: what failed, e.g. ``entry 17 (digest ab12cd34…)`` or ``checkpoint size 42``.
        detail: what is wrong, got vs expected.
    """

    def __init__(self, step: str, where: str, detail: str) -> None:
        self.step = step
        self.where = where
        self.detail = detail
        super().__init__(f"{where}: {detail}")


@dataclass(frozen=True)
class Entry:
    """One leaf of the log: its envelope, or, for a report whose TLP keeps it at its origin
    (RED, AMBER+STRICT), only its digest and the label (``withheld``)."""

    index: int
    digest: str
    envelope: Envelope | None
    withheld: str = ""


@dataclass(frozen=True)
class Proof:
    """An inclusion proof (``first`` = leaf index, ``second`` = tree size) or a consistency
    proof (``first`` = old size, ``second`` = new size)."""

    first: int
    second: int
    path: tuple[bytes, ...]


@dataclass(frozen=True)
class CheckpointSummary:
    """One verified checkpoint."""

    size: int
    root: bytes
    witnesses: tuple[str, ...]
    """Member ids of the witnesses whose cosignature verified."""
    cosigned_at: datetime | None
    """The latest witness cosignature time (signed), or None."""


@dataclass(frozen=True)
class AuditReport:
    """What a bundle proves, for a human summary."""

    node: str
    federation: str
    genesis_digest: str
    genesis_pinned: bool
    roster_versions: tuple[int, ...]
    entries: int
    message_types: Mapping[str, int]
    checkpoints: tuple[CheckpointSummary, ...]
    inclusion_proofs: int
    consistency_proofs: int

    @property
    def latest(self) -> CheckpointSummary:
        return self.checkpoints[-1]


@dataclass(frozen=True)
class Bundle:
    """A bundle whose shape is right; nothing in it is trusted yet."""

    node: str
    roster_chain: tuple[Envelope, ...]
    notes: tuple[str, ...]
    entries: tuple[Entry, ...]
    inclusion_proofs: tuple[Proof, ...]
    consistency_proofs: tuple[Proof, ...]


def make_bundle(node: str, roster_chain: Sequence[Mapping[str, Any]],
                notes: Sequence[str], entries: Sequence[Mapping[str, Any]],
                inclusion_proofs: Sequence[Mapping[str, Any]],
                consistency_proofs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Arrange the parts of a bundle in the v1 layout (no checks: see ``verify_bundle``)."""
    return {"format": FORMAT, "node": node, "roster_chain": list(roster_chain),
            "checkpoints": [{"note": n} for n in notes], "entries": list(entries),
            "inclusion_proofs": list(inclusion_proofs),
            "consistency_proofs": list(consistency_proofs)}


def dump_bundle(bundle: Mapping[str, Any]) -> bytes:
    """The file bytes: compact ASCII JSON, so that every byte of the file is content."""
    return json.dumps(bundle, separators=(",", ":"), ensure_ascii=True).encode("ascii") + b"\n"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for k, v in pairs:
        if k in seen:
            raise AuditError("bundle", "$", f"the key {k!r} appears twice in one object")
        seen[k] = v
    return seen


def _no_constant(name: str) -> Any:
    raise AuditError("bundle", "$", f"{name} is not a JSON number")


def parse_bundle(data: bytes) -> dict[str, Any]:
    """Parse bundle bytes strictly: UTF-8 JSON, no duplicate keys, no NaN or Infinity.

    Raises:
        AuditError: the bytes are not a JSON object.
    """
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates,
                         parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AuditError("bundle", "$", f"not a JSON document: {e}") from e
    if not isinstance(doc, dict):
        raise AuditError("bundle", "$", "an audit bundle is a JSON object")
    return doc


def _fail(path: str, detail: str) -> AuditError:
    return AuditError("bundle", path, detail)


def _object(value: Any, path: str, keys: Sequence[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, "expected a JSON object")
    missing = [k for k in keys if k not in value]
    if missing:
        raise _fail(f"{path}.{missing[0]}", "required field is missing")
    extra = sorted(set(value) - set(keys))
    if extra:
        raise _fail(f"{path}.{extra[0]}", f"unknown field in a {FORMAT} bundle "
                                          f"(expected {', '.join(keys)})")
    return value


def _array(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(path, "expected a JSON array")
    return value


def _count(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(path, f"expected a non-negative integer, got {value!r}")
    return value


def _hashes(value: Any, path: str) -> tuple[bytes, ...]:
    out = []
    for i, h in enumerate(_array(value, path)):
        try:
            raw = unb64(h) if isinstance(h, str) else b""
        except ValueError:
            raw = b""
        if len(raw) != HASH_SIZE or b64(raw) != h:
            raise _fail(f"{path}[{i}]", "expected the canonical base64 of a 32-byte hash")
        out.append(raw)
    return tuple(out)


def _envelope(value: Any, path: str) -> Envelope:
    try:
        envelope = Envelope.from_dict(value)
    except Error as e:
        raise _fail(path, f"not a DSSE envelope: {e}") from e
    # One encoding per envelope: canonical base64, every field known, a key id on each signature.
    if envelope.to_dict() != value:
        raise _fail(path, "not in canonical form (unknown fields, a missing keyid, or base64 "
                          "that does not re-encode to the same text)")
    return envelope


def _proofs(value: Any, path: str, first: str, second: str) -> tuple[Proof, ...]:
    out = []
    for i, p in enumerate(_array(value, path)):
        at = f"{path}[{i}]"
        p = _object(p, at, (first, second, "path"))
        out.append(Proof(_count(p[first], f"{at}.{first}"), _count(p[second], f"{at}.{second}"),
                         _hashes(p["path"], f"{at}.path")))
    return tuple(out)


def read_bundle(doc: Any) -> Bundle:
    """Check the shape of a parsed bundle (step 0 of verification) and type its parts.

    Raises:
        AuditError: with ``step="bundle"`` and a JSON path naming the first bad value.
    """
    doc = _object(doc, "$", _TOP)
    if doc["format"] != FORMAT:
        raise _fail("$.format", f"expected {FORMAT!r}, got {doc['format']!r}")
    node = doc["node"]
    if not (isinstance(node, str) and MEMBER_ID.fullmatch(node)):
        raise _fail("$.node", f"expected a member id, got {node!r}")
    chain = tuple(_envelope(e, f"$.roster_chain[{i}]")
                  for i, e in enumerate(_array(doc["roster_chain"], "$.roster_chain")))
    if not chain:
        raise _fail("$.roster_chain", "needs at least one roster envelope (the genesis, v1)")
    notes = []
    for i, c in enumerate(_array(doc["checkpoints"], "$.checkpoints")):
        note = _object(c, f"$.checkpoints[{i}]", ("note",))["note"]
        if not isinstance(note, str):
            raise _fail(f"$.checkpoints[{i}].note", "expected the signed note as a string")
        notes.append(note)
    if not notes:
        raise _fail("$.checkpoints", "needs at least one checkpoint")
    entries = []
    for i, e in enumerate(_array(doc["entries"], "$.entries")):
        at = f"$.entries[{i}]"
        withheld = isinstance(e, dict) and "withheld" in e
        e = _object(e, at, ("index", "digest", "withheld" if withheld else "envelope"))
        if not (isinstance(e["digest"], str) and HEX_DIGEST.fullmatch(e["digest"])):
            raise _fail(f"{at}.digest", "expected 64 lowercase hex digits")
        if withheld and e["withheld"] not in WITHHELD_LABELS:
            raise _fail(f"{at}.withheld", f"expected one of {', '.join(WITHHELD_LABELS)}")
        entries.append(Entry(_count(e["index"], f"{at}.index"), e["digest"],
                             None if withheld else _envelope(e["envelope"], f"{at}.envelope"),
                             e["withheld"] if withheld else ""))
    return Bundle(node, chain, tuple(notes), tuple(entries),
                  _proofs(doc["inclusion_proofs"], "$.inclusion_proofs", "index", "size"),
                  _proofs(doc["consistency_proofs"], "$.consistency_proofs", "from", "to"))
