"""Choosing roster version N+1 among the copies that members hold in the ``roster`` bucket.

    >>> # sel = select_successor(current, [Candidate("v2.gb", blob), Candidate("v2.jp", junk)],
    >>> #                        now=now)
    >>> # sel.roster.version if sel.roster else None, [r.reason for r in sel.refused]

Every member may write only its own keys (``v<N>.<member>``), so any one of them can hold junk, an
under-signed document or nothing at all there. The trust decision never depends on *where* a copy
came from: each candidate is verified under the TUF rules (``Roster.verify_successor``), and the
chosen one is the valid version with the lowest payload digest. A single valid copy held by one
honest member is therefore enough, and junk beside it can neither block nor replace it. Two valid
but different versions N+1 mean the council signed both (equivocation): the choice is still
deterministic (lowest digest), and ``rivals`` says so, for the node to report loudly.

No I/O here: the node reads the blobs and passes ``now``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from federation.canonical import digest
from federation.envelope import Envelope
from federation.roster import Roster


def member_key(version: int, member_id: str) -> str:
    """The key under which ``member_id`` keeps its copy of roster ``version``."""
    return f"v{version}.{member_id}"


def legacy_key(version: int) -> str:
    """The single pre-namespace key of a version (written only by the hub's admin identity)."""
    return f"v{version}"


def candidate_keys(current: Roster) -> list[str]:
    """Where copies of version current+1 may be, in the order they are read: every member of
    the trusted roster (sorted, so that every node reads the same way), then the legacy key."""
    nxt = current.version + 1
    return [*(member_key(nxt, m) for m in sorted(current.member_ids())), legacy_key(nxt)]


@dataclass(frozen=True)
class Candidate:
    source: str  # the bucket key it was read from
    data: bytes

    @property
    def blob_digest(self) -> str:
        """sha256 of the raw bytes: identifies junk that does not even parse."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Refusal:
    source: str
    blob_digest: str
    reason: str


@dataclass(frozen=True)
class Selection:
    envelope: Envelope | None = None
    roster: Roster | None = None
    source: str = ""
    refused: tuple[Refusal, ...] = ()
    # payload digests of the other valid versions N+1 (non-empty only if the council equivocated)
    rivals: tuple[str, ...] = field(default=())


def select_successor(current: Roster, candidates: Iterable[Candidate], *,
                     now: datetime) -> Selection:
    """Verify every candidate as version current+1; return the chosen one and the refusals.

    Args:
        current: the roster this node trusts.
        candidates: raw copies read from the bucket (any bytes).
        now: the time against which expiry is judged.

    Returns:
        A Selection: ``envelope``/``roster`` are None when no candidate is valid.
    """
    valid: dict[str, tuple[Envelope, Roster, str]] = {}
    refused: list[Refusal] = []
    for c in candidates:
        try:
            env = Envelope.from_json(c.data)
            new = current.verify_successor(env, now)
        except Exception as e:  # untrusted bytes from any member: every failure is a refusal
            refused.append(Refusal(c.source, c.blob_digest, _reason(e)))
            continue
        # Copies of one version may carry different signature sets; the payload is the version.
        valid.setdefault(digest(env.payload), (env, new, c.source))
    if not valid:
        return Selection(refused=tuple(refused))
    chosen, *others = sorted(valid)
    env, new, source = valid[chosen]
    return Selection(env, new, source, tuple(refused), tuple(others))


def _reason(e: Exception) -> str:
    text = str(e) or type(e).__name__
    return text if len(text) <= 300 else text[:300] + "…"


def equivocation_report(version: int, chosen: str, rivals: tuple[str, ...], *,
                        reporter: str) -> tuple[str, dict[str, object]]:
    """The verification-failure report a node files when the council signed two different
    roster versions N: a stable incident id (one report per node and fork, however often the
    follower sees it) and the report body (TLP:GREEN, so that every member learns of it).

        >>> rid, body = equivocation_report(3, "a" * 64, ("b" * 64,), reporter="fr")
        >>> rid.startswith("fr-"), body["severity"]
        (True, 'serious-incident')
    """
    digests = sorted((chosen, *rivals))
    fork = hashlib.sha256(f"roster-equivocation:v{version}:{','.join(digests)}".encode())
    report: dict[str, object] = {
        "title": f"Verification failure: the council signed {len(digests)} different roster "
                 f"v{version} documents",
        "description": (f"Node {reporter} found {len(digests)} roster v{version} documents, each "
                        f"signed by a threshold of the council, with payload digests "
                        f"{', '.join(digests)}. It follows the lowest digest ({chosen}), as every "
                        "honest node does, but a council that signs two versions can show "
                        "different members different trust roots. Ask every council member "
                        "which one they signed, and publish a version N+1 that all accept."),
        "severity": "serious-incident", "harm_types": ["public-interest"],
        "ai_system": {"name": "Beacon federation roster (trust root)",
                      "role": "The council's keys signed conflicting roster versions."},
        "submitter": {"organisation": f"Beacon node {reporter} (roster follower)"},
        "supporting_materials": [{"description": f"roster v{version} payload digest {d}"}
                                 for d in digests],
        "affected_jurisdictions": [], "tlp": "GREEN", "red_lines": [],
        "classifications": {"beacon": ["verification-failure", "roster-equivocation"]},
    }
    return f"{reporter}-{fork.hexdigest()[:16]}", report
