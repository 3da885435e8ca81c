"""The clinical sentence splitter (issue 22): no break at decimals, abbreviations, initials, list numbers."""

from __future__ import annotations

import pytest

from cliniloop.models.text.sentences import sentence_at, sentence_spans


def _split(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Lactate was 5.2 mmol/L. Repeat in 2 hours.", ["Lactate was 5.2 mmol/L.", "Repeat in 2 hours."]),
        ("Cultures grew E. coli and S. aureus. Started ceftriaxone.", ["Cultures grew E. coli and S. aureus.", "Started ceftriaxone."]),
        ("Seen by Dr. Smith today. Pt. denies pain.", ["Seen by Dr. Smith today.", "Pt. denies pain."]),
        ("1. Pneumonia. 2. Sepsis.", ["1. Pneumonia.", "2. Sepsis."]),
        ("Problem list:\n1. Pneumonia\n2. Sepsis", ["Problem list:", "1. Pneumonia", "2. Sepsis"]),
        ("Temp 38.5, HR 110.\ncontinues on the next line. Stable!", ["Temp 38.5, HR 110.\ncontinues on the next line.", "Stable!"]),
        ("e.g. aspirin was given. Done", ["e.g. aspirin was given.", "Done"]),
        ("", []),
        ("   \n ", []),
    ],
)
def test_clinical_sentence_splits(text: str, expected: list[str]) -> None:
    assert _split(text) == expected


def test_sentence_at_holds_the_mention() -> None:
    text = "Hx of HTN. Lactate was 5.2 today with E. coli bacteremia. Plan: fluids."
    start = text.index("bacteremia")
    a, b = sentence_at(text, start, start + 10)
    assert text[a:b] == "Lactate was 5.2 today with E. coli bacteremia."
