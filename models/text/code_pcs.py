"""ICD-10-PCS axes a procedure mention's sentence says: the approach and "diagnostic".

An ICD-10-PCS code's fifth character is the approach (``0`` open, ``3`` percutaneous, ``4``
percutaneous endoscopic, ``7`` via natural or artificial opening, ``8`` the same endoscopic, ``X``
external) and its seventh the qualifier (``X`` diagnostic). A mention rarely names them, its sentence
often does ("**Laparoscopic** appendectomy", "**CT-guided** lung biopsy", "an **open** colectomy"),
and within one table row the codes differ only there, so a name match alone ties them.

:func:`pcs_factors` turns the mention and its sentence into a score factor per code:

* when the words say an approach (:data:`APPROACH_CUES`), codes of another approach get
  :data:`APPROACH_PENALTY`; a needle procedure ("-centesis", "puncture", "aspiration", "biopsy"
  with no other approach said) says percutaneous;
* a diagnostic code (qualifier ``X``) whose diagnostic nature the words do not say ("biopsy",
  "diagnostic") gets :data:`DIAGNOSTIC_PENALTY`, the way an unsaid code-changing modifier is
  demoted (:mod:`cliniloop.models.text.code_sense`).

The cues were written from general PCS coding conventions (the approach definitions of the PCS
guidelines) before they were measured. Pure data and functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from cliniloop.models.text.code_textnorm import basic_tokens

__all__ = ["APPROACH_CUES", "APPROACH_PENALTY", "DIAGNOSTIC_PENALTY", "pcs_approaches", "pcs_axes", "pcs_factors"]

#: Approach character -> words that say it (basic tokens).
APPROACH_CUES: dict[str, frozenset[str]] = {
    "0": frozenset("open laparotomy thoracotomy sternotomy craniotomy arthrotomy".split()),
    "3": frozenset("percutaneous percutaneously needle guided ct-guided ultrasound-guided image-guided fluoroscopic".split()),
    "4": frozenset(
        """laparoscopic laparoscopically laparoscopy thoracoscopic thoracoscopy vats vat arthroscopic arthroscopy
        robotic robot-assisted mediastinoscopy""".split()
    ),
    "8": frozenset(
        """endoscopic endoscopy endoscopically colonoscopy sigmoidoscopy egd esophagogastroduodenoscopy
        bronchoscopy cystoscopy ureteroscopy hysteroscopy transurethral""".split()
    ),
    "X": frozenset("external topical".split()),
}
#: Needle procedures: percutaneous when no other approach is said.
_NEEDLE = ("centesis", "puncture", "aspiration", "biopsy")
_DIAGNOSTIC = frozenset({"biopsy", "biopsies", "diagnostic"})
#: Score factor of a code whose approach is not the one the words say.
APPROACH_PENALTY = 0.95
#: Score factor of a diagnostic code (qualifier X) when the words do not say diagnostic.
DIAGNOSTIC_PENALTY = 0.97


def pcs_approaches(texts: Iterable[str]) -> set[str]:
    """Approach characters the words of ``texts`` say (empty: none said).

    Parameters
    ----------
    texts : iterable of str
        The mention and its sentence.

    Returns
    -------
    set of str
        E.g. ``{"4"}`` for "laparoscopic appendectomy", ``{"3"}`` for "therapeutic paracentesis".
    """
    words: set[str] = set()
    for t in texts:
        if t:
            words.update(basic_tokens(t.replace("-", " ")))
            words.update(basic_tokens(t))
    said = {char for char, cues in APPROACH_CUES.items() if words & cues}
    if not said and any(w.endswith(_NEEDLE) for w in words):
        said = {"3"}
    return said


def pcs_axes(codes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(approach, qualifier)``: the fifth and seventh character of each code ("" for a code of another shape)."""
    approach = np.asarray([c[4] if len(c) == 7 else "" for c in codes], dtype="<U1")
    qualifier = np.asarray([c[6] if len(c) == 7 else "" for c in codes], dtype="<U1")
    return approach, qualifier


def pcs_factors(axes: tuple[np.ndarray, np.ndarray], mention: str, context: str | None) -> np.ndarray | None:
    """Score factor of each ICD-10-PCS code for this mention (see the module docstring).

    Parameters
    ----------
    axes : tuple of numpy.ndarray
        :func:`pcs_axes` of the codes, in index order.
    mention, context : str
        The mention and its sentence.

    Returns
    -------
    numpy.ndarray or None
        float32 factors in (0, 1], one per code; ``None`` when nothing applies.
    """
    approach, qualifier = axes
    texts = [mention, context or ""]
    said = pcs_approaches(texts)
    words: set[str] = set()
    for t in texts:
        words.update(basic_tokens(t))
    factor = np.ones(len(approach), dtype=np.float32)
    if said:
        factor[~np.isin(approach, sorted(said))] *= np.float32(APPROACH_PENALTY)
    if not words & _DIAGNOSTIC:
        factor[qualifier == "X"] *= np.float32(DIAGNOSTIC_PENALTY)
    return None if bool(np.all(factor == 1.0)) else factor
