"""Text normalisation for code candidate generation (:mod:`cliniloop.models.text.code_candidates`).

Both sides of the lexical match go through the same steps, so "Diabetes mellitus type II",
"type 2 diabetes" and ICD-10-CM's "Type 2 diabetes mellitus" meet on the same tokens:

1. Unicode accents dropped, lower case, British spellings folded ("haemorrhage" -> "hemorrhage");
2. possessives dropped ("Crohn's" -> "crohn"), punctuation and hyphens a space, letters and digits
   split ("type2"), bound prefixes joined to the next word ("non-ST", "post traumatic",
   "gastro-esophageal" -> "nonst", "posttraumatic", "gastroesophageal");
3. Roman and spelled-out numbers after "type", "stage", "grade", ... become digits ("type II" ->
   "type 2"); a lone "ii" / "iii" anywhere too;
4. simple plural folding ("stones" -> "stone", "allergies" -> "allergy") with a short list of words
   that only look plural ("diabetes", "herpes");
5. word equivalences kept as data (``code_synonyms.tsv``, ``word`` rows: "kidney" = "renal",
   adjectives to nouns such as "diabetic" -> "diabetes");
6. stop words dropped (for matching only; :func:`normalise_mention` keeps them).

Code-system names additionally get a *core* variant (:func:`name_variants`): the name with the words
that only say "nothing more specific" removed ("unspecified", "NOS", "uncomplicated", "without
complications", "initial encounter ...", parenthesised non-essential modifiers), so a bare mention
("asthma") matches the unspecified leaf ("Unspecified asthma, uncomplicated"; "Asthma NOS") exactly.

Nothing here reads files at import time; :func:`load_synonyms` and :func:`load_abbreviations` read
the curated lists when a generator is fitted.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SYNONYMS_PATH = Path(__file__).with_name("code_synonyms.tsv")
ABBREVIATIONS_PATH = Path(__file__).resolve().parents[2] / "taxonomies" / "codes" / "abbreviations.tsv"

STOPWORDS = frozenset(
    "a an the of in on at to for by from and or as is was with its his her their this that".split()
)
# Words that end in "s" but are not plurals: left alone by the plural folding.
_NOT_PLURAL = frozenset(
    """diabetes herpes rabies scabies caries series species measles mumps rickets shingles hives feces
    ascites varices lues tabes pubes biceps triceps diabetes insipidus mellitus status sepsis
    pertussis tetanus lupus virus fungus nevus thrombus embolus calculus polyps bronchus uterus
    syphilis psoriasis cirrhosis stenosis sclerosis osteoporosis tuberculosis psychosis diagnosis
    pancreas lens gas bus plus yes less loss mass ass chorus illness sickness weakness numbness
    dizziness wellness stiffness""".split()
)
_BRITISH = (
    (re.compile(r"aem"), "em"),  # haem-, anaemia, ischaemia, septicaemia, leukaemia
    (re.compile(r"^oe(?=[sd])"), "e"),  # oesophagus, oedema
    (re.compile(r"oea$"), "ea"),  # diarrhoea, dyspnoea, apnoea
    (re.compile(r"^paed"), "ped"),
    (re.compile(r"^orthopaed"), "orthoped"),
    (re.compile(r"gynaec"), "gynec"),
    (re.compile(r"^faec"), "fec"),
    (re.compile(r"^coeliac"), "celiac"),
    (re.compile(r"^foet"), "fet"),
    (re.compile(r"^oestr"), "estr"),
    (re.compile(r"^caesar"), "cesar"),
    (re.compile(r"^tumour"), "tumor"),
    (re.compile(r"^(ha?)emorrhag"), "hemorrhag"),
    (re.compile(r"isation$"), "ization"),
    (re.compile(r"yse$"), "yze"),
    # added for SNOMED CT's GB descriptions (issue 22): general British -> American spelling rules
    (re.compile(r"aesth"), "esth"),  # anaesthesia, dysaesthesia
    (re.compile(r"^aet"), "et"),  # aetiology
    (re.compile(r"^caec"), "cec"),  # caecum, caecal
    (re.compile(r"^leuc(?=o|e)"), "leuk"),  # leucocyte, leucopenia, leucaemia (-> leukemia)
    (re.compile(r"rrhoe"), "rrhe"),  # gonorrhoeal, seborrhoeic, amenorrhoea
    (re.compile(r"(?<=pn)oe"), "e"),  # dyspnoeic, apnoeic
    (re.compile(r"^sulph"), "sulf"),  # sulphonamide, sulphate
    (re.compile(r"^(behavi|col|od|hum|lab|tum|vap|fav|rum|hon|vig)our"), r"\1or"),  # behaviour, labour
    (re.compile(r"^(cent|fib|lit|calib|met|theat)re(?=s?$)"), r"\1er"),  # centre, fibre, litre
    (re.compile(r"(?<=[a-z]{3})is(e|ed|es|ing)$"), r"iz\1"),  # generalised, localised, immunised
    (re.compile(r"^grey"), "gray"),
    (re.compile(r"^ageing"), "aging"),
    (re.compile(r"^mould"), "mold"),
    (re.compile(r"^aluminium"), "aluminum"),
)
_NUMBER_WORDS = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5"}
_NUMBERED = frozenset("type stage grade class degree phase tier level".split())
_LONE_ROMAN = {"ii": "2", "iii": "3"}
_TOKEN = re.compile(r"[a-z0-9]+")
# Bound prefixes and combining forms written as a separate word or with a hyphen ("non-ST",
# "post traumatic", "gastro-esophageal"): joined to the next word so all spellings meet.
_PREFIXES = frozenset(
    """anti auto contra extra hemi hyper hypo infra inter intra micro macro multi neo non para peri
    poly post pre pseudo retro semi sub supra trans ultra gastro cardio neuro osteo broncho cerebro
    entero hepato naso oro pharyngo uretero vesico thoraco lumbo sacro cervico""".split()
)


def _fold(text: str) -> str:
    """Drop accents, lower-case, fold possessives and intra-word hyphens, split letters from digits."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.lower()
    text = text.replace("\u2019", "'").replace("\u2010", "-").replace("\u2013", "-")
    text = re.sub(r"(?<=[a-z])'s\b", "", text)  # possessive: crohn's -> crohn
    text = re.sub(r"(?<=s)'(?=\s|$)", "", text)  # plural possessive: patients' -> patients
    text = text.replace("-", " ")  # blood-pressure, type-2 (bound prefixes are joined again below)
    text = text.replace("&", " and ")
    text = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", " ", text)  # type2 -> type 2
    return text


