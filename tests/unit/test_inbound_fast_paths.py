"""The fourth round's shortcuts on the inbound path answer exactly as the code they replace.

Each test compares the shortcut with the slow form it stands for, so a shortcut that drifts
(a cached value for the wrong input, a stored text readers parse differently, a missed
revision) fails here, not in a benchmark.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from federation.errors import SchemaError, SignatureError
from federation.jsonbounds import parse_json
from federation.keys import PublicKey, SigningKey, keyid_of
from federation.timeutil import format_time
from node.store import records
from node.store.db import Store


def report(n: int, revision: int = 1, **extra: Any) -> dict[str, Any]:
    return {"type": "incident", "id": f"gb-{n:016x}", "revision": revision, "origin": "gb",
            "severity": "incident", "tlp": "CLEAR", "title": f"Report {n}",
            "issued_at": "2026-12-07T10:00:00Z", **extra}


def test_a_batch_lookup_of_revisions_finds_the_stored_ones_only(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.sqlite3")
    try:
        with store.transaction() as tx:
            for n, rev in ((1, 1), (1, 2), (2, 1)):
                dg = f"{n}{rev}".ljust(64, "0")
                records.insert_envelope(tx, dg, "incident", "gb", "s", b"{}", "t", local=False)
                records.upsert_incident(tx, report(n, rev), dg, "t")
        found = records.revision_digests(store, [(f"gb-{1:016x}", 2), (f"gb-{2:016x}", 2),
                                                 (f"gb-{3:016x}", 1), (f"gb-{1:016x}", 1)])
        assert found == {(f"gb-{1:016x}", 2): "12".ljust(64, "0"),
                         (f"gb-{1:016x}", 1): "11".ljust(64, "0")}
        assert records.revision_digests(store, []) == {}
    finally:
        store.close()


def test_the_stored_incident_text_reads_back_as_the_document_and_matches_the_same_words(
        tmp_path: Path) -> None:
    doc = report(7, description='Line\nbreak, "quoted", é, \u2028, tab\t', harm_quantification={
        "deaths": 0, "economic_loss_usd": 1500000000.5}, red_lines=[])
    store = Store.open(tmp_path / "s.sqlite3")
    try:
        with store.transaction() as tx:
            records.insert_envelope(tx, "a" * 64, "incident", "gb", "s", b"{}", "t", local=False)
            records.upsert_incident(tx, doc, "a" * 64, "t")
            assert records.current_incident(tx, doc["id"]) == doc
        spaced = json.dumps(doc, ensure_ascii=False)
        for word in spaced.split():  # every word the spaced form matched still matches
            page = records.list_incidents(store, origin=None, severity=None, since=None,
                                          limit=5, cursor=None, text=word)
            assert [i["id"] for i in page.items] == [doc["id"]], word
    finally:
        store.close()


def test_the_strict_decoder_answers_as_json_loads_did() -> None:
    for text, message in ((b'\xef\xbb\xbf{}', "Unexpected UTF-8 BOM"),
                          (b'{"a": NaN}', "NaN is not a JSON number"),
                          (b'{"a": 1, "a": 2}', "appears twice"),
                          (b"[1,", "Expecting value")):
        with pytest.raises(SchemaError, match=message):
            parse_json(text, strict=True)
    assert parse_json(b'{"a": [1, 2.5, "x"]}', strict=True) == {"a": [1, 2.5, "x"]}
    assert parse_json('{"a": 1}') == {"a": 1}


def test_remembered_keys_and_ids_are_those_of_their_input() -> None:
    keys = [SigningKey.from_seed(bytes([i]) * 32).public for i in range(3)]
    for k in keys:
        assert PublicKey.from_b64(k.to_b64()) == k
        assert keyid_of(k.raw) == k.keyid
    assert len({k.keyid for k in keys}) == 3
    with pytest.raises(SignatureError, match="32 bytes, got 3"):
        PublicKey.from_b64("AAAA")
    with pytest.raises(SignatureError, match="32 bytes, got 3"):  # a refusal is not remembered
        PublicKey.from_b64("AAAA")


def test_remembered_utc_texts_are_those_of_their_time() -> None:
    t = datetime(2026, 12, 7, 10, 0, 0, 999_999, tzinfo=UTC)
    assert [format_time(t + timedelta(seconds=s)) for s in (0, 1, 0)] == [
        "2026-12-07T10:00:00Z", "2026-12-07T10:00:01Z", "2026-12-07T10:00:00Z"]
    # The same instant in another zone is written in UTC, as before.
    assert format_time(t.astimezone(timezone(timedelta(hours=2)))) == "2026-12-07T10:00:00Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2026, 12, 7))  # noqa: DTZ001
