"""Confidence model of the rule-based clinical-text annotator.

Every :class:`~cliniloop.models.text.mention.Mention` carries two numbers in (0, 1) and their product:

``confidence = probability * assertion_probability``

Entity probability
------------------
A prior that reflects how often a lexicon match of a given kind is a true, correctly
labelled entity (rule-of-thumb values, not fitted):

``p = source_prior[source] + length_bonus + case_adjustment + section_adjustment``

* ``source_prior``: ``given`` (span supplied by the caller, :meth:`assert_condition`) 0.95,
  ``curated`` 0.90, ``icd10cm`` 0.80, ``abbreviation`` 0.80, ``ncbi_disease`` 0.70,
  ``bc5cdr`` 0.65 (corpus terms are the noisiest);
* ``length_bonus``: +0.02 per extra token, up to three extra tokens (multi-word matches
  are rarely accidental);
* ``case_adjustment``: -0.10 for a single-token match of at most 4 characters that is
  not a case-sensitive abbreviation;
* ``section_adjustment``: +0.05 when the label fits the section (Medication in a
  medications section, Test in labs/imaging, Problem in diagnoses/problem list/history),
  -0.05 for Medication found in an allergy section (often an allergen, not a treatment).

The result is clipped to [0.05, 0.99].

Assertion probability
---------------------
``assertion_prior`` by modifier type: absent 0.95, family 0.85, hypothetical 0.85,
historical 0.85, possible 0.80; a section-derived assertion (family-history or
past-history sections) 0.75; no modifier at all (``present``) 0.90.

Distance decay: with ``d`` tokens between the winning modifier and the mention,
``p = 0.5 + (prior - 0.5) * exp(-max(0, d - 3) / 15)`` (far modifiers are less reliable).

Conflicts: every further *existence* value (absent/possible/hypothetical/family) that also
fired multiplies ``p`` by 0.85; historical is a separate (temporal) axis and does not
count as a conflict. The result is clipped to [0.02, 0.98].
"""

from __future__ import annotations

import math

SOURCE_PRIOR: dict[str, float] = {
    "given": 0.95,
    "curated": 0.90,
    "icd10cm": 0.80,
    "abbreviation": 0.80,
    "ncbi_disease": 0.70,
    "bc5cdr": 0.65,
}
DEFAULT_SOURCE_PRIOR = 0.6
SECTION_FIT: dict[str, frozenset[str]] = {
    "Medication": frozenset({"medications"}),
    "Test": frozenset({"labs_and_studies", "imaging"}),
    "Problem": frozenset(
        {"diagnoses", "problem_list", "past_medical_history", "observation_and_plan"}
    ),
}
ASSERTION_PRIOR: dict[str, float] = {
    "absent": 0.95,
    "family": 0.85,
    "hypothetical": 0.85,
    "historical": 0.85,
    "possible": 0.80,
}
SECTION_ASSERTION_PRIOR = 0.75
PRESENT_PRIOR = 0.90
CONFLICT_FACTOR = 0.85
EXISTENCE_AXIS = frozenset({"absent", "possible", "hypothetical", "family"})


def _clip(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def entity_probability(
    source: str,
    n_tokens: int,
    n_chars: int,
    label: str,
    section: str | None,
    case_sensitive: bool = False,
) -> float:
    """Return the entity probability of a lexicon match.

    Parameters
    ----------
    source : str
        Lexicon source of the matched term (see ``SOURCE_PRIOR``).
    n_tokens, n_chars : int
        Size of the matched span.
    label : str
        Entity label.
    section : str or None
        Section category of the match.
    case_sensitive : bool
        Whether the term was matched case-sensitively (curated abbreviation).

    Returns
    -------
    float
        Probability in [0.05, 0.99].
    """
    p = SOURCE_PRIOR.get(source, DEFAULT_SOURCE_PRIOR)
    p += 0.02 * min(max(n_tokens - 1, 0), 3)
    if n_tokens == 1 and n_chars <= 4 and not case_sensitive:
        p -= 0.10
    if section is not None:
        if section in SECTION_FIT.get(label, ()):
            p += 0.05
        elif label == "Medication" and section == "allergy":
            p -= 0.05
    return _clip(p, 0.05, 0.99)


def assertion_probability(
    assertion: str,
    distance: int | None,
    others: set[str],
    from_section: bool = False,
) -> float:
    """Return the probability of the chosen assertion.

    Parameters
    ----------
    assertion : str
        The winning assertion.
    distance : int or None
        Tokens between the winning modifier and the mention (None: no modifier).
    others : set of str
        The other assertion values that fired for the mention.
    from_section : bool
        Whether the assertion comes from the section (not from a ConText modifier).

    Returns
    -------
    float
        Probability in [0.02, 0.98].
    """
    if assertion == "present":
        p = PRESENT_PRIOR
    elif from_section:
        p = SECTION_ASSERTION_PRIOR
    else:
        p = ASSERTION_PRIOR.get(assertion, 0.8)
    if distance is not None:
        p = 0.5 + (p - 0.5) * math.exp(-max(0, distance - 3) / 15.0)
    conflicts = len((others - {assertion}) & EXISTENCE_AXIS)
    if assertion in EXISTENCE_AXIS or assertion == "historical":
        p *= CONFLICT_FACTOR**conflicts
    return _clip(p, 0.02, 0.98)