@lru_cache(maxsize=65536)
def _word(token: str) -> str:
    """British spelling folded, then plural folding (cached: the vocabulary is small)."""
    for pattern, repl in _BRITISH:
        token = pattern.sub(repl, token)
    return singular(token)


def singular(token: str) -> str:
    """Simple plural folding: "stones" -> "stone", "allergies" -> "allergy", "abscesses" -> "abscess".

    Parameters
    ----------
    token : str
        A lower-case word.

    Returns
    -------
    str
        The folded word; short words and words in the not-a-plural list are returned unchanged.
    """
    if len(token) <= 3 or token in _NOT_PLURAL or not token.endswith("s"):
        return token
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith(("sses", "xes", "ches", "shes", "zes")):
        return token[:-2]
    if token.endswith(("ss", "us", "is", "os", "as", "ys")):
        return token
    return token[:-1]


def basic_tokens(text: str) -> list[str]:
    """Tokens after steps 1-4 (no word equivalences, stop words kept).

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    list of str
    """
    found = _TOKEN.findall(_fold(text))
    raw: list[str] = []
    for tok in found:
        if raw and raw[-1] in _PREFIXES and not tok.isdigit():
            raw[-1] += tok
        else:
            raw.append(tok)
    out: list[str] = []
    for i, tok in enumerate(raw):
        if i > 0 and raw[i - 1] in _NUMBERED and tok in _NUMBER_WORDS:
            out.append(_NUMBER_WORDS[tok])
        elif tok in _LONE_ROMAN:
            out.append(_LONE_ROMAN[tok])
        else:
            out.append(_word(tok))
    return out


