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
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import regex
from presidio_analyzer import EntityRecognizer, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from taxonomies.deid import deid_rules_dir

from .types import PHI_TYPES

_FLAGS = regex.IGNORECASE | regex.MULTILINE


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
            if len(row) != 2 or row[1] not in PHI_TYPES:
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


#: An identifier value: a run of letters/digits/dashes that holds a digit, then up to three
#: space-separated groups that each hold a digit ("1EG4-TE5-MK73", "S123-4567-8901", "123 45 6789").
#: :class:`CuedIdRecognizer` also requires three digits in all.
_ID_VALUE = (
    r"(?=[A-Z()\-./]*\d)[A-Z0-9(][A-Z0-9()\-./]*[A-Z0-9)]"
    r"(?:[ ](?=[A-Z\-]*\d)[A-Z0-9\-]{2,}(?![\w/])){0,3}"
)
#: Fewest digits in a cued identifier value.
_MIN_ID_DIGITS = 3
_CUE_LINK = r"\.?(?:\s*(?:number|num|nbr|no\.?|id|#|code))*\s*(?:is|was|of|on\s+file)?\s*[:#=\-]?\s*#?\s*"


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
        types = sorted({c.type for c in load_id_cues(cues_path)})
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
            if sum(ch.isdigit() for ch in value.group()) < _MIN_ID_DIGITS:
                continue
            start, end = value.span()
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
    """Lower-cased clinical terms and their words (the text lexicons): vetoes names that are terms."""
    from taxonomies.text import __file__ as text_pkg

    words: set[str] = set()
    for path in sorted((Path(text_pkg).parent / "targets").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                literal = json.loads(line)["literal"].lower()
                words.add(literal)
                if " " not in literal:
                    words.add(literal)
    return frozenset(words)


_TITLES = r"(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof|Doctor|Professor|Nurse|Sister|Rev|Father|Sr|Dame|Sir)"
_CREDENTIALS = (
    r"(?:MD|M\.D\.|DO|D\.O\.|RN|BSN|NP|PA-C|PA|MBBS|PhD|FACC|FACP|FACS|FRCP|CNM|LPN|LVN|CRNA|PharmD|DPM|DDS|"
    r"DMD|APRN|ANP|FNP|CNP|DNP|LCSW|MSW|PT|DPT|OT|RD|RPh|MA|CMA|RRT|CNA|EMT|MPH)"
)
#: A capitalised name word: "Smith", "O'Brien", "McDonald", "Smith-Jones", an initial "J.".
_NAME_WORD = r"(?:(?:Mc|Mac|O'|D'|De|Di|La|Le|Van|Von)?[A-Z][a-z]+(?:['\-][A-Z]?[a-z]+)*|[A-Z]\.)"
_UPPER_WORD = r"(?:[A-Z][A-Z'\-]+)"
_STRONG_CUES = (
    r"(?:patient(?:'s)?(?:\s+name)?|pt|name|son|daughter|wife|husband|mother|father|mom|dad|brother|sister|spouse|"
    r"partner|fianc[eé]e?|friend|neighbou?r|caregiver|guardian|niece|nephew|grandson|granddaughter|grandmother|"
    r"grandfather|aunt|uncle|cousin|roommate|boyfriend|girlfriend|PCP|attending|resident|fellow|intern|surgeon|"
    r"physician|provider|clinician|therapist|pharmacist|nurse|referring|referred\s+by|seen\s+by|signed\s+by|"
    r"dictated\s+by|transcribed\s+by|reviewed\s+by|authored\s+by|electronically\s+signed\s+by|cc|attn|dear|"
    r"spoke\s+with|discussed\s+with|per|contact|emergency\s+contact|next\s+of\s+kin|NOK|HCP|POA|proxy|"
    r"interpreter|chaplain|case\s+manager|social\s+worker|RN|NP|MD)"
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
            # SMITH, JOHN A / Smith, John
            (regex.compile(rf"\b{upper},[ ]?{upper}(?:[ ][A-Z]\.?)?(?![\w])"), 0.5, "last-first"),
            (regex.compile(rf"\b{word},[ ]{word}(?:[ ][A-Z]\.?)?(?![\w])"), 0.45, "last-first"),
            # patient: John Smith / son Michael / signed by: Wong
            (
                regex.compile(
                    rf"(?<=\b(?i:{_STRONG_CUES})[ \t]*(?i:is|was|name[ ]is)?[ \t]*[:,\-]?[ \t]*(?:{_TITLES}\.?[ ]+)?)"
                    rf"(?!{_CREDENTIALS}\b)(?:{word}|{upper})(?:,?[ ](?!{_CREDENTIALS}\b)(?:{word}|{upper})){{0,2}}\b\.?"
                ),
                0.55,
                "cue",
            ),
            # any run of two or three capitalised words (kept only when the name lists know one)
            (regex.compile(rf"\b{word}(?:[ ]{word}){{1,2}}\b"), 0.3, "run"),
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
                if stopped:
                    continue
                if kind == "cue":
                    score = base + (0.3 if named else 0.0)
                elif kind == "last-first":
                    score = base + (0.35 if named >= 1 else 0.0)
                else:  # run of capitalised words: starts at its first listed name word
                    if named == 0:
                        continue
                    offset = _first_listed_word(span, first | last)
                    start += offset
                    content = [w for w in regex.split(r"[\s,]+", text[start:end].lower()) if len(w.strip(".")) > 1]
                    if not content:
                        continue
                    score = base + 0.2 * named + (0.15 if content[0] in first else 0.0)
                results.append(RecognizerResult("NAME", start, end, min(score, 0.95), recognition_metadata=self._metadata()))
        return results


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


def _first_listed_word(span: str, names: frozenset[str]) -> int:
    """Offset in ``span`` of its first word that a name list knows (0 when the first does)."""
    for word in regex.finditer(r"[^\s,]+", span):
        if word.group().strip(".'").lower() in names:
            return word.start()
    return 0
