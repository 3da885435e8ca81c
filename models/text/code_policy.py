"""Which code system (and which SNOMED CT semantic tags) fits which mention type.

A mention's type (the span label: Problem, Procedure, Medication, Test, Anatomy) decides where
its codes may come from:

=========== =========================================================================
Problem     ICD-10-CM, and SNOMED CT disorders / findings (situation, event, morphology)
Procedure   SNOMED CT procedures (and regimes/therapies), and ICD-10-PCS when configured
Medication  SNOMED CT products / substances only
Test        SNOMED CT procedures / observable entities only
Anatomy     SNOMED CT body structures only; not queued for coders without SNOMED CT
=========== =========================================================================

Code systems configured from a release the user points to code one type each
(:data:`TYPED_SYSTEMS`): RxNorm (``rxnorm``) Medication, LOINC (``loinc``) Test, ICD-10-PCS
(``icd10pcs``) Procedure.

So a Test, Medication or Anatomy mention never gets an ICD-10-CM diagnosis ("Abdomen" is not
R10.9, "Creatinine" is not K85.90). A SNOMED concept whose semantic tag is unknown (``None``) is
kept; an unknown or missing mention type is not filtered (every system, every tag).
Pure data and functions; nothing is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["MENTION_POLICY", "POLICY_SNOMED_TAGS", "TYPED_SYSTEMS", "diagnosis_system", "mention_type", "system_allowed", "tag_allowed", "queued"]

_CLINICAL = frozenset({"disorder", "finding", "situation", "event", "morphologic abnormality"})
_PROCEDURE = frozenset({"procedure", "regime/therapy"})
_PRODUCT = frozenset({"product", "substance", "medicinal product", "medicinal product form", "clinical drug"})
_OBSERVABLE = frozenset({"procedure", "observable entity"})
_BODY = frozenset({"body structure"})

#: mention type -> {"icd": allowed?, "snomed": allowed semantic tags}
MENTION_POLICY: dict[str, dict[str, frozenset[str] | bool]] = {
    "problem": {"icd": True, "snomed": _CLINICAL},
    "procedure": {"icd": False, "snomed": _PROCEDURE},
    "medication": {"icd": False, "snomed": _PRODUCT},
    "test": {"icd": False, "snomed": _OBSERVABLE},
    "anatomy": {"icd": False, "snomed": _BODY},
}
#: Code systems other than ICD-10-CM and SNOMED CT -> the mention types they code.
TYPED_SYSTEMS: dict[str, frozenset[str]] = {
    "rxnorm": frozenset({"medication"}),
    "loinc": frozenset({"test"}),
    "icd10pcs": frozenset({"procedure"}),
}
#: Every SNOMED tag some mention type uses: what a SNOMED index must hold.
POLICY_SNOMED_TAGS: frozenset[str] = frozenset().union(*(p["snomed"] for p in MENTION_POLICY.values()))  # type: ignore[arg-type]


def mention_type(label: str | None) -> str | None:
    """The policy key of a span label ("Problem" -> "problem"), or ``None`` when it has no policy."""
    if not label:
        return None
    key = " ".join(str(label).split()).lower()
    return key if key in MENTION_POLICY else None


def _is_icd(system: str) -> bool:
    return system.lower().startswith("icd")


def system_allowed(label: str | None, system: str) -> bool:
    """Whether code system ``system`` ("icd10cm", "snomed") may code a mention of this type."""
    kind = mention_type(label)
    if kind is None:
        return True
    if system.lower() in TYPED_SYSTEMS:
        return kind in TYPED_SYSTEMS[system.lower()]
    policy = MENTION_POLICY[kind]
    return bool(policy["icd"]) if _is_icd(system) else bool(policy["snomed"])


def diagnosis_system(system: str) -> bool:
    """Whether ``system`` codes problems (diagnoses and findings): ICD-10-CM and SNOMED CT, not ICD-10-PCS, RxNorm or LOINC."""
    return system_allowed("problem", system)


def tag_allowed(label: str | None, system: str, tag: str | None) -> bool:
    """Whether a concept of ``system`` with semantic tag ``tag`` may code a mention of this type."""
    if not system_allowed(label, system):
        return False
    kind = mention_type(label)
    if kind is None or _is_icd(system) or system.lower() in TYPED_SYSTEMS or tag is None:
        return True
    return tag in MENTION_POLICY[kind]["snomed"]  # type: ignore[operator]


def queued(label: str | None, systems: Iterable[str]) -> bool:
    """Whether a mention of this type goes to coders at all with these systems configured."""
    return any(system_allowed(label, s) for s in systems)


def filter_candidates(
    per_system: Mapping[str, list], label: str | None, tag_of: Mapping[str, Mapping[str, str | None]] | None = None
) -> dict[str, list]:
    """``per_system`` (system -> candidates with ``.code``) with what the mention type forbids removed.

    ``tag_of``: system -> code -> semantic tag (unknown codes: tag ``None``, kept).
    """
    out: dict[str, list] = {}
    for system, cands in per_system.items():
        tags = (tag_of or {}).get(system, {})
        out[system] = [c for c in cands if tag_allowed(label, system, tags.get(c.code))]
    return out
