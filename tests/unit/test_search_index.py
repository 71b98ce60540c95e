"""The incident search index returns exactly what the LIKE scan returns (node/store/search.py).

The oracle is the search contract written in Python: every word is an ASCII case-insensitive
substring of the stored JSON document or of the title. It is checked on a varied corpus with the
index complete, half built, stale after revisions, and page by page with the cursor.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from federation.search_text import index_text, indexable, trigrams
from node.store import records, search
from node.store.db import MIGRATIONS, Store

WORDS = ["Model", "modèle", "ÉTÉ", "été", "Straße", "日本語", "leak", "LEAK", "50%", "a_b", "a\\b",
         "C:\\path", 'say "hi"', "x", "ab", "incident", "Incident", "chatbot", "kétamine", "ﬁle",
         "İstanbul", "tab\there", "line\nbreak", "smile 😀", "100_000", "naïve", "[draft]"]
QUERIES = ["model", "MODEL", "mod", "mo", "m", "été", "ÉTÉ", "ete", "straße", "STRASSE", "日本",
           "日本語", "leak", "50%", "%", "_", "a_b", "a%b", "\\", "a\\b", "a\\\\b", "\\\\", '"',
           '"hi"', "hi", "nbreak", "\\n", "tab", "there", "incident", "incident 7", "7",
           "17 incident", "title", "severity", "harm_types", '"title":', "tlp", "GREEN",
           "gb-search-0000001", "search-00000", "😀", "smile", "ﬁle", "file", "i̇stanbul",
           "istanbul", "naïve", "naive", "[draft]", "draft]", "revised", "revised model",
           "zzz-nothing", "100_000", "1000", "000", "physical", "r", "é", "ß", "İ"]


def report(i: int, rng: random.Random, revision: int = 1, extra: str = "") -> dict[str, Any]:
    words = rng.sample(WORDS, 4)
    return {"type": "incident", "id": f"gb-search-{i:07d}", "revision": revision,
            "origin": rng.choice(["gb", "fr"]),
            "severity": rng.choice(["incident", "serious-incident", "disaster"]),
            "tlp": rng.choice(["GREEN", "AMBER", "CLEAR"]), "status": "open",
            "title": f"{words[0]} incident {i} {extra}".strip(),
            "description": " ".join(words[1:]) + f" {rng.randint(0, 200_000)}",
            "harm_types": ["physical"], "red_lines": [], "issued_at": "2026-12-01T10:00:00Z",
            "ai_system": {"name": words[2], "role": words[3]}}


def store_all(store: Store, docs: list[dict[str, Any]]) -> None:
    with store.transaction() as tx:
        for doc in docs:
            digest = f"{doc['id']}-{doc['revision']}"
            records.insert_envelope(tx, digest, "incident", doc["origin"], "s", b"{}",
                                    "2026-12-01T10:00:00Z", local=False)
            records.upsert_incident(tx, doc, digest, "2026-12-01T10:00:00Z")


def index(store: Store, limit: int = 10_000) -> None:
    with store.transaction() as tx:
        search.index_pending(tx, limit)


_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def ascii_lower(s: str) -> str:
    return s.translate(_LOWER)


Texts = dict[str, tuple[str, str, str]]  # id -> (document, title) lowered, origin


def texts_of(current: dict[str, dict[str, Any]]) -> Texts:
    return {doc_id: (ascii_lower(json.dumps(doc, ensure_ascii=False)),
                     ascii_lower(doc.get("title", "")), doc["origin"])
            for doc_id, doc in current.items()}


def expected(texts: Texts, q: str, origin: str | None = None) -> list[str]:
    words = [ascii_lower(w) for w in q.split()[:8]]
    return [doc_id for doc_id, (text, title, by) in texts.items()
            if all(w in text or w in title for w in words) and origin in (None, by)]


def found(store: Store, q: str, origin: str | None = None, limit: int = 500) -> list[str]:
    """Every id the API would page through for ``q``, following the cursor."""
    ids: list[str] = []
    cursor = None
    for _ in range(1000):
        page = records.list_incidents(store, origin=origin, severity=None, since=None,
                                      limit=limit, cursor=cursor, text=q)
        ids += [item["id"] for item in page.items]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor
    raise AssertionError("the cursor never ended")


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Store, dict[str, dict[str, Any]], random.Random]:
    rng = random.Random(13)  # noqa: S311 - a fixed corpus, not a secret
    docs = [report(i, rng) for i in range(200)]
    store = Store.open(tmp_path / "s.sqlite3")
    store_all(store, docs)
    return store, {d["id"]: d for d in docs}, rng


def newest_first(current: dict[str, dict[str, Any]], ids: list[str]) -> list[str]:
    order = {doc_id: n for n, doc_id in enumerate(current)}  # insertion order = seq order
    return sorted(ids, key=lambda i: -order[i])


def check_all(store: Store, current: dict[str, dict[str, Any]]) -> None:
    texts = texts_of(current)
    for q in QUERIES:
        want = newest_first(current, expected(texts, q))
        assert found(store, q) == want, q
        assert found(store, q, limit=7) == want, q  # pages joined at the cursor
        assert found(store, q, origin="fr", limit=5) == newest_first(
            current, expected(texts, q, "fr")), q


def test_the_index_changes_no_answer_complete_partial_or_stale(
        corpus: tuple[Store, dict[str, dict[str, Any]], random.Random]) -> None:
    store, current, rng = corpus
    check_all(store, current)  # nothing indexed yet: the scan and the tail query
    index(store, limit=100)
    assert search.backlog(store) == 100
    check_all(store, current)  # half indexed
    index(store)
    assert search.backlog(store) == 0
    check_all(store, current)
    # revisions below the watermark: the old text must not be found, the new one must
    revised = [report(i, rng, revision=2, extra="revised") for i in range(0, 200, 7)]
    for doc in revised:  # a revision comes from the same origin
        doc["origin"] = current[doc["id"]]["origin"]
    store_all(store, revised)
    current.update((d["id"], d) for d in revised)
    assert search.backlog(store) == len(revised)
    check_all(store, current)  # stale rows are searched by the scan
    # a second revision before the task ran: the indexed text (revision 1) is what it deletes
    again = [report(i, rng, revision=3, extra="again") for i in range(0, 200, 14)]
    for doc in again:
        doc["origin"] = current[doc["id"]]["origin"]
    store_all(store, again)
    current.update((d["id"], d) for d in again)
    assert search.backlog(store) == len(revised)
    check_all(store, current)
    index(store)
    assert search.backlog(store) == 0
    check_all(store, current)  # re-indexed


def test_a_report_stored_after_the_index_is_found_at_once(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.sqlite3")
    rng = random.Random(1)  # noqa: S311 - a fixed corpus, not a secret
    store_all(store, [report(i, rng) for i in range(20)])
    index(store)
    fresh = report(99, rng, extra="Quokka-7731")
    store_all(store, [fresh])
    assert found(store, "quokka-7731") == [fresh["id"]]


def test_indexable_words_and_their_trigrams() -> None:
    assert indexable("leak") and indexable("été") and indexable("50%") and indexable("a_b")
    assert not indexable("ab") and not indexable('"hi"') and not indexable("a\\b")
    assert not indexable("a,b") and not indexable("k:v") and not indexable("[x]")
    assert trigrams(["Leak", "ab", "leak", "modèles"]) == ["Lea", "eak", "lea", "mod", "èle", "les"]
    assert trigrams(["ab", "{}"]) == []
    # the escape of a newline is indexed as the document has it: \n, then the next run
    text = index_text(json.dumps({"d": "line\nbreak é"}, ensure_ascii=False))
    assert text.split("\n") == ["line", "nbreak"]


def test_an_upgraded_store_indexes_the_rows_it_already_held(tmp_path: Path) -> None:
    search_migration = next(n for n, script in enumerate(MIGRATIONS)
                            if "incident_search" in script)
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("PRAGMA foreign_keys=ON")
    for script in MIGRATIONS[:search_migration]:
        old.executescript(script)
    old.execute(f"PRAGMA user_version={search_migration}")
    rng = random.Random(7)  # noqa: S311 - a fixed corpus, not a secret
    docs = [report(i, rng) for i in range(40)]
    old.execute("BEGIN")
    for doc in docs:
        records.insert_envelope(old, doc["id"], "incident", "gb", "s", b"{}", "t", local=False)
        records.upsert_incident(old, doc, doc["id"], "2026-12-01T10:00:00Z")
    old.execute("COMMIT")
    old.close()
    store = Store.open(path)  # migrates
    current = {d["id"]: d for d in docs}
    assert search.backlog(store) == 40
    check_all(store, current)  # found by the scan before the task runs
    index(store)
    assert search.backlog(store) == 0
    check_all(store, current)


def test_an_index_commit_skips_the_fsync_and_every_other_commit_keeps_it(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "node.db")
    full, normal = 2, 1  # PRAGMA synchronous values
    try:
        with store.transaction(durable=False) as tx:
            assert tx.execute("PRAGMA synchronous").fetchone()[0] == normal
        assert store.scalar("PRAGMA synchronous") == full
        with pytest.raises(RuntimeError), store.transaction(durable=False):
            raise RuntimeError("a failed index batch")
        assert store.scalar("PRAGMA synchronous") == full
        with store.transaction() as tx:
            assert tx.execute("PRAGMA synchronous").fetchone()[0] == full
    finally:
        store.close()
