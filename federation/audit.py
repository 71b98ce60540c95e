"""Offline verification of an audit bundle: everything one node's log claims, checked by anyone.

    bundle = parse_bundle(data)                     # bytes of the file
    report = verify_bundle(bundle, now=now, genesis_digest=pinned)
    report.entries, report.latest.witnesses         # or AuditError naming the first failure

The bundle format is in ``federation.audit_format`` (and ``docs/audit.md``). ``verify_bundle``
runs these checks in order and raises :class:`AuditError` at the first that fails:

0. **Shape**: format ``beacon-audit-bundle/v1``, known fields only, canonical encodings.
1. **Roster chain** (TUF root rotation): v1 is the genesis, signed by a threshold of its own
   council (and, if the auditor pinned it, has the pinned digest); each next version is signed
   by a threshold of the previous council and of its own, rises by one, keeps the federation,
   was not issued before its predecessor. Every signature on a roster must verify with the key
   its key id names. Like TUF, only the *last* version must be unexpired at ``now``: the others
   are history, checked as of their own issue time (to audit an old bundle, pass that ``now``).
2. **Entries**, leaf by leaf: index ``i`` at position ``i``; ``digest`` is the SHA-256 of the
   payload; the signature verifies with the node's key that its key id names *before* the
   payload is parsed; then the body's type matches the payload type, its ``origin`` is the
   node, and the key was valid at its ``issued_at`` under the roster in force then (the last
   version issued at or before it) and not revoked by then according to the newest roster.
   An entry that is a roster envelope (a node logs the rosters it adopts) must be a link of
   the chain.
3. **Checkpoint notes**, ascending by size: origin ``beacon/<node>``; the log signature
   verifies with one of the node's keys (a key revoked at ``R`` only counts if a witness
   cosigned the checkpoint before ``R``: a note carries no time of its own); each cosignature
   verifies with that witness's key valid at the cosignature's time. Every signature line must
   be one of these: unknown lines are refused, not skipped. The latest checkpoint needs at
   least ``min_witnesses`` witnesses.
4. **Roots**: the RFC 9162 root of the first ``size`` entries equals each checkpoint's root, and
   the latest checkpoint covers every entry.
5. **Inclusion proofs**, one per entry, each against the checkpoint whose size it names.
6. **Consistency proofs** between each pair of successive checkpoints.

Steps 4–6 overlap on purpose: 4 alone proves the log, while 5 and 6 check the proofs the node
served, which peers and other auditors rely on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from federation.audit_format import (
    FORMAT,
    AuditError,
    AuditReport,
    Bundle,
    CheckpointSummary,
    parse_bundle,
    read_bundle,
)
from federation.canonical import decode, digest
from federation.checkpoint import (
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    Checkpoint,
    NoteError,
    NoteSignature,
    key_id,
    parse_note,
    verify_cosignature,
)
from federation.envelope import Envelope, message_type_of, pae
from federation.errors import Error, SignatureError
from federation.keys import PublicKey
from federation.merkle import (
    MerkleTree,
    ProofError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from federation.roster import ROSTER_TYPE, Roster, RosterKey, require_threshold
from federation.timeutil import format_time, parse_time

__all__ = ["FORMAT", "AuditError", "AuditReport", "CheckpointSummary", "parse_bundle",
           "verify_bundle"]

SKEW = timedelta(minutes=5)
"""How far a signed time may lie after ``now``: clocks of nodes and auditors differ a little."""


def _short(hex_digest: str) -> str:
    return f"{hex_digest[:8]}…"


class _Trust:
    """The verified roster chain and the key-validity questions the later steps ask it."""

    def __init__(self, rosters: list[Roster], envelopes: tuple[Envelope, ...]) -> None:
        self.rosters = rosters
        self.latest = rosters[-1]
        self.roster_payloads = {env.payload: env for env in envelopes}

    def in_force(self, at: datetime) -> Roster | None:
        """The last version issued at or before ``at``."""
        found = None
        for r in self.rosters:
            if r.issued_at <= at:
                found = r
        return found

    def keys(self, member: str) -> dict[str, PublicKey]:
        """Every Ed25519 key ``member`` had in any version, by key id."""
        return {k.keyid: PublicKey.from_b64(k.public) for r in self.rosters
                for k in r.any_signing_keys(member) if k.scheme == "ed25519"}

    def newest_entry(self, member: str, keyid: str) -> tuple[int, RosterKey] | None:
        """The newest version that lists the key, and what it says of it."""
        return next(((r.version, k) for r in reversed(self.rosters)
                     for k in r.any_signing_keys(member) if k.keyid == keyid), None)

    def invalid(self, member: str, keyid: str, at: datetime) -> str | None:
        """Why ``member``'s key ``keyid`` could not sign at ``at``, or None if it could."""
        roster = self.in_force(at)
        if roster is None:
            return (f"{format_time(at)} is before the genesis roster v1 "
                    f"({format_time(self.rosters[0].issued_at)})")
        key = next((k for k in roster.any_signing_keys(member) if k.keyid == keyid), None)
        if key is None:
            return f"roster v{roster.version}, in force at {format_time(at)}, does not list it"
        if not key.valid_at(at):
            return f"roster v{roster.version} says it was not valid at {format_time(at)}"
        newest = self.newest_entry(member, keyid)
        if newest is not None and not newest[1].valid_at(at):
            return (f"roster v{newest[0]} ends its validity before {format_time(at)} "
                    "(revoked or expired)")
        return None


