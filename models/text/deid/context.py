"""Context rules for identifiers in real clinical notes, blind to letter case.

Real ICU notes are typed in capitals, in lower case or in a mix, telegraphically: "DR. VOSKUIL",
"dr. bob tremont", "husband walt", "TRANSFERRED TO NWH", "to go to brindlecote 6", "TIA 81'",
"s/p cabg '95", "pager 55037". Capitalisation therefore decides nothing here; a word counts as
a name or a place by its **context** (a title, a relation, a credential after it, a verb of
moving a patient, a facility word) and by **how common it is** in English
(:func:`cliniloop.models.text.deid.lexicon.zipf`) or in clinical language
(:func:`cliniloop.models.text.deid.lexicon.is_clinical`).

:class:`ContextRecognizer` is a Presidio recognizer; each result carries its rule in
``recognition_metadata["rule"]`` and the span category a policy profile needs in
``recognition_metadata["category"]`` (see :data:`cliniloop.models.text.deid.types.CATEGORIES`).
The word lists are data: ``taxonomies/deid/context_words.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from .lexicon import EPONYM_CUE, cities, context_words, first_names, fold, is_clinical, last_names, looks_like_typo, zipf

#: Metadata keys of a result: the rule that found it and its category.
RULE_KEY = "rule"
CATEGORY_KEY = "category"

_TOKEN = regex.compile(r"\p{L}(?:\p{L}|'(?=\p{L}))*|\d+|[^\s\p{L}\d]")
#: Below this Zipf frequency a word is rare in English (names, places, made-up ward names).
RARE = 3.0
#: At or above this a word is common English and never a name without a strong cue.
COMMON = 4.6


@dataclass(frozen=True)
class Token:
    """A word, a number or one symbol of the text, with its offsets."""

    start: int
    end: int
    text: str

    @property
    def lower(self) -> str:
        """Lower case without accents (Mónica -> monica), as the word lists are written."""
        return fold(self.text)

    @property
    def is_word(self) -> bool:
        return self.text[0].isalpha()


def tokenize(text: str) -> list[Token]:
    """Words (letters and inner apostrophes), digit runs and single symbols."""
    return [Token(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]


@dataclass(frozen=True)
class Found:
    """One context-rule result (offsets into the analysed text)."""

    start: int
    end: int
    type: str
    score: float
    rule: str
    category: str = ""


class ContextRecognizer(EntityRecognizer):
    """Names, places, dates, years, ages and pager numbers found by context (module docstring)."""

    ENTITIES = ("NAME", "LOCATION", "DATE", "AGE", "PHONE")

    def __init__(self) -> None:
        super().__init__(supported_entities=list(self.ENTITIES), name="ContextRecognizer", supported_language="en")

    def load(self) -> None:  # noqa: D102 - Presidio hook; the word lists load lazily
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        """Every context-rule result of ``text`` as Presidio results."""
        out = []
        for found in find_in_context(text):
            if found.type not in entities:
                continue
            meta = {
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                RULE_KEY: found.rule,
                CATEGORY_KEY: found.category,
            }
            out.append(RecognizerResult(found.type, found.start, found.end, found.score, recognition_metadata=meta))
        return out


def find_in_context(text: str) -> list[Found]:
    """All context-rule results of ``text`` (may overlap; the detector merges them)."""
    tokens = tokenize(text)
    found: list[Found] = []
    found += _titled_names(text, tokens)
    found += _related_names(text, tokens)
    found += _signatures(text, tokens)
    found += _dotted_signatures(text, tokens)
    found += _initialled_names(text, tokens)
    found += _named_by_action(text, tokens)
    found += _rare_first_names(text, tokens)
    found += _full_names(text, tokens)
    found += _facilities(text, tokens)
    found += _moved_places(text, tokens)
    found += _residences(text, tokens)
    found += _dates(text)
    found += _years(text)
    found += _ages(text)
    found += _pagers(text)
    found += _named_before_phone(text, tokens)
    found += _labelled_names(text, tokens)
    found += _employers(text, tokens)
    found += _names_before_identity(text, tokens)
    found += _first_names_acting(text, tokens)
    found += _medical_center_acronyms(text)
    found += _hospital_acronyms(text, tokens)
    found += _big_city_names(text, tokens)
    found += _repeated_places(text, tokens, found)
    found += _names_joined(text, tokens, found)
    return found


_MEDICAL_CENTER_ACRONYM = regex.compile(r"(?<![\w/])[A-Z]{1,4}(?:MC|HC)(?![\w/])")


def _hospital_acronyms(text: str, tokens: list[Token]) -> list[Found]:
    """in GH, at SMH, from BMH: a hospital's acronym (ending in H) after a place preposition."""
    caseless = is_caseless_text(text)
    out = []
    for i in range(1, len(tokens)):
        tok = tokens[i]
        if not (2 <= len(tok.text) <= 4 and tok.text.isupper() and tok.text.endswith("H")):
            continue
        if tokens[i - 1].lower not in {"in", "at", "to", "from", "@"} or not _same_line(text, tokens[i - 1].end, tok.start):
            continue
        if _acronym_place(tok, caseless) and tok.lower not in _STATE_CODES:
            out.append(Found(tok.start, tok.end, "LOCATION", 0.7, "hospital-acronym", "facility"))
    return out


#: The word right after a token (" Coma" of "Glasgow Coma Scale", "-Blatchford").
_NEXT_WORD = regex.compile(r"[ \-]\p{L}+")


def _big_city_names(text: str, tokens: list[Token]) -> list[Found]:
    """Baltimore, BAltimore: a large city's one-word name written with a capital (in an all-capitals
    note nothing is told apart) that is no ordinary word, person's name or clinical term."""
    from .lexicon import big_cities

    out = []
    known = big_cities()
    for tok in tokens:
        word = tok.text
        if len(word) < 5 or not word[0].isupper() or word.isupper() or tok.lower not in known:
            continue
        lower = tok.lower
        if lower in first_names() or lower in last_names() or is_clinical(lower) or zipf(lower) >= 4.5:
            continue
        if lower in context_words()["not_names"] or lower in context_words()["city_stoplist"] or EPONYM_CUE.match(text, tok.end):
            continue  # "Glasgow scale"
        second = _NEXT_WORD.match(text, tok.end)
        if second and EPONYM_CUE.match(text, second.end()):
            continue  # "Glasgow Coma Scale"
        out.append(Found(tok.start, tok.end, "LOCATION", 0.6, "big-city"))
    return out


def _medical_center_acronyms(text: str) -> list[Found]:
    """SRMC, VAMC, BIDMC, UMMC: acronyms of a medical or health center."""
    return [
        Found(m.start(), m.end(), "LOCATION", 0.65, "center-acronym", "facility")
        for m in _MEDICAL_CENTER_ACRONYM.finditer(text)
        if not is_clinical(m.group().lower()) and m.group().lower() not in context_words()["clinical_places"]
    ]


def _names_joined(text: str, tokens: list[Token], found: list[Found]) -> list[Found]:
    """dorinda and osk, Dorinda and Hal: a name-like word joined by "and" to a name already found."""
    ends = {t.end: n for n, t in enumerate(tokens)}
    starts = {t.start: n for n, t in enumerate(tokens)}
    out = []
    for f in found:
        if f.type == "NAME" and f.start in starts:
            # "BEA TURA AND DRS ALDEN": a first name and surname joined by "and" before a titled name
            k = starts[f.start] - 1
            if k >= 0 and tokens[k].lower in context_words()["clinician_titles"]:
                k -= 1
            if k >= 1 and tokens[k].lower in {"and", "&"}:
                words = sorted(_name_words_before(text, tokens, k - 1, f.start, limit=2))
                if words and _likely_first_name(tokens[words[0]].text) and (len(words) == 2 or tokens[words[0]].lower in last_names()):
                    out.append(Found(tokens[words[0]].start, tokens[words[-1]].end, "NAME", 0.6, "joined", f.category))
        if f.type != "NAME" or f.end not in ends:
            continue
        k = ends[f.end] + 1
        if k + 1 >= len(tokens) or tokens[k].lower not in {"and", "&"} or not _same_line(text, f.end, tokens[k + 1].start):
            continue
        word = tokens[k + 1]
        lower = word.lower
        if not word.is_word or len(lower) < 3 or lower in context_words()["not_names"] or is_clinical(lower) or _jargon(lower):
            continue
        if (lower in first_names() and zipf(lower) < 5.0) or zipf(lower) < 3.0:
            end = _extend_name(text, tokens, k + 1)
            out.append(Found(word.start, tokens[end].end, "NAME", 0.6, "joined", f.category))
    return out


