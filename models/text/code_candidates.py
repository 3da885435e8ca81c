"""Code candidates for a mention: the top-k codes per code system, with scores and reasons.

:class:`CodeCandidateGenerator` ranks the concepts of each :class:`~cliniloop.taxonomies.codes.system.CodeSystem`
(ICD-10-CM, SNOMED CT) for a mention ("HTN", "type 2 diabetes", "heart attack"):

Lexical retrieval
    Every name of a concept (display, inclusion terms / synonyms, the same with parentheses
    opened, and its *core*: the name without "unspecified", "NOS", "without complications",
    "initial encounter ..."; see :mod:`cliniloop.models.text.code_textnorm`) is indexed twice: character
    n-grams (3-5, within words: catches misspellings and morphology) and words (catches exact
    terms), both binary TF-IDF weighted. A mention's similarity to a name
    is an *asymmetric cosine* ``q.n / (|q|^(2a) |n|^(2b))`` with ``a + b = 1`` and ``a > b``:
    1 for an identical name, and a name that contains all of the mention plus more words loses
    less than one that misses words of the mention. A concept scores the best of its names.
Mention variants
    Curated abbreviations (``taxonomies/codes/abbreviations.tsv``, case-aware: "PE" expands,
    "pe" does not), lay phrases and whole-mention defaults (``code_synonyms.tsv``: "heart attack"
    -> "myocardial infarction", "diabetes" -> "type 2 diabetes mellitus"), and for ``family`` /
    ``historical`` assertions the "family history of" / "personal history of" wording. Each
    variant is scored; a concept keeps its best variant (``source`` "abbreviation" when that was
    an abbreviation expansion).
Code-system priors
    Billable leaves are preferred: a non-billable category is demoted (x0.9) but passes its score
    (x0.97) to its default leaf (the child named like it once "unspecified"/"NOS" is dropped, else
    the "unspecified" / "without ..." / initial-encounter / "...9" child, followed down to a leaf),
    so a bare mention lands on the unspecified leaf and the category is still listed. "Other ..."
    codes (x0.96) and pregnancy, perinatal and congenital chapters O, P, Q (x0.95) are mildly
    demoted; for SNOMED, concepts outside the clinical-finding tags are (x0.9).
Sense and modifiers
    Abbreviations whose sense depends on the mention type (``taxonomies/codes/abbreviations_typed.tsv``:
    "CT" of a Test is computed tomography, "Ca" of a Test calcium, "breast Ca" of a Problem cancer)
    are expanded for that type only; a code whose name carries a code-changing modifier ("in situ",
    "traumatic", "postprocedural", "congenital", ...) that neither the mention nor its sentence
    says is demoted (x0.9). See :mod:`cliniloop.models.text.code_sense`.
Context
    Laterality, acuity and severity words of the sentence that the mention itself lacks ("left",
    "acute", "severe", ...) add 0.04 each (at most two) to codes whose name has them.
Cross-maps
    With a SNOMED system, its candidates' ``maps_to`` ICD-10 codes get the SNOMED score times
    ``0.95 * (0.75 + 0.25 * cosine(SNOMED name, ICD name))`` as evidence, so of several targets the
    one named most like the concept leads (``source`` "snomed-map" where that beats the lexical
    score; where both agree the score gets a small bonus).
Synonyms from a terminology
    ``thesaurus`` (a SNOMED CT release): a mention that *is* one of its concepts' names (after
    normalisation: "SHF", "Hypertensive disorder, systemic arterial") is also searched under that
    concept's other names (x0.95, ``source`` "synonym"), so a GB or release-specific wording meets
    the ICD-10 name through the concept's US or plain synonym. Only names of at most
    :data:`THESAURUS_MAX_CONCEPTS` concepts are read this way (ambiguous short names are not).
SNOMED CT phrasing
    "<adjective> disorder" is also searched as the noun the adjective names ("Hypertensive
    disorder" as "hypertension", "Psychotic disorder" as "psychosis"; x0.97), where a ``word`` row of
    ``code_synonyms.tsv`` says which noun; "Bipolar disorder" is left as it is.
Head-noun back-off
    A mention with words no indexed name has ("productive cough", "pleuritic chest pain") is also
    searched without them (x0.75: a perfect match of the head alone just passes the offer
    threshold, a loose one does not), its head noun (the last word before "of", "with", ...) always
    kept: an unknown modifier falls back to the head, while a known one ("septic" shock,
    "adenocarcinoma" of the sigmoid colon) is never dropped.
Accepted mappings
    ``accepted``: :func:`normalise_mention` text -> ``{system: [codes]}`` (validated coder
    verdicts). Those codes rank first for that mention with score 1 and ``source`` "accepted";
    :meth:`CodeCandidateGenerator.accept` adds one at run time.

Scores are in [0, 1] and sorted descending (ties by code), the same input always gives the same
output. ``fit`` builds the indexes (about 10 s for ICD-10-CM) and caches them in ``cache_dir``
(``code-index-<hash>.joblib``, keyed by the system's content, the lexicon and the normalisation
code; read memory-mapped, a warm load takes well under a second). Nothing happens at import time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from cliniloop.models.text.code_pcs import pcs_axes, pcs_factors
from cliniloop.models.text.code_policy import MENTION_POLICY, TYPED_SYSTEMS, diagnosis_system, mention_type as _mention_type, system_allowed
from cliniloop.models.text.code_sense import MODIFIER_PENALTY, SenseExpander, load_typed_abbreviations, modifier_bits, modifier_masks
from cliniloop.models.text.code_textnorm import (
    STOPWORDS,
    SYNONYMS_PATH,
    AbbreviationExpander,
    Lexicon,
    basic_tokens,
    core_name,
    is_default_child,
    load_abbreviations,
    load_synonyms,
    name_variants,
    normalise_mention,
)
from cliniloop.taxonomies.codes.system import CodeSystem

log = logging.getLogger(__name__)

__all__ = ["Candidate", "CodeCandidateGenerator", "OFFER_THRESHOLD", "OFFER_THRESHOLDS", "normalise_mention", "offer_threshold_for", "SOURCES"]

#: Why a candidate is there.
SOURCES = ("lexical", "abbreviation", "accepted", "snomed-map", "synonym")
#: Offer threshold of the coders' queue: a candidate scoring below it is not offered ("no good
#: candidate"). Calibrated with ``cliniloop eval codes --pairs
#: ../shared/data/text/codes/clinical_mentions_icd10cm_dev.tsv`` (``calibration``: the 2% quantile
#: of the 75 gold-code scores found, 0.61; it keeps 98.7% of them and turns away 25% of the best
#: candidates outside the gold category).
OFFER_THRESHOLD = 0.61
#: Offer threshold per code system where it was calibrated apart (:func:`offer_threshold_for`; other
#: systems, with no gold pairs to calibrate on here, use :data:`OFFER_THRESHOLD`). ICD-10-PCS titles
#: are long seven-axis names that a short procedure mention covers only in part, so its scores sit
#: lower: the same rule (2% quantile of the gold-code scores found) on
#: ``cliniloop eval codes --system icd10pcs --pairs data_samples/codes/procedure_mentions_icd10pcs.tsv``
#: (sample A, 25 hits) gives 0.24; at 0.61 nothing was offered for 24% of A's coded mentions.
#: Checked on sample B (``..._b.tsv``, not used to choose it): nothing offered 40% -> 8%.
OFFER_THRESHOLDS: dict[str, float] = {"icd10cm": OFFER_THRESHOLD, "icd10pcs": 0.24}
#: A thesaurus name shared by more concepts than this is ambiguous and not expanded.
THESAURUS_MAX_CONCEPTS = 3
#: Weight of a thesaurus synonym variant (the mention's own wording ranks first on a tie).
THESAURUS_WEIGHT = 0.95
#: Weight of the head-noun back-off variant (unknown modifiers dropped): what is left says less than
#: the mention, so only a head matching a name (almost) exactly stays above :data:`OFFER_THRESHOLD`.
BACKOFF_WEIGHT = 0.75
#: Bump when what is cached changes.
INDEX_FORMAT = 4

_N_FEATURES = 2**20
#: Where a score came from, as stored per concept (int8 codes); a back-off variant reads as lexical.
_SOURCE_NAMES = ("lexical", "abbreviation", "snomed-map", "synonym")
_SOURCE_CODE = {name: code for code, name in enumerate(_SOURCE_NAMES)} | {"backoff": 0}
#: Words that end the head noun phrase of a mention (its head is the word before them).
#: Heads that say nothing without their modifiers ("glycaemic disorder"): no back-off.
_GENERIC_HEADS = frozenset("disorder disease finding syndrome condition problem abnormality state".split())
_HEAD_ENDS = frozenset("of in with without due to on at from for after involving".split())
_ICD_CODE = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?$")
_PCS_CODE = re.compile(r"^[0-9A-HJ-NP-Z]{7}$")
_CLINICAL_TAGS = frozenset({"disorder", "finding", "situation", "event", "morphologic abnormality"})
_QUALIFIERS = tuple(
    """left right bilateral unilateral acute chronic subacute recurrent intractable severe mild moderate
    persistent paroxysmal permanent upper lower initial subsequent sequela primary secondary""".split()
)


def offer_threshold_for(system: str, threshold: float | Mapping[str, float] | None = None) -> float:
    """The score a candidate of ``system`` needs to be offered.

    Parameters
    ----------
    system : str
        Code system name ("icd10cm", "icd10pcs", ...).
    threshold : float, mapping or None
        A number: that, for every system. A mapping: its value for ``system``, else the calibrated
        one. ``None``: the calibrated value, :data:`OFFER_THRESHOLDS` or else :data:`OFFER_THRESHOLD`.

    Returns
    -------
    float
        The threshold, a score in [0, 1].
    """
    if isinstance(threshold, (int, float)):
        return float(threshold)
    if threshold is not None and system in threshold:
        return float(threshold[system])
    return OFFER_THRESHOLDS.get(system, OFFER_THRESHOLD)


@dataclass(frozen=True)
class Candidate:
    """One candidate code for a mention.

    Attributes
    ----------
    system : str
        Code system name ("icd10cm", "snomed").
    code : str
        The code as the system writes it.
    display : str
        Its preferred name.
    score : float
        In [0, 1]; candidates of one system are sorted by it, highest first.
    source : str
        Why it is here: "lexical", "abbreviation", "accepted" or "snomed-map".
    """

    system: str
    code: str
    display: str
    score: float
    source: str


@dataclass
class _Variant:
    item: int
    text: str
    weight: float
    source: str


class _Index:
    """The lexical index of one code system (all arrays; what is cached)."""

    def __init__(self, **arrays: Any) -> None:
        self.__dict__.update(arrays)

    name: str
    codes: list[str]
    displays: list[str]
    prior: np.ndarray
    qual_mask: np.ndarray
    starts: np.ndarray
    char_t: Any
    word_t: Any
    char_idf: np.ndarray
    word_idf: np.ndarray
    prop_src: np.ndarray
    prop_dst: np.ndarray
    map_src: np.ndarray
    map_target: list[tuple[str, str]]
    map_rank: np.ndarray


class _Featurizer:
    """Binary hashed features of normalised texts: words, and character 3-5-grams within words.

    Character n-grams are those of scikit-learn's ``char_wb`` analyzer (each word padded with a
    space), hashed with its ``HashingVectorizer``; they are computed once per distinct word and
    summed per text, which is what makes indexing ~200,000 names take seconds rather than tens.
    """

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        common = dict(n_features=_N_FEATURES, alternate_sign=False, norm=None, lowercase=False, dtype=np.float32)
        self._char = HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), **common)
        self._word = HashingVectorizer(analyzer=str.split, **common)

    def _incidence(self, texts: list[str]):
        from scipy import sparse

        vocab: dict[str, int] = {}
        indptr, indices = [0], []
        for text in texts:
            ids = {vocab.setdefault(w, len(vocab)) for w in text.split()}
            indices.extend(sorted(ids))
            indptr.append(len(indices))
        data = np.ones(len(indices), dtype=np.float32)
        return sparse.csr_matrix((data, indices, indptr), shape=(len(texts), len(vocab))), list(vocab)

    def transform(self, texts: list[str]):
        """``(chars, words)``: two binary CSR matrices, one row per text."""
        incidence, words = self._incidence(texts)
        chars = (incidence @ self._char.transform(words)).tocsr() if words else self._char.transform(texts)
        chars.data[:] = 1.0
        word_m = self._word.transform(texts).tocsr()
        word_m.data[:] = 1.0
        return chars, word_m


class CodeCandidateGenerator:
    """Top-k code candidates per code system for clinical mentions.

    Parameters
    ----------
    systems : sequence of CodeSystem
        Code systems to rank (e.g. ICD-10-CM and, when configured, SNOMED CT).
    abbreviations_path : Path or None
        Abbreviation list (TSV); ``None``: ``taxonomies/codes/abbreviations.tsv``.
    accepted : mapping or None
        ``normalise_mention(text) -> {system name: [codes]}``: validated mappings that rank first.
    k : int
        Candidates per system returned by default.
    cache_dir : Path or None
        Folder where fitted indexes are cached (keyed by the content of each system and of the
        curated lists); ``None``: no cache.
    synonyms_path : Path or None
        Word equivalences and lay terms (TSV); ``None``: ``models/text/code_synonyms.tsv``.
    coverage : float
        ``a`` of the asymmetric cosine (0.5 = plain cosine; higher favours names covering the whole mention).
    char_weight : float
        Weight of the character n-gram similarity; words get ``1 - char_weight``.
    snomed_tags : collection of str or None
        SNOMED semantic tags indexed (default: clinical findings, disorders, situations, events,
        morphologic abnormalities); ``None`` in a system's concepts' tags is always kept.
    min_score : float
        Candidates scoring below this are noise and left out (a mention may get fewer than k).
    offer_threshold : float, mapping or None
        Candidates scoring below this are not offered at all: "no good candidate" is then the
        answer (an empty list). A number applies to every system; a mapping ``system -> value``
        per system, the calibrated value (:func:`offer_threshold_for`) for a system it lacks, so
        ``{}`` or :data:`OFFER_THRESHOLDS` is what the coders' queue uses; ``None`` (the default
        here): only ``min_score`` applies. Validated mappings (score 1) always pass.
    typed_abbreviations_path : Path or None
        Abbreviations whose sense depends on the mention type (:mod:`cliniloop.models.text.code_sense`);
        ``None``: ``taxonomies/codes/abbreviations_typed.tsv``.
    thesaurus : CodeSystem or None
        A terminology whose concepts' names are synonyms of each other (a SNOMED CT release): a
        mention that is one of those names is also searched under the concept's other names
        (clinical findings, disorders, situations, events and morphologies only; read at ``fit``,
        about 13 us a name). ``None``: no thesaurus.
    backoff : bool
        Also search a mention without the words no indexed name has, its head noun kept
        (the head-noun back-off of the module docstring).
    reranker : EmbeddingReranker or None
        Optional second stage (:mod:`cliniloop.models.text.code_encoder_rerank`): the top
        ``max(k, reranker.pool)`` lexical candidates of each system are re-scored with a sentence
        encoder's cosine and the top ``k`` kept. ``None`` (the default): lexical ranking only.
    """

    def __init__(
        self,
        systems: Sequence[CodeSystem],
        abbreviations_path: Path | None = None,
        accepted: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
        k: int = 10,
        cache_dir: Path | None = None,
        synonyms_path: Path | None = None,
        coverage: float = 0.6,
        char_weight: float = 0.5,
        snomed_tags: Iterable[str] | None = _CLINICAL_TAGS,
        min_score: float = 0.05,
        offer_threshold: float | Mapping[str, float] | None = None,
        typed_abbreviations_path: Path | None = None,
        reranker: Any = None,
        thesaurus: CodeSystem | None = None,
        backoff: bool = True,
    ) -> None:
        self.systems = systems
        self.abbreviations_path = abbreviations_path
        self.accepted = accepted
        self.k = k
        self.cache_dir = cache_dir
        self.synonyms_path = synonyms_path
        self.coverage = coverage
        self.char_weight = char_weight
        self.snomed_tags = snomed_tags
        self.min_score = min_score
        self.offer_threshold = offer_threshold
        self.typed_abbreviations_path = typed_abbreviations_path
        self.reranker = reranker
        self.thesaurus = thesaurus
        self.backoff = backoff

    # -- fit ---------------------------------------------------------------------------------------

    def fit(self) -> CodeCandidateGenerator:
        """Read the curated lists and build (or load from the cache) one index per system.

        Returns
        -------
        CodeCandidateGenerator
            ``self``. ``build_seconds_`` holds the time per system, ``from_cache_`` whether it was loaded.
        """
        if not self.systems:
            raise ValueError("no code system to rank")
        names = [s.name for s in self.systems]
        if len(set(names)) != len(names):
            raise ValueError(f"code systems must have distinct names, got {names}")
        if not 0.0 <= self.char_weight <= 1.0 or not 0.0 < self.coverage < 1.0:
            raise ValueError("char_weight must be in [0, 1] and coverage in (0, 1)")
        self.lexicon_: Lexicon = load_synonyms(self.synonyms_path)
        self.abbreviations_ = AbbreviationExpander(load_abbreviations(self.abbreviations_path))
        self.sense_ = SenseExpander(load_typed_abbreviations(self.typed_abbreviations_path))
        self._modifier_masks: dict[str, np.ndarray] = {}
        self._featurizer = _Featurizer()
        self._accepted: dict[str, dict[str, list[str]]] = {}
        for key, per_system in (self.accepted or {}).items():
            for system, codes in per_system.items():
                for code in codes:  # stored under an older normalisation: fold it the current way
                    self.accept(normalise_mention(key), system, code, normalised=True)
        lexicon_hash = hashlib.sha256(Path(self.synonyms_path or SYNONYMS_PATH).read_bytes()).hexdigest()
        self.indexes_: dict[str, _Index] = {}
        self.build_seconds_: dict[str, float] = {}
        self.from_cache_: dict[str, bool] = {}
        for system in self.systems:
            t0 = time.perf_counter()
            key = self._cache_key(system, lexicon_hash)
            index = self._read_cache(key)
            self.from_cache_[system.name] = index is not None
            if index is None:
                index = self._build(system)
                self._write_cache(key, index)
            self.indexes_[system.name] = index
            self.build_seconds_[system.name] = time.perf_counter() - t0
            log.info(
                "code index %s: %d concepts, %d names, %s in %.2f s",
                system.name,
                len(index.codes),
                index.char_t.shape[1],
                "loaded" if self.from_cache_[system.name] else "built",
                self.build_seconds_[system.name],
            )
        self._link_maps()
        self._build_thesaurus()
        self._type_masks: dict[tuple[str, str], np.ndarray | None] = {}
        return self

    def _type_mask(self, system: str, label: str | None) -> np.ndarray | bool | None:
        """What the mention type allows in ``system``: ``None`` everything, ``False`` nothing, else a concept mask.

        See :mod:`cliniloop.models.text.code_policy`: a Test, Medication, Anatomy or Procedure mention gets no
        ICD-10-CM code; SNOMED concepts are kept by semantic tag (unknown tags are kept).
        """
        kind = _mention_type(label)
        if kind is None:
            return None
        if not system_allowed(kind, system):
            return False
        if system.startswith("icd") or system in TYPED_SYSTEMS:
            return None
        key = (system, kind)
        if key not in self._type_masks:
            concepts = next(s for s in self.systems if s.name == system).concepts
            allowed = MENTION_POLICY[kind]["snomed"]
            tags = [getattr(concepts.get(c), "semantic_tag", None) for c in self.indexes_[system].codes]
            self._type_masks[key] = np.asarray([t is None or t in allowed for t in tags], dtype=bool)  # type: ignore[operator]
        return self._type_masks[key]

    def _cache_key(self, system: CodeSystem, lexicon_hash: str) -> str:
        h = hashlib.sha256()
        tags = None if self.snomed_tags is None else sorted(self.snomed_tags)
        h.update(f"{INDEX_FORMAT}|{_normaliser_digest()}|{system.name}|{system.version}|{self.coverage}|{tags}|{lexicon_hash}".encode())
        for c in system.concepts.values():
            h.update(f"{c.code}\t{c.display}\t{'|'.join(c.synonyms)}\t{','.join(c.parents)}\t{c.billable}\t{c.semantic_tag}\n".encode())
        for code, targets in sorted(system.maps_to.items()):
            h.update(f"{code}>{targets}\n".encode())
        return h.hexdigest()[:24]

    def _cache_file(self, key: str) -> Path | None:
        return None if self.cache_dir is None else Path(self.cache_dir) / f"code-index-{key}.joblib"

    def _read_cache(self, key: str) -> _Index | None:
        path = self._cache_file(key)
        if path is None or not path.exists():
            return None
        import joblib

        try:
            data = joblib.load(path, mmap_mode="r")  # arrays stay on disk until touched: fast warm start
            return _Index(**data)
        except Exception as exc:  # corrupt or from another version: rebuild
            log.warning("code index cache %s unusable (%s); rebuilding", path, exc)
            return None

    def _write_cache(self, key: str, index: _Index) -> None:
        path = self._cache_file(key)
        if path is None:
            return
        import joblib

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            os.close(fd)
            os.chmod(tmp, 0o644)  # mkstemp makes it 0600; an index is no secret
            joblib.dump(dict(index.__dict__), tmp)
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("could not cache the code index in %s (%s)", path, exc)

    def _keep(self, system: CodeSystem, concept) -> bool:
        if system.name == "icd10pcs":  # seven characters, no dot: not an ICD-10(-CM) code shape
            return bool(_PCS_CODE.match(concept.code))
        if system.name.startswith("icd"):
            return bool(_ICD_CODE.match(concept.code))
        tags = self.snomed_tags
        return tags is None or concept.semantic_tag is None or concept.semantic_tag in tags

    def _build(self, system: CodeSystem) -> _Index:
        from scipy import sparse

        concepts = [c for c in system.concepts.values() if self._keep(system, c)]
        concepts.sort(key=lambda c: c.code)
        position = {c.code: i for i, c in enumerate(concepts)}
        texts: list[str] = []
        owner: list[int] = []
        name_weight: list[float] = []
        full_names: dict[str, set[str]] = {}  # code -> texts of weight 1 (name, core)
        for i, c in enumerate(concepts):
            seen: dict[str, float] = {}
            for name in (c.display, *c.synonyms):
                for variant, weight in name_variants(name):
                    text = self.lexicon_.match_text(variant)
                    if text and weight > seen.get(text, 0.0):
                        seen[text] = weight
            if not seen:  # a name of only stop words: keep the concept findable by its code
                seen[c.code.lower()] = 1.0
            full_names[c.code] = {t for t, w in seen.items() if w >= 1.0}
            for text, weight in seen.items():
                texts.append(text)
                owner.append(i)
                name_weight.append(weight)
        owner_arr = np.asarray(owner, dtype=np.int32)
        starts = np.flatnonzero(np.r_[True, owner_arr[1:] != owner_arr[:-1]]).astype(np.int64)

        def weigh(matrix, exponent: float):
            # binary features: a name repeating a word is not more about it
            df = np.bincount(matrix.indices, minlength=_N_FEATURES)
            idf = (np.log((1.0 + matrix.shape[0]) / (1.0 + df)) + 1.0).astype(np.float32)
            matrix = matrix @ sparse.diags(idf)
            norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
            norms[norms == 0] = 1.0
            matrix = sparse.diags((np.asarray(name_weight) / norms**exponent).astype(np.float32)) @ matrix
            return matrix.T.tocsr().astype(np.float32), idf

        b2 = 2.0 * (1.0 - self.coverage)
        chars, words = self._featurizer.transform(texts)
        char_t, char_idf = weigh(chars, b2)
        word_t, word_idf = weigh(words, b2)

        prior = np.ones(len(concepts), dtype=np.float32)
        children: dict[str, list[str]] = {}
        for c in concepts:
            for p in c.parents:
                if p in position:
                    children.setdefault(p, []).append(c.code)
        for i, c in enumerate(concepts):
            low = c.display.lower()
            if not c.billable:
                prior[i] *= 0.9
            has_nos = any(re.search(r"\bNOS\b", syn) for syn in c.synonyms)
            if not has_nos and (low.startswith("other ") or low.startswith("other,") or " other specified " in f" {low} "):
                prior[i] *= 0.96
            if system.name.startswith("icd") and c.code[0] in "OPQ":
                prior[i] *= 0.95  # pregnancy, perinatal, congenital: only when the mention says so
            if not system.name.startswith("icd") and c.semantic_tag is not None and c.semantic_tag not in _CLINICAL_TAGS:
                prior[i] *= 0.9

        by_code = {c.code: c for c in concepts}

        def default_score(names: set[str], kid) -> float:
            # The child that is just an ancestor's own name once "unspecified"/"NOS" is dropped is
            # the default; otherwise the "unspecified" / initial-encounter / "...9" child.
            same = bool(names & full_names[kid.code])
            return (4.0 if same else 0.0) + is_default_child(kid.display, kid.synonyms, kid.code)

        def default_leaf(code: str, names: frozenset[str] = frozenset(), depth: int = 0) -> str | None:
            kids = children.get(code)
            if not kids:
                return code if by_code[code].billable else None
            if depth > 8:
                return None
            names = names | {self.lexicon_.match_text(by_code[code].display)}
            scored = sorted((-default_score(names, by_code[k]), k) for k in kids)
            if scored[0][0] >= 0 and len(kids) > 1:
                return None
            return default_leaf(scored[0][1], names, depth + 1)

        prop_src, prop_dst = [], []
        if system.name.startswith("icd"):
            for i, c in enumerate(concepts):
                if c.billable or c.code not in children:
                    continue
                leaf = default_leaf(c.code)
                if leaf is not None and leaf != c.code:
                    prop_src.append(i)
                    prop_dst.append(position[leaf])

        map_src, map_target, map_rank = [], [], []
        for code, targets in system.maps_to.items():
            if code not in position:
                continue
            for rank, (target_system, target_code) in enumerate(targets):
                map_src.append(position[code])
                map_target.append((target_system, target_code))
                map_rank.append(rank)

        qual_mask = np.zeros(len(concepts), dtype=np.int32)
        bits = {w: 1 << b for b, w in enumerate(_QUALIFIERS)}
        for i, c in enumerate(concepts):
            for w in set(basic_tokens(c.display)) & bits.keys():
                qual_mask[i] |= bits[w]

        return _Index(
            name=system.name,
            qual_mask=qual_mask,
            codes=[c.code for c in concepts],
            displays=[c.display for c in concepts],
            prior=prior,
            starts=starts,
            char_t=char_t,
            word_t=word_t,
            char_idf=char_idf,
            word_idf=word_idf,
            prop_src=np.asarray(prop_src, dtype=np.int64),
            prop_dst=np.asarray(prop_dst, dtype=np.int64),
            map_src=np.asarray(map_src, dtype=np.int64),
            map_target=map_target,
            map_rank=np.asarray(map_rank, dtype=np.int64),
        )

    # -- accepted mappings -------------------------------------------------------------------------

    def accept(self, mention: str, system: str, code: str, normalised: bool = False) -> None:
        """Record a validated mapping: ``code`` ranks first for this mention from now on.

        Parameters
        ----------
        mention : str
            The mention text (normalised with :func:`normalise_mention` unless ``normalised``).
        system : str
            Code system name.
        code : str
            The accepted code (ICD codes in any spelling: "E1165" = "E11.65").
        normalised : bool
            ``mention`` is already a :func:`normalise_mention` key.
        """
        if not hasattr(self, "_accepted"):
            raise RuntimeError("call fit() first")
        key = mention if normalised else normalise_mention(mention)
        code = _dotted(code) if system.startswith("icd") else str(code).strip()
        codes = self._accepted.setdefault(key, {}).setdefault(system, [])
        if code not in codes:
            codes.append(code)

    # -- query -------------------------------------------------------------------------------------

    def candidates(
        self,
        mention: str,
        context: str | None = None,
        assertion: str | None = None,
        k: int | None = None,
        mention_type: str | None = None,
    ) -> dict[str, list[Candidate]]:
        """Top-k candidates per system for one mention.

        Parameters
        ----------
        mention : str
            The mention text ("HTN", "type 2 diabetes").
        context : str or None
            Its sentence: laterality, acuity and severity words in it ("left", "acute", "severe")
            lift codes that name them.
        assertion : str or None
            ``family`` adds the "family history of" codes first, ``historical`` adds "personal
            history of" codes; other values change nothing.
        k : int or None
            Candidates per system (default: the generator's ``k``).
        mention_type : str or None
            The span label ("Problem", "Test", ...): only the code systems and SNOMED semantic
            tags that fit it are ranked (:mod:`cliniloop.models.text.code_policy`); a system it rules out
            gets an empty list. ``None`` or an unknown label: no restriction.

        Returns
        -------
        dict
            ``system name -> list of Candidate`` (best first; empty for an empty mention).
        """
        return self.candidates_many([(mention, context, assertion, mention_type)], k=k)[0]

    def candidates_many(
        self,
        mentions: Iterable[str | tuple | Mapping[str, Any]],
        k: int | None = None,
        batch_size: int = 64,
    ) -> list[dict[str, list[Candidate]]]:
        """:meth:`candidates` for many mentions at once (vectorised in batches).

        Parameters
        ----------
        mentions : iterable
            Each a mention string, a ``(mention, context, assertion[, mention_type])`` tuple, or a
            mapping with ``mention`` (or ``text``) and optional ``context`` / ``assertion`` /
            ``mention_type`` (or ``label``).
        k : int or None
            Candidates per system.
        batch_size : int
            Mentions scored together.

        Returns
        -------
        list of dict
            One ``system -> candidates`` dict per mention, in order.
        """
        self._check_fitted()
        k = self.k if k is None else k
        if k < 1:
            raise ValueError("k must be at least 1")
        items = [self._item(m) for m in mentions]
        out: list[dict[str, list[Candidate]]] = []
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            if self.reranker is None:
                out.extend(self._batch(batch, k))
            else:
                out.extend(self._rerank(batch, self._batch(batch, max(k, self.reranker.pool)), k))
        return out

    def _rerank(self, items: list[tuple], results: list[dict[str, list[Candidate]]], k: int) -> list[dict[str, list[Candidate]]]:
        """The re-ranker's top ``k`` of each system's candidate pool (see ``reranker``)."""
        mentions = [item[0] for item in items]
        for name in self.indexes_:
            ranked = self.reranker.rerank(mentions, [r[name] for r in results], k)
            for r, cands in zip(results, ranked):
                r[name] = cands
        return results

    @staticmethod
    def _item(m) -> tuple[str, str | None, str | None, str | None]:
        if isinstance(m, str):
            return m, None, None, None
        if isinstance(m, Mapping):
            text = m.get("mention", m.get("text"))
            if not isinstance(text, str):
                raise TypeError("a mention mapping needs a 'mention' (or 'text') string")
            return text, m.get("context"), m.get("assertion"), m.get("mention_type", m.get("label"))
        mention, *rest = m
        rest = [*rest, None, None, None]
        return mention, rest[0], rest[1], rest[2]

    def _check_fitted(self) -> None:
        if not hasattr(self, "indexes_"):
            raise RuntimeError("call fit() first")

    def _build_thesaurus(self) -> None:
        """Index the thesaurus' names: match text -> concepts, and each concept's names (see ``thesaurus``)."""
        self.__dict__.pop("_unseen_cache", None)
        self.__dict__.pop("_idf_max", None)
        self._synonym_of: dict[str, list[int]] = {}
        self._synonym_names: list[tuple[str, ...]] = []
        if self.thesaurus is None:
            return
        t0 = time.perf_counter()
        for c in sorted(self.thesaurus.concepts.values(), key=lambda c: c.code):
            if c.semantic_tag is not None and c.semantic_tag not in _CLINICAL_TAGS:
                continue  # findings and disorders only: about 13 us a name, a few seconds for a full release
            names: dict[str, str] = {}
            for name in (c.display, *c.synonyms):
                text = self.lexicon_.match_text(name)
                if text and text not in names:
                    names[text] = name
            if len(names) < 2:
                continue
            j = len(self._synonym_names)
            self._synonym_names.append(tuple(names.values()))
            for text in names:
                self._synonym_of.setdefault(text, []).append(j)
        log.info("thesaurus %s: %d concepts with synonyms in %.2f s", self.thesaurus.name, len(self._synonym_names), time.perf_counter() - t0)

    def _synonyms(self, mention: str) -> list[str]:
        """The other names of the thesaurus concepts the mention is a name of (at most 8)."""
        if not getattr(self, "_synonym_of", None):
            return []
        key = self.lexicon_.match_text(mention)
        hits = self._synonym_of.get(key, [])
        if not hits or len(hits) > THESAURUS_MAX_CONCEPTS:
            return []
        out: list[str] = []
        for j in hits:
            for name in self._synonym_names[j]:
                if name not in out and self.lexicon_.match_text(name) != key:
                    out.append(name)
        return out[:8]

    def _unseen(self, word: str) -> bool:
        """No indexed name of a fitted diagnosis system (ICD-10-CM, SNOMED CT) has this (canonical) word."""
        cache = self.__dict__.setdefault("_unseen_cache", {})
        if word not in cache:
            if "_idf_max" not in self.__dict__:  # an unseen word has the largest idf of its index
                self._idf_max = {name: float(ix.word_idf.max()) for name, ix in self.indexes_.items()}
            col = self._featurizer.transform([word])[1].indices
            cache[word] = bool(len(col)) and all(
                float(ix.word_idf[col[0]]) >= self._idf_max[name] - 1e-6
                for name, ix in self.indexes_.items()
                if diagnosis_system(name)
            )
        return cache[word]

    def _backoff(self, tokens: list[str]) -> list[str] | None:
        """``tokens`` (basic tokens) without the words no index knows, the head noun kept; ``None`` if nothing to drop.

        The head is the last word before the first preposition ("cough" in "productive cough",
        "adenocarcinoma" in "adenocarcinoma of the sigmoid colon"). Nothing is dropped when the head
        itself is unknown or generic ("disorder", "disease", ...: the modifier is then the meaning).
        """
        if not any(diagnosis_system(name) for name in self.indexes_):
            return None
        stop = next((n for n, t in enumerate(tokens) if n > 0 and t in _HEAD_ENDS), len(tokens))
        head = stop - 1
        while head >= 0 and tokens[head] in STOPWORDS:
            head -= 1
        if head < 0:
            return None
        canon = [self.lexicon_.words.get(t, t) for t in tokens]
        if canon[head] in _GENERIC_HEADS or self._unseen(canon[head]):
            return None
        drop = {n for n, t in enumerate(canon) if n != head and t not in STOPWORDS and len(t) >= 5 and t.isalpha() and self._unseen(t)}
        if not drop:
            return None
        return [t for n, t in enumerate(tokens) if n not in drop]

    def _adjective_disorder(self, tokens: list[str]) -> list[str] | None:
        """SNOMED CT's "<adjective> disorder / finding" as the plain noun: "hypertensive disorder" ->
        "hypertensive" (read as "hypertension"), "psychotic disorder" -> "psychotic"; ``None`` otherwise.

        Only where a ``word`` row turns the adjective into a noun ("hypertensive" -> "hypertension"):
        "eating disorder" or "bipolar disorder" keep their "disorder".
        """
        for n, t in enumerate(tokens):
            if n > 0 and t in ("disorder", "finding") and self.lexicon_.words.get(tokens[n - 1], tokens[n - 1]) != tokens[n - 1]:
                return [*tokens[:n], *tokens[n + 1 :]]
        return None

    def _variants(self, i: int, mention: str, assertion: str | None, label: str | None = None) -> list[_Variant]:
        typed = [(v, "abbreviation", 1.0) for v in self.sense_.variants(mention, label)]
        bases = [(mention, "lexical", 1.0), *typed] + [(v, "abbreviation", 1.0) for v in self.abbreviations_.variants(mention)]
        bases += [(v, "synonym", THESAURUS_WEIGHT) for v in self._synonyms(mention)]
        raw: list[tuple[list[str], float, str]] = []
        for text, source, weight in bases:
            tokens = basic_tokens(text)
            if not tokens:
                continue
            raw.append((tokens, weight, source))
            for alt in self.lexicon_.phrase_variants(tokens):
                raw.append((alt, 0.97 * weight, source))
            plain = self._adjective_disorder(tokens)
            if plain:
                raw.append((plain, 0.97 * weight, source))
            if self.backoff and source != "synonym":
                cut = self._backoff(tokens)
                if cut:
                    raw.append((cut, BACKOFF_WEIGHT * weight, "backoff"))
        if assertion in ("family", "historical") and raw:
            prefix = ["family", "history", "of"] if assertion == "family" else ["personal", "history", "of"]
            extra = [(prefix + t, w, s) for t, w, s in raw[:3]]
            if assertion == "family":  # the patient does not have it: history codes first
                raw = [(t, w * 0.75, s) for t, w, s in raw]
            else:
                extra = [(t, w * 0.95, s) for t, w, s in extra]
            raw.extend(extra)
        best: dict[str, _Variant] = {}
        for tokens, weight, source in raw:
            text = " ".join(self.lexicon_.canonical(tokens))
            if not text:
                continue
            prev = best.get(text)
            if prev is None or weight > prev.weight or (weight == prev.weight and source == "lexical" and prev.source != "lexical"):
                best[text] = _Variant(i, text, weight, source)
        return list(best.values())

    def _query_scores(self, index: _Index, texts: list[str]) -> np.ndarray:
        """Concept scores (variants x concepts): best name of each concept, priors not yet applied."""
        from scipy import sparse

        a2 = 2.0 * self.coverage
        total = None
        chars, words = self._featurizer.transform(texts)
        for q, matrix, idf, weight in (
            (chars, index.char_t, index.char_idf, self.char_weight),
            (words, index.word_t, index.word_idf, 1.0 - self.char_weight),
        ):
            if weight == 0.0:
                continue
            q = q @ sparse.diags(idf)
            norms = np.sqrt(np.asarray(q.multiply(q).sum(axis=1)).ravel())
            norms[norms == 0] = 1.0
            q = sparse.diags((weight / norms**a2).astype(np.float32)) @ q
            part = (q.astype(np.float32) @ matrix).toarray()
            total = part if total is None else total + part
        assert total is not None
        scores = np.maximum.reduceat(total, index.starts, axis=1)
        np.clip(scores, 0.0, 1.0, out=scores)
        return scores

    def _batch(self, items: list[tuple[str, str | None, str | None, str | None]], k: int) -> list[dict[str, list[Candidate]]]:
        variants: list[_Variant] = []
        for i, (mention, _, assertion, label) in enumerate(items):
            variants.extend(self._variants(i, mention, assertion, label))
        groups: list[list[int]] = [[] for _ in items]
        for j, v in enumerate(variants):
            groups[v.item].append(j)
        weights = np.asarray([v.weight for v in variants], dtype=np.float32)[:, None]
        is_backoff = np.asarray([v.source == "backoff" for v in variants], dtype=bool)[:, None]
        texts = [v.text for v in variants]

        per_system: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # name -> (items x concepts score, source code)
        for name, index in self.indexes_.items():
            n = len(index.codes)
            score = np.zeros((len(items), n), dtype=np.float32)
            source = np.zeros((len(items), n), dtype=np.int8)  # _SOURCE_CODE
            if variants:
                v_scores = self._query_scores(index, texts)
                if len(index.prop_src):
                    np.maximum.at(v_scores.T, index.prop_dst, v_scores[:, index.prop_src].T * np.float32(0.97))
                v_scores *= index.prior[None, :]
                if diagnosis_system(name):
                    v_scores *= weights
                else:  # the head-noun back-off is for diagnoses: procedure, drug and test names keep every word
                    v_scores *= np.where(is_backoff, np.float32(0.0), weights)
                kind = np.asarray([_SOURCE_CODE.get(v.source, 0) for v in variants], dtype=np.int8)
                for i, rows in enumerate(groups):
                    if not rows:
                        continue
                    block = v_scores[rows]
                    best = block.argmax(axis=0)
                    score[i] = block[best, np.arange(n)]
                    source[i] = kind[np.asarray(rows)[best]]
            per_system[name] = (score, source)

        self._apply_maps(per_system)

        results: list[dict[str, list[Candidate]]] = []
        for i, (mention, context, _, label) in enumerate(items):
            accepted = self._accepted.get(normalise_mention(mention), {})
            qmask = self._qualifier_mask(context, mention)
            result: dict[str, list[Candidate]] = {}
            for name, index in self.indexes_.items():
                score, source = per_system[name]
                row = score[i]
                if qmask and groups[i]:
                    hits = np.bitwise_count(index.qual_mask & np.int32(qmask)).astype(np.float32)
                    row = np.minimum(1.0, row + np.float32(0.04) * np.minimum(hits, 2)) * (row > 0)
                if groups[i]:  # a code naming a modifier ("in situ", "traumatic") the note does not say
                    unsaid = self._modifier_mask(name) & np.int32(~modifier_bits([mention, context or ""]))
                    row = np.where(unsaid != 0, row * np.float32(MODIFIER_PENALTY), row)
                if name == "icd10pcs" and groups[i]:  # the approach / "diagnostic" the sentence says (code_pcs)
                    factors = pcs_factors(self._pcs_axes(index), mention, context)
                    if factors is not None:
                        row = row * factors
                allow = self._type_mask(name, label)
                if allow is False:
                    result[name] = []
                    continue
                result[name] = self._top(index, row, source[i], k, accepted.get(name, []), bool(groups[i]), allow)
            results.append(result)
        return results

    def _pcs_axes(self, index: _Index) -> tuple[np.ndarray, np.ndarray]:
        """Approach and qualifier characters of an ICD-10-PCS index's codes (computed once)."""
        cache = self.__dict__.setdefault("_pcs_axes_cache", {})
        if index.name not in cache:
            cache[index.name] = pcs_axes(index.codes)
        return cache[index.name]

    def _modifier_mask(self, system: str) -> np.ndarray:
        """Per concept of ``system``: bits of the code-changing modifiers its name carries (built once)."""
        if system not in self._modifier_masks:
            self._modifier_masks[system] = modifier_masks(self.indexes_[system].displays)
        return self._modifier_masks[system]

    @staticmethod
    def _qualifier_mask(context: str | None, mention: str) -> int:
        """Bits of the laterality / acuity / severity words the sentence adds to the mention."""
        if not context:
            return 0
        words = (set(basic_tokens(context)) - set(basic_tokens(mention))) & set(_QUALIFIERS)
        return sum(1 << _QUALIFIERS.index(w) for w in words)

    def _link_maps(self) -> None:
        """Cross-map links between fitted systems, each weighted by how well the target's name fits.

        A SNOMED concept may map to several ICD-10 codes ("Pneumonia" -> J13, J18.9): the target
        whose own name is closest to the concept's name ("Pneumonia, unspecified organism") gets
        most of the evidence: ``0.95 * (0.75 + 0.25 * cosine)``, minus a little per map priority.
        """
        from scipy import sparse

        self._links: list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray]] = []
        for name, index in self.indexes_.items():
            if not len(index.map_src):
                continue
            for target_name, target in self.indexes_.items():
                if target_name == name:
                    continue
                family = target_name[:5]  # "icd10cm" takes "icd10" and "icd10cm" targets
                position = {c: j for j, c in enumerate(target.codes)}
                src, dst, rank = [], [], []
                for s_, (tsys, tcode), r in zip(index.map_src, index.map_target, index.map_rank):
                    if not str(tsys).lower().replace("-", "").startswith(family):
                        continue
                    j = position.get(_dotted(tcode) if family.startswith("icd") else str(tcode))
                    if j is not None:
                        src.append(int(s_))
                        dst.append(j)
                        rank.append(int(r))
                if not src:
                    continue
                a_text = [self.lexicon_.match_text(index.displays[j]) for j in src]
                b_text = [self.lexicon_.match_text(core_name(target.displays[j]) or target.displays[j]) for j in dst]
                sim = np.zeros(len(src), dtype=np.float32)
                a_feats, b_feats = self._featurizer.transform(a_text), self._featurizer.transform(b_text)
                for a, b, idf, w in zip(a_feats, b_feats, (target.char_idf, target.word_idf), (self.char_weight, 1 - self.char_weight)):
                    a, b = a @ sparse.diags(idf), b @ sparse.diags(idf)
                    dot = np.asarray(a.multiply(b).sum(axis=1)).ravel()
                    na = np.sqrt(np.asarray(a.multiply(a).sum(axis=1)).ravel())
                    nb = np.sqrt(np.asarray(b.multiply(b).sum(axis=1)).ravel())
                    sim += np.float32(w) * (dot / np.maximum(na * nb, 1e-9)).astype(np.float32)
                factor = 0.95 * (0.75 + 0.25 * np.clip(sim, 0, 1)) * 0.995 ** np.asarray(rank, dtype=np.float32)
                self._links.append((name, target_name, np.asarray(src), np.asarray(dst), factor.astype(np.float32)))

    def _apply_maps(self, per_system: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        for name, target_name, src, dst, factor in self._links:
            src_score = per_system[name][0]
            score, source = per_system[target_name]
            evidence = np.zeros_like(score)
            np.maximum.at(evidence.T, dst, (src_score[:, src] * factor[None, :]).T)
            wins = evidence > score
            combined = np.minimum(1.0, np.maximum(score, evidence) + np.float32(0.05) * np.minimum(score, evidence))
            source[wins] = _SOURCE_CODE["snomed-map"]
            score[:] = combined

    def _top(
        self,
        index: _Index,
        score: np.ndarray,
        source: np.ndarray,
        k: int,
        accepted: list[str],
        has_query: bool,
        allow: np.ndarray | None = None,
    ) -> list[Candidate]:
        out: list[Candidate] = []
        taken: set[int] = set()
        if accepted:
            position = {c: j for j, c in enumerate(index.codes)}
            for code in accepted:
                j = position.get(code)
                if j is None or j in taken or (allow is not None and not allow[j]):
                    continue
                taken.add(j)
                out.append(Candidate(index.name, code, index.displays[j], 1.0, "accepted"))
        if not has_query or len(out) >= k:
            return out[:k]
        if allow is not None:
            score = np.where(allow, score, np.float32(0.0))
        # Everything tied with the k-th best is considered, so ties are broken by code, not by chance.
        want = min(len(score), k + len(taken))
        threshold = np.partition(score, len(score) - want)[len(score) - want]
        offer = 0.0 if self.offer_threshold is None else offer_threshold_for(index.name, self.offer_threshold)
        top = np.flatnonzero(score >= max(threshold, self.min_score, offer, 1e-9))
        if len(top) > 5000:
            top = np.argpartition(-score, 5000)[:5000]
        values = np.round(score[top].astype(np.float64) * (0.99 if out else 1.0), 6)
        order = np.lexsort((np.asarray([index.codes[j] for j in top]), -values))
        names = _SOURCE_NAMES
        for n in order:
            if len(out) >= k:
                break
            j = int(top[n])
            if j in taken:
                continue
            out.append(Candidate(index.name, index.codes[j], index.displays[j], float(values[n]), names[int(source[j])]))
        return out


@lru_cache(maxsize=1)
def _normaliser_digest() -> str:
    """Hash of the normalisation code: an index built under other normalisation rules is not reused."""
    import cliniloop.models.text.code_textnorm as textnorm

    return hashlib.sha256(Path(textnorm.__file__).read_bytes()).hexdigest()[:16]


def _dotted(code: str) -> str:
    bare = re.sub(r"[\s.]", "", str(code)).upper()
    return bare if len(bare) <= 3 else f"{bare[:3]}.{bare[3:]}"