def verify_bundle(bundle: Any, *, now: datetime, genesis_digest: str | None = None,
                  min_witnesses: int = 1) -> AuditReport:
    """Check an audit bundle in the documented order and report what it proves.

    Args:
        bundle: the parsed JSON (``parse_bundle`` reads bytes strictly).
        now: the time of verification; the newest roster must be unexpired then, and no signed
            time may lie more than :data:`SKEW` after it.
        genesis_digest: the hex SHA-256 of the genesis roster's payload, as the auditor got it
            out of band; without it the chain is only checked to be internally sound.
        min_witnesses: how many witnesses must have cosigned the latest checkpoint.

    Returns:
        Counts, roster versions and witnesses per checkpoint.

    Raises:
        AuditError: the first thing that does not hold; ``step`` says which check.
    """
    b = read_bundle(bundle)
    trust = _check_roster_chain(b, now, genesis_digest)
    types = _check_entries(b, trust, now)
    checkpoints = _check_checkpoints(b, trust, now, min_witnesses)
    tree = MerkleTree([leaf_hash(bytes.fromhex(e.digest)) for e in b.entries])
    _check_roots(checkpoints, tree)
    _check_inclusion(b, checkpoints)
    _check_consistency(b, checkpoints)
    return AuditReport(
        node=b.node, federation=trust.latest.federation,
        genesis_digest=digest(b.roster_chain[0].payload),
        genesis_pinned=genesis_digest is not None,
        roster_versions=tuple(r.version for r in trust.rosters), entries=len(b.entries),
        message_types=dict(sorted(types.items())), checkpoints=tuple(checkpoints),
        inclusion_proofs=len(b.inclusion_proofs), consistency_proofs=len(b.consistency_proofs))


