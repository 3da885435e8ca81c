"""The NER tokenizer, shared by the tagger (:mod:`cliniloop.models.text.ner`) and its gazetteer
(:mod:`cliniloop.models.text.ner_gazetteer`) so neither imports the other."""

from __future__ import annotations

import re

TOKEN_PATTERN = re.compile(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]")


def tokenize(text: str) -> list[tuple[int, int]]:
    """Split ``text`` into tokens: runs of letters, runs of digits, single other characters.

    Returns ``(start, end)`` character offsets. The split is fine-grained so that entity
    boundaries inside hyphenated or bracketed words ("[3H]-naloxone") fall on token edges.
    """
    return [(m.start(), m.end()) for m in TOKEN_PATTERN.finditer(text)]
