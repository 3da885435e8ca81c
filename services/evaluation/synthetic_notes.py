"""Synthetic clinical notes with gold identifier spans, for evaluating de-identification.

Notes are written from templates filled with Faker names and generated identifiers; there is
no real patient data. Each synthetic patient has one identity (name, date of birth, MRN,
address, phones, insurance, relatives, clinicians) reused across 1-4 notes of different kinds
(discharge summary, progress note, radiology report, referral letter, ED note, telephone
encounter, lab report, social work note, device clinic note) in different surface forms.

Gold spans are recorded while the text is built (every identifier is appended with its type),
never by searching the text afterwards, so offsets are exact. Span conventions follow
:data:`~cliniloop.models.text.deid.types.PHI_TYPES`; the finer points are in :data:`SPAN_CONVENTIONS`.

Templates use a small markup: ``{slot}`` or ``{slot:arg}`` calls a slot of :class:`_Note`
(which appends text and spans), ``{=a|b|c}`` picks one alternative, ``{?text}`` includes
``text`` with probability 1/2 and ``{?30 text}`` with probability 30%. Markup nests.

Generation is deterministic: the same arguments give byte-identical notes (for one Faker
version). The word tables (places, hospital systems, conditions, presentations, radiology
studies, look-alike phrases) are data, ``synthetic_notes.yaml`` beside this module.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cliniloop.models.text.deid.types import PHI_TYPES, PhiSpan

#: Span rules this corpus follows, beyond the one-line descriptions in ``PHI_TYPES``.
SPAN_CONVENTIONS: tuple[str, ...] = (
    (
        "NAME: first, middle, last names and initials of patients, relatives and clinicians; titles (Dr., Mr., Mrs., "
        "Ms.) and credentials (MD, DO, RN, NP, PA-C, LCSW, PharmD) are outside the span; 'SMITH, JOHN A' is one span; "
        "a possessive 's is outside the span."
    ),
    (
        "DATE: day-month-year, day-month ('3/4', 'March 4th', '4th of March'), month-year ('March 2021', '03/2021') "
        "and day-only ('the 4th': span '4th'); times ('14:32') are never part of the span; a year on its own ('in "
        "2019', 's/p CABG 2019') is not PHI."
    ),
    (
        "AGE: only ages over 89, the number only ('92' in '92-year-old', 'Age: 92'); ages of 89 and under are not "
        "annotated."
    ),
    (
        "LOCATION: each address part is its own span: street line (with 'Apt 4B' when on the same line without a "
        "comma), unit ('Apt 4B') when set off by a comma or on its own, city, county ('Cook County'), ZIP code; states "
        "are not PHI ('Boston, MA' -> 'Boston'); hospital, clinic, pharmacy and rehabilitation facility names are not "
        "annotated."
    ),
    (
        "PHONE / FAX: the whole number including '+1' and an extension ('617-555-0134 ext. 23'); FAX when the number "
        "is given as a fax number."
    ),
    (
        "SSN: the digits as written ('123-45-6789', '123 45 6789', '123456789'); for a last-four mention ('last 4 of "
        "SSN 6789', 'XXX-XX-6789') the four digits."
    ),
    (
        "MRN / ACCOUNT / HEALTH_PLAN / LICENSE / DEVICE_ID / VEHICLE_ID: the identifier only, never its label ('MRN: "
        "00123456' -> '00123456'). NPI and DEA numbers are LICENSE. Device model numbers, vaccine lot numbers, room "
        "numbers and ICD-10 codes are not annotated."
    ),
    ("URL: the whole address including scheme and path; EMAIL: the whole address; IP_ADDRESS: IPv4 or IPv6 address."),
)

# ----------------------------------------------------------------------------------------------
# Reference data: the word tables are package data (:data:`WORDS_FILE`), read on first use
# ----------------------------------------------------------------------------------------------

#: Word tables (states, cities, streets, hospital systems, clinics, specialties, conditions,
#: allergies, acute presentations, radiology studies, identifier look-alikes); all fictional
#: except public place names, drug names and public web sites.
WORDS_FILE = Path(__file__).resolve().with_name("synthetic_notes.yaml")

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True)
class _Words:
    """The tables of :data:`WORDS_FILE`, YAML lists turned into tuples (comments there say what each holds)."""

    states: dict[str, tuple[str, tuple[str, ...], str, str, str]]
    cities: tuple[tuple[str, str, str, tuple[str, ...]], ...]
    streets: tuple[str, ...]
    suffixes: tuple[str, ...]
    unit_words: tuple[str, ...]
    systems: tuple[tuple[str, ...], ...]
    clinics: tuple[str, ...]
    pharmacies: tuple[str, ...]
    rehabs: tuple[str, ...]
    free_mail: tuple[str, ...]
    edu_urls: tuple[str, ...]
    specialties: dict[str, tuple[int, tuple[str, ...]]]
    consult_names: dict[str, str]
    conditions: tuple[tuple[str, str, str, tuple[str, ...]], ...]
    allergies: tuple[Any, ...]
    presentations: tuple[_Presentation, ...]
    radiology: tuple[tuple[str, str, str, str], ...]
    lookalikes: tuple[str, ...]


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


@functools.cache
def _words() -> _Words:
    """Read :data:`WORDS_FILE` once.

    Raises
    ------
    ValueError
        When the file lacks a table or holds an unknown one (the message names the file and keys).
    """
    import yaml

    raw = yaml.safe_load(WORDS_FILE.read_text(encoding="utf-8"))
    expected = {f.name for f in fields(_Words)}
    if not isinstance(raw, dict) or set(raw) != expected:
        got = set(raw) if isinstance(raw, dict) else set()
        raise ValueError(f"{WORDS_FILE}: tables missing {sorted(expected - got)}, unknown {sorted(got - expected)}")
    tables = {k: _tuples(v) for k, v in raw.items()}
    tables["presentations"] = tuple(
        _Presentation(**{k: _tuples(v) for k, v in p.items()}) for p in raw["presentations"]
    )
    return _Words(**tables)


@dataclass(frozen=True)
class _Presentation:
    """An acute problem for ED notes and discharge summaries (text fields are templates)."""

    key: str
    cc: str
    hpi: tuple[str, ...]
    ed: str
    dx: str
    icd: str
    course: tuple[str, ...]
    study: str
    findings: str
    impression: str
    instructions: str


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticNote:
    """One synthetic note with gold identifier spans.

    Attributes
    ----------
    patient_id : str
        ``patient-007``; shared by all notes of one synthetic patient.
    name : str
        Document name, ``patient-007/note-2`` (notes numbered from 1 per patient, in date order).
    text : str
        The note text (ends with a newline).
    spans : tuple of PhiSpan
        Gold spans in offset order, non-overlapping, each ``text[start:end]`` without surrounding
        whitespace or line breaks.
    """

    patient_id: str
    name: str
    text: str
    spans: tuple[PhiSpan, ...]


def generate_notes(n_notes: int, seed: int = 0, notes_per_patient: tuple[int, int] = (1, 4)) -> list[SyntheticNote]:
    """Generate ``n_notes`` synthetic notes for as many synthetic patients as needed.

    Parameters
    ----------
    n_notes : int
        Number of notes (>= 1).
    seed : int
        Seeds both :mod:`random` and Faker; the same arguments give identical notes.
    notes_per_patient : (int, int)
        Inclusive range of notes per patient (the last patient may get fewer).

    Returns
    -------
    list of SyntheticNote
        In patient order, each patient's notes in date order.

    Raises
    ------
    ValueError
        If ``n_notes`` < 1 or the range is not ``1 <= low <= high``.
    """
    low, high = notes_per_patient
    if n_notes < 1:
        raise ValueError(f"n_notes must be at least 1, got {n_notes}")
    if not 1 <= low <= high:
        raise ValueError(f"notes_per_patient must satisfy 1 <= low <= high, got {notes_per_patient}")
    world = _World(seed)
    notes: list[SyntheticNote] = []
    index = 0
    while len(notes) < n_notes:
        index += 1
        patient = world.new_patient(index)
        count = min(world.rng.randint(low, high), n_notes - len(notes))
        kinds = _note_kinds(world.rng, patient, count)
        date = patient.first_visit
        for number, kind in enumerate(kinds, start=1):
            if number > 1:
                date += dt.timedelta(days=world.rng.randint(3, 200))
            note = _Note(world, patient, kind, date)
            _WRITERS[kind](note)
            text, spans = note.out.finish()
            notes.append(SyntheticNote(patient.pid, f"{patient.pid}/note-{number}", text, spans))
    return notes


def write_corpus(out_dir: Path, notes: Iterable[SyntheticNote], seed: int | None = None) -> int:
    """Write notes as a BRAT corpus (one folder per patient) plus a ``README.md``.

    Parameters
    ----------
    out_dir : Path
        Target folder; created if missing. Must not already hold ``patient-*`` folders.
    notes : iterable of SyntheticNote
        Notes from :func:`generate_notes`.
    seed : int, optional
        The seed the notes were generated with, recorded in the README.

    Returns
    -------
    int
        Number of notes written.

    Raises
    ------
    FileExistsError
        If ``out_dir`` already holds a generated corpus (delete it first).
    """
    # Imported here: models do not import connectors at module level.
    from cliniloop.connectors.sources.brat import write_brat_document

    out_dir = Path(out_dir)
    if out_dir.is_dir() and any(out_dir.glob("patient-*")):
        raise FileExistsError(f"{out_dir} already holds a corpus (patient-* folders); remove it first")
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = dict.fromkeys(PHI_TYPES, 0)
    n = 0
    patients = set()
    for note in notes:
        write_brat_document(out_dir, note.name, note.text, [(s.start, s.end, s.type) for s in note.spans])
        for s in note.spans:
            counts[s.type] += 1
        patients.add(note.patient_id)
        n += 1
    shown = out_dir.as_posix() if not out_dir.is_absolute() else "DIR"
    readme = _readme(n, len(patients), counts, seed, shown)
    (out_dir / "README.md").write_text(readme, encoding="utf-8", newline="")
    return n


def _readme(n_notes: int, n_patients: int, counts: dict[str, int], seed: int | None, out: str) -> str:
    """The corpus README (provenance, licence, span conventions, counts)."""
    import faker

    seed_text = f"seed {seed}" if seed is not None else "seed not recorded"
    seed_arg = str(seed) if seed is not None else "SEED"
    lines = [
        "# Synthetic de-identification corpus",
        "",
        (
            f"{n_notes} synthetic clinical notes for {n_patients} synthetic patients, with gold identifier "
            "spans in BRAT standoff format (`patient-NNN/note-K.txt` + `.ann`)."
        ),
        "",
        (
            "Note kinds: discharge summaries, progress notes (in person and video), radiology reports, referral "
            "letters, ED notes, telephone encounters, lab reports, social work notes and device clinic notes. Each "
            "patient's notes reuse one identity (name, DOB, MRN, address, phones, relatives, clinicians) in varying "
            "surface forms. Gold files for `cliniloop eval deid`."
        ),
        "",
        "## Provenance and licence",
        "",
        (
            f"- Generated by `services/evaluation/synthetic_notes.py` from templates and Faker {faker.VERSION} "
            f"({seed_text}); regenerate with"
        ),
        "",
        "  ```",
        f"  python data_samples/deid/generate.py --out {out} --notes {n_notes} --seed {seed_arg}",
        "  ```",
        "",
        "  (same seed and Faker version: byte-identical files).",
        (
            "- **No real patient data.** Names, dates, addresses, phone numbers, record, account, insurance, licence, "
            "device and vehicle numbers are invented; place names are real public US cities and counties used at "
            "random. Any resemblance to real persons is coincidental."
        ),
        "- Licence: **CC0 1.0** (public domain dedication).",
        "",
        "## Identifier types",
        "",
        "| Type | Covers | Spans |",
        "|------|--------|-------|",
    ]
    lines += [f"| `{t}` | {desc} | {counts.get(t, 0)} |" for t, desc in PHI_TYPES.items()]
    lines += ["", "## Span conventions", ""]
    lines += [f"- {rule}" for rule in SPAN_CONVENTIONS]
    lines += [
        "",
        (
            "Everything else is deliberately not annotated, including look-alikes: vital signs (`BP 120/80`), "
            "fractions and scores (`pain 5/10`, `2/6 murmur`, `GCS 15`), doses, lab values, ages of 89 and under, "
            "years on their own, times, room numbers, ICD-10 codes and eponyms (Parkinson disease, Foley catheter, "
            "Babinski)."
        ),
        "",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# World: patients, clinicians, systems
# ----------------------------------------------------------------------------------------------


@dataclass
class _Person:
    first: str
    last: str
    sex: str  # "F" or "M"
    middle: str = ""  # middle initial or name, may be empty
    cred: str = ""
    specialty: str = ""
    npi: str = ""
    dea: str = ""
    license: str = ""
    email: str = ""
    ext: str = ""


@dataclass
class _Address:
    street: str
    unit: str  # "Apt 4B" or ""
    city: str
    state: str
    county: str
    zip: str


@dataclass
class _System:
    name: str
    domain: str
    portal: str
    mrn_style: str
    state: str
    address: _Address
    phone: tuple[str, str, str]
    fax: tuple[str, str, str]


@dataclass
class _Relative:
    person: _Person
    relation: str
    phone: tuple[str, str, str]


@dataclass
class _Patient:
    pid: str
    person: _Person
    title: str
    age0: int
    dob: dt.date
    first_visit: dt.date
    system: _System
    mrn: str
    address: _Address
    home: tuple[str, str, str]
    cell: tuple[str, str, str]
    email: str
    ssn: str
    dl: str
    plate: str
    vin: str
    vehicle: str
    insurance: tuple[str, str, str]  # payer, label, id
    nok: _Relative
    other: _Relative
    pcp: _Person
    conditions: list[tuple[str, str, str, tuple[str, ...]]]
    allergy: str
    devices: dict[str, str] = field(default_factory=dict)
    lives: str = ""
    occupation: str = ""


class _World:
    """Seeded sources of names and identifiers shared by all patients of one corpus."""

    def __init__(self, seed: int) -> None:
        from faker import Faker

        self.rng = random.Random(seed)
        self.fakers: dict[str, Faker] = {}
        for i, locale in enumerate(("en_US", "es_MX", "en_IN", "zh_CN", "ja_JP", "yo_NG", "pl_PL", "it_IT")):
            fk = Faker(locale)
            fk.seed_instance(seed * 101 + i)
            self.fakers[locale] = fk
        self.systems = [self._system(*s) for s in _words().systems]
        self.staff: dict[str, list[_Person]] = {
            spec: [self._clinician(spec, creds) for _ in range(n)] for spec, (n, creds) in _words().specialties.items()
        }

    # -- names -------------------------------------------------------------------------------
    def name(self, sex: str, last: str | None = None) -> _Person:
        """A person with a name drawn from a mix of Faker locales."""
        r = self.rng.random()
        locale = (
            "en_US"
            if r < 0.62
            else "es_MX"
            if r < 0.77
            else "en_IN"
            if r < 0.85
            else "zh_CN"
            if r < 0.89
            else "yo_NG"
            if r < 0.92
            else "ja_JP"
            if r < 0.94
            else "pl_PL"
            if r < 0.97
            else "it_IT"
        )
        fk = self.fakers[locale]
        if locale in ("zh_CN", "ja_JP"):
            first = (
                fk.first_romanized_name()
                if locale == "zh_CN"
                else (fk.first_romanized_name_female() if sex == "F" else fk.first_romanized_name_male())
            )
            surname = fk.last_romanized_name()
        else:
            first = fk.first_name_female() if sex == "F" else fk.first_name_male()
            surname = fk.last_name()
            if locale == "es_MX" and self.rng.random() < 0.3:
                surname = f"{surname} {fk.last_name()}" if self.rng.random() < 0.6 else f"{surname}-{fk.last_name()}"
        first = first.split()[0]
        if last is not None:
            surname = last
        m = self.rng.random()
        us = self.fakers["en_US"]
        middle_name = us.first_name_female() if sex == "F" else us.first_name_male()
        middle = "" if m < 0.5 else middle_name[0] if m < 0.9 else middle_name
        return _Person(first=first, last=surname, sex=sex, middle=middle)

    def _clinician(self, spec: str, creds: tuple[str, ...]) -> _Person:
        sex = self.rng.choice("FM")
        p = self.name(sex)
        p.cred = self.rng.choice(creds)
        p.specialty = spec
        p.npi = _npi(self.rng)
        if p.cred in ("MD", "DO", "NP", "PA-C"):
            p.dea = _dea(self.rng, p.last, "M" if p.cred in ("NP", "PA-C") else self.rng.choice("ABF"))
        prefix = {"MD": ("MD", "", "G", "A"), "DO": ("DO", "", "OS"), "NP": ("NP", "APRN", ""), "PA-C": ("PA", "")}.get(
            p.cred, (p.cred.replace("-", "").upper()[:3], "")
        )
        p.license = f"{self.rng.choice(prefix)}{self.rng.randint(10000, 299999)}"
        user = _ascii(f"{p.first[0]}{p.last}".replace(" ", "").replace("-", "")).lower()
        p.email = (
            f"{user}{self.rng.choice(('', '', str(self.rng.randint(1, 9))))}@{self.rng.choice(self.systems).domain}"
        )
        p.ext = str(self.rng.randint(2, 7999))
        return p

    # -- places ------------------------------------------------------------------------------
    def city_in(self, state: str) -> tuple[str, str, str, tuple[str, ...]]:
        return self.rng.choice([c for c in _words().cities if c[1] == state])

    def address(self, state: str, unit_p: float = 0.3) -> _Address:
        city, st, county, zips = self.city_in(state)
        r = self.rng.random()
        if r < 0.7:
            street = f"{self.rng.choice(_words().streets)} {self.rng.choice(_words().suffixes)}"
        else:
            street = f"{self.fakers['en_US'].last_name()} {self.rng.choice(_words().suffixes)}"
        number = str(
            self.rng.choice((self.rng.randint(1, 99), self.rng.randint(100, 999), self.rng.randint(1000, 19999)))
        )
        if self.rng.random() < 0.1:
            street = f"{self.rng.choice(('N.', 'S.', 'E.', 'W.', 'North', 'West'))} {street}"
        unit = ""
        if self.rng.random() < unit_p:
            word = self.rng.choice(_words().unit_words)
            tag = self.rng.choice(
                (
                    str(self.rng.randint(1, 40)),
                    f"{self.rng.randint(1, 6)}{self.rng.choice('ABCDEF')}",
                    f"{self.rng.randint(101, 1204)}",
                )
            )
            unit = f"{word}{'' if word == '#' else ' '}{tag}"
        zipc = self.rng.choice(zips) + f"{self.rng.randint(1, 99):02d}"
        return _Address(f"{number} {street}", unit, city, st, county, zipc)

    def phone(self, state: str) -> tuple[str, str, str]:
        area = self.rng.choice(_words().states[state][1])
        if self.rng.random() < 0.15:
            return area, "555", f"01{self.rng.randint(0, 99):02d}"
        exch = self.rng.randint(201, 989)
        while exch % 100 == 11:
            exch += 1
        return area, str(exch), f"{self.rng.randint(0, 9999):04d}"

    def _system(self, name: str, domain: str, portal: str, mrn_style: str) -> _System:
        state = self.rng.choice(sorted(_words().states))
        return _System(
            name,
            domain,
            portal,
            mrn_style,
            state,
            self.address(state, unit_p=0.0),
            self.phone(state),
            self.phone(state),
        )

    # -- patients ----------------------------------------------------------------------------
    def new_patient(self, index: int) -> _Patient:
        rng = self.rng
        sex = rng.choice("FM")
        person = self.name(sex)
        age = rng.randint(90, 104) if rng.random() < 0.3 else rng.randint(19, 89)
        first_visit = dt.date(2017, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 7))
        dob = first_visit - dt.timedelta(days=int(age * 365.25) + rng.randint(1, 360))
        system = rng.choice(self.systems)
        state = system.state
        title = "Mr." if sex == "M" else rng.choice(("Ms.", "Ms.", "Mrs."))
        spouse_sex = "M" if sex == "F" else "F"
        if age > 75:
            rel = rng.choice(
                ("daughter", "son", "daughter", "niece", "granddaughter", "wife" if sex == "M" else "husband")
            )
        else:
            rel = rng.choice(
                ("wife" if sex == "M" else "husband", "partner", "mother", "sister", "brother", "daughter")
            )
        rel_sex = (
            "F"
            if rel in ("daughter", "niece", "granddaughter", "wife", "mother", "sister")
            else ("M" if rel in ("son", "husband", "brother") else spouse_sex)
        )
        same_last = rel in ("daughter", "son", "wife", "husband", "sister", "brother", "mother") and rng.random() < 0.7
        nok = _Relative(self.name(rel_sex, person.last if same_last else None), rel, self.phone(state))
        rel2 = rng.choice(("son", "daughter", "brother", "sister", "friend", "neighbor"))
        other = _Relative(self.name("M" if rel2 in ("son", "brother") else "F"), rel2, self.phone(state))
        ins = self.insurance(age, state)
        n_cond = rng.randint(2, 6)
        pool = [c for c in _words().conditions if not (c[0] == "BPH" and sex == "F")]
        if age < 60:
            pool = [c for c in pool if c[0] not in ("DEM", "PD", "OP", "CHB")]
        chosen = rng.sample(pool, n_cond)
        keys = {c[0] for c in chosen}
        for a, b in (("DM1", "DM2"), ("HYPO", "HASH"), ("COPD", "ASTHMA")):
            if a in keys and b in keys:
                chosen = [c for c in chosen if c[0] != b]
        conditions = [_fill_condition(rng, c, first_visit.year) for c in chosen]
        if rng.random() < 0.18 and not any(c[0] in ("CHB", "DM1", "OSA", "DM2") for c in conditions):
            extra = rng.choice([c for c in _words().conditions if c[0] in ("CHB", "DM1", "OSA")])
            conditions.append(_fill_condition(rng, extra, first_visit.year))
        vehicle_year = rng.randint(max(first_visit.year - 18, 2000), first_visit.year)
        make = rng.choice(
            (
                "Honda Civic",
                "Toyota Camry",
                "Ford F-150",
                "Chevrolet Malibu",
                "Subaru Outback",
                "Nissan Altima",
                "Hyundai Elantra",
                "Jeep Cherokee",
                "Toyota RAV4",
                "Buick LaCrosse",
            )
        )
        email_user = (
            _ascii(
                rng.choice(
                    (
                        f"{person.first}.{person.last}",
                        f"{person.first[0]}{person.last}{rng.randint(1, 99)}",
                        f"{person.first}{person.last[0]}{rng.randint(1940, 2005) % 100}",
                        f"{person.last}{person.first[0]}",
                    )
                )
            )
            .lower()
            .replace(" ", "")
            .replace("-", "")
        )
        patient = _Patient(
            pid=f"patient-{index:03d}",
            person=person,
            title=title,
            age0=age,
            dob=dob,
            first_visit=first_visit,
            system=system,
            mrn=_mrn(rng, system.mrn_style),
            address=self.address(state),
            home=self.phone(state),
            cell=self.phone(state),
            email=f"{email_user}@{rng.choice(_words().free_mail)}",
            ssn=self.fakers["en_US"].ssn(),
            dl=_driver_licence(rng, state, person),
            plate=_plate(rng, state),
            vin=_vin(rng),
            vehicle=f"{vehicle_year} {make}",
            insurance=ins,
            nok=nok,
            other=other,
            pcp=rng.choice(self.staff["pcp"]),
            conditions=conditions,
            allergy=rng.choice(_words().allergies),
            lives=rng.choice((f"with {'his' if sex == 'M' else 'her'} {rel}", "with family"))
            if rel in ("wife", "husband", "partner")
            else rng.choice(
                ("alone", "in an apartment alone", "in assisted living", f"with {'his' if sex == 'M' else 'her'} {rel}")
            ),
            occupation=rng.choice(
                (
                    "teacher",
                    "machinist",
                    "nurse",
                    "postal worker",
                    "bus driver",
                    "accountant",
                    "electrician",
                    "cashier",
                    "engineer",
                    "farmer",
                    "office manager",
                    "mechanic",
                    "electrical engineer",
                    "home health aide",
                    "carpenter",
                )
            ),
        )
        keys = {c[0] for c in conditions}
        if "CHB" in keys or rng.random() < 0.08:
            patient.devices["pacemaker"] = _pacemaker(rng)
        if "DM1" in keys:
            patient.devices["pump"] = _pump_serial(rng)
            patient.devices["cgm"] = _cgm_id(rng)
        if "OSA" in keys:
            patient.devices["cpap"] = f"{rng.randint(2215, 2399)}{rng.randint(1000000, 9999999)}"
        return patient

    def insurance(self, age: int, state: str) -> tuple[str, str, str]:
        rng = self.rng
        r = rng.random()
        if age >= 65 and r < 0.6:
            return "Medicare", rng.choice(("Medicare ID", "MBI", "Medicare #", "Medicare number")), _mbi(rng)
        if r < 0.75:
            prog = _words().states[state][2]
            labels = (
                ("ID #", "member ID", "recipient ID")
                if "Medicaid" in prog
                else ("Medicaid #", "Medicaid ID", "ID #", "member ID")
            )
            return prog, rng.choice(labels), _medicaid(rng, state)
        payer = rng.choice(
            (
                "Blue Cross Blue Shield",
                "Aetna",
                "UnitedHealthcare",
                "Cigna",
                "Humana Medicare Advantage",
                "Harvard Pilgrim",
                "Kaiser Permanente",
            )
        )
        label = rng.choice(
            (
                "Member ID",
                "Member ID:",
                "Subscriber ID",
                "Policy #",
                "Policy number",
                "ID #",
                "Group/member number",
                "member #",
            )
        )
        if payer == "Blue Cross Blue Shield":
            value = (
                "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(3)) + f"{rng.randint(0, 10**9 - 1):09d}"
            )
        elif payer == "Aetna":
            value = f"W{rng.randint(0, 10**9 - 1):09d}"
        elif payer == "Humana Medicare Advantage":
            value = f"H{rng.randint(10**7, 10**8 - 1)}"
        elif payer == "Cigna":
            value = f"U{rng.randint(10**7, 10**8 - 1)} {rng.randint(1, 3):02d}"
        else:
            value = f"{rng.randint(10**8, 10**10 - 1)}"
        return payer, label, value


def _fill_condition(
    rng: random.Random, cond: tuple[str, str, str, tuple[str, ...]], year: int
) -> tuple[str, str, str, tuple[str, ...]]:
    """Fill a condition's non-PHI placeholders (years, EF, HbA1c) for one patient."""
    values = {
        "year": str(rng.randint(year - 25, year - 1)),
        "ef": rng.choice(("25-30", "30-35", "35", "20-25")),
        "a1c": f"{rng.uniform(6.4, 10.5):.1f}",
        "chads": str(rng.randint(2, 6)),
        "fev1": str(rng.randint(32, 68)),
        "moca": str(rng.randint(17, 24)),
    }
    text = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], cond[1])
    return cond[0], text, cond[2], cond[3]