def normalise_mention(text: str) -> str:
    """The key a mention is known by: what accepted mappings are stored and looked up under.

    Lower case, accents and punctuation dropped, possessives and simple plurals folded, Roman
    numerals after "type"/"stage"/... as digits, whitespace collapsed. Stop words are kept, so
    the key stays readable ("history of kidney stone").

    Parameters
    ----------
    text : str
        The mention as written ("Kidney stones", "DM type II").

    Returns
    -------
    str
        ``"kidney stone"``, ``"dm type 2"``.
    """
    return " ".join(basic_tokens(text))


@dataclass(frozen=True)
class Lexicon:
    """Curated word equivalences and lay-term phrases (``code_synonyms.tsv``).

    Attributes
    ----------
    words : dict
        Token -> canonical token, applied to both mentions and code names.
    phrases : dict
        Token tuple -> list of replacement token tuples, applied to mentions only (query variants).
    mentions : dict
        Like ``phrases`` but only when the tuple is the whole mention.
    """

    words: dict[str, str]
    phrases: dict[tuple[str, ...], list[tuple[str, ...]]]
    mentions: dict[tuple[str, ...], list[tuple[str, ...]]]

    def canonical(self, tokens: list[str]) -> list[str]:
        """Tokens with word equivalences applied and stop words dropped."""
        return [self.words.get(t, t) for t in tokens if t not in STOPWORDS]

    def match_text(self, text: str) -> str:
        """The string that is indexed / queried: basic tokens, equivalences, no stop words."""
        return " ".join(self.canonical(basic_tokens(text)))

    def phrase_variants(self, tokens: list[str], limit: int = 4) -> list[list[str]]:
        """Copies of ``tokens`` (basic tokens) with one lay-term phrase replaced each time."""
        out: list[list[str]] = [list(r) for r in self.mentions.get(tuple(tokens), ())]
        n = len(tokens)
        for i in range(n):
            for j in range(n, i, -1):
                key = tuple(tokens[i:j])
                for repl in self.phrases.get(key, ()):
                    out.append([*tokens[:i], *repl, *tokens[j:]])
                    if len(out) >= limit:
                        return out
        return out


def load_synonyms(path: Path | None = None) -> Lexicon:
    """Read ``code_synonyms.tsv``: ``kind<TAB>term<TAB>replacement`` rows, ``#`` comments.

    ``word`` rows map one word to a canonical word (both sides of the match); ``phrase`` rows
    give a lay phrase another wording to try ("heart attack" -> "myocardial infarction");
    ``mention`` rows do the same for a whole mention only ("diabetes" -> "type 2 diabetes
    mellitus", ICD-10-CM's default). Several rows for one term give several wordings.

    Parameters
    ----------
    path : Path or None
        The file; ``None``: the one next to this module.

    Returns
    -------
    Lexicon
    """
    path = Path(path) if path is not None else SYNONYMS_PATH
    words: dict[str, str] = {}
    phrases: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    mentions: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for lineno, row in _rows(path, 3):
        kind, term, repl = row
        if kind == "word":
            src, dst = basic_tokens(term), basic_tokens(repl)
            if len(src) != 1 or len(dst) != 1:
                raise ValueError(f"{path}:{lineno}: a word row maps one word to one word")
            words[src[0]] = dst[0]
        elif kind == "phrase":
            phrases.setdefault(tuple(basic_tokens(term)), []).append(tuple(basic_tokens(repl)))
        elif kind == "mention":
            mentions.setdefault(tuple(basic_tokens(term)), []).append(tuple(basic_tokens(repl)))
        else:
            raise ValueError(f"{path}:{lineno}: kind must be 'word', 'phrase' or 'mention', not {kind!r}")
    # A canonical word must not itself be mapped again (one step, deterministic).
    words = {k: words.get(v, v) for k, v in words.items()}
    return Lexicon(words=words, phrases=phrases, mentions=mentions)


@dataclass(frozen=True)
class Abbreviation:
    """One curated abbreviation.

    Attributes
    ----------
    abbreviation : str
        As written in the list ("HTN", "PE", "A-fib").
    expansions : tuple of str
        Expansions, most likely first.
    case_sensitive : bool
        Match only as written ("PE" but not "pe"); otherwise any case ("htn", "Htn").
    """

    abbreviation: str
    expansions: tuple[str, ...]
    case_sensitive: bool


