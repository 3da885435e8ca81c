"""Replacement of spans and the offset map between original and de-identified text."""

from __future__ import annotations

import random

import pytest

from cliniloop.models.text.deid.offsets import OffsetMap, Replacement, apply_replacements, merge_overlapping
from cliniloop.models.text.deid.types import PhiSpan

TEXT = "Seen by John Smith on 03/04/2021 at clinic."
#       0         1         2         3         4
#       0123456789012345678901234567890123456789012
NAME = PhiSpan(8, 18, "NAME")  # "John Smith"
DATE = PhiSpan(22, 32, "DATE")  # "03/04/2021"


@pytest.fixture
def replaced() -> tuple[str, OffsetMap]:
    return apply_replacements(TEXT, [NAME, DATE], ["Al Li", "1/28/2021"])


def test_apply_replacements(replaced: tuple[str, OffsetMap]) -> None:
    text, omap = replaced
    assert text == "Seen by Al Li on 1/28/2021 at clinic."
    assert omap.replacements == (
        Replacement(8, 18, 8, 13, "NAME"),
        Replacement(22, 32, 17, 26, "DATE"),
    )
    assert omap.replacements[0].delta == -5


def test_offsets_outside_replacements_shift(replaced: tuple[str, OffsetMap]) -> None:
    text, omap = replaced
    assert omap.to_deid(0) == 0
    assert omap.to_deid(7) == 7
    assert omap.to_deid(18) == 13  # end of the name
    assert omap.to_deid(19) == 14  # "on"
    assert omap.to_deid(36) == 30  # "clinic"
    assert omap.to_deid(len(TEXT)) == len(text)
    assert omap.to_original(30) == 36
    assert omap.to_original(len(text)) == len(TEXT)
    for word in ("Seen", "on", "at", "clinic"):
        start = TEXT.index(word)
        a, b = omap.span_to_deid(start, start + len(word))
        assert text[a:b] == word
        assert omap.span_to_original(a, b) == (start, start + len(word))


def test_spans_touching_a_replacement_grow(replaced: tuple[str, OffsetMap]) -> None:
    text, omap = replaced
    assert omap.span_to_deid(13, 18) == (8, 13)  # "Smith" -> whole surrogate "Al Li"
    assert omap.span_to_deid(10, 21) == (8, 16)  # "hn Smith on" -> "Al Li on"
    assert omap.span_to_deid(8, 18) == (8, 13)
    assert omap.to_deid(13) == 8
    assert omap.to_deid(13, side="end") == 13
    assert omap.span_to_original(9, 10) == (8, 18)  # "l" of the surrogate -> the whole name
    assert omap.span_to_original(14, 26) == (19, 32)
    assert text[slice(*omap.span_to_deid(4, 8))] == " by "  # ends where the name starts: no growth


def test_no_replacements() -> None:
    omap = OffsetMap(())
    assert omap.to_deid(5) == 5
    assert omap.to_original(5) == 5
    assert omap.to_json() == []


def test_json_round_trip(replaced: tuple[str, OffsetMap]) -> None:
    _, omap = replaced
    data = omap.to_json()
    assert data[0] == {"orig_start": 8, "orig_end": 18, "deid_start": 8, "deid_end": 13, "type": "NAME"}
    assert OffsetMap.from_json(data) == omap


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError, match="sorted"):
        apply_replacements(TEXT, [DATE, NAME], ["x", "y"])
    with pytest.raises(ValueError, match="sorted"):
        apply_replacements(TEXT, [PhiSpan(8, 18, "NAME"), PhiSpan(13, 20, "NAME")], ["x", "y"])
    with pytest.raises(ValueError, match="surrogates"):
        apply_replacements(TEXT, [NAME], [])
    with pytest.raises(ValueError, match="past the text"):
        apply_replacements("short", [PhiSpan(2, 9, "NAME")], ["x"])
    with pytest.raises(ValueError):
        OffsetMap((Replacement(0, 5, 0, 3, "NAME"), Replacement(4, 8, 2, 6, "NAME")))
    with pytest.raises(ValueError, match="length"):
        OffsetMap((Replacement(2, 5, 3, 4, "NAME"),))
    with pytest.raises(ValueError):
        OffsetMap(()).to_deid(-1)
    with pytest.raises(ValueError):
        OffsetMap(()).span_to_deid(5, 3)


def test_adjacent_spans(replaced: tuple[str, OffsetMap]) -> None:
    text, omap = apply_replacements("AB", [PhiSpan(0, 1, "NAME"), PhiSpan(1, 2, "NAME")], ["xyz", "q"])
    assert text == "xyzq"
    assert omap.span_to_deid(1, 2) == (3, 4)
    assert omap.span_to_original(3, 4) == (1, 2)


def test_random_maps_keep_unreplaced_characters() -> None:
    rng = random.Random(7)
    for _ in range(50):
        text = "".join(rng.choice("abcdefgh ") for _ in range(200))
        spans, pos = [], 0
        while True:
            start = pos + rng.randrange(0, 10)
            end = start + rng.randrange(1, 8)
            if end > len(text):
                break
            spans.append(PhiSpan(start, end, "MRN"))
            pos = end
        surrogates = ["#" * rng.randrange(1, 12) for _ in spans]
        new, omap = apply_replacements(text, spans, surrogates)
        inside = {i for s in spans for i in range(s.start, s.end)}
        for i, c in enumerate(text):
            if i not in inside:
                j = omap.to_deid(i)
                assert new[j] == c
                assert omap.to_original(j) == i
        for span, sur in zip(spans, surrogates, strict=True):
            a, b = omap.span_to_deid(span.start, span.end)
            assert new[a:b] == sur


def test_merge_same_type() -> None:
    outer = PhiSpan(0, 10, "NAME", 0.5, "a")
    assert merge_overlapping([outer, PhiSpan(5, 8, "NAME", 0.9, "b")]) == [outer]
    # partial overlap of one type: the union, with the best span's score and source
    assert merge_overlapping([PhiSpan(0, 6, "NAME", 0.4, "a"), PhiSpan(4, 12, "NAME", 0.9, "b")]) == [
        PhiSpan(0, 12, "NAME", 0.9, "b")
    ]
    # adjacent spans of one type stay separate
    adjacent = [PhiSpan(0, 4, "NAME"), PhiSpan(4, 9, "NAME")]
    assert merge_overlapping(list(reversed(adjacent))) == adjacent


def test_merge_across_types() -> None:
    longer = PhiSpan(0, 10, "DATE", 0.5)
    assert merge_overlapping([PhiSpan(2, 6, "NAME", 0.99), longer]) == [longer]
    # same length: the higher score wins
    assert merge_overlapping([PhiSpan(0, 5, "MRN", 0.6), PhiSpan(0, 5, "PHONE", 0.8)]) == [PhiSpan(0, 5, "PHONE", 0.8)]
    # partial overlap: the loser keeps its characters outside the winner
    assert merge_overlapping([PhiSpan(0, 10, "NAME", 0.5), PhiSpan(8, 14, "DATE", 0.9)]) == [
        PhiSpan(0, 10, "NAME", 0.5),
        PhiSpan(10, 14, "DATE", 0.9),
    ]
    assert merge_overlapping([]) == []