# -- 1. roster chain ---------------------------------------------------------------------------
def _check_roster_chain(b: Bundle, now: datetime, pinned: str | None) -> _Trust:
    rosters: list[Roster] = []
    last = len(b.roster_chain) - 1
    for i, env in enumerate(b.roster_chain):
        where = f"roster chain[{i}]"
        if i == 0 and pinned is not None and digest(env.payload) != pinned.lower():
            raise AuditError("roster", where, f"the genesis has digest {digest(env.payload)}, "
                                              f"not the pinned {pinned.lower()}")
        try:
            if i > 0:  # TUF: the trusted council must have signed before the new one is read.
                require_threshold(rosters[-1].threshold_result(env),
                                  f"the successor of v{rosters[-1].version}")
            as_of = now if i == last else Roster.parse_envelope(env).issued_at
            roster = (Roster.verify_genesis(env, now=as_of) if i == 0
                      else rosters[-1].verify_successor(env, now=as_of))
        except Error as e:
            raise AuditError("roster", where, str(e)) from e
        except (KeyError, TypeError, ValueError) as e:  # a signed but malformed document
            raise AuditError("roster", where, f"malformed roster ({type(e).__name__}: {e})") from e
        where = f"roster v{roster.version}"
        if i == 0 and roster.version != 1:
            raise AuditError("roster", where, "the chain must start at the genesis, v1")
        if rosters and roster.issued_at < rosters[-1].issued_at:
            raise AuditError("roster", where, f"issued at {format_time(roster.issued_at)}, "
                                              f"before v{rosters[-1].version}")
        known = {k.keyid: PublicKey.from_b64(k.public)
                 for r in (*rosters[-1:], roster) for m in r.members for k in m.keys
                 if k.scheme == "ed25519"}
        _check_every_signature(env, known, "roster", where, "a key of this or the previous version")
        rosters.append(roster)
    trust = _Trust(rosters, b.roster_chain)
    if trust.latest.member(b.node) is None:
        raise AuditError("roster", f"roster v{trust.latest.version}",
                         f"the bundle's node {b.node!r} is not a member")
    return trust


def _check_every_signature(env: Envelope, keys: Mapping[str, PublicKey], step: str,
                           where: str, whose: str) -> list[str]:
    """Each signature must verify with the key its key id names; return those key ids."""
    signed = pae(env.payload_type, env.payload)
    for j, s in enumerate(env.signatures):
        key = keys.get(s.keyid)
        if key is None:
            raise AuditError(step, where, f"signature {j} names key "
                             f"{_short(s.keyid)}, which is not {whose}")
        try:
            key.verify(signed, s.sig)
        except SignatureError as e:
            raise AuditError(step, where, f"signature {j} does not verify with "
                             f"{whose} {_short(s.keyid)}") from e
    return [s.keyid for s in env.signatures]


# -- 2. entries --------------------------------------------------------------------------------
def _check_entries(b: Bundle, trust: _Trust, now: datetime) -> Counter[str]:
    types: Counter[str] = Counter()
    own_keys = trust.keys(b.node)
    for i, entry in enumerate(b.entries):
        where = f"entry {i} (digest {_short(entry.digest)})"
        if entry.index != i:
            raise AuditError("entry", f"entry {i}", f"has index {entry.index}; the entries "
                             "must be every leaf of the log, in order from 0")
        if entry.envelope is None:
            # Withheld under TLP: the leaf is still bound by every root (step 4); nothing to
            # verify about a text the auditor may not see.
            types[f"withheld {entry.withheld}"] += 1
            continue
        actual = digest(entry.envelope.payload)
        if actual != entry.digest:
            raise AuditError("entry", where, f"the payload's SHA-256 is {_short(actual)}")
        if entry.envelope.payload_type == ROSTER_TYPE:
            if trust.roster_payloads.get(entry.envelope.payload) != entry.envelope:
                raise AuditError("entry", where, "a roster envelope that is not in the chain")
            types["roster"] += 1
            continue
        keyids = _check_every_signature(entry.envelope, own_keys, "entry", where,
                                        f"{b.node}'s key")
        issued, message_type = _entry_body(entry.envelope, b.node, where)
        if issued > now + SKEW:
            raise AuditError("entry", where, f"issued at {format_time(issued)}, after the "
                                             f"verification time {format_time(now)}")
        for keyid in keyids:
            why = trust.invalid(b.node, keyid, issued)
            if why is not None:
                raise AuditError("entry", where, f"signed with {b.node}'s key {_short(keyid)} "
                                                 f"at {format_time(issued)}, but {why}")
        types[message_type] += 1
    return types


