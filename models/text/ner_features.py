"""Token features for the CRF tagger (:mod:`cliniloop.models.text.ner`): word, affixes, shapes, context.

Kept apart from the tagger so the feature set can change (and be versioned by the model hash)
without touching training or inference code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .ner_gazetteer import Gazetteer

_UPPER = re.compile(r"[A-Z]")
_LOWER = re.compile(r"[a-z]")
_DIGIT = re.compile(r"\d")
_REPEAT = re.compile(r"(.)\1+")


def word_shape(word: str) -> str:
    """``Xx``-style shape: upper → X, lower → x, digit → d, others kept ("IL-2" → "XX-d")."""
    return _DIGIT.sub("d", _LOWER.sub("x", _UPPER.sub("X", word)))


def short_shape(word: str) -> str:
    """Shape with repeats collapsed ("Naloxone" → "Xx")."""
    return _REPEAT.sub(r"\1", word_shape(word))


def sentence_features(
    text: str, tokens: Sequence[tuple[int, int]], gazetteer: Gazetteer | None = None
) -> list[list[str]]:
    """CRFsuite feature lists, one per token of ``text``.

    Parameters
    ----------
    text : str
        The sentence.
    tokens : sequence of (start, end)
        Token character offsets (see :func:`cliniloop.models.text.ner_tokens.tokenize`).
    gazetteer : Gazetteer or None
        Adds dictionary-match features for the token and its neighbours (±1).
    """
    words = [text[a:b] for a, b in tokens]
    lower = [w.lower() for w in words]
    shapes = [short_shape(w) for w in words]
    n = len(words)
    feats: list[list[str]] = []
    for i, (w, lw) in enumerate(zip(words, lower, strict=True)):
        f = [
            "bias",
            "w=" + lw,
            "sh=" + shapes[i],
            "lsh=" + word_shape(w)[:6],
            "p2=" + lw[:2],
            "p3=" + lw[:3],
            "p4=" + lw[:4],
            "s2=" + lw[-2:],
            "s3=" + lw[-3:],
            "s4=" + lw[-4:],
            "s5=" + lw[-5:],
            f"len={min(len(w), 12)}",
        ]
        if w[:1].isupper():
            f.append("title")
        if w.isupper():
            f.append("upper")
        for d in (-2, -1, 1, 2):
            j = i + d
            if 0 <= j < n:
                f.append(f"w{d:+d}={lower[j]}")
                f.append(f"sh{d:+d}={shapes[j]}")
                if abs(d) == 1:
                    f.append(f"s3{d:+d}={lower[j][-3:]}")
            else:
                f.append(f"w{d:+d}=<pad>")
        if i > 0:
            f.append(f"bg-={lower[i - 1]}|{lw}")
            if tokens[i - 1][1] == tokens[i][0]:
                f.append("glued-")
        if i < n - 1:
            f.append(f"bg+={lw}|{lower[i + 1]}")
            if tokens[i][1] == tokens[i + 1][0]:
                f.append("glued+")
        feats.append(f)
    if gazetteer is not None:
        matches = gazetteer.tag(words)
        for i, f in enumerate(feats):
            f.extend(matches[i])
            for d in (-1, 1):
                if 0 <= i + d < n:
                    f.extend(x.replace("gz=", f"gz{d:+d}=") for x in matches[i + d])
    return feats