# ----------------------------------------------------------------------------------------------
# Identifier formats
# ----------------------------------------------------------------------------------------------


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return str((10 - total % 10) % 10)


def _npi(rng: random.Random) -> str:
    body = rng.choice("12") + "".join(rng.choice("0123456789") for _ in range(8))
    return body + _luhn_digit("80840" + body)


def _dea(rng: random.Random, last: str, kind: str) -> str:
    digits = [rng.randint(0, 9) for _ in range(6)]
    check = (digits[0] + digits[2] + digits[4] + 2 * (digits[1] + digits[3] + digits[5])) % 10
    letter = _ascii(last)[:1].upper() or "X"
    return f"{kind}{letter}{''.join(map(str, digits))}{check}"


def _mrn(rng: random.Random, style: str) -> str:
    if style == "d8":
        return f"{rng.randint(0, 9_999_999):08d}"
    if style == "d7":
        return f"{rng.randint(1_000_000, 9_999_999)}"
    if style == "d9":
        return f"{rng.randint(100_000_000, 999_999_999)}"
    if style == "a7":
        return f"{rng.choice('ABEHKMRTW')}{rng.randint(1_000_000, 9_999_999)}"
    n = f"{rng.randint(10_000_000, 99_999_999)}"
    return f"{n[:2]}-{n[2:5]}-{n[5:]}"


