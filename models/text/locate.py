"""Locate a caller-supplied condition phrase in a sentence.

Used by :meth:`cliniloop.models.text.annotator.ClinicalTextAnnotator.assert_condition` and by the
evaluation peers, so every system asserts the same span.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z0-9]+")


def _prefer(matches: list, condition: str):
    """Choose among several occurrences: same case > upper-cased (test-kit convention) > first."""
    for match in matches:
        if " ".join(match.group().split()) == condition:
            return match
    for match in matches:
        if match.group().isupper():
            return match
    return matches[0]


def locate(text: str, condition: str) -> tuple[int, int] | None:
    """Find a condition phrase in a text.

    Matching is case-insensitive and any whitespace run matches any whitespace run. When the
    phrase occurs more than once, an occurrence with the same case is preferred, then an
    upper-cased one (the NegEx test kit marks its target by upper-casing it), then the first.
    When it does not occur verbatim, punctuation between its words is ignored, and failing
    that the longest leading run of its words (at least three letters) is used.

    Parameters
    ----------
    text : str
        Text to search.
    condition : str
        Phrase to find.

    Returns
    -------
    tuple of int or None
        Character offsets ``(start, end)``, or None.
    """
    words = condition.split()
    if not words:
        return None
    exact = r"\s+".join(re.escape(w) for w in words)
    matches = list(re.finditer(exact, text, flags=re.IGNORECASE))
    if matches:
        best = _prefer(matches, " ".join(words))
        return best.start(), best.end()
    tokens = _WORD.findall(condition)
    for n in range(len(tokens), 0, -1):
        if sum(len(t) for t in tokens[:n] if t.isalpha()) < 3:
            break
        pattern = r"(?<![A-Za-z0-9])" + r"\W*".join(re.escape(t) for t in tokens[:n]) + r"(?![A-Za-z0-9])"
        match = re.search(pattern, text, flags=re.IGNORECASE)
        if match:
            return match.start(), match.end()
    return None

