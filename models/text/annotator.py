"""Rule-based clinical-text pre-annotator built on medspaCy.

:class:`ClinicalTextAnnotator` finds Problem/Medication/Procedure/Test/Anatomy mentions with
lexicon rules (``taxonomies/text/targets``), assigns sections (medspaCy Sectionizer) and
sentences, and asserts each mention with ConText (``taxonomies/text/context_rules.json``).
See :mod:`cliniloop.models.text.assertion` for the assertion mapping and precedence and
:mod:`cliniloop.models.text.confidence` for the confidence formula.

Examples
--------
>>> ann = ClinicalTextAnnotator().fit()                       # doctest: +SKIP
>>> [(m.text, m.label, m.assertion) for m in ann.predict(["No chest pain."])[0]]  # doctest: +SKIP
[('chest pain', 'Problem', 'absent')]
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .assertion import resolve
from .confidence import entity_probability
from .locate import locate
from .mention import ASSERTIONS, LABELS, Mention
from .pipeline import CONTEXT_PIPE, PARAGRAPH_PIPE, SECTION_PIPE, SENTENCE_PIPE, TARGET_PIPE, build_pipeline
from .rules import default_rules_dir, load_targets, rules_version
from .textnorm import NormalisedText, normalise_whitespace

GIVEN_SOURCE = "given"


class ClinicalTextAnnotator:
    """medspaCy rule pipeline with a scikit-learn style interface.

    Parameters
    ----------
    rules_dir : Path or None
        Rules directory; None uses the packaged ``taxonomies/text``.
    batch_size : int
        ``nlp.pipe`` batch size.

    Attributes
    ----------
    nlp_ : spacy.Language
        The pipeline, set by :meth:`fit`.
    version_ : str
        Rules version at fit time.
    """

    labels: tuple[str, ...] = LABELS
    assertions: tuple[str, ...] = ASSERTIONS

    def __init__(self, rules_dir: Path | None = None, batch_size: int = 64) -> None:
        self.rules_dir = rules_dir
        self.batch_size = batch_size

    # ------------------------------------------------------------------ fitting
    @property
    def _rules_path(self) -> Path:
        return Path(self.rules_dir) if self.rules_dir is not None else default_rules_dir()

    def fit(self, texts: Sequence[str] | None = None, labels: object = None) -> "ClinicalTextAnnotator":
        """Load the rule files and build the pipeline (rule-based: nothing is learnt).

        Parameters
        ----------
        texts, labels : ignored
            Accepted for API compatibility with learnt models.

        Returns
        -------
        ClinicalTextAnnotator
            ``self``.
        """
        rules_dir = self._rules_path
        entries = load_targets(rules_dir)
        self._label_of = {e.literal.lower(): e.label for e in entries if not e.case_sensitive}
        self.nlp_ = build_pipeline(rules_dir, entries)
        self.version_ = rules_version(rules_dir)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "nlp_"):
            self.fit()

    @property
    def version(self) -> str:
        """``"medspacy-rules-" + short sha256`` of the rule files (as loaded, once fitted)."""
        if hasattr(self, "version_"):
            return self.version_
        return rules_version(self._rules_path)

    # --------------------------------------------------------------- prediction
    def predict(self, texts: Sequence[str]) -> list[list[Mention]]:
        """Annotate texts.

        Parameters
        ----------
        texts : sequence of str
            Documents; the pipeline is built on first use if :meth:`fit` was not called.

        Returns
        -------
        list of list of Mention
            One list per text, mentions in text order. Matches inside section titles
            (e.g. "illness" in "HISTORY OF PRESENT ILLNESS:") are not mentions.
        """
        texts = list(texts)
        if not texts:
            return []
        self._check_fitted()
        norms = [normalise_whitespace(t) for t in texts]
        docs = self.nlp_.pipe((n.text for n in norms), batch_size=self.batch_size)
        return [self._mentions(doc, text, norm) for doc, text, norm in zip(docs, texts, norms)]

    def _sentence_index(self, doc) -> dict[int, int]:
        return {sent.start: i for i, sent in enumerate(doc.sents)}

    def _mentions(self, doc, original: str, norm: NormalisedText) -> list[Mention]:
        if not len(doc):
            return []
        sent_index = self._sentence_index(doc)
        titles = _title_tokens(doc)
        return [
            self._mention(span, sent_index, original, norm)
            for span in doc.ents
            if span.start not in titles
        ]

    def _mention(
        self,
        span,
        sent_index: dict[int, int],
        original: str,
        norm: NormalisedText,
        source: str | None = None,
    ) -> Mention:
        doc = span.doc
        section = doc[span.start]._.section_category if doc.has_extension("sections") else None
        case_sensitive = False
        if source is None:
            rule = getattr(span._, "target_rule", None)
            source = (rule.metadata or {}).get("source", "unknown") if rule is not None else "unknown"
            case_sensitive = rule is not None and rule.pattern is not None
        prob = entity_probability(
            source, len(span), len(span.text), span.label_, section, case_sensitive
        )
        result = resolve(span, section)
        start, end = norm.to_original(span.start_char, span.end_char)
        return Mention(
            start=start,
            end=end,
            text=original[start:end],
            label=span.label_,
            probability=prob,
            assertion=result.assertion,
            assertion_probability=result.probability,
            section=section,
            sentence_index=sent_index.get(span.sent.start, 0),
            attributes=result.attributes,
        )

    # --------------------------------------------------------- given conditions
    def assert_condition(self, sentence: str, condition: str) -> Mention | None:
        """Assert a caller-supplied condition within one sentence.

        The condition is treated as the entity: it is found in the sentence with
        :func:`cliniloop.models.text.locate.locate` (case-insensitive, whitespace-normalised; for
        repeated phrases same case, then upper case, then first; if absent verbatim,
        punctuation between words is ignored, then the longest leading run of its words is
        used, since annotators sometimes record a condition longer than the sentence). When
        nothing of it occurs, ``None`` is returned: there is no span to assert, and callers
        should treat it as "no assertion evidence" (the NegEx evaluation scores it as
        affirmed/recent/patient).

        The input goes through the same whitespace normalisation, sentence splitting and
        sectionizer as :meth:`predict` (ConText scope is the sentence holding the condition;
        section headers end a sentence), but the target matcher is skipped. The label is
        looked up in the lexicon (``Problem`` when unknown); the entity probability uses the
        ``given`` source prior.

        Parameters
        ----------
        sentence : str
            The sentence.
        condition : str
            The condition phrase.

        Returns
        -------
        Mention or None
            The asserted condition, or None when it cannot be located.
        """
        return self.assert_conditions([(sentence, condition)])[0]

    def assert_conditions(self, pairs: Sequence[tuple[str, str]]) -> list[Mention | None]:
        """Batch version of :meth:`assert_condition` (one pass of ``nlp.pipe``).

        Parameters
        ----------
        pairs : sequence of (sentence, condition)
            Inputs.

        Returns
        -------
        list of Mention or None
            One result per pair.
        """
        self._check_fitted()
        pairs = list(pairs)
        results: list[Mention | None] = []
        tokenizer = self.nlp_.tokenizer
        norms = [normalise_whitespace(s) for s, _ in pairs]
        docs = tokenizer.pipe([n.text for n in norms], batch_size=self.batch_size)
        for (sentence, condition), norm, doc in zip(pairs, norms, docs):
            results.append(self._assert_in_doc(doc, condition, sentence, norm))
        return results

    def assert_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int, str]]]
    ) -> list[list[Mention | None]]:
        """Assert caller-supplied entity spans at exact offsets of whole documents.

        Used when another model (e.g. the NER tagger) decides *where* the entities are and
        this pipeline only decides *how they are asserted*. Each text goes through the same
        normalisation, sentences, paragraphs and sectionizer as :meth:`predict`, the given
        spans replace the lexicon matches as ConText's targets, and ConText runs once per
        document, so every span sees the same modifiers a lexicon match there would.

        Parameters
        ----------
        texts : sequence of str
            Documents.
        spans : sequence of sequences of (start, end, label)
            Per document, character offsets into the original text and a label from
            :data:`LABELS`; spans must not overlap each other.

        Returns
        -------
        list of list of Mention or None
            Per document, one entry per given span, in the given order: the asserted mention
            (offsets and label as given, entity probability from the ``given`` prior), or
            ``None`` for a span that covers no token, overlaps an earlier one after token
            alignment, or has a label outside :data:`LABELS`.

        Raises
        ------
        ValueError
            If ``texts`` and ``spans`` differ in length.
        """
        texts, spans = list(texts), [list(s) for s in spans]
        if len(texts) != len(spans):
            raise ValueError(f"{len(texts)} texts but {len(spans)} span lists")
        if not texts:
            return []
        self._check_fitted()
        norms = [normalise_whitespace(t) for t in texts]
        disabled = [TARGET_PIPE, SECTION_PIPE, CONTEXT_PIPE]
        docs = self.nlp_.pipe((n.text for n in norms), batch_size=self.batch_size, disable=disabled)
        return [self._assert_spans_in_doc(doc, text, norm, s) for doc, text, norm, s in zip(docs, texts, norms, spans)]

    def _assert_spans_in_doc(
        self, doc, original: str, norm: NormalisedText, spans: list[tuple[int, int, str]]
    ) -> list[Mention | None]:
        out: list[Mention | None] = [None] * len(spans)
        if not len(doc) or not spans:
            return out
        starts = norm.offsets[:-1]
        placed = []  # (span in doc, index of the given span)
        taken: set[int] = set()
        for i, (start, end, label) in sorted(enumerate(spans), key=lambda x: (x[1][0], x[1][1])):
            if label not in LABELS or end <= start:
                continue
            n_start, n_end = bisect_left(starts, start), bisect_left(starts, end)
            span = doc.char_span(n_start, n_end, label=label, alignment_mode="expand") if n_end > n_start else None
            if span is None or not len(span) or taken.intersection(range(span.start, span.end)):
                continue
            taken.update(range(span.start, span.end))
            placed.append((span, i))
        if not placed:
            return out
        doc.ents = [span for span, _ in placed]
        self.nlp_.get_pipe(SECTION_PIPE)(doc)
        self.nlp_.get_pipe(CONTEXT_PIPE)(doc)
        sent_index = self._sentence_index(doc)
        by_bounds = {(e.start, e.end): e for e in doc.ents}
        for span, i in placed:
            mention = self._mention(by_bounds[span.start, span.end], sent_index, original, norm, source=GIVEN_SOURCE)
            start, end, label = spans[i]
            out[i] = replace(mention, start=start, end=end, text=original[start:end], label=label)
        return out

    def _assert_in_doc(
        self, doc, condition: str, original: str, norm: NormalisedText
    ) -> Mention | None:
        bounds = locate(doc.text, condition)
        if bounds is None or not len(doc):
            return None
        label = self._label_of.get(" ".join(condition.lower().split()), "Problem")
        span = doc.char_span(bounds[0], bounds[1], label=label, alignment_mode="expand")
        if span is None:
            return None
        doc = self.nlp_.get_pipe(SENTENCE_PIPE)(doc)
        doc = self.nlp_.get_pipe(PARAGRAPH_PIPE)(doc)
        doc.ents = [span]
        self.nlp_.get_pipe(SECTION_PIPE)(doc)
        self.nlp_.get_pipe(CONTEXT_PIPE)(doc)
        ent = doc.ents[0]
        return self._mention(ent, self._sentence_index(doc), original, norm, source=GIVEN_SOURCE)


def _title_tokens(doc) -> set[int]:
    """Token indices inside section titles (e.g. "HISTORY OF PRESENT ILLNESS:")."""
    out: set[int] = set()
    for section in getattr(doc._, "sections", None) or ():
        start, end = section.title_span
        out.update(range(start, end))
    return out
