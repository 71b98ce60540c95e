"""Proposals for the next roster version: pure edits of a roster document.

    doc = successor(current.to_dict(), now=now, valid_for=timedelta(days=365))
    doc = add_member(doc, entry)
    doc = revoke_key(doc, keyid, at=now)
    doc = set_threshold(doc, 3)

Each edit returns a new document and raises ``RosterError`` with what to do when the change
makes no sense (an unknown key, a duplicate member, a threshold above the council's size). The
council signs the result (``beacon roster sign``); nodes accept it only under the TUF rules in
``federation.roster``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from federation.errors import RosterError
from federation.timeutil import format_time


def successor(doc: Mapping[str, Any], *, now: datetime,
              valid_for: timedelta = timedelta(days=365)) -> dict[str, Any]:
    """Version N+1 of ``doc``, issued ``now``, expiring ``valid_for`` later, otherwise equal."""
    new = copy.deepcopy(dict(doc))
    new["version"] = int(doc["version"]) + 1
    new["issued_at"] = format_time(now)
    new["expires"] = format_time(now + valid_for)
    return new


def _member(doc: dict[str, Any], member_id: str) -> dict[str, Any]:
    members: list[dict[str, Any]] = doc["members"]
    for m in members:
        if m["id"] == member_id:
            return m  # the caller already holds a deep copy
    raise RosterError(f"no member {member_id!r} in the roster; members: "
                      + ", ".join(m["id"] for m in doc["members"]))


def _key(doc: dict[str, Any], keyid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    for m in doc["members"]:
        for k in [*m["keys"], *m.get("encryption_keys", [])]:
            if k["keyid"] == keyid or (len(keyid) >= 8 and k["keyid"].startswith(keyid)):
                return m, k
    raise RosterError(f"no key {keyid!r} in the roster (give its key id or a prefix of 8+ hex)")


def add_member(doc: Mapping[str, Any], entry: Mapping[str, Any], *,
               council: bool = False) -> dict[str, Any]:
    """Add a member (an entry as ``beacon init`` writes it); ``council=True`` also adds its
    signing key to the council."""
    new = copy.deepcopy(dict(doc))
    if any(m["id"] == entry["id"] for m in new["members"]):
        raise RosterError(f"member {entry['id']!r} is already in the roster; to change its keys "
                          "use a key rotation")
    new["members"].append(copy.deepcopy(dict(entry)))
    if council:
        new["council"]["keyids"].append(entry["keys"][0]["keyid"])
    return new


def revoke_key(doc: Mapping[str, Any], keyid: str, *, at: datetime) -> dict[str, Any]:
    """Mark a key revoked from ``at``: messages signed with it after that are refused, those
    signed before stay verifiable. A revoked council key leaves the council."""
    new = copy.deepcopy(dict(doc))
    _, key = _key(new, keyid)
    if key.get("revoked_at"):
        raise RosterError(f"key {key['keyid'][:16]}… is already revoked since {key['revoked_at']}")
    key["revoked_at"] = format_time(at)
    council = new["council"]
    if key["keyid"] in council["keyids"]:
        council["keyids"].remove(key["keyid"])
        if council["threshold"] > len(council["keyids"]):
            raise RosterError("revoking this council key leaves fewer council keys than the "
                              f"threshold {council['threshold']}; lower the threshold too")
    return new


def rotate_key(doc: Mapping[str, Any], member_id: str, new_key: Mapping[str, Any], *,
               at: datetime) -> dict[str, Any]:
    """Give ``member_id`` a new signing key from ``at``; its old signing keys end at ``at``
    (``not_after``), so what they signed before stays verifiable. Council seats move along."""
    new = copy.deepcopy(dict(doc))
    member = _member(new, member_id)
    when = format_time(at)
    old_ids = []
    for k in member["keys"]:
        if not k.get("not_after") and not k.get("revoked_at"):
            k["not_after"] = when
            old_ids.append(k["keyid"])
    entry = dict(new_key)
    entry.setdefault("not_before", when)
    member["keys"].append(entry)
    keyids = new["council"]["keyids"]
    for old in old_ids:
        if old in keyids:
            keyids[keyids.index(old)] = entry["keyid"]
    return new


def set_threshold(doc: Mapping[str, Any], threshold: int) -> dict[str, Any]:
    new = copy.deepcopy(dict(doc))
    n = len(new["council"]["keyids"])
    if not 1 <= threshold <= n:
        raise RosterError(f"threshold {threshold} must be between 1 and the council size {n}")
    new["council"]["threshold"] = threshold
    return new


def set_council(doc: Mapping[str, Any], *, add: Sequence[str] = (),
                remove: Sequence[str] = ()) -> dict[str, Any]:
    """Add or remove council keys (by key id or 8+ hex prefix)."""
    new = copy.deepcopy(dict(doc))
    keyids = new["council"]["keyids"]
    for kid in add:
        _, key = _key(new, kid)
        if key["keyid"] in keyids:
            raise RosterError(f"key {key['keyid'][:16]}… is already on the council")
        keyids.append(key["keyid"])
    for kid in remove:
        _, key = _key(new, kid)
        if key["keyid"] not in keyids:
            raise RosterError(f"key {key['keyid'][:16]}… is not on the council")
        keyids.remove(key["keyid"])
    if new["council"]["threshold"] > len(keyids):
        raise RosterError(f"the council would have {len(keyids)} key(s), fewer than its "
                          f"threshold {new['council']['threshold']}")
    return new
