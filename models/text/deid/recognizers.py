"""Presidio recognizers for clinical identifiers that Presidio's predefined ones miss.

- :func:`load_pattern_recognizers` builds Presidio ``PatternRecognizer`` objects from
  ``taxonomies/deid/patterns.yaml`` (dates in every common format, ages over 89, SSNs, phone
  shapes, street addresses, city/ZIP, VINs, Medicare ids, DEA numbers, bare id-like numbers).
- :class:`CuedIdRecognizer` finds numbers right after a cue word ("MRN:", "Acct #", "Member ID",
  "DEA", "VIN") and types them by the cue (``taxonomies/deid/id_keywords.tsv``).
- :class:`NameRecognizer` finds person names from structure: titles (Dr., Mrs.), credentials
  (", MD"), "LAST, FIRST", cue words (patient, son, signed by) and a census-style first/last
  name list (Faker's en_US lists), beside the statistical names from spaCy.

Nothing is read at import time; each ``load_*`` function reads its rule file when called.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import regex
from presidio_analyzer import EntityRecognizer, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from cliniloop.taxonomies.deid import deid_rules_dir

from .types import PHI_TYPES

_FLAGS = regex.IGNORECASE | regex.MULTILINE


#: Cue type of numbers that are not identifiers (lot, model, NDC...).
NOT_PHI = "NOT_PHI"


class DeidRulesError(ValueError):
    """A de-identification rule file that cannot be used; the message names the file and entry."""


def load_pattern_recognizers(path: Path | None = None) -> list[PatternRecognizer]:
    """Build the Presidio pattern recognizers of ``patterns.yaml``.

    Raises
    ------
    DeidRulesError
        When the file is not valid YAML, names an unknown identifier type, or holds a regex
        that does not compile (the message names the file and the pattern).
    """
    import yaml

    path = path or deid_rules_dir() / "patterns.yaml"
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise DeidRulesError(f"{path}: not valid YAML: {err}") from None
    recognizers = []
    for entry in spec.get("recognizers", []):
        entity = entry.get("supported_entity")
        if entity not in PHI_TYPES:
            raise DeidRulesError(f"{path}: recognizer {entry.get('name')!r}: unknown type {entity!r}")
        for pattern in entry.get("patterns", []):
            try:
                regex.compile(pattern["regex"], _FLAGS)
            except regex.error as err:
                raise DeidRulesError(f"{path}: pattern {pattern.get('name')!r}: {err}") from None
        recognizers.append(PatternRecognizer.from_dict(entry))
    return recognizers


@dataclass(frozen=True)
class IdCue:
    """A cue word (regex) and the identifier type of a number that follows it."""

    pattern: str
    type: str


@lru_cache(maxsize=4)
def load_id_cues(path: Path | None = None) -> tuple[IdCue, ...]:
    """Read ``id_keywords.tsv``: ``cue_regex <TAB> type`` per line, ``#`` comments.

    Raises
    ------
    DeidRulesError
        On a malformed line or an unknown type (naming file and line).
    """
    path = path or deid_rules_dir() / "id_keywords.tsv"
    cues = []
    with path.open(encoding="utf-8", newline="") as handle:
        for lineno, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) != 2 or (row[1] not in PHI_TYPES and row[1] != NOT_PHI):
                raise DeidRulesError(f"{path}:{lineno}: expected 'cue_regex<TAB>type' with a known type")
            cues.append(IdCue(row[0], row[1]))
    return tuple(cues)


@lru_cache(maxsize=4)
def cue_regex(path: Path | None = None) -> regex.Pattern[str]:
    """One regex matching any cue; the group name says the type (``T_<TYPE>``)."""
    by_type: dict[str, list[str]] = {}
    for cue in load_id_cues(path):
        by_type.setdefault(cue.type, []).append(cue.pattern)
    groups = "|".join(f"(?P<T_{t}>{'|'.join(ps)})" for t, ps in by_type.items())
    return regex.compile(rf"(?<![\w])(?:{groups})(?![\w])", _FLAGS)


#: An identifier value: up to four space-separated groups of letters, digits and ``-./()``
#: ("1EG4-TE5-MK73", "S123-4567-8901", "123 45 6789", "JKR L86"); :func:`_trim_value` then drops
#: trailing groups that are plain words and checks the digits a type needs.
_ID_VALUE = r"[A-Z0-9(][A-Z0-9()\-./]*[A-Z0-9)]?(?:[ ][A-Z0-9][A-Z0-9\-]+(?![\w/])){0,3}"
#: Fewest digits in a cued value, per type (default 3); short alphanumeric plates and
#: transmitter ids need one digit and five characters.
_MIN_DIGITS = {"PHONE": 7, "FAX": 7, "DEVICE_ID": 1, "VEHICLE_ID": 1, "LICENSE": 1, "HEALTH_PLAN": 1}
_MIN_CHARS = 5


def _trim_value(text: str, start: int, end: int, phi_type: str) -> tuple[int, int] | None:
    """Drop trailing groups that are words (no digit, not upper case); check digits and length."""
    groups = list(regex.finditer(r"\S+", text[start:end]))
    while len(groups) > 1 and not any(ch.isdigit() for ch in groups[-1].group()) and not groups[-1].group().isupper():
        groups.pop()
    end = start + groups[-1].end()
    value = text[start:end]
    alnum = sum(ch.isalnum() for ch in value)
    if sum(ch.isdigit() for ch in value) < _MIN_DIGITS.get(phi_type, 3) or alnum < min(_MIN_CHARS, len(value)):
        return None
    if not any(ch.isdigit() for ch in groups[0].group()) and not groups[0].group().isupper():
        return None
    return start, end


_CUE_LINK = r",?\.?(?:\s*(?:number|num|nbr|no\.?|id|#|code))*\s*(?:is|was|of|on\s+file)?\s*[:#=\-]?\s*#?\s*"


class CuedIdRecognizer(EntityRecognizer):
    """Numbers right after a cue word, typed by the cue (MRN, account, member id, DEA, VIN...).

    Parameters
    ----------
    cues_path : Path, optional
        The cue table; default ``taxonomies/deid/id_keywords.tsv``.
    score : float
        Score of every result.
    """

    def __init__(self, cues_path: Path | None = None, score: float = 0.9) -> None:
        self.cues_path = cues_path
        self.score = score
        types = sorted({c.type for c in load_id_cues(cues_path)} - {NOT_PHI})
        super().__init__(supported_entities=types, name="CuedIdRecognizer", supported_language="en")

    def _metadata(self) -> dict[str, str]:
        return _recognizer_metadata(self)

    def load(self) -> None:  # noqa: D102 - Presidio hook; the cue table loads lazily
        self._value = regex.compile(_ID_VALUE, _FLAGS)
        self._link = regex.compile(_CUE_LINK, _FLAGS)

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        """Every cue followed by an identifier value, typed by the cue."""
        results = []
        for cue in cue_regex(self.cues_path).finditer(text):
            phi_type = next(name[2:] for name, value in cue.groupdict().items() if value is not None)
            if phi_type not in entities:
                continue
            link = self._link.match(text, cue.end())
            value = self._value.match(text, link.end()) if link else None
            if value is None or "\n" in text[cue.end() : value.start()]:
                continue
            trimmed = _trim_value(text, *value.span(), phi_type)
            if trimmed is None:
                continue
            start, end = trimmed
            if text[start] == "(" and ")" not in text[start:end]:
                start += 1
            if text[end - 1] == ")" and "(" not in text[start:end]:
                end -= 1
            results.append(RecognizerResult(phi_type, start, end, self.score, recognition_metadata=self._metadata()))
        return results


@lru_cache(maxsize=1)
def name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """Lower-cased first names and last names (Faker's en_US census-derived lists)."""
    from faker.providers.person.en_US import Provider

    first = {n.lower() for n in Provider.first_names}
    last = {n.lower() for n in Provider.last_names}
    return frozenset(first), frozenset(last)


@lru_cache(maxsize=4)
def name_stoplist(path: Path | None = None) -> frozenset[str]:
    """Capitalised words that are never names on their own (eponyms, headings, months)."""
    path = path or deid_rules_dir() / "name_stoplist.txt"
    words = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip().lower()
        if line and not line.startswith("#"):
            words.add(line)
    return frozenset(words)


@lru_cache(maxsize=1)
def clinical_vocabulary() -> frozenset[str]:
    """Lower-cased clinical terms of the text lexicons: a name candidate that is a term is no name."""
    from cliniloop.models.text.rules import default_rules_dir, load_targets

    return frozenset(entry.literal.lower() for entry in load_targets(default_rules_dir()))


_TITLES = r"(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof|Doctor|Professor|Nurse|Sister|Rev|Father|Sr|Dame|Sir)"
_CREDENTIALS = (
    r"(?:MD|M\.D\.|DO|D\.O\.|RN|BSN|NP|PA-C|PA|MBBS|PhD|FACC|FACP|FACS|FRCP|CNM|LPN|LVN|CRNA|PharmD|DPM|DDS|"
    r"DMD|APRN|ANP|FNP|CNP|DNP|LCSW|MSW|PT|DPT|OT|RD|RPh|CMA|RRT|CNA|EMT|MPH)(?![ ,]*\d{5})"
)
#: A capitalised name word: "Smith", "O'Brien", "McDonald", "Smith-Jones", "Úrsula", initials "J." / "S.R.".
_NAME_WORD = r"(?:(?:Mc|Mac|O'|D'|De|Di|La|Le|Van|Von)?\p{Lu}\p{Ll}+(?:['\-]\p{Lu}?\p{Ll}+)*|\p{Lu}\.(?:\p{Lu}\.)?)"
_UPPER_WORD = r"(?:\p{Lu}[\p{Lu}'\-]+)"
#: A name typed in lower case ("seen by dr alvarez", "manuel RN"): only right after a title,
#: before or after a credential, or after a family cue.
_LOWER_WORD = r"(?:\p{Ll}[\p{Ll}'\-]{2,})"
_FAMILY_CUES = (
    r"(?:son|daughter|wife|husband|mother|father|brother|sister|spouse|partner|niece|nephew|grandson|"
    r"granddaughter|aunt|uncle|cousin|friend|neighbou?r|caregiver)"
)
_STRONG_CUES = (
    r"(?:patient(?:'s)?(?:\s+name)?|pt|name|son|daughter|wife|husband|mother|father|mom|dad|brother|sister|spouse|"
    r"partner|fianc[eé]e?|friend|neighbou?r|caregiver|guardian|niece|nephew|grandson|granddaughter|grandmother|"
    r"grandfather|aunt|uncle|cousin|roommate|boyfriend|girlfriend|PCP|attending|resident|fellow|intern|surgeon|"
    r"physician|provider|clinician|therapist|pharmacist|nurse|referring|referred\s+by|seen\s+by|signed\s+by|"
    r"dictated\s+by|transcribed\s+by|reviewed\s+by|authored\s+by|electronically\s+signed\s+by|cc|attn|dear|"
    r"spoke\s+with|discussed\s+with|contact|emergency\s+contact|next\s+of\s+kin|NOK|HCP|POA|proxy|"
    r"interpreter|chaplain|case\s+manager|social\s+worker|caller|called|director|technician|technologist|"
    r"dietitian|RE|proxy|RN|NP|MD)"
)


class NameRecognizer(EntityRecognizer):
    """Person names from structure and name lists (see the module docstring).

    Parameters
    ----------
    use_name_lists : bool
        Use the first/last name lists (turn off to measure what structure alone finds).
    """

    def __init__(self, use_name_lists: bool = True) -> None:
        self.use_name_lists = use_name_lists
        super().__init__(supported_entities=["NAME"], name="NameRecognizer", supported_language="en")

    def _metadata(self) -> dict[str, str]:
        return _recognizer_metadata(self)

    def load(self) -> None:  # noqa: D102 - Presidio hook
        word, upper = _NAME_WORD, _UPPER_WORD
        self._patterns: list[tuple[regex.Pattern[str], float, str]] = [
            # Dr. Alice Wong / Mrs. O'Brien / Dr Wong
            (
                regex.compile(
                    rf"(?<=\b{_TITLES}\.?\s+)(?:{word}|{upper})(?:[ ](?!{_CREDENTIALS}\b)(?:{word}|{upper})){{0,2}}\b\.?"
                ),
                0.9,
                "title",
            ),
            # Alice Wong, MD / K. Patel RN
            (regex.compile(rf"\b{word}(?:[ ]{word}){{0,3}}(?=,?\s+{_CREDENTIALS}\b)"), 0.85, "credential"),
            (regex.compile(rf"\b{upper}(?:[ ]{upper}){{0,2}}(?=,?\s+{_CREDENTIALS}\b)"), 0.7, "credential"),
            # Lee, April F, LCSW / LEE, APRIL, LCSW
            (
                regex.compile(
                    rf"\b{word}(?:[ ]{word})?,[ ]{word}(?:[ ]{word}|[ ]\p{{Lu}}\b)?(?=,?\s+{_CREDENTIALS}\b)"
                    rf"|\b{upper}(?:[ ]{upper})?,[ ]?{upper}(?:[ ]{upper}|[ ]\p{{Lu}}\b)?(?=,?\s+{_CREDENTIALS}\b)"
                ),
                0.85,
                "credential",
            ),
            # dr alvarez / manuel RN / RN oliver / niece odika
            (
                regex.compile(
                    rf"(?<=\b(?:{_TITLES}\.?|(?-i:RN|NP|MD))[ ]){_LOWER_WORD}(?:[ ]{_LOWER_WORD})?\b"
                    rf"|(?<=\b(?i:{_FAMILY_CUES}),?[ ]){_LOWER_WORD}(?:[ ]{_LOWER_WORD})?(?=[ ]?[,;(\d]|[ ]-|[ ]at[ ]bedside)"
                    rf"|\b{_LOWER_WORD}(?:[ ]{_LOWER_WORD})?(?=,?[ ](?-i:RN|NP|MD|PA-C|LCSW)\b)"
                ),
                0.6,
                "lower",
            ),
            # SMITH, JOHN A / Smith, John
            (regex.compile(rf"\b{upper}(?:[ ]{upper})?,[ ]?{upper}(?:[ ][A-Z]\.?)?(?![\w])"), 0.4, "last-first"),
            (regex.compile(rf"\b{word},[ ]{word}(?:[ ][A-Z]\.?)?(?![\w])"), 0.45, "last-first"),
            # patient: John Smith / son Michael / signed by: Wong
            (
                regex.compile(
                    rf"(?<=\b(?i:{_STRONG_CUES})\b[ \t]*(?i:is|was|name[ ]is)?[ \t]*[:,\-]?[ \t]*(?:{_TITLES}\.?[ ]+)?)"
                    rf"(?!{_CREDENTIALS}\b)(?:{word}|{upper})(?:(?:,[ ]?|[ ])(?!{_CREDENTIALS}\b)(?:{word}|{upper})){{0,2}}"
                    rf"(?:[ ]\p{{Lu}}\b\.?)?\b\.?"
                ),
                0.55,
                "cue",
            ),
            # any run of two or three capitalised words (kept only when the name lists know one)
            (regex.compile(rf"\b{word}(?:[ ]{word}){{1,3}}\b"), 0.3, "run"),
            (regex.compile(rf"\b{upper}(?:[ ]{upper}){{1,2}}\b"), 0.2, "run"),
        ]

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        """Name candidates with scores; weak ones are raised when a name list knows their words."""
        first, last = name_lists() if self.use_name_lists else (frozenset(), frozenset())
        stop = name_stoplist()
        results = []
        for pattern, base, kind in self._patterns:
            for match in pattern.finditer(text):
                start, end = match.span()
                span = text[start:end].rstrip(".") if not text[start:end].endswith(" .") else text[start:end]
                end = start + len(span)
                words = [w.strip(".,'").lower() for w in regex.split(r"[\s,]+", span) if w.strip(".,'")]
                content = [w for w in words if len(w) > 1]
                if not content or "\n" in span:
                    continue
                if kind == "lower":  # keep the words before the first common word
                    kept_words = []
                    for w in regex.finditer(r"\S+", text[start:end]):
                        lw = w.group().lower()
                        if lw in _common_words() or lw in stop or lw in clinical_vocabulary():
                            break
                        kept_words.append(w)
                    if not kept_words:
                        continue
                    end = start + kept_words[-1].end()
                    results.append(RecognizerResult("NAME", start, end, base, recognition_metadata=self._metadata()))
                    continue
                if kind == "cue" and regex.match(r"(?i)(?:is|was|the|a|an|and|or|to|for|at|in|on|with|by|of|his|her|their)\b", span):
                    continue
                named = sum(1 for w in content if w in first or w in last)
                stopped = sum(1 for w in content if w in stop)
                if kind in {"title", "credential"}:
                    # keep the words up to the first stoplisted one ("Dr. Wong Cardiology" -> "Wong")
                    kept = _leading_non_stop(text, start, end, stop)
                    if kept is None:
                        continue
                    start, end = kept
                    results.append(RecognizerResult("NAME", start, end, base, recognition_metadata=self._metadata()))
                    continue
                if stopped and kind == "run":  # "Telephone Encounter Cesare Ossola": keep the words after the last stop word
                    tail = _after_last_stop(text, start, end, stop)
                    if tail is None:
                        continue
                    start = tail
                    content = [w for w in regex.split(r"[\s,]+", text[start:end].lower()) if len(w.strip(".")) > 1]
                    named = sum(1 for w in content if w in first or w in last)
                    if not content:
                        continue
                elif stopped:
                    continue
                if kind == "cue":
                    score = base + (0.3 if named else 0.0)
                elif kind == "last-first":
                    score = base + (0.35 if named >= 1 else 0.0) + (0.3 if _beside_identity(text, start, end) else 0.0)
                else:  # run of capitalised words: starts at its first listed name word
                    if named == 0:
                        if _beside_identity(text, start, end):
                            results.append(RecognizerResult("NAME", start, end, 0.6, recognition_metadata=self._metadata()))
                        continue
                    offset = _first_listed_word(span, first | last)
                    start += offset
                    content = [w for w in regex.split(r"[\s,]+", text[start:end].lower()) if len(w.strip(".")) > 1]
                    if not content:
                        continue
                    score = base + 0.2 * named + (0.15 if content[0] in first else 0.0)
                results.append(RecognizerResult("NAME", start, end, min(score, 0.95), recognition_metadata=self._metadata()))
        return results


@lru_cache(maxsize=1)
def _common_words() -> frozenset[str]:
    """spaCy's English stop words: never a lower-case name."""
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS) | {
        "patient", "pt", "team", "nurse", "staff", "called", "aware", "notified", "today", "died", "dies", "lived",
        "lives", "living", "passed", "away", "deceased", "support", "supports", "helps", "helped", "helping",
        "visited", "visits", "states", "reports", "reported", "present", "declined", "agrees", "agreed",
    }  # fmt: skip


