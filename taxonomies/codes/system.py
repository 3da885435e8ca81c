"""The common shape of a code system, whatever it was loaded from.

Loaders (:mod:`cliniloop.taxonomies.codes.icd10cm`, :mod:`cliniloop.taxonomies.codes.snomed`) return a
:class:`CodeSystem`; candidate generation (``cliniloop.models.text.code_candidates``) only reads this.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Concept:
    """One code.

    Attributes
    ----------
    code : str
        The code as the system writes it (``"E11.9"``, ``"44054006"``).
    display : str
        Preferred display term (ICD-10-CM description; SNOMED US English preferred term).
    synonyms : tuple of str
        Other names: inclusion terms, index terms, SNOMED synonyms and the FSN without its tag.
    parents : tuple of str
        Codes of the direct parents (ICD-10-CM hierarchy; SNOMED IS-A).
    billable : bool
        ICD-10-CM: a leaf code valid for billing. SNOMED: always ``True``.
    semantic_tag : str or None
        SNOMED FSN semantic tag ("disorder", "finding", ...); ``None`` for ICD-10-CM.
    """

    code: str
    display: str
    synonyms: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()
    billable: bool = True
    semantic_tag: str | None = None


@dataclass
class CodeSystem:
    """A loaded code system.

    Attributes
    ----------
    name : str
        ``"icd10cm"`` or ``"snomed"``.
    version : str
        Release identifier (package version or RF2 effective time), used as the taxonomy version.
    concepts : dict
        ``code -> Concept`` (active concepts only).
    maps_to : dict
        Cross-maps: ``code -> list of (target system, target code)`` in map priority order
        (SNOMED → ICD-10 from the extended map refset). Empty when the system has none.
    """

    name: str
    version: str
    concepts: dict[str, Concept]
    maps_to: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def __contains__(self, code: object) -> bool:
        return code in self.concepts

    def __len__(self) -> int:
        return len(self.concepts)

    @property
    def taxonomy_version(self) -> str:
        """``<name>@<version>``, stored with every candidate and validated mapping."""
        return f"{self.name}@{self.version}"
