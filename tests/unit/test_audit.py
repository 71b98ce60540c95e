"""Audit bundles verified offline: a good bundle passes; no single changed byte ever passes; each
kind of lie is named by the check that catches it."""

from __future__ import annotations

import base64
import copy
import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from federation.audit import AuditError, verify_bundle
from federation.audit_format import dump_bundle, make_bundle, parse_bundle
from federation.canonical import digest, encode
from federation.checkpoint import Checkpoint, add_cosignatures, cosign, sign_checkpoint
from federation.envelope import Envelope
from federation.keys import SigningKey, b64
from federation.merkle import MerkleTree, leaf_hash
from tests.unit.conftest import NOW, seeded_key
from tests.unit.factories import (
    make_roster,
    member_key,
    roster_document,
    sign_roster,
    signed_incident,
)

DAY = timedelta(days=1)
WITNESSES = ("fr", "int", "jp")
V1_AT, V2_AT = NOW - 10 * DAY, NOW - 5 * DAY


def entry_times(n: int = 7) -> list[datetime]:
    return [NOW - 9 * DAY + timedelta(hours=k) for k in range(n)]


def signed_entries(times: Sequence[datetime], key: SigningKey | None = None) -> list[Envelope]:
    key = key or member_key("gb")
    return [signed_incident(key, "gb", t, id=f"gb-{k:016x}", title=f"Incident {k}")[0]
            for k, t in enumerate(times)]


def note_for(leaves: Sequence[bytes], size: int, at: datetime, *,
             witnesses: Sequence[str] = WITNESSES, root: bytes | None = None,
             log_key: SigningKey | None = None) -> str:
    cp = Checkpoint("beacon/gb", size, root or MerkleTree(list(leaves)).root(size))
    note = sign_checkpoint(cp, "beacon/gb", log_key or member_key("gb"))
    stamp = int(at.timestamp())
    return add_cosignatures(note, [cosign(cp, f"beacon/{w}", member_key(w), stamp + i)
                                   for i, w in enumerate(witnesses)])


def build(envelopes: Sequence[Envelope] | None = None, sizes: Sequence[int] = (3, 5, 7),
          chain: Sequence[Envelope] | None = None) -> dict[str, Any]:
    """A bundle of gb's log as an honest node exports it, with checkpoints at ``sizes``."""
    envelopes = list(envelopes if envelopes is not None else signed_entries(entry_times()))
    if chain is None:
        chain = [make_roster(now=V1_AT)[0], make_roster(now=V2_AT, version=2)[0]]
    digests = [digest(e.payload) for e in envelopes]
    leaves = [leaf_hash(bytes.fromhex(d)) for d in digests]
    tree = MerkleTree(leaves)
    notes = [note_for(leaves, n, NOW - 8 * DAY + k * DAY) for k, n in enumerate(sizes)]
    last = sizes[-1]
    return make_bundle(
        "gb", [env.to_dict() for env in chain], notes,
        [{"index": i, "digest": d, "envelope": e.to_dict()}
         for i, (d, e) in enumerate(zip(digests, envelopes, strict=True))],
        [{"index": i, "size": last, "path": [b64(h) for h in tree.inclusion_proof(i, last)]}
         for i in range(last)],
        [{"from": a, "to": b, "path": [b64(h) for h in tree.consistency_proof(a, b)]}
         for a, b in zip(sizes, sizes[1:], strict=False)])


@pytest.fixture(scope="module")
def good() -> dict[str, Any]:
    return build()


def fails(bundle: Any, match: str, step: str | None = None, **kw: Any) -> AuditError:
    with pytest.raises(AuditError, match=match) as e:
        verify_bundle(bundle, now=NOW, **kw)
    if step is not None:
        assert e.value.step == step, str(e.value)
    return e.value


def test_an_honest_bundle_verifies_and_reports_what_it_proves(good: dict[str, Any]) -> None:
    genesis = make_roster(now=V1_AT)[0]
    report = verify_bundle(parse_bundle(dump_bundle(good)), now=NOW,
                           genesis_digest=digest(genesis.payload))
    assert report.node == "gb" and report.entries == 7
    assert report.roster_versions == (1, 2) and report.genesis_pinned
    assert [c.size for c in report.checkpoints] == [3, 5, 7]
    assert all(c.witnesses == WITNESSES for c in report.checkpoints)
    assert report.latest.cosigned_at is not None
    assert report.message_types == {"incident": 7}
    assert (report.inclusion_proofs, report.consistency_proofs) == (7, 2)


