"""What the incident search index holds, and which query words it can answer.

    >>> index_text('{"title": "Model leak", "n": 12}')
    'title\\nModel\\nleak'
    >>> indexable("leak"), indexable("le"), indexable('"leak"')
    (True, False, False)
    >>> trigram_query(["Leak"])
    '"Lea" "eak"'

The search contract (node/store/records.py ``list_incidents``) is: every query word is an ASCII
case-insensitive substring of the report's stored JSON document (``json.dumps(doc,
ensure_ascii=False)``) or of its title. The index (an FTS5 ``trigram`` table) holds less than the
whole document, yet loses no match, because of one observation: a query word contains no
whitespace (it comes from ``str.split()``), so if it also contains none of the JSON structure
characters ``{}[],:"\\`` nor a control character, each of its occurrences in the document lies
inside one *run* — a maximal stretch of the document without those characters (part of a key,
of an escaped string value, or a number or literal). The index therefore holds each distinct run
of three characters or more, once per report: not the JSON syntax, not the repeated words. Such a
word (three characters or more, one trigram at least) is ``indexable``; any other word is still
checked with the exact ``LIKE`` on the candidates, or by the old scan when no word is indexable.

The trigram tokenizer folds case for all of Unicode while ``LIKE`` folds ASCII only, and the
index has no positions (``detail=none``), so a word is looked up as the AND of its trigrams: the
index may over-match, never under-match, and every candidate is re-checked with the exact
predicate. Changing ``_BREAK`` changes what is indexed: the index must then be rebuilt.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Whitespace, the JSON structure characters, the escape character and the control characters
# (which json.dumps always escapes): no indexable word contains one, so no occurrence spans one.
_BREAK = re.compile(r'[\s{}\[\],:"\\\x00-\x1f]+')
MIN_RUN = 3  # one trigram


def index_text(document: str) -> str:
    """The text indexed for one stored report: its distinct runs of ``MIN_RUN`` characters or
    more, one per line, in document order."""
    runs = dict.fromkeys(_BREAK.split(document))
    return "\n".join(run for run in runs if len(run) >= MIN_RUN)


def indexable(word: str) -> bool:
    """Whether the index finds every report containing ``word`` (see the module docstring)."""
    return len(word) >= MIN_RUN and _BREAK.search(word) is None


def trigram_query(words: Iterable[str]) -> str | None:
    """An FTS5 MATCH expression that every report containing all indexable ``words`` matches:
    the AND of their trigrams (each quoted; an indexable word holds no ``"``). ``None`` if no
    word is indexable."""
    grams = dict.fromkeys(w[i:i + MIN_RUN] for w in words if indexable(w)
                          for i in range(len(w) - MIN_RUN + 1))
    return " ".join(f'"{g}"' for g in grams) if grams else None
