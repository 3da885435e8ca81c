"""Map ConText modifiers (and sections) to one assertion per mention.

ConText categories map to assertion values as medspaCy's attributes do:

=====================  ===============  ================
ConText category       medspaCy attr    assertion
=====================  ===============  ================
NEGATED_EXISTENCE      is_negated       ``absent``
POSSIBLE_EXISTENCE     is_uncertain     ``possible``
HYPOTHETICAL           is_hypothetical  ``hypothetical``
HISTORICAL             is_historical    ``historical``
FAMILY                 is_family        ``family``
=====================  ===============  ================

Sections add weaker signals (as medspaCy's Sectionizer defaults do): a mention in a
``family_history`` section is ``family``, one in a ``past_medical_history`` or
``social_history`` section is ``historical``.

Precedence when several values fire (first wins)::

    family > hypothetical > absent > possible > historical > present

Rationale: an experiencer other than the patient makes every other statement about
someone else; a hypothetical mention (instructions, conditionals) asserts nothing about
the present; negation beats uncertainty ("no evidence of possible pneumonia" is
absent); and historical is a temporal qualifier that only wins when nothing about
existence was said ("no history of MI" is absent, its ``attributes`` keep both).
"""

from __future__ import annotations

from dataclasses import dataclass

from .confidence import assertion_probability

CATEGORY_TO_ASSERTION: dict[str, str] = {
    "NEGATED_EXISTENCE": "absent",
    "POSSIBLE_EXISTENCE": "possible",
    "HYPOTHETICAL": "hypothetical",
    "HISTORICAL": "historical",
    "FAMILY": "family",
}
SECTION_TO_ASSERTION: dict[str, str] = {
    "family_history": "family",
    "past_medical_history": "historical",
    "social_history": "historical",
}
PRECEDENCE: tuple[str, ...] = (
    "family",
    "hypothetical",
    "absent",
    "possible",
    "historical",
)


@dataclass(frozen=True)
class AssertionResult:
    """Outcome of assertion resolution for one mention.

    Attributes
    ----------
    assertion : str
        Winning assertion value.
    probability : float
        Its probability (see :mod:`cliniloop.models.text.confidence`).
    attributes : tuple of str
        All values that fired, in precedence order.
    """

    assertion: str
    probability: float
    attributes: tuple[str, ...]


def _inside(span, modifier) -> bool:
    """Whether a modifier overlaps the target span.

    medspaCy's overlap test misses a modifier lying strictly inside the target (e.g.
    "without" in the given condition "pharynx is pink without exudates"); such a trigger
    is part of the entity phrase, not a statement about it, so it is ignored here.
    """
    m_start, m_end = modifier.modifier_span
    return m_start < span.end and span.start < m_end


def _distance(span, modifier) -> int:
    """Token distance between a target span and a ConText modifier."""
    m_start, m_end = modifier.modifier_span
    if m_end <= span.start:
        return span.start - m_end
    if span.end <= m_start:
        return m_start - span.end
    return 0


def resolve(span, section: str | None) -> AssertionResult:
    """Resolve the assertion of a target span processed by ConText.

    Parameters
    ----------
    span : spacy.tokens.Span
        Target span (``span._.modifiers`` set by medspaCy ConText).
    section : str or None
        Section category of the span.

    Returns
    -------
    AssertionResult
        Winner under :data:`PRECEDENCE`, its probability and all fired values.
    """
    distances: dict[str, int] = {}
    for modifier in getattr(span._, "modifiers", ()) or ():
        value = CATEGORY_TO_ASSERTION.get(modifier.category)
        if value is None or _inside(span, modifier):
            continue
        d = _distance(span, modifier)
        distances[value] = min(d, distances.get(value, d))
    section_value = SECTION_TO_ASSERTION.get(section or "")
    from_section = False
    fired = set(distances)
    if section_value is not None and section_value not in fired:
        fired.add(section_value)
    ordered = tuple(v for v in PRECEDENCE if v in fired)
    if not ordered:
        return AssertionResult("present", assertion_probability("present", None, set()), ())
    winner = ordered[0]
    if winner not in distances:
        from_section = True
    prob = assertion_probability(
        winner, distances.get(winner), set(ordered), from_section=from_section
    )
    return AssertionResult(winner, prob, ordered)
