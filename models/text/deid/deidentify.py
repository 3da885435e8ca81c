"""De-identify one note: merge detected spans, draw surrogates, apply them with an offset map."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .offsets import OffsetMap, apply_replacements, merge_overlapping
from .surrogates import SurrogateGenerator
from .types import PhiSpan

__all__ = ["DeidentifiedText", "deidentify"]


@dataclass(frozen=True)
class DeidentifiedText:
    """A de-identified note.

    Attributes
    ----------
    text : str
        The note with every identifier replaced by its surrogate.
    offsets : OffsetMap
        Map between original and de-identified character offsets.
    counts : dict of str to int
        Number of replaced identifiers per type, keys sorted.
    """

    text: str
    offsets: OffsetMap
    counts: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        """Counts and offset map, JSON-ready; holds no identifier and no text."""
        return {"counts": dict(self.counts), "offsets": self.offsets.to_json()}


def deidentify(text: str, spans: Sequence[PhiSpan], generator: SurrogateGenerator) -> DeidentifiedText:
    """Replace the identifiers of one note by surrogates.

    Parameters
    ----------
    text : str
        Original note.
    spans : sequence of PhiSpan
        Detected identifiers, in any order, possibly overlapping (resolved with
        :func:`~cliniloop.models.text.deid.offsets.merge_overlapping`). Spans without any letter or
        digit are dropped (nothing to replace).
    generator : SurrogateGenerator
        Surrogate generator of the note's patient.

    Returns
    -------
    DeidentifiedText
        De-identified text, offset map and counts per type.

    Raises
    ------
    ValueError
        If a span runs past the end of ``text``.
    """
    for span in spans:
        if span.end > len(text):
            raise ValueError(f"span {span} runs past the text ({len(text)} characters)")
    merged = [s for s in merge_overlapping(spans) if any(c.isalnum() for c in text[s.start : s.end])]
    surrogates = [generator.surrogate(s.type, text[s.start : s.end]) for s in merged]
    new_text, offsets = apply_replacements(text, merged, surrogates)
    counts = Counter(s.type for s in merged)
    return DeidentifiedText(new_text, offsets, {k: counts[k] for k in sorted(counts)})
