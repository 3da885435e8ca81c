"""A clinical sentence splitter: character spans of the sentences of a note.

A sentence ends at ``.``, ``!`` or ``?`` followed by white space and a capital letter, a digit or
the end of the text, and at a line break unless the next line carries on the sentence (it starts
with a lower-case letter). A period does **not** end a sentence

* inside a number ("Lactate was 5.2 mmol/L": no white space follows it),
* after a known abbreviation ("Dr. Smith", "Pt. denies", "approx. 5", "e.g. aspirin") or a single
  capital letter ("E. coli", "S. aureus", "J. Smith"),
* after a list number at the start of a line or of the text ("1. Pneumonia. 2. Sepsis." gives
  "1. Pneumonia." and "2. Sepsis."),
* when the next word starts with a lower-case letter ("tab. daily").

Pure functions, no model; the same input always gives the same spans.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["ABBREVIATIONS", "sentence_spans", "sentence_at"]

#: Lower-cased, without the final period; matched on the word before a period.
ABBREVIATIONS = frozenset(
    """dr mr mrs ms pt pts drs prof st sr jr vs approx appt apt avg dept est min max no nos fig
    e.g i.e e.g. i.e. a.m p.m b.i.d t.i.d q.i.d p.o p.r.n q.d h.s mg mcg ml hx dx tx rx sx fx
    yr yrs wk wks mo mos hr hrs sec cf al resp temp inc co ft lt rt bilat"""
    .split()
)
_END = re.compile(r"[.!?]+[\"')\]]*(?=\s)|\n")
_WORD_BEFORE = re.compile(r"(\S+)$")
_LIST_NUMBER = re.compile(r"(?:^|\n)[ \t]*\(?\d{1,3}$")


def _is_boundary(text: str, m: re.Match[str], start: int = 0) -> bool:
    end = m.end()
    if m.group() == "\n":
        rest = text[end:].lstrip(" \t")
        return not (rest[:1].islower())
    rest = text[end:].lstrip()
    if not rest:
        return True
    if rest[0].islower():
        return False
    if m.group().startswith(".") and len(m.group()) == 1:
        w = _WORD_BEFORE.search(text, 0, m.start())
        word = w.group(1) if w else ""
        bare = word.lstrip("(\"'[").lower()
        if bare in ABBREVIATIONS or bare.rstrip(".") in ABBREVIATIONS:
            return False
        if len(bare) == 1 and bare.isalpha() and word.lstrip("(\"'[")[:1].isupper():
            return False  # "E. coli", "J. Smith"
        if bare.isdigit() and (_LIST_NUMBER.search(text, 0, m.start()) or text[start : m.start()].strip() == word):
            return False  # "1. Pneumonia", "... 2. Sepsis"
    return True


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence, white space around it left out; empty text: ``[]``."""
    return list(_spans(text))


@lru_cache(maxsize=64)  # many mentions of one note ask for its sentences in a row
def _spans(text: str) -> tuple[tuple[int, int], ...]:
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _END.finditer(text):
        if not _is_boundary(text, m, start):
            continue
        end = m.end() if m.group() != "\n" else m.start()
        _add(text, start, end, spans)
        start = m.end()
    _add(text, start, len(text), spans)
    return tuple(spans)


def _add(text: str, a: int, b: int, spans: list[tuple[int, int]]) -> None:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    if b > a:
        spans.append((a, b))


def sentence_at(text: str, start: int, end: int) -> tuple[int, int]:
    """The span of the sentence(s) holding ``text[start:end]`` (a mention across a boundary gets both)."""
    spans = _spans(text)
    inside = [s for s in spans if s[0] < max(end, start + 1) and s[1] > start]
    if not inside:
        return start, end
    return min(inside[0][0], start), max(inside[-1][1], end)