_LABELS = regex.compile(
    r"(?i)\b(?:triage|caller|attending|resident|provider|ordering\s+provider|pcp|nurse|rn|np|author|authored\s+by|"
    r"signed|signed\s+by|electronically\s+signed\s+by|dictated\s+by|patient|pt\s+name|name|cc|dear|contact|"
    r"emergency\s+contact|guardian|proxy|hcp|poa|referring(?:\s+physician)?|surgeon|interpreter)\s*[:,]\s*(?:dr\.?\s+)?"
)
_RELATION_AFTER = regex.compile(
    r"\s*[(\[-]\s*(?:son|daughter|dtr|wife|husband|spouse|mother|father|sister|brother|niece|nephew|friend|"
    r"partner|grandson|granddaughter|aunt|uncle|cousin|neighbou?r|guardian|proxy|hcp|poa)\b",
    regex.IGNORECASE,
)
_REACHED_AFTER = regex.compile(
    r"(?i)\s+(?:can\s+be\s+reached|may\s+be\s+reached|is\s+reachable|at\s+(?:\+?1[\s.\-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.\-])\d{3}[\s.\-]\d{4})"
)


def _name_run(text: str, tokens: list[Token], j: int, direction: int) -> list[int]:
    """Up to three name-like words from token ``j`` forward (1) or backward (-1) on one line."""
    words: list[int] = []
    k = j
    while 0 <= k < len(tokens) and len(words) < 3:
        t = tokens[k]
        if t.text == "." and (
            direction < 0 and k > 0 and len(tokens[k - 1].text) == 1 or direction > 0 and words and len(tokens[words[-1]].text) == 1
        ):
            k += direction
            continue
        if not t.is_word or (words and not _same_line(text, tokens[words[-1]].start, t.start)):
            break
        lower = t.lower
        if len(lower) == 1:
            if not words and direction > 0:
                break
            words.append(k)
            k += direction
            continue
        listed = lower in first_names() or lower in last_names()
        if lower in context_words()["not_names"] or (is_clinical(lower) and not listed) or _jargon(lower):
            break
        if not (listed and zipf(lower) < 5.6 or zipf(lower) < 3.5):
            break
        words.append(k)
        k += direction
    return sorted(words)


def _labelled_names(text: str, tokens: list[Token]) -> list[Found]:
    """Triage: Mónica Garibay / Caller: jacqueline orr (daughter) / Israel C. Limón can be reached at ..."""
    out = []
    starts = {t.start: n for n, t in enumerate(tokens)}
    ends = {t.end: n for n, t in enumerate(tokens)}
    for m in _LABELS.finditer(text):
        j = starts.get(m.end())
        if j is None:
            continue
        words = _name_run(text, tokens, j, 1)
        full = [x for x in words if len(tokens[x].text) > 1]
        if full and (len(full) > 1 or tokens[full[0]].lower in first_names() or tokens[full[0]].lower in last_names()):
            out.append(Found(tokens[words[0]].start, tokens[words[-1]].end, "NAME", 0.6, "label"))
    for pattern in (_RELATION_AFTER, _REACHED_AFTER):
        for m in pattern.finditer(text):
            k = ends.get(m.start())
            if k is None:
                continue
            words = _name_run(text, tokens, k, -1)
            full = [x for x in words if len(tokens[x].text) > 1]
            if full and any(tokens[x].lower in first_names() or tokens[x].lower in last_names() or zipf(tokens[x].lower) < RARE for x in full):
                out.append(Found(tokens[words[0]].start, tokens[words[-1]].end, "NAME", 0.6, "named-by-relation"))
    return out


_EMPLOYMENT = regex.compile(
    r"(?i)\b(?:works?|worked|working|employed|retired|job|employee)\b(?:\s+as\s+(?:an?\s+)?[a-z]+(?:\s+[a-z]+)?)?"
    r"\s+(?:at|for|by|from|with|of)\s+(?:the\s+)?"
)


_IDENTITY_NEXT = regex.compile(
    r"[ \t,]{1,6}(?:DOB\b|D\.O\.B\.|date\s+of\s+birth|MRN\b|MR\s*#|Med\s+Rec|Medical\s+record|\(MRN)", regex.IGNORECASE
)
_SIGNED_LINE = regex.compile(r"(?m)^[ \t]*(\p{L}+(?:[ ]\p{L}\.?)?(?:[ ]\p{L}+){1,2})[ \t]+\d{1,4}[/\-.]\d{1,2}[/\-.]\d{2,4}[ \t]+\d{1,2}:\d{2}")


def _names_before_identity(text: str, tokens: list[Token]) -> list[Found]:
    """sean davis   DOB ..., QIN, XIA A   MRN: ..., robert espinoza 10/21/2017 11:34 AM (a signed line)."""
    out = []
    ends = {t.end: n for n, t in enumerate(tokens)}
    for m in _IDENTITY_NEXT.finditer(text):
        k = ends.get(m.start())
        if k is None:
            continue
        words: list[int] = []
        while k >= 0 and len(words) < 4 and _same_line(text, tokens[k].end, m.start()):
            t = tokens[k]
            if t.text in {",", "."}:
                k -= 1
                continue
            if not t.is_word:
                break
            lower = t.lower
            listed = lower in first_names() or lower in last_names()
            if len(lower) > 1 and (lower in context_words()["not_names"] or is_clinical(lower) and not listed or not (listed or zipf(lower) < 3.5)):
                break
            words.append(k)
            k -= 1
        full = [x for x in words if len(tokens[x].text) > 1]
        if len(full) >= 2 or full and tokens[full[0]].lower in last_names():
            words.sort()
            out.append(Found(tokens[words[0]].start, tokens[words[-1]].end, "NAME", 0.7, "before-identity"))
    for m in _SIGNED_LINE.finditer(text):
        parts = [p.strip(".") for p in m.group(1).split()]
        full = [p for p in parts if len(p) > 1]
        if all(fold(p) in first_names() or fold(p) in last_names() or zipf(fold(p)) < 3.5 for p in full) and not any(
            is_clinical(fold(p)) or fold(p) in context_words()["not_names"] for p in full
        ):
            out.append(Found(m.start(1), m.end(1), "NAME", 0.65, "signed-line"))
    return out


_PERSON_VERBS = frozenset(
    {"visited", "visiting", "visits", "states", "stated", "called", "calls", "says", "said", "spoke", "speaks",
     "updated", "aware", "agrees", "agreed", "wishes", "wants", "requested", "requests", "brought", "left"}
)
_PERSON_BEFORE = regex.compile(r"(?i)\b(?:accompanied\s+by|visited\s+by|social\s*:|family\s*:|spouse\s*:|contact\s*:)\s*$")


def _first_names_acting(text: str, tokens: list[Token]) -> list[Found]:
    """JOHN STATES, bob visited, Anne is family contact, accompanied by Edward: a first name as a person."""
    out = []
    for j, tok in enumerate(tokens):
        if not tok.is_word or len(tok.text) < 3:
            continue
        lower = tok.lower
        if lower not in first_names() or zipf(lower) >= 5.8 or is_clinical(lower) or lower in context_words()["not_names"]:
            continue
        nxt = tokens[j + 1].lower if j + 1 < len(tokens) else ""
        nxt2 = tokens[j + 2].lower if j + 2 < len(tokens) else ""
        acting = nxt in _PERSON_VERBS or (nxt in {"is", "was"} and nxt2 in {"family", "pt's", "patient's", "his", "her", "the"})
        acting = acting or (nxt == "in" and nxt2 == "to")
        acting = acting or (zipf(lower) < 5.0 and _PERSON_BEFORE.search(text[max(0, tok.start - 24) : tok.start]))
        if acting:
            end = _extend_name(text, tokens, j)
            out.append(Found(tok.start, tokens[end].end, "NAME", 0.6, "first-name-acting"))
    return out


def _employers(text: str, tokens: list[Token]) -> list[Found]:
    """works at Walmart, employed by Lockheed Martin, retired from GM: an employer (a Safe Harbor name)."""
    out = []
    caseless = is_caseless_text(text)
    starts = {t.start: n for n, t in enumerate(tokens)}
    for m in _EMPLOYMENT.finditer(text):
        j = starts.get(m.end())
        if j is None or not tokens[j].is_word:
            continue
        k = j
        while k < len(tokens) and k - j < 4 and tokens[k].is_word and (k == j or tokens[k].start - tokens[k - 1].end <= 1):
            t = tokens[k]
            lower = t.lower
            if lower in context_words()["not_names"] or lower in _MONTHS_DAYS or is_clinical(lower):
                break
            cased_name = not caseless and t.text[:1].isupper() and (not t.text.isupper() or len(t.text) <= 5)
            if not (cased_name or zipf(lower) < RARE and not looks_like_typo(lower)):
                break
            k += 1
        if k > j:
            out.append(Found(tokens[j].start, tokens[k - 1].end, "LOCATION", 0.65, "employer"))
    return out


