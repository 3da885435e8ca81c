"""Whitespace normalisation with an offset map back to the original text.

Clinical notes are full of runs of spaces and line wraps ("no   evidence of"), which spaCy
turns into separate whitespace tokens that break every multi-word rule. The annotator
therefore runs on a normalised copy: each whitespace run becomes one space, a run holding a
blank line (two or more newlines) becomes ``"\\n\\n"`` (a paragraph break, used as a sentence
boundary), and leading/trailing whitespace is dropped. Mentions are mapped back to the
original character offsets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PARAGRAPH = "\n\n"
_WS_RUN = re.compile(r"\s+")


@dataclass(frozen=True)
class NormalisedText:
    """A whitespace-normalised text and its map to the original.

    Attributes
    ----------
    text : str
        Normalised text.
    offsets : list of int
        ``offsets[i]`` is the original index of normalised character ``i``; one extra
        entry maps the end of the text.
    """

    text: str
    offsets: list[int]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a normalised ``[start, end)`` character span to the original text.

        Parameters
        ----------
        start, end : int
            Offsets in the normalised text (``end > start``).

        Returns
        -------
        tuple of int
            Original ``(start, end)``.
        """
        if end <= start:
            pos = self.offsets[start]
            return pos, pos
        return self.offsets[start], self.offsets[end - 1] + 1


def normalise_whitespace(text: str) -> NormalisedText:
    """Collapse whitespace runs, keeping paragraph breaks and an offset map.

    Parameters
    ----------
    text : str
        Original text.

    Returns
    -------
    NormalisedText
        Normalised text and offsets.
    """
    parts: list[str] = []
    offsets: list[int] = []
    pos = 0
    n = len(text)
    for match in _WS_RUN.finditer(text):
        start, end = match.span()
        if start > pos:
            parts.append(text[pos:start])
            offsets.extend(range(pos, start))
        if start > 0 and end < n:  # interior run: keep one separator
            run = match.group()
            if run.count("\n") >= 2:
                parts.append(PARAGRAPH)
                offsets.extend((start, start + 1))
            else:
                parts.append(" ")
                offsets.append(start)
        pos = end
    if pos < n:
        parts.append(text[pos:])
        offsets.extend(range(pos, n))
    offsets.append(offsets[-1] + 1 if offsets else 0)
    return NormalisedText("".join(parts), offsets)