def load_abbreviations(path: Path | None = None) -> list[Abbreviation]:
    """Read the abbreviation list: ``abbreviation<TAB>expansion[|expansion...]<TAB>case`` rows.

    ``case`` is ``exact`` (match only as written: the abbreviation collides with a word, "PE" /
    "pe") or ``any``.

    Parameters
    ----------
    path : Path or None
        The file; ``None``: ``taxonomies/codes/abbreviations.tsv``.

    Returns
    -------
    list of Abbreviation
    """
    path = Path(path) if path is not None else ABBREVIATIONS_PATH
    out: list[Abbreviation] = []
    for lineno, (abbr, expansions, case) in _rows(path, 3):
        if case not in ("exact", "any"):
            raise ValueError(f"{path}:{lineno}: case must be 'exact' or 'any', not {case!r}")
        exp = tuple(e.strip() for e in expansions.split("|") if e.strip())
        if not abbr or not exp:
            raise ValueError(f"{path}:{lineno}: empty abbreviation or expansion")
        out.append(Abbreviation(abbr, exp, case == "exact"))
    return out


def _rows(path: Path, width: int):
    with open(path, encoding="utf-8", newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                continue
            if len(row) != width:
                raise ValueError(f"{path}:{lineno}: expected {width} tab-separated columns, found {len(row)}")
            yield lineno, [c.strip() for c in row]


class AbbreviationExpander:
    """Find curated abbreviations in a mention and write out expanded variants.

    Parameters
    ----------
    abbreviations : list of Abbreviation
    """

    def __init__(self, abbreviations: list[Abbreviation]) -> None:
        self.abbreviations = abbreviations
        self._exact: dict[str, tuple[str, ...]] = {}
        self._any: dict[str, tuple[str, ...]] = {}
        for a in abbreviations:
            if a.case_sensitive:
                self._exact.setdefault(a.abbreviation, a.expansions)
            else:
                self._any.setdefault(a.abbreviation.lower(), a.expansions)
        alts = sorted({a.abbreviation for a in abbreviations}, key=lambda s: (-len(s), s))
        body = "|".join(re.escape(a) for a in alts) or r"(?!x)x"
        self._pattern = re.compile(rf"(?<![A-Za-z0-9])(?:{body})(?![A-Za-z0-9])", re.IGNORECASE)

    def _lookup(self, found: str) -> tuple[str, ...] | None:
        if found in self._exact:
            return self._exact[found]
        return self._any.get(found.lower())

    def variants(self, text: str, limit: int = 6) -> list[str]:
        """Expanded copies of ``text`` (empty when it holds no known abbreviation).

        Each abbreviation is replaced by each of its expansions in turn (the others by their first
        expansion), so "MS" gives both "multiple sclerosis" and "mitral stenosis".
        """
        spans: list[tuple[int, int, tuple[str, ...]]] = []
        for m in self._pattern.finditer(text):
            exp = self._lookup(m.group(0))
            if exp:
                spans.append((m.start(), m.end(), exp))
        if not spans:
            return []

        def render(choice: list[int]) -> str:
            parts, pos = [], 0
            for (s, e, exp), c in zip(spans, choice):
                parts.append(text[pos:s])
                parts.append(exp[c])
                pos = e
            parts.append(text[pos:])
            return "".join(parts)

        out = [render([0] * len(spans))]
        for i, (_, _, exp) in enumerate(spans):
            for c in range(1, len(exp)):
                choice = [0] * len(spans)
                choice[i] = c
                out.append(render(choice))
        seen: list[str] = []
        for v in out:
            if v not in seen:
                seen.append(v)
        return seen[:limit]


# -- code names --------------------------------------------------------------------------------------

_PARENS = re.compile(r"\s*[\(\[][^\)\]]*[\)\]]")
_FILLER_SEGMENT = re.compile(
    r"^(?:unspecified|uncomplicated|not intractable|nos|not elsewhere classified|nec"
    r"|site not specified|unspecified (?:site|organism|type|part|side|cause|laterality|severity|location)"
    r"|initial encounter|initial encounter for closed fracture|without .*|not specified as .*)$"
)
_FILLER_INLINE = (
    re.compile(r"\bnos\b"),
    re.compile(r"\b(?:of |in |at )?unspecified (?:site|organism|type|part|side|cause|laterality|severity|location)\b"),
    re.compile(r"\b(?:site|organism|type|cause) (?:not specified|unspecified)\b"),
    re.compile(r"\bwithout (?:complications?|mention of [a-z ]+)\b"),
    re.compile(r"\bunspecified\b"),
    re.compile(r"\buncomplicated\b"),
)


def core_name(name: str) -> str | None:
    """The name without the words that only say "nothing more specific", or ``None`` if unchanged.

    "Unspecified asthma, uncomplicated" -> "asthma"; "Asthma NOS" -> "asthma";
    "Type 2 diabetes mellitus without complications" -> "type 2 diabetes mellitus";
    "Essential (primary) hypertension" -> "essential hypertension";
    "Fracture of ... femur, initial encounter for closed fracture" -> "fracture of ... femur".

    Parameters
    ----------
    name : str
        A display name or synonym.

    Returns
    -------
    str or None
        Lower-cased core, or ``None`` when nothing was removed (or nothing would be left).
    """
    text = _PARENS.sub("", name).lower()
    segments = [s.strip() for s in text.split(",")]
    kept = [s for i, s in enumerate(segments) if i == 0 or not _FILLER_SEGMENT.match(s)]
    text = ", ".join(kept)
    for pattern in _FILLER_INLINE:
        text = pattern.sub(" ", text)
    text = " ".join(text.replace(" ,", ",").split()).strip(" ,")
    if not text or text == name.lower():
        return None
    return text


_CONJUNCTS = re.compile(r"^([\w-]+(?: [\w-]+){0,2}) and ([\w-]+(?: [\w-]+){0,2})$")
_PREPOSITIONS = frozenset("of in with without due to on at by from".split())


def name_variants(name: str) -> list[tuple[str, float]]:
    """The texts a code name is indexed under, with a weight each.

    * the name itself and with parentheses opened (1.0);
    * its :func:`core_name` (1.0): what a bare mention of the concept says;
    * the core without a trailing "without ..." clause (0.96): "Calculus of gallbladder without
      cholecystitis" is still the plain gallstone, a little behind a code that is that plainly;
    * each conjunct of a short "A and B" name (0.95): "Syncope and collapse" is also "syncope".

    Parameters
    ----------
    name : str

    Returns
    -------
    list of (str, float)
        Distinct variants, the name itself first.
    """
    out: dict[str, float] = {name: 1.0}
    opened = re.sub(r"[\(\)\[\]]", " ", name)
    out.setdefault(opened, 1.0)
    core = core_name(name) or _PARENS.sub("", name).lower()
    out.setdefault(core, 1.0)
    base = core.split(" without ", 1)[0].strip(" ,")
    if base and base != core:
        out.setdefault(base, 0.96)
    for text in (base or core,):
        m = _CONJUNCTS.match(text.replace(",", ""))
        if m and not (set(text.split()) & _PREPOSITIONS):
            for part in m.groups():
                out.setdefault(part, 0.95)
    return list(out.items())


def is_default_child(display: str, synonyms: tuple[str, ...], code: str) -> float:
    """How strongly a child code reads as its parent's default ("unspecified") member.

    Returns
    -------
    float
        3: "Unspecified X" / "X, unspecified" / an "X NOS" inclusion term; 2.5 / 2: a
        seventh-character "initial encounter" (for a closed fracture / other); 1 each for a
        "without ..." clause and a code ending in 9; else 0.
    """
    low = display.lower()
    if low.startswith("unspecified") or re.search(r",\s*unspecified\b", low) or any(re.search(r"\bnos\b", s.lower()) for s in synonyms):
        return 3.0
    if "initial encounter" in low:
        return 2.0 if "open" in low.split("initial encounter", 1)[1] else 2.5
    return float(" without " in f" {low} ") + float(code.endswith("9"))