def _named_before_phone(text: str, tokens: list[Token]) -> list[Found]:
    """Odette Brannock cell# 617-..., MAEVE 617 555-...: the words naming whom a phone number reaches."""
    out = []
    cues = {"cell", "home", "work", "phone", "tel", "mobile", "pager", "beeper", "cel", "ph"}
    for i, tok in enumerate(tokens):
        if tok.lower not in cues:
            continue
        after = text[tok.end : tok.end + 8]
        if not regex.match(r"\s*(?:#|no\.?|number|:)?\s*[\d(]", after):
            continue
        k = i - 1
        words = []
        while k >= 0 and len(words) < 3 and tokens[k].is_word and _same_line(text, tokens[k].end, tok.start):
            word = tokens[k]
            lower = word.lower
            if is_clinical(lower) or lower in context_words()["not_names"] or zipf(lower) >= COMMON and lower not in first_names():
                break
            if not (lower in first_names() or lower in last_names() or zipf(lower) < RARE):
                break
            words.append(k)
            k -= 1
        if words:
            words.sort()
            out.append(Found(tokens[words[0]].start, tokens[words[-1]].end, "NAME", 0.6, "before-phone"))
    return out


def _repeated_places(text: str, tokens: list[Token], found: list[Found]) -> list[Found]:
    """A hospital acronym or ward name found once in a note is found everywhere in it ("in NWH", "BY SRMC")."""
    places = {
        text[f.start : f.end].split()[0].lower()
        for f in found
        if f.type == "LOCATION" and f.rule in {"moved-acronym", "acronym-er", "moved-place", "ward"}
    }
    places = {p for p in places if p.isalpha() and len(p) >= 2}
    out = []
    for j, tok in enumerate(tokens):
        if tok.lower in places:
            end = _ward_number(text, tokens, j) or tok.end
            out.append(Found(tok.start, end, "LOCATION", 0.6, "repeated-place", "facility"))
    return out


# ----------------------------------------------------------------------------- helpers
def _same_line(text: str, a: int, b: int) -> bool:
    return "\n" not in text[a:b]


def _next_words(text: str, tokens: list[Token], i: int, skip: str = ".:,-") -> Iterator[int]:
    """Indices of the tokens after ``i`` on the same line, skipping the symbols in ``skip``."""
    j = i + 1
    while j < len(tokens) and _same_line(text, tokens[i].end, tokens[j].start):
        if not tokens[j].is_word and not tokens[j].text.isdigit() and tokens[j].text in skip:
            j += 1
            continue
        yield j
        j += 1


def _is_initial(tokens: list[Token], j: int) -> bool:
    """A single letter followed by a full stop ("C.")."""
    return (
        len(tokens[j].text) == 1
        and tokens[j].text.isalpha()
        and j + 1 < len(tokens)
        and tokens[j + 1].text == "."
        and tokens[j + 1].start == tokens[j].end
    )


def _cued_name_word(word: str, surnames_in_places: bool = False) -> bool:
    """Whether a word right after a title can be a name ("dr green" yes, "dr aware" no)."""
    w = context_words()
    lower = word.lower()
    return (
        len(lower) > 1
        and lower not in w["not_names"]
        and (lower not in w["clinical_places"] or surnames_in_places and lower in last_names())
        and lower not in w["credentials"]
        and lower not in w["clinician_titles"]
        and lower not in w["person_titles"]
    )


def _likely_first_name(word: str) -> bool:
    lower = word.lower()
    return lower in first_names() and zipf(lower) < 4.9 and not is_clinical(lower)


#: Endings of inflected and technical words (intubated, weaning, titrated, cholecystectomy): rare in
#: English, yet no names.
_JARGON = regex.compile(
    r"(?:ed|ing|ings|ated|ation|ations|itis|osis|emia|ectomy|otomy|ostomy|plasty|scopy|gram|graphy|ology|ologist|"
    r"ical|ically|ive|ous|ment|ments|tion|sion|ness|able|ible|ize|ise|izing|ised|ized|ary|ory|ular|eal|uria|algia|"
    r"pathy|penia|cytosis|lysis|trophy|megaly|pril|olol|azole|mycin|cillin|oxacin|statin|"
    r"sartan|dipine|parin|s'd|'d|'s)$"
)


def _jargon(word: str) -> bool:
    lower = word.lower()
    return len(lower) > 5 and bool(_JARGON.search(lower)) and lower not in first_names() and lower not in last_names()


def _rare_word(word: str) -> bool:
    """A word rare in English, no clinical term and no misspelt ordinary word: maybe a name or a place."""
    lower = word.lower()
    return (
        len(lower) > 2
        and not _jargon(lower)
        and zipf(lower) < RARE
        and not is_clinical(lower)
        and lower not in context_words()["not_names"]
        and not looks_like_typo(lower)
    )


def _name_after(word: str) -> bool:
    """A second or third word of a name already started ("Odette Brannock", "Hal Wojtaszek")."""
    lower = word.lower()
    if not _cued_name_word(word) or is_clinical(lower) and lower not in last_names():
        return False
    return lower in last_names() and zipf(lower) < 5.2 or zipf(lower) < 3.6 or _likely_first_name(word)


def _extend_name(text: str, tokens: list[Token], j: int, limit: int = 2) -> int:
    """Index of the last token of a name whose first word is token ``j`` (initials and hyphens joined)."""
    last = j + 1 if _is_initial(tokens, j) else j
    taken = 0
    k = last + 1
    while taken < limit and k < len(tokens) and _same_line(text, tokens[last].end, tokens[k].start):
        tok = tokens[k]
        if tok.text == "-" and k + 1 < len(tokens) and tokens[k + 1].is_word and tok.start == tokens[last].end:
            # Hollis-McVey, Ashgrove-Mercy: a hyphen joining two words without spaces
            if tokens[k + 1].start == tok.end and _cued_name_word(tokens[k + 1].text):
                last = k + 1
                k += 2
                continue
            break
        if tok.start - tokens[last].end > 2 or not tok.is_word:
            break
        if _is_initial(tokens, k):
            last = k + 1
            k += 2
            taken += 1
            continue
        if not _name_after(tok.text):
            break
        last = k
        taken += 1
        k += 1
    return last


@lru_cache(maxsize=64)
def _first_words(cues: frozenset[str]) -> frozenset[str]:
    return frozenset(c.split(" ", 1)[0] for c in cues)


def _cue_at(tokens: list[Token], i: int, cues: frozenset[str], max_words: int = 3) -> int:
    """Length in tokens of the longest cue (one to ``max_words`` words) starting at token ``i``; 0 if none."""
    if tokens[i].lower not in _first_words(cues):
        return 0
    best = 0
    words = []
    for n in range(max_words):
        k = i + n
        if k >= len(tokens) or not tokens[k].is_word:
            break
        words.append(tokens[k].lower)
        if " ".join(words) in cues:
            best = n + 1
    return best


# ----------------------------------------------------------------------------- names
def _titled_names(text: str, tokens: list[Token]) -> list[Found]:
    """Dr. Voskuil, dr bob tremont, MR. HAL WOJTASZEK, Mrs. O'Rourke."""
    w = context_words()
    out = []
    for i, tok in enumerate(tokens):
        lower = tok.lower
        if not tok.is_word or (lower not in w["clinician_titles"] and lower not in w["person_titles"]):
            continue
        if i > 0 and tokens[i - 1].text in "/'" and tokens[i - 1].end == tok.start:
            continue  # "s/dr", "pt's dr" written oddly: not a title
        nxt = next(_next_words(text, tokens, i, skip="."), None)
        if nxt is None or not tokens[nxt].is_word or tokens[nxt].start - tok.end > 3:
            continue
        first = tokens[nxt]
        dotted = i + 1 < len(tokens) and tokens[i + 1].text == "." and tokens[i + 1].start == tok.end
        if lower in w["person_titles"]:
            if lower == "ms" and not dotted and not (tok.text == "Ms" and first.text[:1].isupper() and not first.text.isupper()):
                continue  # MS = mental status
            f = first.lower
            if not (f in first_names() or f in last_names() or zipf(f) < 3.5 or (first.text.istitle() and not is_caseless_text(text))):
                continue
        bare_initial = (
            len(first.text) == 1 and first.text.isupper() and nxt + 1 < len(tokens) and tokens[nxt + 1].is_word
            and tokens[nxt + 1].start - first.end == 1 and _title_name_word(tokens[nxt + 1].text)
        )
        if not (_title_name_word(first.text) or _is_initial(tokens, nxt) or bare_initial):
            continue
        end = _extend_name(text, tokens, nxt + 1 if bare_initial else nxt)
        category = "clinician" if lower in w["clinician_titles"] else ""
        out.append(Found(first.start, tokens[end].end, "NAME", 0.9, "title", category))
        # "DRS ALDEN AND PRUSKI", "Drs. Vance and Orloff": the names joined by and/&
        k = end + 1
        while k + 1 < len(tokens) and tokens[k].lower in {"and", "&"} and _same_line(text, tokens[end].end, tokens[k + 1].start):
            j = k + 1
            if tokens[j].lower in w["clinician_titles"] or tokens[j].lower in w["person_titles"]:
                break  # the next title finds its own name
            if not tokens[j].is_word or not _title_name_word(tokens[j].text) or zipf(tokens[j].lower) >= COMMON:
                break
            if is_clinical(tokens[j].lower) and tokens[j].lower not in last_names():
                break
            end = _extend_name(text, tokens, j)
            out.append(Found(tokens[j].start, tokens[end].end, "NAME", 0.8, "title-list", category))
            k = end + 1
    return out