def _mbi(rng: random.Random) -> str:
    letters = "ACDEFGHJKMNPQRTUVWXY"
    alnum = letters + "0123456789"
    c = [
        str(rng.randint(1, 9)),
        rng.choice(letters),
        rng.choice(alnum),
        str(rng.randint(0, 9)),
        rng.choice(letters),
        rng.choice(alnum),
        str(rng.randint(0, 9)),
        rng.choice(letters),
        rng.choice(letters),
        str(rng.randint(0, 9)),
        str(rng.randint(0, 9)),
    ]
    s = "".join(c)
    return f"{s[:4]}-{s[4:7]}-{s[7:]}" if rng.random() < 0.5 else s


def _medicaid(rng: random.Random, state: str) -> str:
    if state == "CA":
        return f"9{rng.randint(10**7, 10**8 - 1)}{rng.choice('ABCDEFG')}"
    if state == "MA":
        return f"1000{rng.randint(10**7, 10**8 - 1)}"
    if state == "TX":
        return f"{rng.randint(10**8, 10**9 - 1)}"
    return f"{rng.choice('ABCDMNP')}{rng.choice('ABCDEFGHJK')}{rng.randint(10**6, 10**7 - 1)}{rng.choice('ABCDEFGH')}"


def _driver_licence(rng: random.Random, state: str, person: _Person) -> str:
    style = _words().states[state][3]
    d = lambda n: "".join(rng.choice("0123456789") for _ in range(n))
    initial = (_ascii(person.last)[:1] or "X").upper()
    if style == "S8":
        return f"S{d(8)}"
    if style == "IL":
        return f"{initial}{d(3)}-{d(4)}-{d(4)}"
    if style == "OH":
        return f"{rng.choice('ABRST')}{rng.choice('ABCDEFGHJK')}{d(6)}"
    if style == "CA":
        return f"{rng.choice('ABDFGNY')}{d(7)}"
    if style == "MN":
        return f"{initial}{d(12)}"
    if style == "WA":
        return f"WDL{''.join(rng.choice('ABCDEFGHJKLMNPQRSTVWXYZ0123456789') for _ in range(9))}"
    if style == "FL":
        return f"{initial}{d(3)}-{d(3)}-{d(2)}-{d(3)}-{d(1)}"
    if style == "D9":
        return d(9)
    if style == "D12":
        return d(12)
    return d(8)


def _plate(rng: random.Random, state: str) -> str:
    style = _words().states[state][4]
    L = lambda n: "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(n))
    D = lambda n: "".join(rng.choice("0123456789") for _ in range(n))
    if style == "CA":
        return f"{rng.randint(5, 9)}{L(3)}{D(3)}"
    if style == "MA":
        return rng.choice((f"{D(1)}{L(3)}{D(2)}", f"{D(3)}{L(2)}{D(1)}"))
    if style == "IL":
        return f"{L(2)} {D(5)}"
    if style == "FL":
        return f"{L(3)} {L(1)}{D(2)}"
    if style == "ABC123":
        return f"{L(3)}{D(3)}" if rng.random() < 0.5 else f"{L(3)}-{D(3)}"
    return rng.choice((f"{L(3)}-{D(4)}", f"{L(3)}{D(4)}", f"{L(3)} {D(4)}"))


_VIN_VALUES = {
    **{str(i): i for i in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9))),
    **dict(zip("JKLMN", range(1, 6))),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10))),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def _vin(rng: random.Random) -> str:
    """A 17-character VIN with a valid check digit."""
    chars = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    wmi = rng.choice(("1HG", "1FT", "2T1", "JTD", "5YJ", "1G1", "3VW", "KM8", "4T1", "1C4", "JF2", "5N1"))
    vds = "".join(rng.choice(chars) for _ in range(5))
    year = rng.choice("ABCDEFGHJKLMN123456789")
    rest = rng.choice(chars) + "".join(rng.choice("0123456789") for _ in range(6))
    vin = wmi + vds + "0" + year + rest
    total = sum(_VIN_VALUES[c] * w for c, w in zip(vin, _VIN_WEIGHTS, strict=True))
    check = "X" if total % 11 == 10 else str(total % 11)
    return vin[:8] + check + vin[9:]


def _pacemaker(rng: random.Random) -> str:
    maker = rng.choice(("Medtronic", "Boston Scientific", "Abbott", "Biotronik"))
    if maker == "Medtronic":
        serial = f"{rng.choice(('PJN', 'RNB', 'COC', 'PZS'))}{rng.randint(100000, 999999)}{rng.choice('HSG')}"
    elif maker == "Boston Scientific":
        serial = f"{rng.randint(100000, 999999)}"
    elif maker == "Abbott":
        serial = f"{rng.randint(1000000, 9999999)}"
    else:
        serial = f"{rng.randint(60000000, 69999999)}"
    return f"{maker}|{serial}"


def _pump_serial(rng: random.Random) -> str:
    return rng.choice(
        (
            f"Tandem t:slim X2|{rng.randint(100000, 999999)}",
            f"Medtronic MiniMed 780G|NG{rng.randint(1000000, 9999999)}H",
            f"Omnipod 5 controller|{rng.randint(10**9, 10**10 - 1)}",
        )
    )


def _cgm_id(rng: random.Random) -> str:
    return f"8G{''.join(rng.choice('0123456789ABCDEFGHJKLMNPQRSTUVWXYZ') for _ in range(4))}"


def _udi(rng: random.Random, serial: str) -> str:
    gtin = f"00{rng.randint(10**11, 10**12 - 1)}"
    exp = f"{rng.randint(24, 29)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    return f"(01){gtin}(17){exp}(21){serial}"