def _recognizer_metadata(recognizer: EntityRecognizer) -> dict[str, str]:
    """What Presidio expects in ``RecognizerResult.recognition_metadata``."""
    return {
        RecognizerResult.RECOGNIZER_NAME_KEY: recognizer.name,
        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
    }


def _leading_non_stop(text: str, start: int, end: int, stop: frozenset[str]) -> tuple[int, int] | None:
    """The span's leading words up to the first stoplisted word (None if the first is one)."""
    last_end = None
    for word in regex.finditer(r"[^\s,]+", text[start:end]):
        if word.group().strip(".'").lower() in stop:
            break
        last_end = start + word.end()
    return (start, last_end) if last_end is not None else None


_IDENTITY_AFTER = regex.compile(
    r"[ \t|,]{1,6}(?:DOB\b|D\.O\.B\.|date\s+of\s+birth|MRN|MR\s*#|Med\s+Rec|Medical\s+record|Unit\s+No|#\d|\(MRN)",
    regex.IGNORECASE,
)
_IDENTITY_BEFORE = regex.compile(r"\b(?:name|patient|pt|RE)\s*:\s*$", regex.IGNORECASE)


def _beside_identity(text: str, start: int, end: int) -> bool:
    """Whether a candidate sits where notes put the patient's name: before DOB/MRN, after "Name:"."""
    if _IDENTITY_AFTER.match(text, end):
        return True
    line_start = text.rfind("\n", 0, start) + 1
    return bool(_IDENTITY_BEFORE.search(text[line_start:start])) and bool(_IDENTITY_AFTER.search(text[end : end + 40]))


def _after_last_stop(text: str, start: int, end: int, stop: frozenset[str]) -> int | None:
    """Start of the words after the span's last stoplisted word (None when it is the last word)."""
    words = list(regex.finditer(r"[^\s,]+", text[start:end]))
    last_stop = max(i for i, w in enumerate(words) if w.group().strip(".'").lower() in stop)
    return start + words[last_stop + 1].start() if last_stop + 1 < len(words) else None


def _first_listed_word(span: str, names: frozenset[str]) -> int:
    """Offset in ``span`` of its first word that a name list knows (0 when the first does)."""
    for word in regex.finditer(r"[^\s,]+", span):
        if word.group().strip(".'").lower() in names:
            return word.start()
    return 0
