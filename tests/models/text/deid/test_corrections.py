"""Replacing identifiers annotators marked as missed: offsets of everything else stay right."""

from __future__ import annotations

import pytest

from cliniloop.models.text.deid.corrections import compose, plan_corrections, remap_span
from cliniloop.models.text.deid.offsets import OffsetMap, apply_replacements
from cliniloop.models.text.deid.surrogates import SurrogateGenerator
from cliniloop.models.text.deid.types import PhiSpan

ORIGINAL = "Seen by Dr. Quill today. Lives near Old Mill Pond with her son. Chest pain resolved."
GEN = SurrogateGenerator(b"corrections-test-secret", "ref:0123456789abcdef")


def _deid() -> tuple[str, OffsetMap]:
    start = ORIGINAL.index("Quill")
    return apply_replacements(ORIGINAL, [PhiSpan(start, start + 5, "NAME")], [GEN.surrogate("NAME", "Quill")])


def _mark(text: str, words: str, phi_type: str = "LOCATION") -> tuple[int, int, str]:
    start = text.index(words)
    return start, start + len(words), phi_type


def test_marked_span_gets_the_generators_surrogate_and_the_map_a_replacement() -> None:
    text, offsets = _deid()
    edit = plan_corrections(text, offsets, [_mark(text, "Old Mill Pond")], GEN)
    surrogate = GEN.surrogate("LOCATION", "Old Mill Pond")
    assert "Old Mill Pond" not in edit.text and f"near {surrogate} with" in edit.text
    # the new map goes from the original note to the corrected text, for old and new replacements
    pairs = [(ORIGINAL[r.orig_start : r.orig_end], edit.text[r.deid_start : r.deid_end], r.type) for r in edit.offsets.replacements]
    assert pairs == [("Quill", GEN.surrogate("NAME", "Quill"), "NAME"), ("Old Mill Pond", surrogate, "LOCATION")]
    for word in ("Chest pain", "son", "today"):
        o = ORIGINAL.index(word)
        a, b = edit.offsets.span_to_deid(o, o + len(word))
        assert edit.text[a:b] == word


@pytest.mark.parametrize(
    ("words", "expect"),
    [
        ("Seen by", "Seen by"),  # before the mark: unchanged
        ("Chest pain", "Chest pain"),  # after: shifted by the length change
        ("with her son", "with her son"),  # right after the mark (adjacent): shifted
        ("Lives near", "Lives near"),  # ends right where the mark starts: unchanged
    ],
)
def test_regions_around_the_mark_keep_their_words(words: str, expect: str) -> None:
    text, offsets = _deid()
    edit = plan_corrections(text, offsets, [_mark(text, "Old Mill Pond")], GEN)
    a, b = remap_span(edit.edits, text.index(words), text.index(words) + len(words))
    assert edit.text[a:b] == expect


def test_regions_overlapping_the_mark_snap_to_the_surrogate() -> None:
    text, offsets = _deid()
    edit = plan_corrections(text, offsets, [_mark(text, "Old Mill Pond")], GEN)
    surrogate = GEN.surrogate("LOCATION", "Old Mill Pond")
    exact = _mark(text, "Old Mill Pond")
    assert edit.text[slice(*remap_span(edit.edits, exact[0], exact[1]))] == surrogate
    inside = _mark(text, "Mill")
    assert edit.text[slice(*remap_span(edit.edits, inside[0], inside[1]))] == surrogate
    across = _mark(text, "near Old Mill")
    assert edit.text[slice(*remap_span(edit.edits, across[0], across[1]))] == f"near {surrogate}"
    around = _mark(text, "Lives near Old Mill Pond with")
    assert edit.text[slice(*remap_span(edit.edits, around[0], around[1]))] == f"Lives near {surrogate} with"


def test_parts_on_a_surrogate_and_white_space_are_left_alone() -> None:
    text, offsets = _deid()
    name = GEN.surrogate("NAME", "Quill")
    # the annotator marks "Dr. <surrogate> " (title + surrogate + a space): only "Dr." is new
    start = text.index("Dr.")
    edit = plan_corrections(text, offsets, [(start, start + len(f"Dr. {name} "), "NAME")], GEN)
    assert [(s.start, s.end) for s in edit.spans] == [(start, start + 3)]
    assert name in edit.text and edit.text.endswith("Chest pain resolved.")
    # marks only on a surrogate or blanks change nothing
    s = text.index(name)
    nothing = plan_corrections(text, offsets, [(s, s + len(name), "NAME"), (s - 1, s, "NAME")], GEN)
    assert nothing.text == text and nothing.spans == () and nothing.offsets == offsets


def test_overlapping_marks_are_one_replacement_and_bad_marks_are_refused() -> None:
    text, offsets = _deid()
    a, b = _mark(text, "Old Mill")[:2], _mark(text, "Mill Pond")[:2]
    edit = plan_corrections(text, offsets, [(*a, "LOCATION"), (*b, "LOCATION")], GEN)
    assert len(edit.spans) == 1 and "Old" not in edit.text and "Pond" not in edit.text
    with pytest.raises(ValueError, match="not inside the text"):
        plan_corrections(text, offsets, [(5, len(text) + 1, "NAME")], GEN)


def test_two_rounds_compose_into_one_map_from_the_first_text() -> None:
    text, offsets = _deid()
    first = plan_corrections(text, offsets, [_mark(text, "Old Mill Pond")], GEN)
    second = plan_corrections(first.text, first.offsets, [_mark(first.text, "Chest", "NAME")], GEN)
    both = compose(first.edits, second.edits)
    spans = [PhiSpan(r.orig_start, r.orig_end, r.type) for r in both.replacements]
    rebuilt, _ = apply_replacements(text, spans, [second.text[r.deid_start : r.deid_end] for r in both.replacements])
    assert rebuilt == second.text
    o = text.index("resolved")
    assert second.text[slice(*remap_span(both, o, o + 8))] == "resolved"