def _entry_body(env: Envelope, node: str, where: str) -> tuple[datetime, str]:
    """Read the verified body: its time and type; its type and origin must match."""
    try:
        message_type = message_type_of(env.payload_type)
        body = decode(env.payload)
        if not isinstance(body, dict):
            raise AuditError("entry", where, "the payload is not a JSON object")
        issued = parse_time(str(body.get("issued_at")), "$.issued_at")
    except AuditError:
        raise
    except Error as e:
        raise AuditError("entry", where, str(e)) from e
    if body.get("type") != message_type:
        raise AuditError("entry", where, f"payload type {message_type!r} but body type "
                                         f"{body.get('type')!r}")
    if body.get("origin") != node:
        raise AuditError("entry", where, f"origin {body.get('origin')!r} in a log of {node}")
    return issued, message_type


# -- 3. checkpoint notes -----------------------------------------------------------------------
def _check_checkpoints(b: Bundle, trust: _Trust, now: datetime,
                       min_witnesses: int) -> list[CheckpointSummary]:
    member = trust.latest.member(b.node)
    assert member is not None  # noqa: S101 - checked with the roster chain
    name = member.log_origin
    log_keys = {key_id(name, SIG_ED25519, pub): (kid, pub)
                for kid, pub in trust.keys(b.node).items()}
    witness_keys = {(f"beacon/{w}", key_id(f"beacon/{w}", SIG_COSIGNATURE_V1, pub)): (w, kid, pub)
                    for w in sorted({m.id for r in trust.rosters for m in r.members} - {b.node})
                    for kid, pub in trust.keys(w).items()}
    out: list[CheckpointSummary] = []
    for i, text in enumerate(b.notes):
        try:
            note = parse_note(text)
            cp = Checkpoint.from_body(note.text)
        except NoteError as e:
            raise AuditError("checkpoint", f"checkpoint {i}", str(e)) from e
        where = f"checkpoint size {cp.size}"
        if note.to_text() != text:
            raise AuditError("checkpoint", where, "the note is not in canonical form")
        if cp.origin != name:
            raise AuditError("checkpoint", where, f"origin {cp.origin!r}, expected {name!r}")
        if out and cp.size <= out[-1].size:
            raise AuditError("checkpoint", where, "checkpoints must be in ascending size "
                             f"order, each size once; the one before has size {out[-1].size}")
        signed_with: list[str] = []
        cosigned: dict[str, int] = {}
        for j, sig in enumerate(note.signatures):
            line = f"signature line {j + 1} ({sig.name})"
            if sig.name == name and (hit := log_keys.get(sig.key_id)) is not None:
                try:
                    hit[1].verify(cp.body(), sig.signature)
                except SignatureError as e:
                    raise AuditError("checkpoint", where, f"{line}: the log signature does not "
                                     f"verify with {b.node}'s key {_short(hit[0])}") from e
                signed_with.append(hit[0])
            elif (w := witness_keys.get((sig.name, sig.key_id))) is not None:
                cosigned[w[0]] = max(cosigned.get(w[0], 0),
                                     _check_cosignature(cp, sig, w, trust, now, where, line))
            else:
                raise AuditError("checkpoint", where, f"{line} with key id "
                                 f"{sig.key_id.hex()} is neither {b.node}'s log key nor a "
                                 "witness key of the roster chain")
        if not signed_with:
            raise AuditError("checkpoint", where, f"not signed by the log key of {name}")
        _check_log_key_revocation(b.node, signed_with, cosigned, trust, where)
        out.append(CheckpointSummary(cp.size, cp.root_hash, tuple(sorted(cosigned)),
                                     datetime.fromtimestamp(max(cosigned.values()), UTC)
                                     if cosigned else None))
    if len(out[-1].witnesses) < min_witnesses:
        raise AuditError("checkpoint", f"checkpoint size {out[-1].size} (the latest)",
                         f"cosigned by {len(out[-1].witnesses)} witness(es), at least "
                         f"{min_witnesses} required")
    return out