def test_no_single_flipped_byte_passes(good: dict[str, Any]) -> None:
    data = dump_bundle(good)
    rng = random.Random(9162)  # noqa: S311 - a reproducible sample, not a secret
    positions = sorted(set(range(0, len(data), 23)) | set(rng.sample(range(len(data)), 400)))
    unparseable = named = 0
    for pos in positions:
        for bit in (rng.randrange(8), rng.randrange(8)):
            mutated = bytearray(data)
            mutated[pos] ^= 1 << bit
            try:
                doc = parse_bundle(bytes(mutated))
            except AuditError:
                unparseable += 1
                continue
            with pytest.raises(AuditError) as e:
                verify_bundle(doc, now=NOW)
            assert e.value.where and e.value.detail, (pos, bit)
            named += 1
    assert unparseable and named > len(positions)  # most flips still parse, and all fail


def test_base64_with_stray_bits_is_not_the_same_bundle(good: dict[str, Any]) -> None:
    bundle = copy.deepcopy(good)
    sig = bundle["entries"][0]["envelope"]["signatures"][0]["sig"]
    assert sig.endswith("==")  # 64 bytes: the last character carries 4 unused bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    stray = sig[:-3] + alphabet[alphabet.index(sig[-3]) ^ 1] + "=="
    assert base64.b64decode(stray) == base64.b64decode(sig)
    bundle["entries"][0]["envelope"]["signatures"][0]["sig"] = stray
    fails(bundle, r"\$\.entries\[0\]\.envelope: not in canonical form", "bundle")


def _tamper_payload(entry: dict[str, Any]) -> None:
    body = bytearray(base64.b64decode(entry["envelope"]["payload"]))
    body[body.index(b"Incident")] = ord("i")
    entry["envelope"]["payload"] = b64(bytes(body))


def test_tampered_envelope_is_named(good: dict[str, Any]) -> None:
    bundle = copy.deepcopy(good)
    _tamper_payload(bundle["entries"][4])
    fails(bundle, r"^entry 4 \(digest [0-9a-f]{8}…\): the payload's SHA-256 is", "entry")
    bundle["entries"][4]["digest"] = digest(base64.b64decode(
        bundle["entries"][4]["envelope"]["payload"]))
    fails(bundle, r"^entry 4 .*signature 0 does not verify with gb's key", "entry")


def test_reordered_and_missing_entries_are_named(good: dict[str, Any]) -> None:
    bundle = copy.deepcopy(good)
    entries = bundle["entries"]
    entries[2], entries[3] = entries[3], entries[2]
    fails(bundle, r"^entry 2: has index 3", "entry")
    entries[2]["index"], entries[3]["index"] = 2, 3  # renumbered: the roots give it away
    fails(bundle, r"^checkpoint size 3: root [0-9a-f]+… does not match", "root")
    bundle = copy.deepcopy(good)
    del bundle["entries"][4]
    fails(bundle, r"^entry 4: has index 5", "entry")
    bundle = copy.deepcopy(good)
    del bundle["entries"][6]
    fails(bundle, r"^checkpoint size 7: the bundle holds only 6 entries", "root")


def test_a_checkpoint_the_log_signed_with_a_wrong_root_is_named(good: dict[str, Any]) -> None:
    bundle = copy.deepcopy(good)
    bundle["checkpoints"][1]["note"] = note_for([], 5, NOW - 7 * DAY, root=bytes(32))
    fails(bundle, r"^checkpoint size 5: root 0000000000000000… does not match the root", "root")