def is_caseless_text(text: str) -> bool:
    """Whether a text is written without letter case (over 80% capitals or under 2%)."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 20:
        return False
    share = sum(c.isupper() for c in letters) / len(letters)
    return share > 0.8 or share < 0.02


def _title_name_word(word: str) -> bool:
    """A word that can follow a title as a name: as :func:`_cued_name_word`, and a surname that is also shorthand (Dr. Foley)."""
    return _cued_name_word(word, surnames_in_places=True)


@lru_cache(maxsize=1)
def _all_relation_cues() -> frozenset[str]:
    """Every word of every relation and role cue (a cue is never itself the name: "spoke with son")."""
    words = set()
    for cues in context_words()["relations"].values():
        for cue in cues:
            words.update(cue.split())
    return frozenset(words)


def _related_names(text: str, tokens: list[Token]) -> list[Found]:
    """husband walt, DTR dorinda, DAUGHTER-MAEVE, caseworker NORINE VASHCHUK, HO Anselmo."""
    w = context_words()
    caseless = is_caseless_text(text)
    out = []
    for category, cues in w["relations"].items():
        for i in range(len(tokens)):
            n = _cue_at(tokens, i, cues)
            if not n:
                continue
            last_cue = i + n - 1
            nxt = next(_next_words(text, tokens, last_cue, skip=":,-("), None)
            if nxt is None or not tokens[nxt].is_word or tokens[nxt].start - tokens[last_cue].end > 4:
                continue
            first = tokens[nxt].text
            if first.lower() in {"is", "named", "name"}:
                nxt2 = next(_next_words(text, tokens, nxt, skip=":,-"), None)
                if nxt2 is None or not tokens[nxt2].is_word:
                    continue
                nxt, first = nxt2, tokens[nxt2].text
            f = first.lower()
            family = category == ""
            listed_first = f in first_names() and zipf(f) < 5.8 and (not is_clinical(f) or family and len(f) >= 3)
            after_first = text[tokens[nxt].end : tokens[nxt].end + 4]
            typed_name = (
                family and len(f) >= 3 and zipf(f) < RARE and not is_clinical(f) and not _jargon(f)
                and regex.match(r"\s*(?:-+\s*\d|\(|\d)", after_first) is not None
            )
            cue = " ".join(t.lower for t in tokens[i : i + n])
            cased_title = first.istitle() and zipf(f) < 4.0 and not is_clinical(f) and not _jargon(f) and len(f) > 2
            # "Son, Ed, was updated": a listed first name set off by commas after a family word, in cased text
            appositive = (
                family and first.istitle() and f in first_names() and not caseless
                and text[tokens[last_cue].end : tokens[nxt].start] == ", " and text[tokens[nxt].end : tokens[nxt].end + 1] == ","
            )
            if appositive:
                out.append(Found(tokens[nxt].start, tokens[nxt].end, "NAME", 0.8, "relation", category))
                continue
            if not (_cued_name_word(first) or family and listed_first) or f in _all_relation_cues():
                continue
            if not (listed_first or _rare_word(first) or typed_name or cased_title and cue in w["ambiguous_roles"]):
                continue
            if cue in w["ambiguous_roles"]:
                after = tokens[nxt + 1].lower if nxt + 1 < len(tokens) else ""
                acted = after in _ACTIONS or after in {"made", "np", "rn", "md"}
                titled_surname = first.lower() in last_names() and first[:1].isupper() and not first.isupper()
                if not (listed_first or titled_surname or cased_title or (_rare_word(first) and acted)):
                    continue
            end = _extend_name(text, tokens, nxt)
            out.append(Found(tokens[nxt].start, tokens[end].end, "NAME", 0.8, "relation", category))
            # "Daughters Lorna, Bettina and Rosalind": the other names of the list
            k = end + 1
            while k + 1 < len(tokens) and tokens[k].text in {",", "and", "&"} and _same_line(text, tokens[end].end, tokens[k + 1].start):
                j = k + 1
                if tokens[j].lower == "and":
                    j += 1
                if j >= len(tokens) or not tokens[j].is_word:
                    break
                word = tokens[j].text
                if word.lower() in _all_relation_cues() or not _cued_name_word(word) or not (
                    word.lower() in first_names() and zipf(word.lower()) < 5.8 and not is_clinical(word.lower()) or _rare_word(word)
                ):
                    break
                end = _extend_name(text, tokens, j)
                out.append(Found(tokens[j].start, tokens[end].end, "NAME", 0.7, "relation-list", category))
                k = end + 1
    return out


def _signatures(text: str, tokens: list[Token]) -> list[Found]:
    """EDWARD C. JONES, RRT / David Murray RRT / J. Chang PA: name words before a credential."""
    w = context_words()
    out = []
    for i, tok in enumerate(tokens):
        if not tok.is_word or tok.lower not in w["credentials"]:
            continue
        if tok.lower in w["credentials_upper_only"] and not tok.text.isupper():
            continue
        # walk left over ", " and name words / initials on the same line
        k = i - 1
        if k >= 0 and tokens[k].text == ",":
            k -= 1
        words = []
        while k >= 0 and len(words) < 4 and _same_line(text, tokens[k].end, tok.start):
            t = tokens[k]
            if t.text == "." and k > 0 and len(tokens[k - 1].text) == 1 and tokens[k - 1].text.isalpha():
                words.append(k - 1)
                k -= 2
                continue
            if t.text == "-" and words and k > 0 and tokens[k - 1].is_word and tokens[k - 1].end == t.start:
                k -= 1
                continue
            if not t.is_word or not _cued_name_word(t.text) or (is_clinical(t.lower) and t.lower not in last_names()):
                break
            words.append(k)
            k -= 1
        if not words:
            continue
        words.sort()
        full = [tokens[j].text for j in words if len(tokens[j].text) > 1]
        if not full:
            continue
        listed = sum(1 for x in full if x.lower() in first_names() or x.lower() in last_names())
        common = sum(1 for x in full if zipf(x) >= COMMON and x.lower() not in first_names() and x.lower() not in last_names())
        unknown = sum(
            1 for x in full if x.lower() not in first_names() and x.lower() not in last_names() and (zipf(x) >= 4.0 or is_clinical(x))
        )
        if listed == 0 or common or unknown:
            continue
        after = text[tok.end : tok.end + 12].lower()
        if regex.match(r"\s*(?:line|cath|catheter|sats?|pressures?|waveform|port|tip|diastolic|systolic|wedge|sheath)", after):
            continue
        if len(full) == 1 and not (tokens[words[0]].text[0].isupper() or _is_initial(tokens, words[0])):
            continue
        out.append(Found(tokens[words[0]].start, tokens[words[-1]].end, "NAME", 0.75, "signature", "clinician"))
    return out


def _surname_like(word: str) -> bool:
    """A word that can be a surname: listed and not too common, or rare and no clinical word."""
    lower = word.lower()
    if len(lower) < 2 or is_clinical(lower) or lower in context_words()["not_names"]:
        return False
    if lower in last_names() and zipf(lower) < 5.2:
        return True
    return len(lower) > 3 and zipf(lower) < 2.5 and not _jargon(lower) and not looks_like_typo(lower)


_CREDENTIAL_AFTER = regex.compile(
    r",?[ \t]+(?:M\.D\.|D\.O\.|Ph\.D\.|R\.N\.|N\.P\.|P\.A\.|(?-i:MD|DO|RN|RRT|NP|PA-C|PA|PhD|APRN|LCSW|LICSW|MSW|PharmD|DPM|DDS))\b"
)
_DOTTED_CREDENTIAL = regex.compile(r"(?<=\S),?[ \t]+(?:M\.D\.|D\.O\.|Ph\.D\.|R\.N\.|N\.P\.|P\.A\.)")


def _dotted_signatures(text: str, tokens: list[Token]) -> list[Found]:
    """Shota Yamamoto, M.D. / A. Orellana Prieto M.D.: name words before a dotted credential."""
    out = []
    starts = {t.start: n for n, t in enumerate(tokens)}
    ends = {t.end: n for n, t in enumerate(tokens)}
    for m in _DOTTED_CREDENTIAL.finditer(text):
        k = ends.get(m.start())
        if k is None:
            continue
        words = []
        while k >= 0 and len(words) < 4 and _same_line(text, tokens[k].end, m.start()):
            t = tokens[k]
            if t.text == "." and k > 0 and len(tokens[k - 1].text) == 1 and tokens[k - 1].text.isalpha():
                words.append(k - 1)
                k -= 2
                continue
            if not t.is_word or not _title_name_word(t.text) or not t.text[:1].isupper():
                break
            if is_clinical(t.lower) and t.lower not in last_names() or zipf(t.lower) >= COMMON and t.lower not in last_names() and t.lower not in first_names():
                break
            words.append(k)
            k -= 1
        full = [tokens[x] for x in words if len(tokens[x].text) > 1]
        if full:
            words.sort()
            out.append(Found(tokens[words[0]].start, tokens[words[-1]].end, "NAME", 0.75, "signature", "clinician"))
    del starts
    return out


def _initialled_names(text: str, tokens: list[Token]) -> list[Found]:
    """D. ZOLTEVIC, T. ORLOFF, k. brisco, J SMITH ORDERED: an initial and a surname."""
    out = []
    for j in range(len(tokens) - 2):
        if not (len(tokens[j].text) == 1 and tokens[j].text.isalpha()):
            continue
        if j > 0 and (
            tokens[j - 1].text in {"/", "-", "'", "."} and tokens[j - 1].end == tokens[j].start
            or tokens[j - 1].is_word and len(tokens[j - 1].text) == 1
            or tokens[j - 1].end == tokens[j].start and tokens[j - 1].text not in {"(", "[", '"'}
        ):
            continue  # "s/p", "w/", "a.m.", "50s." style shorthand
        k = j + 2 if tokens[j + 1].text == "." else j + 1
        if k >= len(tokens) or not tokens[k].is_word or tokens[k].start - tokens[j].end > 3:
            continue
        if tokens[k].start == tokens[k - 1].end or len(tokens[k].text) < 3:
            continue  # "d.vss", "a.fib": shorthand, not an initial and a name
        if not _same_line(text, tokens[j].start, tokens[k].start):
            continue
        word = tokens[k].lower
        dotted_rare = (
            tokens[j + 1].text == "."
            and len(word) > 2
            and zipf(word) < 4.3
            and not _jargon(word)
            and not is_clinical(word)
            and word not in context_words()["not_names"]
            and word not in context_words()["clinical_places"]
        )
        credentialed = bool(_CREDENTIAL_AFTER.match(text, tokens[k].end))
        listed_credentialed = credentialed and word in last_names() and zipf(word) < 5.6
        if not (_surname_like(tokens[k].text) or dotted_rare or listed_credentialed):
            continue
        acted = k + 1 < len(tokens) and tokens[k + 1].lower in _ACTIONS
        if tokens[j + 1].text != "." and not (tokens[k].lower in last_names() and zipf(tokens[k].lower) < (5.0 if acted else 4.0)):
            continue  # "J SMITH ORDERED" without the full stop: only a listed surname
        if tokens[j].lower in {"l", "r", "b", "x", "s", "w", "c", "p", "o", "n", "a", "i", "t", "k"} and tokens[j + 1].text != ".":
            continue
        if tokens[j].lower in {"l", "r"} and word not in last_names():
            continue  # L. Pedal, R. Spo2: left and right
        end = _extend_name(text, tokens, k, limit=1)
        out.append(Found(tokens[j].start, tokens[end].end, "NAME", 0.7, "initial"))
    return out


_ACTIONS = frozenset(
    {"aware", "notified", "paged", "called", "ordered", "informed", "updated", "made", "says", "said", "states",
     "stated", "requested", "wants", "agrees", "agreed", "visited", "in", "here", "at", "spoke"}
)


def _named_by_action(text: str, tokens: list[Token]) -> list[Found]:
    """nora pelky aware, per carol vance, LEDA MOSKO AWARE: a name by what is said of it."""
    out = []
    for i, tok in enumerate(tokens):
        lower = tok.lower
        if lower == "per" and i + 1 < len(tokens):
            j = i + 1
            if tokens[j].is_word and _likely_first_name(tokens[j].text) and len(tokens[j].text) > 3:
                end = _extend_name(text, tokens, j)
                out.append(Found(tokens[j].start, tokens[end].end, "NAME", 0.6, "per"))
            continue
        if lower not in {"aware", "notified", "paged", "called", "ordered", "updated", "informed"} or i < 2:
            continue
        k = i - 1
        if tokens[k].lower in {"made", "was", "is", "were", "md", "np", "rn", "pa", "ho"}:
            k -= 1
        words = _name_words_before(text, tokens, k, tok.start)
        if lower in {"called", "ordered", "updated", "informed"} and len(words) < 2:
            continue
        if len(words) >= 2 or words and tokens[words[0]].lower in last_names() and zipf(tokens[words[0]].lower) < 3.5:
            words.sort()
            firsts = [x for x in words if _likely_first_name(tokens[x].text)]
            if len(words) == 3 and firsts and firsts[0] > words[0]:
                words = words[words.index(firsts[0]) :]  # "BIGEMINY BEA TURA AWARE": the name starts at its first name
            if any(_likely_first_name(tokens[x].text) or tokens[x].lower in last_names() for x in words):
                out.append(Found(tokens[words[0]].start, tokens[words[-1]].end, "NAME", 0.6, "aware"))
    return out


def _name_words_before(text: str, tokens: list[Token], k: int, line_of: int, limit: int = 3) -> list[int]:
    """Indices of name-like words ending at token ``k`` and read backwards (at most ``limit``).

    A word is taken when it can be a surname or is a likely first name; a rare word that merely
    looks like a misspelling ("TURA") is taken too when a likely first name stands right before it
    ("BEA TURA AWARE").
    """
    words: list[int] = []
    while k >= 0 and len(words) < limit and tokens[k].is_word and _same_line(text, tokens[k].end, line_of):
        word = tokens[k].text
        if not _surname_like(word) and not _likely_first_name(word):
            lower = word.lower()
            loose = (
                len(lower) > 3 and zipf(lower) < 2.5 and not is_clinical(lower) and not _jargon(lower)
                and lower not in context_words()["not_names"]
            )
            if not (loose and k > 0 and tokens[k - 1].is_word and _likely_first_name(tokens[k - 1].text)):
                break
        words.append(k)
        k -= 1
    return words


def _rare_first_names(text: str, tokens: list[Token]) -> list[Found]:
    """Dorinda, Anselmo, OTTILIE BRISCO: an uncommon first name (and its surname) without a cue."""
    out = []
    caseless = is_caseless_text(text)
    for j, tok in enumerate(tokens):
        if not tok.is_word or len(tok.text) < 4:
            continue
        lower = tok.lower
        if lower not in first_names() or zipf(lower) >= 3.8 or is_clinical(lower) or lower in context_words()["not_names"]:
            continue
        if lower in cities() or _jargon(lower):
            continue
        end = _extend_name(text, tokens, j)
        if caseless:
            if zipf(lower) >= 3.0 and end == j and looks_like_typo(lower):
                continue  # a typo-like word alone (ROSY for rosy sputum): words first
        elif not (tok.text[:1].isupper() and not tok.text.isupper()):
            continue  # lower case or an acronym in a cased note
        out.append(Found(tok.start, tokens[end].end, "NAME", 0.6, "first-name"))
    return out


def _full_names(text: str, tokens: list[Token]) -> list[Found]:
    """martin carey, pat rixford: a listed first name right before a listed or unheard-of surname.

    Only in notes written without letter case, or with both words capitalised; an eponym (a name
    before tear, syndrome, sign ...) is left alone.
    """
    out = []
    caseless = is_caseless_text(text)
    w = context_words()
    for j in range(len(tokens) - 1):
        first, last = tokens[j], tokens[j + 1]
        if not (first.is_word and last.is_word) or text[first.end : last.start] != " ":
            continue
        f, s = first.lower, last.lower
        if not caseless and not (first.text.istitle() and last.text.istitle()):
            continue
        if len(f) < 3 or f not in first_names() or zipf(f) >= 4.9 or is_clinical(f) or f in w["not_names"] or _jargon(f):
            continue
        if len(s) < 3 or is_clinical(s) or s in w["not_names"] or _jargon(s) or s in _all_relation_cues():
            continue
        if j > 0 and tokens[j - 1].end == first.start and tokens[j - 1].text in "/-'":
            continue  # "d/ced": a piece of shorthand
        listed = s in last_names() and zipf(s) < 4.0
        unheard = zipf(s) == 0.0 and len(s) > 4 and not looks_like_typo(s) and zipf(f) < 4.5
        if not (listed or unheard) or EPONYM_CUE.match(text, last.end):
            continue
        out.append(Found(first.start, last.end, "NAME", 0.6, "full-name"))
    return out


# ----------------------------------------------------------------------------- places
def _facilities(text: str, tokens: list[Token]) -> list[Found]:
    """Lakeview Hosp, GOOD SHEPHERD HOSPITAL, ASHGROVE REGIONAL, PELHAM HOUSE, university of virginia hospital."""
    w = context_words()
    out = []
    facility = w["facility_words"]
    generic = w["facility_generic"]
    caseless = is_caseless_text(text)
    for i, tok in enumerate(tokens):
        n = _cue_at(tokens, i, facility, max_words=3)
        if not n:
            continue
        if i + n < len(tokens) and _cue_at(tokens, i + 1, facility, max_words=3) > n - 1 >= 0 and n == 1:
            continue  # "Family Clinic" is matched from "Family", not again from "Clinic"
        # walk left over name words ("of" allowed inside: "university of maryland")
        k = i - 1
        names: list[int] = []
        while k >= 0 and len(names) < 4 and _same_line(text, tokens[k].end, tok.start):
            t = tokens[k]
            if t.text in {".", "'"} and k > 0 and tokens[k - 1].is_word and tokens[k - 1].end == t.start:
                k -= 1  # St. Mary / Mary's
                continue
            if t.text == "-" and names and k > 0 and tokens[k - 1].end == t.start:
                k -= 1
                continue
            if not t.is_word or tokens[k + 1].start - t.end > 2:
                break
            lower = t.lower
            if lower == "of" and names and k > 0 and tokens[k - 1].is_word and tokens[k - 1].lower not in generic - {"university"}:
                names.append(k)
                k -= 1
                continue
            state_after_of = k > 0 and tokens[k - 1].lower == "of" and len(lower) == 2 and lower in _STATE_CODES
            if lower == "university" and names:
                names.append(k)
                break
            titled = t.text.istitle() and not caseless
            if not state_after_of and (
                lower in generic
                or (is_clinical(lower) and zipf(lower) >= RARE and lower not in {"cross", "general"} and not titled)
                or lower in w["clinical_places"]
                or _jargon(lower)
            ):
                break
            names.append(k)
            k -= 1
        if names and tokens[min(names)].lower == "of":
            names.remove(min(names))
        end = tokens[i + n - 1].end
        cue = " ".join(t.lower for t in tokens[i : i + n])
        if names and cue not in w["strong_facility_words"]:
            # rehab, house, center, clinic...: the name needs a rare, capitalised or city word
            named = [tokens[x] for x in names if tokens[x].lower != "of"]
            if not any(
                _rare_word(t.text) or t.lower in cities() and zipf(t.lower) < COMMON or (t.text[:1].isupper() and not t.text.isupper())
                for t in named
            ):
                names = []
        if names:
            start = tokens[min(names)].start
            category = "facility" if tok.lower not in {"school", "college", "academy", "church", "company", "corporation", "corp", "inc", "llc", "associates"} else "organization"
            out.append(Found(start, end, "LOCATION", 0.8, "facility", category))
        elif tok.lower in w["facility_names_alone"] and i > 0 and tokens[i - 1].lower in {"from", "at", "to"}:
            out.append(Found(tok.start, end, "LOCATION", 0.7, "facility", "facility"))
    # University of Maryland (Medical), U OF MD MED CENTER
    for m in regex.finditer(r"(?i)\b(?:university|univ\.?|u)[ ]+of[ ]+([a-z]+(?:[ ][a-z]+)?)", text):
        place = m.group(1).split()
        if place[0].lower() in _STATE_CODES or place[0].lower() in cities() or place[0].lower() in _STATES_LOWER:
            end = m.start(1) + len(place[0]) if place[0].lower() in _STATE_CODES or len(place) == 1 else m.end(1)
            if len(place) > 1 and " ".join(place).lower() not in _STATES_LOWER:
                end = m.start(1) + len(place[0])
            out.append(Found(m.start(), end, "LOCATION", 0.75, "university", "facility"))
    # St. Mary's / ST MARY / Saint Joseph (with or without a facility word)
    for m in regex.finditer(r"(?i)\b(?:st\.?|saint)[ ]+(?!(?:elevation|depression|segment|changes?|wave)s?\b)[a-z][a-z]+(?:'s)?\b", text):
        word = m.group().split()[-1].lower().removesuffix("'s")
        if (word in first_names() and not is_clinical(word) and zipf(word) < 5.0) or f"saint {word}" in cities() or f"st. {word}" in cities():
            out.append(Found(m.start(), m.end(), "LOCATION", 0.75, "saint", "facility"))
    return out


_STATES_LOWER = frozenset(
    "alabama alaska arizona arkansas california colorado connecticut delaware florida georgia hawaii idaho illinois "
    "indiana iowa kansas kentucky louisiana maine maryland massachusetts michigan minnesota mississippi missouri "
    "montana nebraska nevada ohio oklahoma oregon pennsylvania tennessee texas utah vermont virginia washington "
    "wisconsin wyoming".split()
) | {"new york", "new jersey", "new hampshire", "new mexico", "north carolina", "south carolina", "rhode island"}
_STATE_CODES = frozenset(
    "al ak az ar ca co ct de dc fl ga hi id il in ia ks ky la me md ma mi mn ms mo mt ne nv nh nj nm ny nc nd oh ok or "
    "pa ri sc sd tn tx ut vt va wa wv wi wy".split()
)


def _acronym_place(tok: Token, caseless: bool) -> bool:
    """NWH, VAMC, SRMC: a 2-5 letter acronym that is no clinical place or abbreviation."""
    lower = tok.lower
    if not (2 <= len(tok.text) <= 5 and tok.text.isalpha()):
        return False
    if not (tok.text.isupper() or caseless):
        return False
    w = context_words()
    return lower not in w["clinical_places"] and not is_clinical(lower) and zipf(lower) < 4.0 and lower not in w["not_names"]


def _moved_places(text: str, tokens: list[Token]) -> list[Found]:
    """transferred to NWH, from Brindlecote 3, to go to brindlecote 6, NWH ER, PLAN: BRINDLECOTE 2."""
    w = context_words()
    out = []
    caseless = is_caseless_text(text)
    for i, tok in enumerate(tokens):
        if tok.lower not in w["movement_prepositions"] or i == 0:
            continue
        # a movement verb within the three words before the preposition
        window = [t.lower for t in tokens[max(0, i - 9) : i] if t.is_word][-5:]
        verbs = [x for x in window if x in w["movement_verbs"]]
        if not verbs and not (i >= 2 and tokens[i - 1].text in {">", ":"}):
            continue
        if verbs and set(verbs) <= {"sent", "taken", "brought"} and any(x in w["specimen_words"] for x in window):
            continue  # "clot sent to BB", "labs sent to lab"
        j = i + 1
        while j < len(tokens) and tokens[j].lower in {"the", "back", "a"}:
            j += 1
        if j >= len(tokens) or not tokens[j].is_word or not _same_line(text, tok.end, tokens[j].start):
            continue
        place = tokens[j]
        ward = _ward_number(text, tokens, j)
        if _acronym_place(place, caseless):
            out.append(Found(place.start, place.end, "LOCATION", 0.75, "moved-acronym", "facility"))
        elif _rare_word(place.text) and place.lower not in first_names():
            end = ward if ward is not None else place.end
            out.append(Found(place.start, end, "LOCATION", 0.7, "moved-place", "ward" if ward else "facility"))
        elif not caseless and place.text.istitle() and _titled_place_word(place.text):
            k = j
            while k + 1 < len(tokens) and tokens[k + 1].is_word and tokens[k + 1].text.istitle() and _titled_place_word(tokens[k + 1].text) and tokens[k + 1].start - tokens[k].end == 1:
                k += 1
            end = _ward_number(text, tokens, k) or tokens[k].end
            out.append(Found(place.start, end, "LOCATION", 0.65, "moved-titled", "facility"))
        elif ward is not None and len(place.text) > 4 and zipf(place.lower) < RARE and not is_clinical(place.lower) and not looks_like_typo(place.lower):
            out.append(Found(place.start, ward, "LOCATION", 0.7, "ward", "ward"))
    # acronym hospital before its emergency room or cath lab: "NWH ER", "nwh ed", "NWH cath lab"
    for i, tok in enumerate(tokens[:-1]):
        nxt = tokens[i + 1]
        if nxt.lower in {"ew", "er", "ed", "cath", "micu", "ccu", "icu"} and _acronym_place(tok, caseless) and tok.lower not in {"to", "in", "at"}:
            if i > 0 and tokens[i - 1].lower in {"to", "at", "from", "in", "the", ">", "by"}:
                out.append(Found(tok.start, tok.end, "LOCATION", 0.7, "acronym-er", "facility"))
    # a made-up ward name with its number after a plan or transfer word: "PLAN: BRINDLECOTE 2"
    for i, tok in enumerate(tokens):
        if not tok.is_word or len(tok.text) < 5:
            continue
        ward = _ward_number(text, tokens, i)
        if ward is None or not _rare_word(tok.text) or tok.lower in first_names():
            continue
        k = i - 1
        while k >= 0 and tokens[k].text in {":", "?", "-", ">", "the", "THE"}:
            k -= 1
        after_comma = (
            k >= 0 and tokens[k].text in {",", ";"} and len(tok.text) >= 7 and not looks_like_typo(tok.lower) and not _jargon(tok.lower)
        )
        if k >= 0 and (tokens[k].lower in {"plan", "transfer", "to", "from", "tx", "xfer", "transferred", "transfered", "on"} or after_comma):
            out.append(Found(tok.start, ward, "LOCATION", 0.7, "ward", "ward"))
    for m in regex.finditer(r"(?i)\b([a-z]{5,})(?:building\b|(?<=\b(?:to|from)\s+[a-z]{5,})\d\b)", text):
        if _rare_word(m.group(1)) and m.group(1).lower() not in first_names():
            out.append(Found(m.start(), m.end(), "LOCATION", 0.6, "ward", "ward"))
    return out


_MONTHS_DAYS = frozenset(
    "january february march april may june july august september october november december monday tuesday "
    "wednesday thursday friday saturday sunday today tomorrow".split()
)


def _titled_place_word(word: str) -> bool:
    """A capitalised word after "went to" that can name a place (Lakeview, Ashgrove, Mercy; not Monday, ICU)."""
    lower = word.lower()
    w = context_words()
    return (
        len(lower) > 2
        and lower not in _MONTHS_DAYS
        and lower not in w["not_names"]
        and lower not in w["clinical_places"]
        and not is_clinical(lower)
        and not _jargon(lower)
        and (zipf(lower) < COMMON or lower in cities())
    )


def _ward_number(text: str, tokens: list[Token], j: int) -> int | None:
    """End offset of a ward number right after token ``j`` ("brindlecote 2", "BRINDLECOTE  6"), else None."""
    if j + 1 < len(tokens):
        nxt = tokens[j + 1]
        gap = text[tokens[j].end : nxt.start]
        if nxt.text.isdigit() and 0 < int(nxt.text) <= 12 and gap.strip(" .") == "" and len(gap) <= 2:
            after = tokens[j + 2] if j + 2 < len(tokens) else None
            if after is not None and after.start == nxt.end and (
                after.text in {"/", "%", "-", ":", "x"}
                or after.text == "." and j + 3 < len(tokens) and tokens[j + 3].text.isdigit() and tokens[j + 3].start == after.end
            ):
                return None
            if after is not None and after.lower in {"mg", "mcg", "ml", "cc", "units", "unit", "u", "amp", "amps", "l", "liters", "gm", "g", "hrs", "hours", "days", "mins", "min", "times", "x", "tabs", "puffs", "meq", "mmol", "kg", "lpm", "litres", "cm", "mm"}:
                return None
            return nxt.end
    return None


def _residences(text: str, tokens: list[Token]) -> list[Found]:
    """lives in Toledo, FROM BOISE, in GLEN BURNIE, a town named Bend."""
    w = context_words()
    out = []
    known = cities()
    for i in range(len(tokens)):
        n = _cue_at(tokens, i, w["residence_cues"], max_words=4)
        if not n:
            continue
        j = i + n
        while j < len(tokens) and tokens[j].lower in {"the", "a"}:
            j += 1
        if j >= len(tokens) or not tokens[j].is_word or not _same_line(text, tokens[i].start, tokens[j].start):
            continue
        words = [j]
        k = j + 1
        while k < len(tokens) and len(words) < 3 and tokens[k].is_word and tokens[k].start - tokens[k - 1].end <= 1:
            lower = tokens[k].lower
            if lower in w["not_names"] or is_clinical(lower) or lower in w["facility_generic"]:
                break
            words.append(k)
            k += 1
        # longest run of words that is a known city, else a rare first word
        for m in range(len(words), 0, -1):
            phrase = " ".join(tokens[x].lower for x in words[:m])
            if phrase in known and phrase not in w["not_names"]:
                out.append(Found(tokens[words[0]].start, tokens[words[m - 1]].end, "LOCATION", 0.75, "residence"))
                break
        else:
            first = tokens[j]
            if _rare_word(first.text) and zipf(first.lower) < RARE:
                out.append(Found(first.start, first.end, "LOCATION", 0.6, "residence"))
    # a known city after from/to/in when it is no ordinary word: "SON FROM TOLEDO"
    stop = w["city_stoplist"]
    for i, tok in enumerate(tokens[:-1]):
        if tok.lower not in {"from", "in", "to", "near", "outside"}:
            continue
        limit = 4.6 if tok.lower in {"from", "near", "outside"} else 3.5
        nxt = tokens[i + 1]
        if not nxt.is_word or nxt.start - tok.end > 2:
            continue
        for m in (3, 2, 1):
            run = tokens[i + 1 : i + 1 + m]
            if len(run) < m or not all(t.is_word for t in run):
                continue
            phrase = " ".join(t.lower for t in run)
            titled = run[0].text[:1].isupper() and not run[0].text.isupper()
            if phrase in known and phrase not in stop and (m > 1 or zipf(phrase) < limit or titled) and not is_clinical(phrase):
                out.append(Found(run[0].start, run[-1].end, "LOCATION", 0.6, "city"))
                break
    return out


# ----------------------------------------------------------------------------- dates, years, ages, pagers
_MD = regex.compile(r"(?<![\w/+])(?<![\d,]\.)(0?[1-9]|1[0-2])/(\d{1,2})(?![\w/]|\.\d)")
_MDMD = regex.compile(r"(?<![\w/.\-])(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])/(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])(?![\w/])")
#: Words before "N/M" that make it a score, a ratio or a ventilator setting, not a date.
_MD_BEFORE = regex.compile(
    r"(?i)(?:(?<![a-z])(?:pain|strength|str|motor|power|murmur|sem|grade|gr|scale|score|rated|rates|rating|ns|d5|d5w|"
    r"dextrose|ratio|i:e|ie|x|apgars?|gcs|rass|psv|ps|peep|cpap|bipap|simv|imv|flowby|flow-by|settings?|"
    r"ac|a/c|cmv|prvc|pcv|niv|c/o|bi-?pap|pap|ips|pressure|cp|discomfort|ache|#)|&|/|%\s*,?)\s*[:=]?\s*$"
)
_MD_AFTER = regex.compile(
    r"(?i)^\s*(?:pain|strength|str|murmur|sem|holosystolic|systolic|diastolic|tabs?|tablets?|caps?|ns\b|normal\s+saline|"
    r"dose|doses|amps?\b|units?\b|mg\b|mcg\b|ml\b|cc\b|%|times|scale|score|grade|reflexes|power|motor|ratio|"
    r"cp\b|peep|ps\b|psv|cpap|bi-?pap|ips\b|simv|imv|fio2|h/a|ha\b|incisional)"
)


def _dates(text: str) -> list[Found]:
    """Month/day dates without a year (8/23, 10/3) and joined pairs (10/03/10/04), not scores or ratios."""
    out = [Found(m.start(), m.end(), "DATE", 0.8, "month-day-pair") for m in _MDMD.finditer(text)]
    for m in _MD.finditer(text):
        month, day = int(m.group(1)), int(m.group(2))
        if day == 0:
            continue
        before = text[max(0, m.start() - 24) : m.start()]
        after = text[m.end() : m.end() + 16]
        if _MD_BEFORE.search(before) or _MD_AFTER.match(after):
            continue
        # "post 3/3", "since 2/2"; not "on 5/5" (pressure support over PEEP)
        cued = regex.search(r"(?i)\b(?:since|until|dated|post|after|s/p)\s*$", before)
        if month == day and month <= 5 and not cued:  # 5/5 strength, 4/4 pulses, 2/2 sets
            continue
        if month < day <= 4 and not m.group(1).startswith("0") and not m.group(2).startswith("0") and not regex.search(r"(?i)\b(?:on|since|until|from|dated|d/c|dc'?d|started|placed|extubated|intubated)\s*$", before):
            continue  # 1/2, 2/3, 3/4, 1/4: fractions unless cued
        if day == 10 and regex.search(r"(?i)\b(?:pain|discomfort|ache|cp|pressure|c/o|rates|rated)\b[^.;\n]{0,30}$", before):
            continue  # "chest pain (7/10)", "pain at incision 6/10": a pain score
        if day > 31 and (day < 30 or after[:1] == "%"):
            continue
        out.append(Found(m.start(), m.end(), "DATE", 0.7, "month-day"))
    # the first day of a range before a month name: "1->2 nov", "30-31 Oct"
    out += [Found(*m.span(1), "DATE", 0.7, "day-range") for m in _DAY_RANGE.finditer(text)]
    return out


_DAY_RANGE = regex.compile(
    r"(?i)(?<![\w/.])(0?[1-9]|[12]\d|3[01])\s*(?:->|-|to|&)\s*(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\s+"
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b"
)


_YEAR_APOSTROPHE = regex.compile(r"(?<![\w'])'(\d{2})(?![\w'])|(?<![\w'.\-])(\d{2})'(?![\w])")
_YEAR_FULL = regex.compile(
    r"(?<![\w./\-:])(19[3-9]\d|20[0-3]\d)(?![\w/:]|\.\d|\s*(?:cc|ml|mls|mg|mcg|g|gm|gms|kg|kcal|cal|u|units?|"
    r"hrs?|hours?|h|min|mins|minutes|am|pm|a|p|mmhg|mm|cm|l|x|times|calories|ml/hr|cc/hr|bpm|ft|feet|lbs?|pounds|"
    r"steps|meters|m|%|-\d))"
)
_YEAR_CUE = regex.compile(
    r"(?i)\b(?:in|since|during|year|yr|circa|c\.|back\s+in|summer|winter|spring|fall|autumn|class\s+of|its|it's|it\s+is|"
    r"cva|mi|ami|cabg|ptca|pci|stroke|dx|dx'd|diagnosed|hx|pmh|pmhx|s/p|ca|cancer|surgery|repair|replacement|"
    r"jan(?:uary)?|feb(?:ruary)?|march|april|june|july|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
    r"\s*(?:of\s+)?,?\s*$"
)
_YEAR_AFTER_EVENT = regex.compile(
    r"(?i)(?<=\b(?:cva|mi|ami|nstemi|stemi|cabg|stroke|tia|surgery|dx|dx'd|diagnosed|ptca|stent|pci|chole|appy|"
    r"tah|thr|tkr|fx)\s+in\s+)(\d{2})\b(?!\s*(?:%|mg|ml|cc|mm|hrs?|hours?|days?|weeks?|min))(?:\s+and\s+(\d{2})\b)?"
)
#: A two-digit year right after an event of the history, set off by a comma or full stop: "NQWMI 98.", "CABG 84,".
_YEAR_AFTER_EVENT_BARE = regex.compile(
    r"(?i)(?<=\b(?:cva|mi|ami|imi|nqwmi|nstemi|stemi|cabg|tia|ptca|pci|chole|appy|tah|thr|tkr)\s+)(\d{2})(?=\s*[.,;)](?!\d))"
)
_DECADE = regex.compile(r"(?i)(?<![\w'])(?:19|20)\d0'?s\b")


def _years(text: str) -> list[Found]:
    """Years on their own: '95, 74', cabg '84, in 1977 (category ``year``)."""
    out = []
    for m in _YEAR_APOSTROPHE.finditer(text):
        group = 1 if m.group(1) else 2
        start, end = m.span(group)
        if group == 2 and text[m.end() : m.end() + 1] == "s":
            continue
        out.append(Found(start, end, "DATE", 0.75, "year-apostrophe", "year"))
    out += [Found(m.start(), m.end(), "DATE", 0.7, "decade", "year") for m in _DECADE.finditer(text)]
    for m in _YEAR_AFTER_EVENT.finditer(text):
        for group in (1, 2):
            if m.group(group):
                out.append(Found(*m.span(group), "DATE", 0.7, "year-after-event", "year"))
    out += [Found(*m.span(1), "DATE", 0.7, "year-after-event", "year") for m in _YEAR_AFTER_EVENT_BARE.finditer(text)]
    for m in _YEAR_FULL.finditer(text):
        before = text[max(0, m.start() - 12) : m.start()]
        after = text[m.end() : m.end() + 3]
        hours, minutes = int(m.group()[:2]), int(m.group()[2:])
        if hours <= 23 and minutes <= 59 and not _YEAR_CUE.search(before):
            continue  # a 24-hour time: "at 2030", "~ 1930"
        # a year unless it reads like a measurement: "1977,S/P", "CA 1977" kept; "x 2000" dropped above
        if regex.search(r"(?i)(?:\bx|@|#|\$)\s*$", before) and not _YEAR_CUE.search(before):
            continue
        if after.startswith("-") or after.startswith("/"):
            continue
        out.append(Found(m.start(), m.end(), "DATE", 0.7, "year", "year"))
    return out


