"""Sense before search: the mention type picks an abbreviation's sense; code-changing modifiers count.

Typed abbreviations (``taxonomies/codes/abbreviations_typed.tsv``)
    ``abbreviation<TAB>expansions<TAB>case<TAB>types`` rows: the sense holds only for the listed
    mention types, so "CT" of a Test mention is expanded to "computed tomography" (the scan, not the
    CTNNB1 gene syndrome) and "Ca" of a Test is calcium while "breast Ca" of a Problem is cancer.
    An untyped mention is read as a Problem (diagnosis pairs files carry no type).
Code-changing modifiers (:data:`MODIFIERS`)
    Words that make a code a different disease ("in situ", "traumatic", "postprocedural",
    "congenital", "neonatal", "gestational", ...). A code whose name carries one that neither the
    mention nor its sentence says is demoted (:data:`MODIFIER_PENALTY`): "adenocarcinoma" is not
    "carcinoma in situ of cervix", a subarachnoid hemorrhage is not a traumatic one unless the note
    says so.

Pure data and functions; the list is read when a generator is fitted.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from cliniloop.models.text.code_policy import MENTION_POLICY, mention_type
from cliniloop.models.text.code_textnorm import Abbreviation, AbbreviationExpander, _rows, basic_tokens

__all__ = ["TYPED_ABBREVIATIONS_PATH", "MODIFIERS", "MODIFIER_PENALTY", "SenseExpander", "load_typed_abbreviations", "modifier_bits"]

TYPED_ABBREVIATIONS_PATH = Path(__file__).resolve().parents[2] / "taxonomies" / "codes" / "abbreviations_typed.tsv"
#: Words (basic tokens) that change what a code means; "situ" stands for "in situ".
MODIFIERS = (
    "situ", "traumatic", "posttraumatic", "postprocedural", "intraoperative", "congenital", "neonatal", "newborn",
    "gestational", "puerperal", "childbirth", "pregnancy", "perinatal", "fetal", "maternal",
)  # fmt: skip
#: Score factor of a code naming a modifier the mention and its sentence do not.
MODIFIER_PENALTY = 0.9


def load_typed_abbreviations(path: Path | None = None) -> dict[str, list[Abbreviation]]:
    """Read the typed list: ``mention type -> abbreviations`` (types as :func:`mention_type` keys).

    Raises
    ------
    ValueError
        ``FILE:LINE: ...`` for a wrong column count, a bad ``case`` or an unknown type.
    """
    path = Path(path) if path is not None else TYPED_ABBREVIATIONS_PATH
    out: dict[str, list[Abbreviation]] = {}
    for lineno, (abbr, expansions, case, types) in _rows(path, 4):
        if case not in ("exact", "any"):
            raise ValueError(f"{path}:{lineno}: case must be 'exact' or 'any', not {case!r}")
        exp = tuple(e.strip() for e in expansions.split("|") if e.strip())
        if not abbr or not exp:
            raise ValueError(f"{path}:{lineno}: empty abbreviation or expansion")
        kinds = [t.strip() for t in types.split(",") if t.strip()]
        bad = [t for t in kinds if mention_type(t) is None]
        if not kinds or bad:
            raise ValueError(f"{path}:{lineno}: types must be some of {', '.join(MENTION_POLICY)}, got {types!r}")
        for t in kinds:
            out.setdefault(mention_type(t), []).append(Abbreviation(abbr, exp, case == "exact"))  # type: ignore[arg-type]
    return out


class SenseExpander:
    """Expanded variants of a mention for its type (one :class:`AbbreviationExpander` per type)."""

    def __init__(self, typed: dict[str, list[Abbreviation]]) -> None:
        self._by_type = {t: AbbreviationExpander(rows) for t, rows in typed.items()}

    def variants(self, text: str, label: str | None, limit: int = 4) -> list[str]:
        """Copies of ``text`` with the abbreviations of its type expanded (untyped: as a Problem)."""
        expander = self._by_type.get(mention_type(label) or "problem")
        return expander.variants(text, limit=limit) if expander is not None else []


def modifier_bits(texts: Iterable[str]) -> int:
    """Bit mask of the :data:`MODIFIERS` found in ``texts``."""
    words: set[str] = set()
    for t in texts:
        if t:
            words.update(basic_tokens(t))
    return sum(1 << i for i, m in enumerate(MODIFIERS) if m in words)


def modifier_masks(names: Iterable[str]) -> np.ndarray:
    """:func:`modifier_bits` of each name (int32 array)."""
    return np.asarray([modifier_bits([n]) for n in names], dtype=np.int32)