def test_a_forged_cosignature_is_named(good: dict[str, Any]) -> None:
    bundle = copy.deepcopy(good)
    note = bundle["checkpoints"][2]["note"]
    cp = Checkpoint.from_body(note.split("\n\n")[0] + "\n")
    forged = cosign(cp, "beacon/fr", seeded_key(7), int((NOW - 6 * DAY).timestamp()))
    real_id = cosign(cp, "beacon/fr", member_key("fr"), 0).key_id
    line = f"— beacon/fr {b64(real_id + forged.signature)}"
    lines = [line if ln.startswith("— beacon/fr ") else ln for ln in note.split("\n")]
    bundle["checkpoints"][2]["note"] = "\n".join(lines)
    fails(bundle, r"^checkpoint size 7: signature line \d \(beacon/fr\): cosignature of "
                  r"beacon/fr on beacon/gb size 7 does not verify", "checkpoint")
    unknown = cosign(cp, "beacon/fr", seeded_key(7), 0).line()
    bundle["checkpoints"][2]["note"] = note + unknown
    fails(bundle, r"^checkpoint size 7: signature line 5 \(beacon/fr\) with key id [0-9a-f]{8} "
                  r"is neither gb's log key nor a witness key", "checkpoint")


def test_witnesses_are_counted_and_required(good: dict[str, Any]) -> None:
    bundle = copy.deepcopy(good)
    envelopes = [Envelope.from_dict(e["envelope"]) for e in bundle["entries"]]
    leaves = [leaf_hash(bytes.fromhex(digest(e.payload))) for e in envelopes]
    bundle["checkpoints"][2]["note"] = note_for(leaves, 7, NOW - 6 * DAY, witnesses=("jp",))
    assert verify_bundle(bundle, now=NOW).latest.witnesses == ("jp",)
    fails(bundle, r"^checkpoint size 7 \(the latest\): cosigned by 1 witness\(es\), at least 2",
          "checkpoint", min_witnesses=2)


def test_roster_successor_below_threshold_is_named() -> None:
    doc = roster_document(now=V2_AT, version=2)
    weak = sign_roster(doc, [member_key("gb")])
    chain = [make_roster(now=V1_AT)[0], weak]
    fails(build(chain=chain), r"^roster chain\[1\]: .*signed by 1/4 keys, threshold 2",
          "roster")


def test_roster_rollback_is_named() -> None:
    v1, v2 = make_roster(now=V1_AT)[0], make_roster(now=V2_AT, version=2)[0]
    fails(build(chain=[v1, v2, v1]), r"^roster chain\[2\]: .*rollback refused: have roster v2, "
                                     r"got v1", "roster")
    fails(build(chain=[v2]), r"^roster v2: the chain must start at the genesis, v1", "roster")


def test_the_genesis_can_be_pinned(good: dict[str, Any]) -> None:
    other = make_roster(now=V1_AT, federation="elsewhere")[0]
    fails(good, r"^roster chain\[0\]: the genesis has digest [0-9a-f]{64}, not the pinned",
          "roster", genesis_digest=digest(other.payload))


def test_only_the_newest_roster_must_be_unexpired() -> None:
    v1 = make_roster(now=V1_AT, expires=NOW - 3 * DAY)[0]  # expired before NOW
    v2 = make_roster(now=V2_AT, version=2)[0]
    assert verify_bundle(build(chain=[v1, v2]), now=NOW).roster_versions == (1, 2)
    fails(build(chain=[v1]), r"^roster chain\[0\]: .*expired at", "roster")
    # An old bundle is audited as of a time when its newest roster was current.
    assert verify_bundle(build(chain=[v1]), now=NOW - 4 * DAY).roster_versions == (1,)


def test_a_key_revoked_later_voids_what_it_signed_after_the_revocation() -> None:
    times = entry_times()
    v1 = make_roster(now=V1_AT)[0]
    v2 = make_roster(now=V2_AT, version=2, revoked_at={"gb": times[4]})[0]
    fails(build(chain=[v1, v2]), r"^entry 4 \(digest [0-9a-f]{8}…\): signed with gb's key "
                                 r"[0-9a-f]{8}… at .*, but roster v2 ends its validity", "entry")


def test_entries_from_another_origin_or_the_future_are_named() -> None:
    fr_entry = signed_incident(member_key("fr"), "fr", entry_times()[0])[0]
    envelopes = [fr_entry, *signed_entries(entry_times())[1:]]
    fails(build(envelopes), r"^entry 0 .*signature 0 names key [0-9a-f]{8}…, which is not "
                            r"gb's key", "entry")
    late = signed_entries([NOW + DAY] * 7)
    fails(build(late), r"^entry 0 .*issued at .* after the verification time", "entry")