def _ipv4(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.3:
        return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if r < 0.4:
        return f"192.168.{rng.randint(0, 20)}.{rng.randint(2, 254)}"
    first = rng.choice((24, 50, 66, 68, 71, 73, 76, 98, 107, 172, 174, 184))
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _ipv6(rng: random.Random) -> str:
    groups = [
        rng.choice(("2601", "2603", "2600", "2a02", "2001")),
        f"{rng.randint(0, 0xFFF):x}",
        f"{rng.randint(0, 0xFFFF):x}",
        f"{rng.randint(0, 0xFFFF):x}",
    ]
    tail = f"{rng.randint(1, 0xFFFF):x}"
    return (
        ":".join(groups) + "::" + tail
        if rng.random() < 0.6
        else ":".join(groups + [f"{rng.randint(0, 0xFFFF):x}" for _ in range(3)] + [tail])
    )


# ----------------------------------------------------------------------------------------------
# Text builder and template rendering
# ----------------------------------------------------------------------------------------------


class _Text:
    """Append-only text that records gold spans as identifiers are appended."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._len = 0
        self._spans: list[PhiSpan] = []

    def add(self, s: str) -> None:
        self._parts.append(s)
        self._len += len(s)

    def phi(self, s: str, kind: str) -> None:
        if not s or s != s.strip() or "\n" in s or "\r" in s:
            raise AssertionError(f"bad {kind} span {s!r}")
        self._spans.append(PhiSpan(self._len, self._len + len(s), kind))
        self.add(s)

    def trim(self) -> None:
        """Drop spaces at the end of the text (never part of a span: spans end on non-space)."""
        while self._parts and self._parts[-1].endswith(" "):
            stripped = self._parts[-1].rstrip(" ")
            self._len -= len(self._parts[-1]) - len(stripped)
            self._parts[-1] = stripped
            if not stripped:
                self._parts.pop()
        assert not self._spans or self._spans[-1].end <= self._len

    def finish(self) -> tuple[str, tuple[PhiSpan, ...]]:
        text = "".join(self._parts)
        if not text.endswith("\n"):
            text += "\n"
        for a, b in zip(self._spans, self._spans[1:], strict=False):
            if b.start < a.end:
                raise AssertionError(f"overlapping spans {a} {b}")
        return text, tuple(self._spans)


def _matching_brace(tpl: str, start: int) -> int:
    depth = 0
    for i in range(start, len(tpl)):
        if tpl[i] == "{":
            depth += 1
        elif tpl[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unbalanced braces in template {tpl!r}")


def _split_top(body: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in body:
        if ch == "|" and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur.append(ch)
    parts.append("".join(cur))
    return parts


_OPTIONAL = re.compile(r"\?(\d+ )?")
_SHORT = re.compile(r" \(|, | s/p | on | in \d| with ")


# ----------------------------------------------------------------------------------------------
# Note context: slots that append identifiers and filler
# ----------------------------------------------------------------------------------------------

_DATE_STYLES = ("mdY0", "mdY0", "mdY", "mdy", "iso", "dMY", "MdY", "bdY", "dbY", "dot")


class _Note:
    """Rendering state for one note: patient, date, clinicians, date style, output."""

    def __init__(self, world: _World, patient: _Patient, kind: str, date: dt.date) -> None:
        self.world = world
        self.rng = world.rng
        self.p = patient
        self.kind = kind
        self.date = date
        self.out = _Text()
        self.style = self.rng.choice(_DATE_STYLES)
        self.informal = kind in ("telephone", "ed")
        self.dates: dict[str, dt.date] = {"note": date, "dob": patient.dob, "dc": date}
        self.ids: dict[str, str] = {}
        self.present = self.rng.choice(_words().presentations if kind != "discharge" else _words().presentations[:-1])
        s = world.staff
        cons_spec = {
            "chf": "cardiology",
            "afib": "cardiology",
            "chestpain": "cardiology",
            "gib": "gi",
            "stroke": "neurology",
            "hipfx": "ortho",
            "copd": "pulm",
            "mvc": "ortho",
        }.get(self.present.key)
        cons_spec = cons_spec or self.rng.choice(sorted(_words().consult_names))
        self.cons_spec = cons_spec
        self.roles: dict[str, _Person] = {
            "pcp": patient.pcp,
            "att": self.rng.choice(s["em"] if kind == "ed" else s["hospitalist"]),
            "att2": self.rng.choice(s["hospitalist"]),
            "cons": self.rng.choice(s[cons_spec]),
            "rad": self.rng.choice(s["radiology"]),
            "rn": self.rng.choice(s["rn"]),
            "rn2": self.rng.choice(s["rn"]),
            "sw": self.rng.choice(s["sw"]),
            "pharm": self.rng.choice(s["pharm"]),
            "lab": self.rng.choice(s["pathology"]),
            "res": self.rng.choice(s["resident"]),
            "ep": self.rng.choice(s["ep"]),
            "dev": self.rng.choice(s["device"]),
            "endo": self.rng.choice(s["endo"]),
            "pulm": self.rng.choice(s["pulm"]),
        }
        self.los = self.rng.randint(2, 7)
        self.dates["adm"] = date - dt.timedelta(days=self.los)

    # -- rendering ---------------------------------------------------------------------------
    def r(self, tpl: str) -> None:
        """Render a template (see the module docstring) into the note."""
        i, n = 0, len(tpl)
        while i < n:
            j = tpl.find("{", i)
            if j < 0:
                self.out.add(tpl[i:])
                return
            if j > i:
                self.out.add(tpl[i:j])
            k = _matching_brace(tpl, j)
            inner = tpl[j + 1 : k]
            if inner.startswith("="):
                self.r(self.rng.choice(_split_top(inner[1:])))
            elif inner.startswith("?"):
                m = _OPTIONAL.match(inner)
                assert m is not None
                p = int(m.group(1)) if m.group(1) else 50
                if self.rng.random() * 100 < p:
                    self.r(inner[m.end() :])
            else:
                name, _, arg = inner.partition(":")
                getattr(self, f"s_{name}")(arg)
            i = k + 1

    def line(self, tpl: str = "") -> None:
        """Render ``tpl`` and end the line (trailing spaces removed)."""
        self.r(tpl)
        self.out.trim()
        self.out.add("\n")

    def opt(self, p: float, tpl: str) -> None:
        """Render ``tpl`` as a line with probability ``p``."""
        if self.chance(p):
            self.line(tpl)

    def pick(self, options: Sequence[str]) -> str:
        return self.rng.choice(options)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def phi(self, s: str, kind: str) -> None:
        self.out.phi(s, kind)

    def add(self, s: str) -> None:
        self.out.add(s)

    # -- people ------------------------------------------------------------------------------
    def _case(self, s: str) -> str:
        return s.lower() if self.informal and self.chance(0.12) else s

    def name(self, p: _Person, form: str) -> None:
        """Append a name span in one surface form (titles and credentials are added by callers)."""
        mid = ""
        if p.middle and self.chance(0.4):
            mid = f" {p.middle}." if len(p.middle) == 1 else f" {p.middle}"
        if form == "full":
            s = self._case(f"{p.first}{mid} {p.last}")
        elif form == "first":
            s = self._case(p.first)
        elif form == "last":
            s = self._case(p.last)
        elif form == "init":
            s = (
                f"{p.first[0]}. {p.last}"
                if self.chance(0.8)
                else f"{p.first[0]}.{p.middle[:1] + '.' if p.middle else ''} {p.last}"
            )
        elif form == "lf":
            s = f"{p.last}, {p.first}{mid.rstrip('.')}"
            if self.chance(0.5):
                s = s.upper()
        elif form == "LF":
            s = f"{p.last}, {p.first}{mid}".upper().rstrip(".")
        elif form == "lfn":  # Last,First without space, as in some EHR headers
            s = f"{p.last.upper()},{p.first.upper()}"
        else:
            raise ValueError(form)
        self.phi(s, "NAME")

    def s_pt(self, arg: str) -> None:
        """The patient in narrative: Mr. X, full name, first name, or 'the patient'."""
        r = self.rng.random()
        if r < 0.45:
            self.s_pt_formal("")
        elif r < 0.58:
            self.name(self.p.person, "full")
        elif r < 0.66:
            self.name(self.p.person, "first")
        elif r < 0.70:
            self.name(self.p.person, "init")
        else:
            self.add(self.pick(("the patient", "the patient", "pt", "patient")))

    def s_Pt(self, arg: str) -> None:
        """Sentence-initial patient reference."""
        r = self.rng.random()
        if r < 0.55:
            self.s_pt_formal("")
        elif r < 0.72:
            self.name(self.p.person, "full")
        elif r < 0.8:
            self.name(self.p.person, "first")
        else:
            self.add(self.pick(("The patient", "Patient", "Pt")))

    def s_pt_formal(self, arg: str) -> None:
        title = self.p.title if self.chance(0.8) else self.p.title.rstrip(".")
        self.add(f"{title} ")
        self.name(self.p.person, "last")

    def s_pt_full(self, arg: str) -> None:
        self.name(self.p.person, "full")

    def s_pt_first(self, arg: str) -> None:
        self.name(self.p.person, "first")

    def s_pt_last(self, arg: str) -> None:
        self.name(self.p.person, "last")

    def s_pt_init(self, arg: str) -> None:
        self.name(self.p.person, "init")

    def s_pt_header(self, arg: str) -> None:
        """Patient name as in a header: SMITH, JOHN / Smith, John / John Smith."""
        self.name(self.p.person, self.pick(("lf", "LF", "LF", "full", "lfn")))

    def s_he(self, arg: str) -> None:
        self.add("he" if self.p.person.sex == "M" else "she")

    def s_He(self, arg: str) -> None:
        self.add("He" if self.p.person.sex == "M" else "She")

    def s_his(self, arg: str) -> None:
        self.add("his" if self.p.person.sex == "M" else "her")

    def s_His(self, arg: str) -> None:
        self.add("His" if self.p.person.sex == "M" else "Her")

    def s_him(self, arg: str) -> None:
        self.add("him" if self.p.person.sex == "M" else "her")

    def s_man(self, arg: str) -> None:
        self.add(
            self.pick(("man", "gentleman", "male"))
            if self.p.person.sex == "M"
            else self.pick(("woman", "lady", "female"))
        )

    def s_sex(self, arg: str) -> None:
        self.add(self.pick((self.p.person.sex, "Male" if self.p.person.sex == "M" else "Female")))

    def s_nok_rel(self, arg: str) -> None:
        self.add(self.p.nok.relation)

    def s_nok(self, arg: str) -> None:
        """The next of kin's name (full or first)."""
        self.name(self.p.nok.person, arg or self.pick(("full", "full", "first")))

    def s_other(self, arg: str) -> None:
        self.add(f"{self.p.other.relation} ")
        self.name(self.p.other.person, self.pick(("full", "first")))

    def doc(self, role: str, form: str | None = None) -> None:
        """Append a clinician reference with title/credential outside the span."""
        p = self.roles[role]
        is_dr = p.cred in ("MD", "DO")
        forms = (
            ("dr_full", "dr_last", "full_cred", "last_cred", "init_cred", "lf_cred")
            if is_dr
            else ("full_cred", "init_cred", "cred_init", "full", "first_cred")
        )
        form = form or self.pick(forms)
        if form in ("dr_full", "dr_last") and not is_dr:
            form = "full_cred"
        cred = p.cred if self.chance(0.8) else {"MD": "M.D.", "DO": "D.O."}.get(p.cred, p.cred)
        if form == "dr_full":
            self.add(self.pick(("Dr. ", "Dr. ", "Dr ")))
            self.name(p, "full")
        elif form == "dr_last":
            self.add(self.pick(("Dr. ", "Dr. ", "Dr ")))
            self.name(p, "last")
        elif form == "full_cred":
            self.name(p, "full")
            self.add(f", {cred}" if self.chance(0.7) else f" {cred}")
        elif form == "last_cred":
            self.name(p, "last")
            self.add(f", {cred}")
        elif form == "init_cred":
            self.name(p, "init")
            self.add(f", {cred}" if self.chance(0.6) else f" {cred}")
        elif form == "lf_cred":
            self.name(p, "lf")
            self.add(f" {cred}" if self.chance(0.5) else f", {cred}")
        elif form == "cred_init":
            self.add(f"{p.cred} ")
            self.name(p, self.pick(("init", "full", "last")))
        elif form == "first_cred":
            self.name(p, "first")
            self.add(f" {p.cred}")
        elif form == "full":
            self.name(p, "full")
        else:
            raise ValueError(form)

    def s_doc(self, arg: str) -> None:
        self.doc(arg)

    def s_doc_dr(self, arg: str) -> None:
        """'Dr. Wong' (or a nurse/NP's full name)."""
        self.doc(arg, "dr_last" if self.roles[arg].cred in ("MD", "DO") else "full_cred")

    def s_doc_full(self, arg: str) -> None:
        self.doc(arg, self.pick(("full_cred", "dr_full")))

    def s_doc_sig(self, arg: str) -> None:
        """A signature: 'Alice Wong, MD' or 'Wong, Alice MD' (credential outside the span)."""
        self.doc(arg, self.pick(("full_cred", "full_cred", "lf_cred", "init_cred")))

    def s_nurse_name(self, arg: str) -> None:
        p = self.roles[arg or "rn"]
        self.name(p, self.pick(("init", "full", "last", "first")))

    def s_spec(self, arg: str) -> None:
        self.add(_words().consult_names[self.cons_spec])

    # -- dates -------------------------------------------------------------------------------
    def _date(self, key: str) -> dt.date:
        if key not in self.dates:
            base = re.sub(r"\d+$", "", key)
            days = {
                "past": (30, 900),
                "recent": (1, 14),
                "future": (-90, -7),
                "old": (900, 4000),
                "soon": (-14, -2),
                "prev": (15, 120),
            }[base]
            self.dates[key] = self.date - dt.timedelta(days=self.rng.randint(*days))
        return self.dates[key]

    def fmt_date(self, d: dt.date, style: str | None = None) -> str:
        style = style or (self.style if self.chance(0.75) else self.pick(_DATE_STYLES))
        mon = _MONTHS[d.month - 1]
        return {
            "mdY0": f"{d.month:02d}/{d.day:02d}/{d.year}",
            "mdY": f"{d.month}/{d.day}/{d.year}",
            "mdy": f"{d.month}/{d.day}/{d.year % 100:02d}",
            "iso": d.isoformat(),
            "dMY": f"{d.day} {mon} {d.year}",
            "MdY": f"{mon} {d.day}, {d.year}",
            "bdY": f"{mon[:3]} {d.day}, {d.year}" if d.month % 2 else f"{mon[:3]} {d.day} {d.year}",
            "dbY": f"{d.day:02d}-{mon[:3]}-{d.year}",
            "dot": f"{d.month:02d}.{d.day:02d}.{d.year}",
            "DBY": f"{d.day:02d}{mon[:3].upper()}{d.year}",
        }[style]

    def s_date(self, arg: str) -> None:
        self.phi(self.fmt_date(self._date(arg or "note")), "DATE")

    def s_dob(self, arg: str) -> None:
        style = self.style if self.style not in ("dMY",) or self.chance(0.5) else "mdY0"
        self.phi(self.fmt_date(self.p.dob, style if self.chance(0.8) else None), "DATE")

    def s_date_ny(self, arg: str) -> None:
        """A date without its year: 3/4, March 4, March 4th, 4th of March, Mar 4."""
        d = self._date(arg or "note")
        mon = _MONTHS[d.month - 1]
        s = self.pick(
            (
                f"{d.month}/{d.day}",
                f"{d.month}/{d.day}",
                f"{mon} {d.day}",
                f"{mon} {_ordinal(d.day)}",
                f"{_ordinal(d.day)} of {mon}",
                f"{mon[:3]} {d.day}",
                f"{d.month:02d}/{d.day:02d}",
            )
        )
        self.phi(s, "DATE")

    def s_date_my(self, arg: str) -> None:
        """Month and year: March 2021, Mar 2021, 03/2021."""
        d = self._date(arg or "past")
        mon = _MONTHS[d.month - 1]
        self.phi(
            self.pick(
                (
                    f"{mon} {d.year}",
                    f"{mon} {d.year}",
                    f"{mon[:3]} {d.year}",
                    f"{d.month:02d}/{d.year}",
                    f"{d.month}/{d.year}",
                )
            ),
            "DATE",
        )

    def s_day(self, arg: str) -> None:
        """'the 4th' (span: '4th')."""
        self.add("the ")
        self.phi(_ordinal(self._date(arg or "future").day), "DATE")

    def s_dt(self, arg: str) -> None:
        """A date with a time: only the date is a span."""
        self.s_date(arg)
        self.add(self.pick((" ", " ", " at ", " @ ", "  ")))
        self.s_time("")

    def s_time(self, arg: str) -> None:
        h = self.rng.randint(7, 18) if self.chance(0.75) else self.rng.randint(0, 23)
        m = self.rng.randint(0, 59)
        self.add(
            self.pick(
                (
                    f"{h:02d}:{m:02d}",
                    f"{h:02d}:{m:02d}",
                    f"{h:02d}{m:02d}",
                    f"{(h % 12) or 12}:{m:02d} {'AM' if h < 12 else 'PM'}",
                )
            )
        )

    def s_year(self, arg: str) -> None:
        """A year on its own (not PHI)."""
        back = {"recent": (1, 3), "old": (3, 25)}.get(arg, (1, 15))
        self.add(str(self.date.year - self.rng.randint(*back)))

    # -- age ---------------------------------------------------------------------------------
    def age(self) -> int:
        d, b = self.date, self.p.dob
        return d.year - b.year - ((d.month, d.day) < (b.month, b.day))

    def _age_num(self) -> None:
        a = self.age()
        if a > 89:
            self.phi(str(a), "AGE")
        else:
            self.add(str(a))

    def s_age(self, arg: str) -> None:
        """'92-year-old', '92 y/o', '92 yo', '92 year old', '92yo', '92 y.o.'."""
        self._age_num()
        self.add(self.pick(("-year-old", "-year-old", "-year-old", " y/o", " yo", " year old", "yo", " y.o.", "-yo")))

    def s_age_num(self, arg: str) -> None:
        self._age_num()

    # -- places ------------------------------------------------------------------------------
    def _addr(self, who: str) -> _Address:
        if who == "sys":
            return self.p.system.address
        if who == "pharm":
            if "pharm" not in self.ids:
                self.ids["pharm"] = ""
                self._pharm = self.world.address(self.p.address.state, unit_p=0.0)
                self._pharm.city = self.p.address.city
            return self._pharm
        return self.p.address

    def s_street(self, arg: str) -> None:
        a = self._addr(arg or "pt")
        if a.unit and self.chance(0.5):
            self.phi(f"{a.street} {a.unit}", "LOCATION")
        else:
            self.phi(a.street, "LOCATION")
            if a.unit:
                self.add(", ")
                self.phi(a.unit, "LOCATION")

    def s_city(self, arg: str) -> None:
        self.phi(self._addr(arg or "pt").city, "LOCATION")

    def s_city_st(self, arg: str) -> None:
        """'Boston, MA' or 'Boston, Massachusetts' (the state is not a span)."""
        a = self._addr(arg or "pt")
        self.phi(a.city, "LOCATION")
        self.add(", " + (a.state if self.chance(0.7) else _words().states[a.state][0]))

    def s_zip(self, arg: str) -> None:
        self.phi(self._addr(arg or "pt").zip, "LOCATION")

    def s_county(self, arg: str) -> None:
        self.phi(self._addr(arg or "pt").county, "LOCATION")

    def s_apt(self, arg: str) -> None:
        a = self._addr(arg or "pt")
        self.phi(a.unit or f"Apt {self.rng.randint(1, 9)}{self.pick('ABCD')}", "LOCATION")

    def s_addr(self, arg: str) -> None:
        """One-line address: street[, unit], city, ST ZIP."""
        a = self._addr(arg or "pt")
        self.s_street(arg)
        self.add(self.pick((", ", ", ", " ")))
        self.phi(a.city, "LOCATION")
        self.add(self.pick((f", {a.state} ", f" {a.state} ", f", {a.state}  ")))
        self.phi(a.zip, "LOCATION")

    def s_addr_block(self, arg: str) -> None:
        """Multi-line address; each line's parts are separate spans (no span crosses a line).

        ``arg`` is ``who`` or ``who|indent`` (the indent starts each continuation line).
        """
        who, _, indent = arg.partition("|")
        a = self._addr(who or "pt")
        self.phi(a.street, "LOCATION")
        if a.unit:
            self.add(self.pick((", ", f"\n{indent}")))
            self.phi(a.unit, "LOCATION")
        self.add(f"\n{indent}")
        self.phi(a.city, "LOCATION")
        self.add(f", {a.state} ")
        self.phi(a.zip, "LOCATION")

    # -- contact -----------------------------------------------------------------------------
    def _number(self, who: str) -> tuple[tuple[str, str, str], str]:
        p = self.p
        ext = ""
        if who == "pt":
            num = p.home if self.chance(0.5) else p.cell
        elif who == "home":
            num = p.home
        elif who == "cell":
            num = p.cell
        elif who == "nok":
            num = p.nok.phone
        elif who == "other":
            num = p.other.phone
        elif who in ("sys", "clinic"):
            num = p.system.phone
            if who == "clinic" and self.chance(0.4):
                ext = self.pick((" ext. ", " ext ", " x", " x ", " Ext. ")) + self.roles["pcp"].ext
        elif who == "fax":
            num = p.system.fax
        else:  # pharmacy or anything else: a stable number per note
            if who not in self.ids:
                self.ids[who] = "|".join(self.world.phone(p.address.state))
            area, exch, last4 = self.ids[who].split("|")
            num = (area, exch, last4)
        return num, ext

    def fmt_phone(self, num: tuple[str, str, str]) -> str:
        a, b, c = num
        return self.pick(
            (
                f"({a}) {b}-{c}",
                f"({a}) {b}-{c}",
                f"{a}-{b}-{c}",
                f"{a}-{b}-{c}",
                f"{a}.{b}.{c}",
                f"+1 {a} {b} {c}",
                f"{a}{b}{c}",
                f"({a}){b}-{c}",
                f"1-{a}-{b}-{c}",
                f"+1-{a}-{b}-{c}",
                f"{a} {b} {c}",
            )
        )

    def s_phone(self, arg: str) -> None:
        num, ext = self._number(arg or "pt")
        self.phi(self.fmt_phone(num) + ext, "PHONE")

    def s_fax(self, arg: str) -> None:
        num, _ = self._number(arg or "fax")
        self.phi(self.fmt_phone(num), "FAX")

    def s_email(self, arg: str) -> None:
        if arg in self.roles:
            self.phi(self.roles[arg].email, "EMAIL")
        elif arg == "clinic":
            self.phi(
                f"{self.pick(('hfclinic', 'referrals', 'medrecords', 'cardiology.scheduling', 'pcp.nurses'))}@"
                f"{self.p.system.domain}",
                "EMAIL",
            )
        else:
            self.phi(self.p.email, "EMAIL")

    def s_url(self, arg: str) -> None:
        dom = self.p.system.domain
        rng = self.rng
        if arg == "edu":
            s = self.pick(_words().edu_urls)
        elif arg == "tele":
            s = self.pick(
                (
                    f"https://telehealth.{dom}/visit/{rng.randint(10**6, 10**7 - 1)}",
                    f"https://{dom.split('.')[0]}.zoom.us/j/{rng.randint(10**9, 10**10 - 1)}",
                    f"https://doxy.me/{_ascii(self.roles['pcp'].last).lower().replace(' ', '')}",
                )
            )
        elif arg == "records":
            s = self.pick((f"www.{dom}/medical-records", f"https://www.{dom}/patients/release-of-information"))
        elif arg == "site":
            s = self.pick((f"www.{dom}", f"https://www.{dom}", f"{dom}/heart"))
        else:
            code = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(10))
            s = self.pick(
                (
                    f"https://mychart.{dom}/MyChart/",
                    f"https://mychart.{dom}/MyChart/Authentication/Login",
                    f"https://portal.{dom}/login",
                    f"www.{dom}/portal",
                    f"https://mychart.{dom}/MyChart/signup?code={code[:5]}-{code[5:]}",
                )
            )
        self.phi(s, "URL")

    def s_ip(self, arg: str) -> None:
        self.phi(_ipv6(self.rng) if arg == "6" or (not arg and self.chance(0.15)) else _ipv4(self.rng), "IP_ADDRESS")

    # -- identifiers -------------------------------------------------------------------------
    def s_mrn(self, arg: str) -> None:
        self.phi(self.p.mrn, "MRN")

    def s_mrn_paren(self, arg: str) -> None:
        """'(MRN 7654321)' / '(MR# 7654321)'."""
        self.add(self.pick(("(MRN ", "(MRN: ", "(MR# ", "(Med Rec ")))
        self.s_mrn("")
        self.add(")")

    def s_mrn_label(self, arg: str) -> None:
        """A labelled MRN: 'MRN: 00123456', 'MR# ...', 'Medical record number ...', '(MRN ...)'."""
        self.r(
            self.pick(
                (
                    "MRN: ",
                    "MRN ",
                    "MR#: ",
                    "MR# ",
                    "Medical record number ",
                    "Med Rec #: ",
                    "MRN#",
                    "Medical Record #: ",
                    "Unit No: ",
                )
            )
        )
        self.s_mrn("")

    def _acct(self) -> str:
        if "acct" not in self.ids:
            self.ids["acct"] = self.pick(
                (
                    f"{self.rng.randint(10**9, 10**10 - 1)}",
                    f"{self.rng.randint(10**10, 10**11 - 1)}",
                    f"HAR{self.rng.randint(10**8, 10**9 - 1)}",
                    f"{self.rng.randint(10**7, 10**8 - 1)}-{self.rng.randint(1, 9)}",
                )
            )
        return self.ids["acct"]

    def s_acct(self, arg: str) -> None:
        self.phi(self._acct(), "ACCOUNT")

    def s_acct_label(self, arg: str) -> None:
        self.add(
            self.pick(
                (
                    "Acct #: ",
                    "Acct# ",
                    "Account No. ",
                    "Account #: ",
                    "FIN: ",
                    "FIN ",
                    "Billing account ",
                    "Account Number: ",
                    "Visit account ",
                )
            )
        )
        self.s_acct("")

    def s_ssn(self, arg: str) -> None:
        s = self.p.ssn
        self.phi(self.pick((s, s, s.replace("-", " "), s.replace("-", ""))), "SSN")

    def s_ssn_label(self, arg: str) -> None:
        r = self.rng.random()
        if r < 0.65:
            self.add(self.pick(("SSN: ", "SSN ", "SS#: ", "Social Security #: ", "Social Security Number: ", "SS # ")))
            self.s_ssn("")
        elif r < 0.85:
            self.add(self.pick(("last 4 of SSN ", "last four of SSN ", "SSN (last 4): ", "last 4 SSN ")))
            self.phi(self.p.ssn[-4:], "SSN")
        else:
            self.add(self.pick(("SSN: XXX-XX-", "SSN ***-**-", "SSN xxx-xx-")))
            self.phi(self.p.ssn[-4:], "SSN")

    def s_plan(self, arg: str) -> None:
        self.phi(self.p.insurance[2], "HEALTH_PLAN")

    def s_plan_line(self, arg: str) -> None:
        """'Medicare, MBI 1EG4-TE5-MK73' / 'Aetna Member ID W123456789'."""
        payer, label, _ = self.p.insurance
        self.add(
            f"{payer}{self.pick((', ', ' ', ' - '))}{label}{' ' if label.endswith(':') else self.pick((' ', ': '))}"
        )
        self.s_plan("")

    def s_dl(self, arg: str) -> None:
        self.phi(self.p.dl, "LICENSE")

    def s_npi(self, arg: str) -> None:
        self.phi(self.roles[arg or "pcp"].npi, "LICENSE")

    def s_dea(self, arg: str) -> None:
        p = self.roles[arg or "att"]
        self.phi(p.dea or _dea(self.rng, p.last, "A"), "LICENSE")

    def s_lic(self, arg: str) -> None:
        self.phi(self.roles[arg or "pcp"].license, "LICENSE")

    def s_plate_label(self, arg: str) -> None:
        self.add(self.pick(("plate ", "license plate ", "plate number ", "plate # ", "tag ")))
        self.s_plate("")

    def s_plate(self, arg: str) -> None:
        self.phi(self.p.plate, "VEHICLE_ID")

    def s_vin(self, arg: str) -> None:
        self.phi(self.p.vin, "VEHICLE_ID")

    def s_vehicle(self, arg: str) -> None:
        self.add(self.p.vehicle)

    def s_state(self, arg: str) -> None:
        self.add(self.p.address.state if self.chance(0.6) else _words().states[self.p.address.state][0])

    def s_sysname(self, arg: str) -> None:
        self.add(self.p.system.name)

    def s_portal(self, arg: str) -> None:
        self.add(self.p.system.portal)

    def s_clinic(self, arg: str) -> None:
        self.add(self.pick(_words().clinics))

    def s_pcp_clinic(self, arg: str) -> None:
        self.add(self.pick(_words().clinics[:3] + _words().clinics[-1:]))

    def s_pharmacy(self, arg: str) -> None:
        if "pharmname" not in self.ids:
            self.ids["pharmname"] = self.pick(_words().pharmacies)
        self.add(self.ids["pharmname"])

    def s_rehab(self, arg: str) -> None:
        self.add(self.pick(_words().rehabs))

    # -- clinical filler (not PHI) -------------------------------------------------------------
    def s_room(self, arg: str) -> None:
        self.add(
            self.pick(
                (
                    f"Room {self.rng.randint(201, 1250)}",
                    f"Rm {self.rng.randint(201, 950)}{self.pick('AB')}",
                    f"Bed {self.rng.randint(1, 30)}",
                    f"Bay {self.rng.randint(1, 24)}",
                )
            )
        )

    def s_vitals(self, arg: str) -> None:
        rng = self.rng
        sbp, dbp = rng.randint(96, 178), rng.randint(52, 98)
        t = self.pick(
            (
                f"T {rng.uniform(36.2, 38.4):.1f} C",
                f"T {rng.uniform(97.1, 101.2):.1f} F",
                f"Temp {rng.uniform(97.1, 99.9):.1f}",
            )
        )
        parts = [
            t,
            f"BP {sbp}/{dbp}",
            f"HR {rng.randint(54, 118)}",
            f"RR {rng.randint(12, 26)}",
            f"SpO2 {rng.randint(88, 100)}% {self.pick(('on RA', 'RA', 'on 2L NC', 'on room air', ''))}".rstrip(),
        ]
        if self.chance(0.5):
            parts.append(f"Wt {rng.uniform(48, 118):.1f} kg")
        if self.chance(0.4):
            parts.append(f"pain {rng.randint(0, 9)}/10")
        self.add(self.pick((", ", "  ", " | ")).join(parts))

    def s_labs(self, arg: str) -> None:
        rng = self.rng
        self.add(
            f"Na {rng.randint(128, 145)}, K {rng.uniform(3.2, 5.6):.1f}, Cl {rng.randint(96, 110)}, "
            f"HCO3 {rng.randint(18, 30)}, BUN {rng.randint(8, 48)}, Cr {rng.uniform(0.6, 2.4):.1f}, "
            f"glucose {rng.randint(72, 280)}. WBC {rng.uniform(4.0, 16.5):.1f}, Hgb {rng.uniform(7.5, 15.2):.1f}, "
            f"plt {rng.randint(110, 420)}."
            + self.pick(
                (
                    "",
                    f" INR {rng.uniform(0.9, 3.1):.1f}.",
                    f" HbA1c {rng.uniform(5.4, 10.2):.1f}%.",
                    f" TSH {rng.uniform(0.4, 6.2):.2f}.",
                    f" Mg {rng.uniform(1.5, 2.4):.1f}.",
                )
            )
        )

    def s_pmh(self, arg: str) -> None:
        """Numbered or comma list of the patient's problems (with ICD-10 codes sometimes)."""
        conds = self.p.conditions
        if arg == "short":
            short = [_SHORT.split(c[1])[0] for c in conds[:3]]
            self.add(", ".join(short[:-1]) + (" and " if len(short) > 1 else "") + short[-1])
            return
        codes = self.chance(0.3)
        items = [c[1] + (f" ({c[2]})" if codes and c[2] else "") for c in conds]
        if arg == "inline":
            self.add("; ".join(items) + ".")
            return
        for i, item in enumerate(items, start=1):
            self.add(f"{i}. {item[0].upper()}{item[1:]}\n")

    def s_meds(self, arg: str) -> None:
        meds = [m for c in self.p.conditions for m in c[3]] or ["multivitamin 1 tab PO daily"]
        if self.chance(0.5):
            meds.append(
                self.pick(
                    (
                        "vitamin D3 1000 IU daily",
                        "docusate 100 mg bid",
                        "melatonin 3 mg qhs prn",
                        "acetaminophen 500 mg 1-2 tabs q6h prn",
                        "metoprolol tartrate 25 mg bid",
                        "trazodone 50 mg, 1/2 tab qhs prn sleep",
                    )
                )
            )
        if arg == "inline":
            self.add("; ".join(meds) + ".")
            return
        bullet = self.pick(("- ", "{i}. ", "{i}) "))
        for i, m in enumerate(meds, start=1):
            self.add(f"{bullet.format(i=i)}{m}\n")

    def s_allergy(self, arg: str) -> None:
        self.add(self.p.allergy)

    def s_exam(self, arg: str) -> None:
        rng = self.rng
        lines = [
            self.pick(
                (
                    "Gen: NAD, A&O x3.",
                    "General: elderly, frail, in no acute distress.",
                    ("Gen: alert, oriented x3, pleasant."),
                )
            ),
            self.pick(("HEENT: MMM, no JVD.", "HEENT: NC/AT, PERRL, EOMI.", "Neck: JVP 10 cm.")),
            self.pick(
                (
                    "CV: RRR, 2/6 systolic murmur at RUSB.",
                    "CV: irregularly irregular, no murmur.",
                    "CV: RRR, S1/S2, no m/r/g.",
                    "CV: RRR, 3/6 holosystolic murmur at apex.",
                )
            ),
            self.pick(
                (
                    "Lungs: CTAB.",
                    "Lungs: bibasilar crackles.",
                    ("Lungs: diffuse expiratory wheeze, prolonged expiration."),
                    "Resp: decreased BS at R base.",
                )
            ),
            self.pick(("Abd: soft, NT/ND, +BS.", "Abd: soft, mild epigastric tenderness, no rebound.")),
            self.pick(
                ("Ext: 1+ pitting edema to mid-shin bilaterally.", "Ext: no edema, 2+ DP pulses.", "Ext: trace edema.")
            ),
            self.pick(
                (
                    "Neuro: CN II-XII intact, strength 5/5 throughout, Babinski downgoing.",
                    "Neuro: nonfocal, GCS 15.",
                    f"Neuro: {self.pick(_words().lookalikes)}.",
                )
            ),
        ]
        if rng.random() < 0.3:
            lines.append(f"Other: {self.pick(_words().lookalikes)}.")
        self.add("\n".join(lines) + "\n")

    def s_lookalike(self, arg: str) -> None:
        self.add(self.pick(_words().lookalikes))

    def s_cc(self, arg: str) -> None:
        self.add(self.present.cc)

    def s_hpi(self, arg: str) -> None:
        self.r(self.pick(self.present.hpi))

    def s_ed(self, arg: str) -> None:
        self.r(self.present.ed)

    def s_dx(self, arg: str) -> None:
        self.add(self.present.dx)
        if arg == "icd":
            self.add(f" ({self.present.icd})")

    def s_course(self, arg: str) -> None:
        self.r(self.pick(self.present.course))

    def s_instructions(self, arg: str) -> None:
        self.r(self.present.instructions)

    def s_social(self, arg: str) -> None:
        self.r(
            self.pick(
                (
                    (
                        "Lives {lives}{? in {city}}. {=Retired|Former} {occupation}. {=Never smoker|Former smoker, "
                        "quit in {year:old}, 30 pack-years|Current smoker, 1/2 ppd|Quit smoking {year:old}}. {=No "
                        "alcohol|Social EtOH|2-3 beers/week|Denies alcohol or drug use}."
                    ),
                    (
                        "{=Never smoked|Ex-smoker (40 pack-years, quit {year:old})}; {=no EtOH|drinks a glass of wine "
                        "nightly}. Lives {lives}{? at {street}} in {city_st}. {=Independent in ADLs|Needs help with "
                        "IADLs|Uses a walker}."
                    ),
                )
            )
        )

    def s_lives(self, arg: str) -> None:
        self.add(self.p.lives)

    def s_occupation(self, arg: str) -> None:
        self.add(self.p.occupation)

    def s_a_occ(self, arg: str) -> None:
        occ = self.p.occupation
        self.add(f"{'an' if occ[0] in 'aeiou' else 'a'} {occ}")

    def s_a_age(self, arg: str) -> None:
        """'a 92-year-old' / 'an 81 y/o' (article agreeing with the number)."""
        a = self.age()
        self.add("an " if str(a).startswith("8") or a in (11, 18) else "a ")
        self.s_age("")

    def s_family(self, arg: str) -> None:
        """Family history, with relatives' ages (over-89 ones are spans)."""
        rng = self.rng
        rel = self.pick(("Mother", "Father"))
        age = rng.choice((rng.randint(55, 88), rng.randint(90, 101)))
        self.add(f"{rel} {self.pick(('died at', 'deceased at age', 'passed away at', 'lived to'))} ")
        if age > 89:
            self.phi(str(age), "AGE")
        else:
            self.add(str(age))
        self.add(f" ({self.pick(('MI', 'stroke', 'colon cancer', 'old age', 'dementia', 'breast cancer', 'CHF'))})")
        self.add(
            self.pick(
                (
                    f"; sister with {self.pick(('DM2', 'breast cancer', 'lupus'))}.",
                    f"; brother with MI at {rng.randint(45, 70)}.",
                    ". No family history of bleeding disorders.",
                    "; no family history of colon cancer.",
                )
            )
        )

    def s_edu(self, arg: str) -> None:
        self.s_url("edu")


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# ----------------------------------------------------------------------------------------------
# Note writers
# ----------------------------------------------------------------------------------------------