def _check_cosignature(cp: Checkpoint, sig: NoteSignature, witness: tuple[str, str, PublicKey],
                       trust: _Trust, now: datetime, where: str, line: str) -> int:
    member, keyid, public = witness
    try:
        t = verify_cosignature(cp, sig, sig.name, public, now=int((now + SKEW).timestamp()))
    except SignatureError as e:
        raise AuditError("checkpoint", where, f"{line}: {e}") from e
    at = datetime.fromtimestamp(t, UTC)
    why = trust.invalid(member, keyid, at)
    if why is not None:
        raise AuditError("checkpoint", where, f"{line}: cosigned with {member}'s key "
                                              f"{_short(keyid)} at {format_time(at)}, but {why}")
    return t


def _check_log_key_revocation(node: str, keyids: list[str], cosigned: Mapping[str, int],
                              trust: _Trust, where: str) -> None:
    """A note has no time: a revoked key's signature counts only if a witness vouches that the
    checkpoint existed before the revocation."""
    earliest = min(cosigned.values(), default=None)
    for keyid in keyids:
        newest = trust.newest_entry(node, keyid)
        revoked = newest[1].revoked_at if newest is not None else None
        if revoked is not None and (earliest is None
                                    or datetime.fromtimestamp(earliest, UTC) >= revoked):
            raise AuditError("checkpoint", where, f"signed with {node}'s key {_short(keyid)}, "
                             f"revoked at {format_time(revoked)}, and no witness cosigned it "
                             "before then")


# -- 4–6. Merkle roots and proofs ----------------------------------------------------------------
def _check_roots(checkpoints: list[CheckpointSummary], tree: MerkleTree) -> None:
    for cp in checkpoints:
        where = f"checkpoint size {cp.size}"
        if cp.size > tree.size:
            raise AuditError("root", where, f"the bundle holds only {tree.size} entries")
        actual = tree.root(cp.size)
        if actual != cp.root:
            raise AuditError("root", where, f"root {cp.root.hex()[:16]}… does not match the "
                                            f"root {actual.hex()[:16]}… of the first "
                                            f"{cp.size} entries")
    if checkpoints[-1].size != tree.size:
        raise AuditError("root", f"checkpoint size {checkpoints[-1].size} (the latest)",
                         f"does not cover all {tree.size} entries; entries after it are "
                         "committed by no signed checkpoint")


def _check_inclusion(b: Bundle, checkpoints: list[CheckpointSummary]) -> None:
    roots = {cp.size: cp.root for cp in checkpoints}
    if len(b.inclusion_proofs) != len(b.entries):
        raise AuditError("inclusion", "inclusion proofs", f"{len(b.inclusion_proofs)} for "
                         f"{len(b.entries)} entries; one per entry, in entry order")
    for i, proof in enumerate(b.inclusion_proofs):
        where = f"inclusion proof for entry {i} (digest {_short(b.entries[i].digest)})"
        if proof.first != i:
            raise AuditError("inclusion", where, f"is for leaf {proof.first}")
        if proof.second not in roots:
            raise AuditError("inclusion", where, f"names size {proof.second}, which no "
                                                 "checkpoint in the bundle has")
        try:
            verify_inclusion(leaf_hash(bytes.fromhex(b.entries[i].digest)), i, proof.second,
                             proof.path, roots[proof.second])
        except ProofError as e:
            raise AuditError("inclusion", where, str(e)) from e


def _check_consistency(b: Bundle, checkpoints: list[CheckpointSummary]) -> None:
    pairs = list(zip(checkpoints, checkpoints[1:], strict=False))
    if len(b.consistency_proofs) != len(pairs):
        raise AuditError("consistency", "consistency proofs",
                         f"{len(b.consistency_proofs)} for {len(checkpoints)} checkpoints; one "
                         "between each two successive checkpoints")
    for proof, (old, new) in zip(b.consistency_proofs, pairs, strict=True):
        where = f"consistency proof {old.size} → {new.size}"
        if (proof.first, proof.second) != (old.size, new.size):
            raise AuditError("consistency", where, f"is for sizes {proof.first} → "
                                                   f"{proof.second}")
        try:
            verify_consistency(old.size, new.size, old.root, new.root, proof.path)
        except ProofError as e:
            raise AuditError("consistency", where, str(e)) from e
