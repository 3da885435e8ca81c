"""Identifier types and the span record shared by detection, surrogates and evaluation.

The type names are the BRAT entity types of gold files read by ``cliniloop eval deid`` and the
labels of the ``phi`` Label Studio schema.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Identifier type -> what it covers (HIPAA Safe Harbor categories as they occur in notes).
PHI_TYPES: dict[str, str] = {
    "NAME": "person names (patients, relatives, clinicians); titles such as Dr. or Mr. excluded from the span",
    "DATE": "dates and date parts more specific than a year (03/04/2021, 4 March 2021, March 2021, 3/4)",
    "AGE": "ages over 89 (the number only: '92' in '92-year-old')",
    "LOCATION": "street addresses, cities, counties, ZIP codes: geography smaller than a state",
    "PHONE": "telephone numbers",
    "FAX": "fax numbers",
    "EMAIL": "e-mail addresses",
    "SSN": "social security numbers",
    "MRN": "medical record numbers",
    "ACCOUNT": "account and billing numbers",
    "HEALTH_PLAN": "health-plan beneficiary and member numbers",
    "LICENSE": "certificate and licence numbers (driver's licence, DEA, medical licence)",
    "DEVICE_ID": "device identifiers and serial numbers",
    "VEHICLE_ID": "vehicle identifiers: VINs and licence plates",
    "URL": "web addresses",
    "IP_ADDRESS": "IP addresses",
}


#: What an identifier is beyond its type, where a policy profile needs to know (empty: a plain
#: identifier of its type). ``clinician``: a care-giver's name; ``year``: a year on its own;
#: ``facility``: a hospital, clinic, nursing home or practice; ``ward``: a unit or ward of one;
#: ``organization``: a school, company or other organisation that is not an employer named as such.
CATEGORIES: tuple[str, ...] = ("", "clinician", "year", "facility", "ward", "organization")

#: Policy profiles -> the categories they remove. ``broad`` (the default) removes what the
#: PhysioNet and i2b2 gold standards mark: every identifier, clinician names, years, facilities,
#: wards and organisations. ``safe-harbor`` removes the 18 HIPAA Safe Harbor identifiers only:
#: years, clinicians' names and institutions stay.
PROFILES: dict[str, frozenset[str]] = {
    "broad": frozenset(CATEGORIES),
    "safe-harbor": frozenset({""}),
}
DEFAULT_PROFILE = "broad"


def check_profile(profile: str) -> str:
    """``profile`` if it is a known policy profile.

    Raises
    ------
    ValueError
        Naming the known profiles.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown de-identification profile {profile!r}; known: {', '.join(PROFILES)}")
    return profile


@dataclass(frozen=True, order=True)
class PhiSpan:
    """One identifier found in a text: ``text[start:end]`` is of type ``type``.

    Holds offsets only, never the identifier itself, so spans can be logged and stored.

    Attributes
    ----------
    start, end : int
        Character offsets (end exclusive) in the original text.
    type : str
        A key of :data:`PHI_TYPES`.
    score : float
        Detector confidence in [0, 1] (1.0 for gold spans).
    source : str
        Which recognizer found it (empty for gold spans).
    category : str
        One of :data:`CATEGORIES`: what a policy profile needs to know (see :data:`PROFILES`).
    """

    start: int
    end: int
    type: str
    score: float = 1.0
    source: str = ""
    category: str = ""

    def __post_init__(self) -> None:
        if self.type not in PHI_TYPES:
            raise ValueError(f"unknown identifier type {self.type!r}; known: {', '.join(PHI_TYPES)}")
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown identifier category {self.category!r}; known: {', '.join(CATEGORIES)}")
        if not 0 <= self.start < self.end:
            raise ValueError(f"bad span offsets {self.start}..{self.end}")


def apply_profile(spans: list[PhiSpan], profile: str) -> list[PhiSpan]:
    """The spans a policy profile removes (see :data:`PROFILES`), in their order."""
    keep = PROFILES[check_profile(profile)]
    return [s for s in spans if s.category in keep]