def _note_kinds(rng: random.Random, patient: _Patient, count: int) -> list[str]:
    """Kinds of a patient's notes in date order (a plausible sequence, randomised)."""
    kinds = ["discharge", "progress", "radiology", "referral", "ed", "telephone", "lab", "social", "device"]
    weights = [12, 15, 11, 10, 12, 12, 9, 10, 9 if patient.devices else 2]
    out: list[str] = []
    for _ in range(count):
        w = [wt if k not in out else wt // 3 for k, wt in zip(kinds, weights, strict=True)]
        out.append(rng.choices(kinds, weights=w)[0])
    order = {
        "ed": 0,
        "discharge": 1,
        "radiology": 2,
        "lab": 2,
        "social": 3,
        "telephone": 4,
        "referral": 4,
        "device": 5,
        "progress": 5,
    }
    if rng.random() < 0.7:
        out.sort(key=lambda k: order[k])
    return out


def _header_line(n: _Note, parts: Sequence[str], sep: str | None = None) -> None:
    """Render header fields on one line or one per line."""
    sep = sep if sep is not None else n.pick(("    ", "   ", "\n", "\n", " | "))
    n.line(sep.join(parts))


def _device_mention(n: _Note) -> None:
    """One line naming an implanted or home device of the patient (with its serial number)."""
    devices = n.p.devices
    key = n.pick(sorted(devices))
    if key == "pacemaker":
        maker, serial = devices[key].split("|")
        n.r(
            f"{n.pick(('Pacemaker', 'PPM', 'Dual-chamber pacemaker', 'Device'))}: {maker}, "
            f"{n.pick(('SN ', 'serial number ', 'serial # ', 'S/N '))}"
        )
        n.phi(serial, "DEVICE_ID")
        n.line(
            "{=; interrogated by {=the|the {maker}} rep, normal function.|; MR-conditional, device rep to "
            "reprogram.|.}".replace("{maker}", maker)
        )
    elif key == "pump":
        pump, serial = devices[key].split("|")
        n.add(f"{n.pick(('Insulin pump', 'Pump'))}: {pump}, {n.pick(('serial ', 'SN ', 'insulin pump serial '))}")
        n.phi(serial, "DEVICE_ID")
        n.line("{=; patient manages own pump.|; settings reviewed with endocrine.|.}")
    elif key == "cgm":
        n.add("CGM: Dexcom, transmitter ID ")
        n.phi(devices[key], "DEVICE_ID")
        n.line("{=.|; sensor changed {date_ny:recent1}.}")
    else:
        n.add(f"{n.pick(('Home CPAP', 'CPAP', 'CPAP machine'))} (ResMed AirSense 10, {n.pick(('SN ', 'serial '))}")
        n.phi(devices[key], "DEVICE_ID")
        n.line(") {=at 10 cmH2O.|- family to bring from home.|with good adherence.}")


def _dme_mention(n: _Note) -> None:
    """Durable medical equipment with a serial number (home O2, wheelchair, hearing aids)."""
    rng = n.rng
    kind = n.pick(("o2", "chair", "hearing", "bed"))
    if kind == "o2":
        n.add(
            f"Home O2: {n.pick(('Inogen One G5', 'Philips SimplyGo', 'Respironics EverFlo'))} concentrator, serial # "
        )
        n.phi(f"{n.pick(('', 'IG', 'SG'))}{rng.randint(10**7, 10**8 - 1)}", "DEVICE_ID")
        n.line(", 2 L/min with exertion and sleep.")
    elif kind == "chair":
        n.add("Power wheelchair (Pride Jazzy) on file, serial number ")
        n.phi(f"J{rng.randint(10**8, 10**9 - 1)}", "DEVICE_ID")
        n.line("; repair request sent to vendor.")
    elif kind == "hearing":
        n.add("Bilateral hearing aids (Phonak Audeo); serials L ")
        n.phi(f"{rng.randint(1000, 9999)}X{rng.randint(1000, 9999)}", "DEVICE_ID")
        n.add(", R ")
        n.phi(f"{rng.randint(1000, 9999)}X{rng.randint(1000, 9999)}", "DEVICE_ID")
        n.line(" - labeled and kept with patient.")
    else:
        n.add("Hospital bed delivered (Invacare, device SN: ")
        n.phi(f"{rng.randint(10, 99)}{n.pick('ABCDEFGH')}{rng.randint(10**5, 10**6 - 1)}", "DEVICE_ID")
        n.line(").")


def _discharge(n: _Note) -> None:
    n.line(
        n.pick(
            ("DISCHARGE SUMMARY", "Discharge Summary", "HOSPITAL DISCHARGE SUMMARY", ("DISCHARGE SUMMARY - {sysname}"))
        )
    )
    n.line()
    _header_line(n, ["{=Patient|Patient Name|Name}: {pt_header}", "{mrn_label}"])
    _header_line(
        n,
        ["{=DOB|D.O.B.|Date of Birth}: {dob}", "{=Age|Age/Sex}: {age_num}{=| y| yo}{?/{sex}}"]
        + (["{acct_label}"] if n.chance(0.5) else []),
    )
    _header_line(
        n,
        [
            "{=Admission Date|Admitted|Date of Admission}: {date:adm}",
            ("{=Discharge Date|Discharged|Date of Discharge}: {date:dc}"),
        ],
    )
    n.line("{=Attending|Attending Physician|Discharging physician}: {doc_sig:att}")
    n.line("{=PCP|Primary Care|Primary care physician}: {doc_full:pcp}{?30 , {pcp_clinic}, tel {phone:clinic}}")
    n.opt(0.4, "Insurance: {plan_line}")
    n.opt(0.15, "{ssn_label}")
    n.opt(0.2, "Unit: {=4 West|6 North|Telemetry|Medicine}, {room}")
    n.line()
    n.line("{=ADMISSION DIAGNOSIS|Reason for admission|PRINCIPAL DIAGNOSIS}: {dx}")
    n.line()
    n.line("{=DISCHARGE DIAGNOSES|Discharge Diagnoses|SECONDARY DIAGNOSES}:")
    n.add(f"1. {n.present.dx} ({n.present.icd})\n")
    for i, c in enumerate(n.p.conditions[:4], start=2):
        n.add(f"{i}. {c[1][0].upper()}{c[1][1:]}\n")
    n.line()
    n.line("{=HISTORY OF PRESENT ILLNESS|HPI|History of Present Illness}:")
    n.line(
        "{Pt}{?30  {mrn_paren}} is {=a very pleasant {age}|{a_age}} {man} with {pmh:short} who {hpi}{? In the ED, {ed}}"
    )
    n.line()
    n.line("{=PAST MEDICAL HISTORY|PMH|Past Medical History}:")
    n.s_pmh("")
    n.line()
    n.line("{=SOCIAL HISTORY|Social History|SH}: {social}")
    n.opt(0.4, "{=FAMILY HISTORY|FH}: {family}")
    n.line()
    n.line("{=HOSPITAL COURSE|Hospital Course|BRIEF HOSPITAL COURSE}:")
    n.line("# {dx}: {course}")
    n.opt(
        0.6,
        "# Consults: {spec} ({doc_dr:cons}) {=saw the patient on {date_ny:adm}|followed throughout|signed off on HD "
        "{=2|3}}.",
    )
    n.opt(0.5, "# Code status: {=Full code|DNR/DNI}, confirmed with patient and {nok_rel} {nok}{? (HCP)}.")
    n.opt(
        0.35,
        "# {=Skin: Braden score 16, no pressure injury|Falls: Morse fall score 45, bed alarm on|Delirium: CAM "
        "negative, sleep hygiene}; {=discussed with|seen by} RN {nurse_name:rn} on {date_ny:adm}.",
    )
    if n.p.devices and n.chance(0.7):
        n.add("# Devices: ")
        _device_mention(n)
    n.line()
    n.line("{=DISCHARGE MEDICATIONS|Discharge Medications|MEDICATIONS AT DISCHARGE}:")
    n.s_meds("")
    n.opt(0.25, "Controlled substance Rx: oxycodone 5 mg q6h prn #12, prescriber DEA # {dea:att}.")
    n.line("ALLERGIES: {allergy}")
    n.line()
    n.line(
        "{=CONDITION AT DISCHARGE|Discharge condition}: {=stable|improved|fair}. {=Vitals at discharge|Last vitals}: "
        "{vitals}."
    )
    n.line(
        "{=DISPOSITION|Disposition}: {=Home with {nok_rel} ({nok}), who can be reached at {phone:nok}|Home with VNA "
        "services|{rehab} for short-term rehab; report called to RN {nurse_name:rn2}|Home to {street}, {city}; "
        "{nok_rel} to assist}."
    )
    n.opt(0.15, "{Pt}'s car ({vehicle}, plate {plate}) is in the visitor garage; {nok_rel} to pick it up.")
    n.line()
    n.line("{=FOLLOW-UP|Follow-up appointments|FOLLOW UP}:")
    n.line(
        "- {doc_full:pcp} ({=PCP|primary care}) on {date:future1}{? at {time}}{? - {addr:sys}}{?; {=tel|phone|ph} "
        "{phone:clinic}}"
    )
    n.line("- {spec} clinic with {doc_dr:cons} in {=1-2|2|4-6} weeks{?; office will call {pt_first} at {phone:cell}}")
    n.opt(0.4, "- Labs (BMP) on {={date_ny:soon1}|{day:soon1}}; results to be faxed to PCP office, fax {fax}")
    n.line()
    n.line(
        "{=PATIENT INSTRUCTIONS|Instructions|Discharge instructions}: {instructions}{?60  More information: "
        "{url:edu}.}{?40  Questions: {email:clinic} or the {portal} at {url:portal}.}"
    )
    n.opt(0.4, "Pending at discharge: {=blood cultures from {date_ny:adm}|H. pylori biopsy|TSH}.")
    n.line()
    n.line("{=Electronically signed by|Signed|Dictated by}: {doc_sig:att} {?on }{dt:dc}")
    n.opt(0.3, "cc: {doc_dr:pcp}; {doc_dr:cons}")


_PROGRESS_HISTORY = {
    "DM2": "Home glucose log reviewed: fasting 110-160, no lows. ",
    "DM1": "CGM download reviewed: time in range 64%, two lows overnight. ",
    "OSA": "Sleeping well with CPAP, uses it most nights. ",
    "HF": "Weight stable at home, no orthopnea; adherent to 2 g sodium diet. ",
    "COPD": "Using albuterol about twice a week; no recent exacerbations. ",
    "PD": "Tremor worse in the afternoon before the next carbidopa/levodopa dose. ",
    "DEM": "Family reports more word-finding difficulty; still independent in ADLs. ",
}


def _progress(n: _Note) -> None:
    video = n.chance(0.35)
    n.line(
        n.pick(
            ("PROGRESS NOTE", "Clinic Note", "Outpatient Progress Note", "PRIMARY CARE FOLLOW-UP VISIT", "Office Visit")
        )
    )
    _header_line(n, ["{pt_header}", "{=DOB|DOB:} {dob}", "{mrn_label}"])
    n.line("{=Date of service|Visit date|Date}: {date:note}{? {time}}    {=Provider|Clinician}: {doc_sig:pcp}")
    if video:
        n.line(
            "Visit type: {=video visit|telehealth (video)} via {url:tele}; patient at home ({city_st}), {=connected "
            "from|patient device IP} {ip}. Consent for telehealth obtained verbally."
        )
    n.line()
    n.line("{=SUBJECTIVE|S|Subjective|HPI}:")
    n.r(
        n.pick(
            (
                "{Pt} is {a_age} {man} here for {=follow-up of|routine follow-up of|a 3-month visit for} {pmh:short}. ",
                (
                    "{age_num}{? y/o} {sex} with {pmh:short} {=presents for|here for} follow-up{? with {his} "
                    "{nok_rel}, {nok}}. "
                ),
                "Pt seen today for {pmh:short}. Last seen by me on {date:prev1}. ",
            )
        )
    )
    keys = [c[0] for c in n.p.conditions if c[0] in _PROGRESS_HISTORY]
    n.r(
        n.pick(
            (
                (
                    "Since last visit on {date_ny:prev1} {he} reports {=doing well|more fatigue|worse knee pain|good "
                    "BP readings at home (120s-130s/70s)}. "
                ),
                (
                    "{He} was {=admitted|in the ED} in {date_my:past2} for {=CHF exacerbation|pneumonia|a fall} and "
                    "has recovered. "
                ),
                "Reports adherence to meds; uses a pillbox filled by {his} {nok_rel}. ",
            )
        )
    )
    if keys:
        n.add(_PROGRESS_HISTORY[n.pick(keys)])
    n.r("{?40 {He} states {his} {nok_rel} {nok:first} has been helping since {date_my:past1}.}")
    n.line()
    n.line()
    n.line("{=MEDICATIONS|Current Medications|Meds}:")
    n.s_meds("")
    n.line("Allergies: {allergy}")
    n.opt(0.3, "FH: {family}")
    n.line()
    n.line("{=OBJECTIVE|O|Exam}:")
    n.line("{=Vitals|VS}: {vitals}" + ("" if not video else " (self-reported)"))
    if not video:
        n.s_exam("")
    n.opt(0.6, "Labs {date:recent1}: {labs}")
    if n.p.devices and n.chance(0.6):
        _device_mention(n)
    n.line()
    n.line("{=ASSESSMENT AND PLAN|A/P|Assessment & Plan|Impression/Plan}:")
    for i, c in enumerate(n.p.conditions[:4], start=1):
        n.add(f"{i}. {c[1].split(' (')[0][0].upper()}{c[1].split(' (')[0][1:]}")
        n.r(
            n.pick(
                (
                    ": stable, continue current regimen.",
                    ": {=uptitrate|adjust} dose; recheck in 3-4 weeks.",
                    " - at goal. Continue.",
                    ": check labs today{? ({=BMP|CBC|lipids|TSH})}.",
                    ": discussed lifestyle changes; {lookalike}.",
                    ": refer to {spec} ({doc_dr:cons}).",
                )
            )
        )
        n.add("\n")
    n.opt(
        0.35,
        "Health maintenance: {=influenza vaccine given today (lot UJ{=482|733|109}AC, L deltoid)|Shingrix #2 due "
        "{date_my:future1}|colonoscopy {year:old} normal|Tdap {year:old}}.",
    )
    n.opt(0.35, "Disability parking placard application completed for vehicle {plate_label} ({state}).")
    n.opt(0.2, "DMV medical evaluation form completed; driver's license {=#|no.|number} {dl}.")
    n.opt(0.3, "Patient prefers contact by e-mail ({email}) or cell {phone:cell}.")
    n.line(
        "RTC {=3 months|6 months|4-6 weeks} or sooner prn{?; next appt {={date:future1}|on "
        "{day:future1}|{date_ny:future1}}}."
    )
    n.line()
    n.line("{=Electronically signed|Signed|Attested} by {doc_sig:pcp} {dt:note}")
    n.opt(0.3, "Printed from workstation {ip} by {doc:rn}")


def _technique(study: str) -> str:
    if study.startswith(("XR", "MAMMO")):
        return "{=PA and lateral views.|Two views.|Frontal and lateral views.|Standard views.}"
    if study.startswith("CT"):
        return "Axial images with coronal and sagittal reformats.{? DLP {=412|655|980} mGy-cm.}"
    if study.startswith("MRI"):
        return "Multiplanar multisequence imaging{? without contrast}."
    if study.startswith("US"):
        return "{=Grayscale and color Doppler imaging.|Real-time grayscale imaging.}"
    return "Standard protocol."


def _radiology(n: _Note) -> None:
    if n.chance(0.5):
        study, indication, findings, impression = (
            n.present.study,
            n.present.cc,
            n.present.findings,
            n.present.impression,
        )
    else:
        study, indication, findings, impression = n.pick(_words().radiology)
    n.line("{=RADIOLOGY REPORT|DIAGNOSTIC IMAGING REPORT|Imaging Report}{? - {sysname}}")
    n.line("{=Patient|Name}: {pt_header}{? #{mrn}}")
    _header_line(
        n, ["{=DOB|Date of birth}: {dob}", "{=Age|Age:} {age_num}"] + (["{mrn_label}"] if n.chance(0.6) else [])
    )
    n.line("{=Exam date|Date of exam|Study date}: {dt:note}")
    n.line("{=Ordering physician|Ordered by|Referring}: {doc_full:att}{?40  ({=NPI|NPI #} {npi:att})}")
    n.opt(0.3, "{acct_label}")
    n.line()
    n.line(f"EXAM: {study}")
    n.line()
    n.line(
        f"{n.pick(('CLINICAL INDICATION', 'HISTORY', 'INDICATION'))}: {n.pick(('', '{age} {man} with '))}{indication}."
    )
    if study.startswith("MRI") or (n.p.devices and n.chance(0.5)):
        if n.p.devices:
            n.add("MRI/IMPLANT SCREENING: ")
            _device_mention(n)
        else:
            n.line(
                "MRI SAFETY: {=Patient screened|Screening completed} by {doc:rn}. {=No implanted devices|No MR-unsafe "
                "implants}{?; remote {=cholecystectomy clips|hip arthroplasty ({year:old})}}."
            )
    n.line(f"TECHNIQUE: {_technique(study)}")
    n.line(
        "COMPARISON: {=None.|{date:past1}.|Prior study dated {date:past1}.|{=CT|Radiograph} from "
        "{date_my:past2}.|Outside films from {city}, {date:old1}.}"
    )
    n.line()
    n.line("FINDINGS:")
    n.line(findings)
    n.opt(0.3, "Incidental: {=5 mm right thyroid nodule|mild hepatic steatosis|2 cm simple renal cyst (Bosniak I)}.")
    n.line()
    n.line("IMPRESSION:")
    n.line(f"1. {impression}")
    n.opt(
        0.35,
        "2. {=Critical result|Findings} {=discussed with|communicated to} {doc_full:att} by telephone at {time} on "
        "{date_ny:note}.",
    )
    n.line()
    n.line("{=Dictated by|Reported by|Interpreted by}: {doc_sig:rad}")
    n.line("{=Electronically signed|Signed}: {dt:note}{?60  ({=PACS workstation|from} {ip})}")
    n.opt(
        0.3,
        "{=Report generated by PowerScribe 360 v4.0.2|Voice recognition (Dragon Medical One 2023.3) used; errors may "
        "occur}.",
    )


def _referral(n: _Note) -> None:
    n.line(n.pick(("{pcp_clinic}", "{sysname} - {pcp_clinic}", "{sysname}")))
    n.line("{addr_block:sys}")
    n.line("{=Tel|Phone|T}: {phone:sys}   {=Fax|F}: {fax}{?50   {url:site}}")
    n.line()
    n.line("{date:note}")
    n.line()
    n.line("{doc_full:cons}")
    n.line("{spec}{? Department}")
    n.opt(0.5, "Via fax: {fax:consfax}")
    n.line()
    n.line("RE: {={pt_full}|{pt_header}}{?,} {=DOB|D.O.B.|date of birth} {dob}{=, {mrn_label}| {mrn_paren}|}")
    n.opt(0.4, "Insurance: {plan_line}")
    n.opt(0.15, "{ssn_label}")
    n.line()
    n.line("Dear {doc_dr:cons},")
    n.line()
    n.line(
        "{=Thank you for seeing|I am writing to refer|I would be grateful if you could see} {=my patient|our mutual "
        "patient} {pt_full}, {a_age} {man} with {pmh:short}, {=for evaluation of|regarding} {=worsening dyspnea|an "
        "abnormal ECG|iron deficiency anemia|chronic cough|uncontrolled diabetes|tremor}."
    )
    n.line()
    n.r(
        n.pick(
            (
                "{He} was last seen in my office on {date:prev1}. {He} reports symptoms since {date_my:past1}. ",
                "{He} was hospitalized at {sysname} from {date:adm} to {date:dc} for {dx}. ",
                "Over the past {=3|6|several} months {he} has noted gradual decline in exercise tolerance. ",
            )
        )
    )
    n.line("{=Relevant results|Recent workup}: {labs}{? Echo {date_my:past3}: EF 55-60%.}")
    if n.p.devices and n.chance(0.5):
        _device_mention(n)
    n.line()
    n.line("{=Past medical history|PMH}: {pmh:inline}")
    n.line("{=Medications|Current medications}: {meds:inline}")
    n.line("Allergies: {allergy}")
    n.line()
    n.line(
        "{Pt} can be reached at {phone:pt}{? or by e-mail at {email}}.{? {His} {nok_rel}, {nok}, {=helps with "
        "appointments|is {his} health care proxy} ({phone:nok}).}"
    )
    n.opt(0.4, "Records are available through {url:records}; please fax your note to {fax} or e-mail {email:pcp}.")
    n.line()
    n.line("{=Sincerely|Kind regards|With thanks},")
    n.line()
    n.line("{doc_sig:pcp}")
    n.line("{=NPI|NPI #|NPI:} {npi:pcp}{?50   {=License|Lic. #|State license no.} {lic:pcp}}{?30   DEA {dea:pcp}}")
    n.opt(0.5, "cc: {doc_dr:att}{? ; {doc:rn}}")


def _ed(n: _Note) -> None:
    n.line("{=EMERGENCY DEPARTMENT NOTE|ED Provider Note|EMERGENCY DEPARTMENT VISIT|ED PHYSICIAN DOCUMENTATION}")
    _header_line(n, ["{pt_header}", "{mrn_label}", "{=DOB|DOB:} {dob}"], n.pick(("   ", "\n")))
    n.line("{=Arrival|Arrival time|Date of visit}: {dt:note}   {room}")
    n.opt(0.6, "{acct_label}")
    if n.chance(0.35):
        n.line("Registration: {addr}; {=home|ph} {phone:home}; {plan_line}{?70 ; {ssn_label}}")
    n.line("{=Attending|ED attending}: {doc_sig:att}{?50   Resident: {doc:res}}")
    n.line("{=Triage RN|Triage}: {doc:rn}")
    n.line()
    n.line("CC: {cc}")
    n.line()
    n.line(
        "HPI: {age} {man} with {pmh:short}{= who|,} {hpi}{? History obtained from {=the patient and |}{his} {nok_rel} "
        "{nok} at bedside.}"
    )
    if n.present.key == "mvc":
        n.line(
            "Per {=police|the officer at bedside|EMS}, {he} was driving a {vehicle} ({={plate_label}|{state} plate "
            "{plate}}){?, VIN {vin}}. Collision at {=low|moderate} speed near {=home|{city}}."
        )
    n.line()
    n.line("PMH: {pmh:inline}")
    n.line("Meds: {meds:inline}")
    n.line("Allergies: {allergy}")
    n.line("Social: {social}")
    n.opt(0.25, "Family: {family}")
    n.line()
    n.line("ROS: {=Otherwise negative x10 systems.|Neg except as per HPI.|All other systems reviewed and negative.}")
    n.line()
    n.line("EXAM:")
    n.line("VS: {vitals}")
    n.s_exam("")
    if n.p.devices and n.chance(0.5):
        _device_mention(n)
    n.line()
    n.line("ED COURSE / MDM: {ed}{? Discussed with {doc_dr:cons} ({spec}) at {time}.}")
    n.opt(0.3, "Identity verified with driver's license {dl} ({state}).")
    n.opt(0.35, "Pt reports {his} car ({vehicle}, {plate_label}) is parked in the ED lot, space {=14|22|B7}.")
    n.line()
    n.line("DIAGNOSIS: {dx:icd}")
    n.line(
        "DISPOSITION: {=Admitted to medicine ({doc_dr:att2})|Discharged home with {nok_rel}|Admitted to telemetry, "
        "{room}|Observation}. {=Condition stable.|Condition fair.}"
    )
    n.opt(0.4, "Contact: {nok_rel} {nok} {phone:nok}; home {phone:home}; {street}, {city} {zip}.")
    n.line()
    n.line("{doc_sig:att}  {dt:note}")
    n.opt(0.15, "Note accessed from {ip}.")


# Telephone scenarios: (reason, body template, advice template)
_CALLS = (
    (
        "symptom call",
        (
            "Spoke with {who}. Reports {=increased ankle swelling x3 days|dizziness when standing|BG 300s since "
            "{date_ny:recent1}|cough and low-grade fever 99.8|a rash after starting new med}. Denies CP/SOB. "
        ),
        (
            "{=Increase furosemide to 40 mg bid x3 days, recheck weight daily; call back if > 3 lb gain.|Advised to go "
            "to ED if worse.|Scheduled for visit on {date:future1} at {time}.|Hold lisinopril, BMP on {date_ny:soon1}.}"
        ),
    ),
    (
        "refill request",
        (
            "{who} called requesting refill of {=metoprolol 25 mg bid|atorvastatin 40 mg|levothyroxine 75 "
            "mcg|albuterol HFA} to {pharmacy}, {street:pharm}, {city:pharm} (ph {phone:pharmacy}, fax {fax:pharmfax}). "
        ),
        "Rx sent to pharmacy{?; 90-day supply}.",
    ),
    (
        "test results",
        "Returned call to {who} re: lab results from {={date:recent1}|{day:recent1}}; HbA1c 7.2%, LDL 88, Cr stable. ",
        "{=No changes. Repeat labs in 3 months.|Recheck BMP on {date_ny:soon1}.}",
    ),
    (
        "billing question",
        "{who} asking about bill for visit on {date:prev1}, billing account {acct}. ",
        "Transferred to patient financial services{?, (ph {phone:billing})}.",
    ),
    (
        "prior authorization",
        "Prior auth for {=apixaban|empagliflozin|CPAP supplies|MRI lumbar spine} submitted to {plan_line}. ",
        "Awaiting determination; pharmacy notified.",
    ),
    (
        "parking / vehicle",
        (
            "{who} called: {=the patient's|{pt_first}'s|{his}} car ({vehicle}, plate {plate}) was left in the clinic "
            "garage after the visit on {date_ny:prev1}. "
        ),
        "Security notified and will hold the vehicle; family to bring the keys{?, VIN {vin} given to security}.",
    ),
    (
        "medical records",
        "{who} requesting copies of records for {=the cardiologist|a new PCP|disability paperwork}. ",
        "Release form sent to {email}; records can also be requested at {url:records}.",
    ),
)


def _telephone(n: _Note) -> None:
    n.line("{=TELEPHONE ENCOUNTER|Telephone Encounter|Phone Note|PATIENT CALL}")
    n.line("{pt_header}   {=DOB|dob} {dob}   {={mrn_label}|{mrn_paren}}")
    n.line("{=Date/time|Call date}: {dt:note}")
    reason, body, advice = n.rng.choice(_CALLS)
    caller_is_nok = n.chance(0.5)
    if caller_is_nok:
        n.line("Caller: {nok} ({nok_rel}){? - on HIPAA release}   Callback: {phone:nok}")
    else:
        n.line("Caller: {=patient|self|pt}   {=Callback number|Best number|Call back #}: {phone:pt}")
    n.line(f"Reason: {reason}")
    n.line()
    who = "{nok_rel} {nok:first}" if caller_is_nok else "{pt}"
    who_initial = "{His} {nok_rel} {nok:first}" if caller_is_nok else "{Pt}"
    n.r(body.replace("{who} ", who_initial + " ", 1) if body.startswith("{who}") else body.replace("{who}", who))
    n.r(
        n.pick(
            (
                "Verified identity with name and DOB.",
                "Verified identity with name, DOB and {ssn_label}.",
                "Identity confirmed: DOB and {ssn_label}.",
                "Identity verified (DOB {dob}).",
                "Two identifiers verified.",
            )
        )
    )
    n.line()
    n.opt(
        0.45,
        'Portal message received {dt:recent2} from {email}{? (sent from IP {ip})}: "{=can i take tylenol with '
        "my meds|need new rx sent pls|what time is my appt on {date_ny:future1}|is my appt still on {day:future1}|my "
        '{nok_rel} {nok:first} will bring me}"',
    )
    n.line(f"Advice: {advice}{{? Routed to {{doc_dr:pcp}} for review.}}")
    n.opt(0.3, "Mailed instructions to {addr}.")
    n.opt(0.3, "Sent {portal} activation link: {url:portal}")
    n.opt(0.3, "Chart accessed from {ip}.")
    n.line()
    n.line("{doc:rn}{? {dt:note}}")


def _lab(n: _Note) -> None:
    rng = n.rng
    n.line("{=LABORATORY REPORT|Clinical Laboratory Report|LAB RESULTS}")
    n.line("{sysname} {=Laboratory|Clinical Laboratory|Core Lab}, {addr:sys}")
    n.line("{=Phone|Tel}: {phone:sys}   Fax: {fax}")
    n.line()
    n.line("{=Patient|Name}: {pt_header}   {=Sex|Gender}: {sex}")
    n.line("{=DOB|Date of Birth}: {dob}   Age: {age_num}{? years}")
    n.line("{mrn_label}   {acct_label}")
    n.opt(0.3, "Address: {addr_block:pt|         }")
    n.opt(0.4, "{ssn_label}")
    n.opt(0.3, "Insurance: {plan_line}")
    n.line("Ordering provider: {doc_sig:pcp}{? (NPI {npi:pcp})}")
    n.line("Collected: {dt:note}   {=Received|Reported}: {date:note}")
    n.line()
    n.line(f"{'TEST':<26}{'RESULT':<10}{'FLAG':<6}{'UNITS':<10}REFERENCE")
    panel = [
        ("Sodium", rng.randint(128, 146), "mmol/L", "135-145"),
        ("Potassium", round(rng.uniform(3.1, 5.8), 1), "mmol/L", "3.5-5.1"),
        ("Chloride", rng.randint(95, 110), "mmol/L", "98-107"),
        ("CO2", rng.randint(17, 31), "mmol/L", "22-29"),
        ("BUN", rng.randint(7, 52), "mg/dL", "7-20"),
        ("Creatinine", round(rng.uniform(0.6, 2.6), 2), "mg/dL", "0.60-1.30"),
        ("Glucose", rng.randint(68, 290), "mg/dL", "70-99"),
        ("Hemoglobin A1c", round(rng.uniform(5.1, 10.8), 1), "%", "4.0-5.6"),
        ("WBC", round(rng.uniform(3.1, 17.0), 1), "K/uL", "4.0-11.0"),
        ("Hemoglobin", round(rng.uniform(7.2, 15.8), 1), "g/dL", "12.0-16.0"),
        ("Platelets", rng.randint(90, 450), "K/uL", "150-400"),
        ("TSH", round(rng.uniform(0.2, 7.5), 2), "uIU/mL", "0.45-4.50"),
        ("INR", round(rng.uniform(0.9, 3.4), 1), "", "0.9-1.1"),
    ]
    for test, value, unit, ref in rng.sample(panel, rng.randint(6, 11)):
        lo, hi = (float(x) for x in ref.split("-"))
        flag = "H" if float(value) > hi else "L" if float(value) < lo else ""
        n.add(f"{test:<26}{value!s:<10}{flag:<6}{unit:<10}{ref}\n")
    n.line()
    n.opt(0.4, "CRITICAL VALUE: called to and read back by {doc:rn} at {time} on {date_ny:note}.")
    n.opt(
        0.25,
        "Comment: specimen {=slightly hemolyzed|received at room temperature}; {=repeat requested|results may be "
        "affected}.",
    )
    n.line("{=Results faxed to|Copy to} {doc_dr:pcp} at {fax}{? on {date:note}}.")
    n.opt(0.4, "View results online: {url:portal}{? (last login from {ip})}")
    n.line("Laboratory Director: {doc_sig:lab}{? - License {lic:lab}}")


def _social(n: _Note) -> None:
    n.line("{=SOCIAL WORK NOTE|Social Work Assessment|CASE MANAGEMENT / SOCIAL WORK}")
    n.line("{pt_header}   {mrn_label}   {=DOB|DOB:} {dob}")
    n.line("Date: {dt:note}   {room}")
    n.line()
    n.line(
        "{=Reason for referral|Referral reason}: {=discharge planning|financial concerns|caregiver support|insurance "
        "application|transportation}."
    )
    n.line()
    n.line(
        "{=Psychosocial assessment|Assessment}: Met with {pt}{? and {his} {nok_rel}, {nok},} at bedside. {Pt} is "
        "{a_age} {man} who lives {lives} at {addr}{? ({county})}. {He} {=is retired; formerly|worked as} {a_occ}.{? "
        "{He} has a {other} who lives in {city_st}.}"
    )
    n.line()
    n.line(
        "Contacts: {nok_rel} {nok:full} - cell {phone:nok}{?; {other} - {phone:other}}. Patient home phone "
        "{phone:home}{?, e-mail {email}}."
    )
    n.line("Insurance: {plan_line}{?; {=secondary|supplemental} pending}.")
    n.line(
        n.pick(
            (
                "Assisted with {=SSDI|SSI|Medicaid|SNAP} application; {ssn_label} confirmed with patient.",
                (
                    "Completed {=Medicaid|Medicare Savings Program|fuel assistance} application with {nok_rel}; "
                    "{ssn_label}."
                ),
                (
                    "Financial counseling referral placed ({acct_label}); {ssn_label} verified for charity care "
                    "application."
                ),
            )
        )
    )
    if n.chance(0.8):
        n.line(
            "Transportation: {He} drives a {vehicle} ({plate_label}{?, VIN {vin}}); {=car was towed from the hospital "
            "garage, family notified|family will retrieve the car from the garage|advised not to drive until cleared "
            "by {doc_dr:cons}}."
        )
    n.opt(0.4, "ID on file: {state} driver's license {dl}.")
    if n.chance(0.35):
        _dme_mention(n)
    n.line(
        "Plan: {=home with VNA and home PT; referral faxed to agency at {fax:agencyfax}|short-term rehab at {rehab}; "
        "clinicals sent|home with {nok_rel}; Meals on Wheels referral placed}. Will follow."
    )
    n.line()
    n.line("{doc_sig:sw}{? ext. {=4471|2210|3385}}{? {date:note}}")


def _device(n: _Note) -> None:
    p = n.p
    if not p.devices:
        p.devices["pacemaker"] = _pacemaker(n.rng)
    n.line(
        "{=DEVICE CLINIC NOTE|Device Clinic - Interrogation Report|CARDIAC DEVICE FOLLOW-UP|Device and Technology "
        "Visit}"
    )
    n.line("{pt_header}   {=DOB|DOB:} {dob}   {mrn_label}")
    n.line("Date: {date:note}   {=EP physician|Physician}: {doc_full:ep}   {=Device RN|Technician}: {doc:dev}")
    if "pacemaker" in p.devices:
        n.line()
        maker, serial = p.devices["pacemaker"].split("|")
        model = {
            "Medtronic": "Azure XT DR MRI SureScan (model W1DR01)",
            "Boston Scientific": "Accolade MRI (model L331)",
            "Abbott": "Assurity MRI (model PM2272)",
            "Biotronik": "Edora 8 DR-T",
        }[maker]
        n.line(f"Device: {maker} {model} dual-chamber pacemaker, implanted {{date:old1}} by {{doc_dr:ep}}.")
        n.add(n.pick(("Serial number: ", "SN: ", "Serial # ", "Device SN ", "Pacemaker serial number ")))
        n.phi(serial, "DEVICE_ID")
        n.add("\n")
        if n.chance(0.5):
            n.add("UDI: ")
            n.phi(_udi(n.rng, serial), "DEVICE_ID")
            n.add("\n")
        n.add("Leads: RA 5076-52 cm, RV 5076-58 cm (RV lead SN ")
        n.phi(f"{n.pick(('PJN', 'BBL', 'LFT'))}{n.rng.randint(1000000, 9999999)}", "DEVICE_ID")
        n.line(").")
        n.line(
            "Indication: {=complete heart block|sick sinus syndrome|2:1 AV block}. Underlying rhythm: {=sinus with "
            "CHB, escape 38 bpm|sinus bradycardia 42 bpm}."
        )
        n.line(
            "Battery: {=OK|good}, longevity {=8.5|10.5|11} years. RA sensing 2.8 mV, RV sensing 9.1 mV; RA threshold "
            "0.75 V @ 0.4 ms, RV threshold 1.0 V @ 0.4 ms; impedances 494/608 ohms. Mode DDDR 60-130."
        )
        n.line(
            "Episodes: {=none|2 AHREs, longest 4 min, AF burden < 1%|1 PMT episode}. {=No changes made.|Sensitivity "
            "adjusted.}"
        )
        n.line(
            "Remote monitoring: {=CareLink|LATITUDE|Merlin.net} transmissions received{? from home monitor at {ip}}; "
            "next remote {date:future1}.{? Portal: {url:site}}"
        )
    if "pump" in p.devices or ("cgm" in p.devices):
        pump, serial = p.devices["pump"].split("|")
        n.line()
        n.add(f"Insulin pump: {pump}, {n.pick(('serial number ', 'SN ', 'serial # ', 'insulin pump serial '))}")
        n.phi(serial, "DEVICE_ID")
        n.line(". Basal 0.8-1.1 units/h, ICR 1:10, ISF 1:45, target 110.")
        n.add(f"CGM: Dexcom {n.pick(('G6', 'G7'))}, transmitter ID ")
        n.phi(p.devices["cgm"], "DEVICE_ID")
        n.line(". Time in range 68%, below range 2%. GMI 7.1%.")
        n.opt(0.5, "Data uploaded from {=Tandem t:connect|CareLink|Glooko} ({url:portal}) on {date_ny:recent1}.")
    if "cpap" in p.devices:
        n.line()
        n.add("CPAP: ResMed AirSense 10 AutoSet, SN ")
        n.phi(p.devices["cpap"], "DEVICE_ID")
        n.line(". Usage 6.4 h/night, 93% of nights > 4 h; AHI 2.1; 95th percentile pressure 11.2 cmH2O.")
        n.opt(0.4, "Data from AirView cloud; modem last connected from {ip}.")
    n.line()
    n.line("Assessment: {=normal device function|appropriate device function, no arrhythmias|stable; no changes}.")
    n.line(
        "Plan: {=in-clinic check in 12 months|remote check every 3 months|follow up with {doc_dr:endo} in 3 months}.{? "
        "Questions: {email:dev} or {phone:clinic}.}"
    )
    n.line("{doc_sig:ep}{? {dt:note}}")


_WRITERS: dict[str, Callable[[_Note], None]] = {
    "discharge": _discharge,
    "progress": _progress,
    "radiology": _radiology,
    "referral": _referral,
    "ed": _ed,
    "telephone": _telephone,
    "lab": _lab,
    "social": _social,
    "device": _device,
}