def test_a_logged_roster_must_be_a_link_of_the_chain() -> None:
    v1, v2 = make_roster(now=V1_AT)[0], make_roster(now=V2_AT, version=2)[0]
    envelopes = signed_entries(entry_times())
    assert verify_bundle(build([*envelopes[:6], v2]), now=NOW).message_types == {
        "incident": 6, "roster": 1}
    v3 = make_roster(now=V2_AT, version=3)[0]
    fails(build([*envelopes[:6], v3], chain=[v1, v2]),
          r"^entry 6 .*a roster envelope that is not in the chain", "entry")


def test_bad_proofs_are_named(good: dict[str, Any]) -> None:
    bundle = copy.deepcopy(good)
    bundle["inclusion_proofs"][3]["path"][0] = b64(bytes(32))
    fails(bundle, r"^inclusion proof for entry 3 \(digest [0-9a-f]{8}…\): inclusion proof: "
                  r"leaf 3 leads to root", "inclusion")
    bundle = copy.deepcopy(good)
    bundle["inclusion_proofs"][3]["size"] = 4
    fails(bundle, r"^inclusion proof for entry 3 .*names size 4, which no checkpoint", "inclusion")
    bundle = copy.deepcopy(good)
    del bundle["inclusion_proofs"][6]
    fails(bundle, r"^inclusion proofs: 6 for 7 entries", "inclusion")
    bundle = copy.deepcopy(good)
    bundle["consistency_proofs"][1]["path"].reverse()
    fails(bundle, r"^consistency proof 5 → 7: consistency proof: path rebuilds", "consistency")
    bundle["consistency_proofs"].pop()
    fails(bundle, r"^consistency proofs: 1 for 3 checkpoints", "consistency")


def test_shape_problems_name_the_json_path(good: dict[str, Any]) -> None:
    changes: list[tuple[Callable[[dict[str, Any]], Any], str]] = [
        (lambda b: b.update(format="beacon-audit-bundle/v2"), r"^\$\.format: expected"),
        (lambda b: b.update(exported_at="2026-11-20T12:00:00Z"), r"^\$\.exported_at: unknown"),
        (lambda b: b["entries"][1].pop("digest"), r"^\$\.entries\[1\]\.digest: required"),
        (lambda b: b["entries"][1].update(index=True), r"^\$\.entries\[1\]\.index: expected"),
        (lambda b: b["consistency_proofs"][0].update(to=7.0), r"^\$\.consistency_proofs\[0\]"),
        (lambda b: b["checkpoints"].clear(), r"^\$\.checkpoints: needs at least one"),
    ]
    for change, match in changes:
        bundle = copy.deepcopy(good)
        change(bundle)
        fails(bundle, match, "bundle")
    with pytest.raises(AuditError, match=r"the key 'node' appears twice"):
        parse_bundle(b'{"node":"gb","node":"fr"}')
    with pytest.raises(AuditError, match=r"not a JSON document"):
        parse_bundle(dump_bundle(good)[:-40])
    assert encode(parse_bundle(dump_bundle(good))) == encode(good)


def test_beacon_verify_offline(good: dict[str, Any], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    from node.cli.main import main

    bundle, genesis = tmp_path / "gb.audit.json", tmp_path / "roster.json"
    bundle.write_bytes(dump_bundle(good))
    genesis.write_bytes(make_roster(now=V1_AT)[0].to_json())
    at = ["--now", "2026-11-20T12:00:00Z"]
    assert main(["verify", str(bundle), "--genesis", str(genesis), *at]) == 0
    out = capsys.readouterr().out
    assert "(pinned)" in out
    assert "witnesses    3 on the latest checkpoint (size 7): fr, int, jp" in out
    assert main(["verify", str(bundle), "--min-witnesses", "4", *at]) == 1
    assert capsys.readouterr().err.startswith("beacon verify: FAILED: checkpoint size 7 (the")
    data = bytearray(bundle.read_bytes())
    data[data.index(b'"index":3') + 8] = ord("4")
    bundle.write_bytes(bytes(data))
    assert main(["verify", str(bundle), *at]) == 1
    assert "FAILED: entry 3: has index 4" in capsys.readouterr().err
    assert main(["verify", str(tmp_path / "missing.json")]) == 2
