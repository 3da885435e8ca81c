"""The :class:`Mention` record returned by the clinical-text annotator.

A mention carries two calibrated-ish probabilities: ``probability`` (is this span an entity of
``label``?) and ``assertion_probability`` (is ``assertion`` right?). Their product is the
mention's ``confidence``; see :mod:`cliniloop.models.text.confidence` for how both are derived.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LABELS: tuple[str, ...] = ("Problem", "Medication", "Procedure", "Test", "Anatomy")
ASSERTIONS: tuple[str, ...] = (
    "present",
    "absent",
    "possible",
    "hypothetical",
    "historical",
    "family",
)


@dataclass(frozen=True)
class Mention:
    """One entity mention found in a text.

    Attributes
    ----------
    start, end : int
        Character offsets into the input text (``text == input[start:end]``).
    text : str
        The covered text.
    label : str
        One of :data:`LABELS`.
    probability : float
        Entity confidence, in (0, 1).
    assertion : str
        One of :data:`ASSERTIONS` (the winner under the documented precedence).
    assertion_probability : float
        Confidence in ``assertion``, in (0, 1).
    section : str or None
        medspaCy section category the mention lies in (None before the first header).
    sentence_index : int
        Index of the sentence (0-based) in the document.
    attributes : tuple of str
        Every assertion value supported by some modifier (in precedence order), e.g.
        ``("absent", "historical")`` for "no history of MI"; empty when none fired.
    confidence : float
        ``probability * assertion_probability`` (computed, not passed).
    """

    start: int
    end: int
    text: str
    label: str
    probability: float
    assertion: str
    assertion_probability: float
    section: str | None
    sentence_index: int
    attributes: tuple[str, ...] = ()
    confidence: float = field(init=False)

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"unknown label {self.label!r}")
        if self.assertion not in ASSERTIONS:
            raise ValueError(f"unknown assertion {self.assertion!r}")
        if not (0.0 < self.probability < 1.0 and 0.0 < self.assertion_probability < 1.0):
            raise ValueError("probabilities must lie in (0, 1)")
        object.__setattr__(self, "confidence", self.probability * self.assertion_probability)

    def to_dict(self) -> dict:
        """Return a JSON-serialisable dict of all fields (including ``confidence``)."""
        return {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "label": self.label,
            "probability": self.probability,
            "assertion": self.assertion,
            "assertion_probability": self.assertion_probability,
            "section": self.section,
            "sentence_index": self.sentence_index,
            "attributes": list(self.attributes),
            "confidence": self.confidence,
        }