_NUMBER_WORDS = (
    r"(?:ninety(?:[\s\-]+(?:one|two|three|four|five|six|seven|eight|nine))?|"
    r"(?:one\s+)?hundred(?:\s+and)?(?:[\s\-]+(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty(?:[\s\-]+\w+)?))?)"
)
_AGES = regex.compile(
    rf"(?i)\b{_NUMBER_WORDS}(?=[\s\-]+(?:years?|yrs?|yo|y/o)\b|[\s\-]+year[\s\-]+old)"
    rf"|(?<=\b(?:aged|age|ages|age\s+of)\s+){_NUMBER_WORDS}\b"
    r"|(?<=\bage\s*/\s*(?:sex|gender)\s*:?\s*)(?:9\d|1[01]\d)(?![\d.])"
    rf"|\b{_NUMBER_WORDS}\b(?![\s\-]+(?:minutes?|mins?|seconds?|percent|per|mg|ml|cc|degrees?|beats?|times|units?|hours?|days?|weeks?|months?|miles?|pounds?|lbs?|%))"
    r"|(?<![\d.,/])(?:9\d|1[01]\d)(?=\s*(?:-|\s)?\s*(?:y\.?o\.?|yr?s?\.?(?:[\s\-]*old)?|years?(?:[\s\-]*old)?|"
    r"year-old|y/o|yoM|yoF|yom|yof)\b)"
    r"|(?<![\d.,/])(?:9\d|1[01]\d)(?=\s?(?-i:[MF])\b|\s?(?-i:yo[MF])\b)"
    r"|(?<=\b(?:aged?|ages|age:|turned|turns|turning|at\s+age)\s*(?:of\s+)?)(?:9\d|1[01]\d)(?![\d.])"
)


