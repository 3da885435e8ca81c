"""Replace identifiers annotators marked as missed in an already de-identified text.

A correction is a span ``[start, end)`` of the *de-identified* text with an identifier type.
Text outside the note's existing replacements is identical in the original and the
de-identified text, so the marked words are the original identifier and can get the surrogate
the gate would have drawn. Parts of a mark that fall on an existing surrogate are left alone
(the surrogate is not an identifier); leading and trailing white space is not replaced.

:func:`plan_corrections` returns the new text, the *edit map* from the old to the new
de-identified text (an :class:`~cliniloop.models.text.deid.offsets.OffsetMap` whose "original" side is
the old de-identified text) and the note's new original <-> de-identified map. Regions are
moved with :func:`remap_span`: a region after a replaced span shifts by its length change, a
region that overlaps it grows or shrinks to the surrogate's bounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .offsets import OffsetMap, Replacement, apply_replacements, merge_overlapping
from .surrogates import SurrogateGenerator
from .types import PhiSpan

__all__ = ["CorrectionEdit", "compose", "plan_corrections", "remap_span"]

SOURCE = "correction"


@dataclass(frozen=True)
class CorrectionEdit:
    """The outcome of :func:`plan_corrections`.

    Attributes
    ----------
    text : str
        The new de-identified text.
    edits : OffsetMap
        Old de-identified text (``orig_*``) -> new de-identified text (``deid_*``).
    offsets : OffsetMap
        Original note -> new de-identified text.
    spans : tuple of PhiSpan
        The replaced spans, in the old de-identified text (sorted, non-overlapping).
    """

    text: str
    edits: OffsetMap
    offsets: OffsetMap
    spans: tuple[PhiSpan, ...]


def _outside(start: int, end: int, taken: Sequence[Replacement]) -> list[tuple[int, int]]:
    """Parts of ``[start, end)`` outside the de-identified side of the replacements ``taken``."""
    pieces = [(start, end)]
    for rep in taken:
        if rep.deid_end <= start or rep.deid_start >= end:
            continue
        pieces = [
            piece
            for a, b in pieces
            for piece in ((a, min(b, rep.deid_start)), (max(a, rep.deid_end), b))
            if piece[0] < piece[1]
        ]
    return pieces


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def compose(first: OffsetMap, second: OffsetMap) -> OffsetMap:
    """The map ``A -> C`` of ``first: A -> B`` followed by ``second: B -> C``.

    Requires that ``second`` replaces only text of ``B`` outside ``first``'s replacements (as
    corrections do), so every replacement of either map survives unchanged in length.
    """
    reps = [
        Replacement(
            r.orig_start, r.orig_end, second.to_deid(r.deid_start), second.to_deid(r.deid_end, side="end"), r.type
        )
        for r in first.replacements
    ]
    reps += [
        Replacement(
            first.to_original(r.orig_start), first.to_original(r.orig_end, side="end"), r.deid_start, r.deid_end, r.type
        )
        for r in second.replacements
    ]
    return OffsetMap(tuple(sorted(reps, key=lambda r: (r.orig_start, r.orig_end))))


def remap_span(edits: OffsetMap, start: int, end: int) -> tuple[int, int]:
    """Where ``[start, end)`` of the old text lies in the new one (see the module docstring)."""
    return edits.to_deid(start, side="start"), edits.to_deid(end, side="end")


def plan_corrections(
    text: str,
    offsets: OffsetMap,
    marks: Sequence[tuple[int, int, str]],
    generator: SurrogateGenerator,
) -> CorrectionEdit:
    """Replace the marked spans of a de-identified text by surrogates.

    Parameters
    ----------
    text : str
        The de-identified text.
    offsets : OffsetMap
        Its map from the original note.
    marks : sequence of (start, end, type)
        Spans of ``text`` marked as missed identifiers, in any order, possibly overlapping.
    generator : SurrogateGenerator
        The generator of the note's patient (the one the gate used).

    Returns
    -------
    CorrectionEdit
        With no replacement at all when nothing is left to replace (marks only on surrogates
        or white space).

    Raises
    ------
    ValueError
        If a mark runs past the text or has ``end <= start``.
    """
    pieces: list[PhiSpan] = []
    for start, end, phi_type in marks:
        if not 0 <= start < end <= len(text):
            raise ValueError(f"correction [{start}, {end}) is not inside the text ({len(text)} characters)")
        for a, b in _outside(start, end, offsets.replacements):
            a, b = _strip(text, a, b)
            if a < b:
                pieces.append(PhiSpan(a, b, phi_type, 1.0, SOURCE))
    merged = [s for s in merge_overlapping(pieces) if any(c.isalnum() for c in text[s.start : s.end])]
    surrogates = [generator.surrogate(s.type, text[s.start : s.end]) for s in merged]
    new_text, edits = apply_replacements(text, merged, surrogates)
    return CorrectionEdit(new_text, edits, compose(offsets, edits), tuple(merged))
