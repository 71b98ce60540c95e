"""What the incident search index holds, and which query words it can answer.

    >>> index_text('{"title": "Model leak", "n": 12}')
    'title\\nModel\\nleak'
    >>> indexable("leak"), indexable("le"), indexable('"leak"')
    (True, False, False)
    >>> trigrams(["Leak", "model"])
    ['Lea', 'eak', 'mod', 'del']

The search contract (node/store/records.py ``list_incidents``) is: every query word is an ASCII
case-insensitive substring of the report's stored JSON document (compact JSON with non-ASCII
characters kept as they are, as ``orjson.dumps`` writes it) or of its title. The index (an FTS5
``trigram`` table) holds less than the whole document, yet loses no match, because of one
observation: a query word contains no whitespace (it comes from ``str.split()``), so if it also
contains none of the JSON structure characters ``{}[],:"\\`` nor a control character, each of
its occurrences in the document lies inside one *run* — a maximal stretch of the document
without those characters (part of a key, of an escaped string value, or a number or literal).
The index therefore holds each distinct run of three characters or more, once per report: not
the JSON syntax, not the repeated words. Such a word (three characters or more, one trigram at
least) is ``indexable``; any other word is still checked with the exact ``LIKE`` on the
candidates, or by the old scan when no word is indexable.

The trigram tokenizer folds case for all of Unicode while ``LIKE`` folds ASCII only, and the
index has no positions (``detail=none``), so a word is looked up by (some of) its trigrams: the
index may over-match, never under-match, and every candidate is re-checked with the exact
predicate. Changing ``_BREAKS`` changes what is indexed: the index must then be rebuilt.
"""

from __future__ import annotations

from collections.abc import Iterable

# Space, the control characters (which json.dumps always escapes), the JSON structure
# characters and the escape character: no indexable word holds one, so none of its occurrences
# spans one. Applied to the UTF-8 bytes, where no multi-byte character holds an ASCII byte: half
# the CPU of the same split on str. Changing it changes what is indexed: rebuild.
_BREAKS = frozenset(range(33)) | frozenset(b'{}[],:"\\')
_TO_SPACE = bytes(32 if c in _BREAKS else c for c in range(256))
MIN_RUN = 3  # one trigram


def index_text(document: str) -> str:
    """The text indexed for one stored report: its distinct runs of ``MIN_RUN`` characters or
    more (bytes, which keeps a few shorter non-ASCII ones: harmless), one per line."""
    runs = dict.fromkeys(document.encode().translate(_TO_SPACE).split())
    return b"\n".join(run for run in runs if len(run) >= MIN_RUN).decode()


def indexable(word: str) -> bool:
    """Whether the index finds every report containing ``word`` (see the module docstring)."""
    return len(word) >= MIN_RUN and not any(ord(c) in _BREAKS for c in word)


def trigrams(words: Iterable[str]) -> list[str]:
    """Trigrams that every report containing all indexable ``words`` holds: for each word, the
    ones that cover it without overlap (``Lea``, ``eak`` for ``Leak``); none if no word is
    indexable. Any subset of them is a valid (wider) filter: the exact re-check decides."""
    return list(dict.fromkeys(w[i:i + MIN_RUN] for w in words if indexable(w)
                              for i in _cover(len(w))))


def match_expression(grams: Iterable[str]) -> str:
    """The FTS5 MATCH expression for the AND of ``grams``, each quoted (none holds ``"``)."""
    return " ".join(f'"{g}"' for g in grams)


def _cover(length: int) -> list[int]:
    """Start offsets of trigrams covering a word of ``length`` (>= 3) characters."""
    starts = list(range(0, length - MIN_RUN + 1, MIN_RUN))
    if starts[-1] != length - MIN_RUN:
        starts.append(length - MIN_RUN)
    return starts