def _ages(text: str) -> list[Found]:
    """Ages over 89 in every written form: 94 yo, 94-year-old, aged 94, 94F, ninety-four (the number only)."""
    out = []
    for m in _AGES.finditer(text):
        before = text[max(0, m.start() - 16) : m.start()].lower()
        if regex.search(
            r"(?:\b(?:temp|tmax|t|fever|febrile|spo2|sat|sats|o2|hr|rr|bp|weight|wt|ht|over|above|under|below|up|down)|[@><=])"
            r"\s*(?:of|to|is|was)?\s*:?\s*$",
            before,
        ):
            continue
        out.append(Found(m.start(), m.end(), "AGE", 0.85, "age"))
    return out


_PAGER = regex.compile(
    r"(?i)(?<=\b(?:pager|pgr|beeper|beep|page|paged|paging|pg|bpr|ext|extension|x)\s*(?:number|num|no\.?|#)?\s*"
    r"(?:is|at|:|#|=)?\s*#?\s*)\d{4,6}\b(?![.,]\d|\s*(?:mg|mcg|ml|cc|units?|%))"
)
_SPACED_PHONE = regex.compile(r"(?<![\w/.])(?<!\d-)(?:\(\d{3}\)|\d{3})(?:\s*[\-.]\s*|\s+)\d{3}(?:\s*[\-.]\s*|\s+)\d{4}(?![\w\-])")


def _pagers(text: str) -> list[Found]:
    """Pager and extension numbers (pager # 98765) and phones with spaces (212- 476- 8356, 301 944-5032)."""
    out = [Found(m.start(), m.end(), "PHONE", 0.8, "pager") for m in _PAGER.finditer(text)]
    out += [Found(m.start(), m.end(), "PHONE", 0.75, "phone-spaced") for m in _SPACED_PHONE.finditer(text)]
    return out
