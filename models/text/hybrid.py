"""Hybrid clinical-text model: a trained NER tagger finds entities, the rules assert them.

Cold start runs the rule annotator alone (:class:`~cliniloop.models.text.annotator.ClinicalTextAnnotator`).
Once a trained :class:`~cliniloop.models.text.ner.NerTagger` is promoted, :class:`HybridTextModel`
combines both; its :attr:`~HybridTextModel.version` names both parts, ``<rules>+<ner>``.

Merge, per document
-------------------
1. **Model spans win.** Every span of the tagger whose label is one of :data:`LABELS` becomes a
   mention with the tagger's label, offsets and span probability as ``probability`` (clipped to
   [0.01, 0.99]: a mention's probabilities lie strictly inside (0, 1)). Labels the taxonomy
   does not know are dropped.
2. **Rules fill the gaps.** A rule (lexicon) mention that overlaps no model span is kept, with
   its rule entity probability: early models know few labels and few words, and the lexicons
   still know the rest. A rule mention that overlaps a model span is dropped: the model, which
   learnt from the annotators, decides boundaries and label there. ``keep_rule_mentions=False``
   turns the gap filling off.
3. **Rules assert everything.** The kept spans (model and rule) go through the rule pipeline
   again as ConText targets (:meth:`ClinicalTextAnnotator.assert_spans`), so assertion,
   assertion probability, section and sentence come from the same rules as in the cold start.
   A model span that cannot be aligned to tokens keeps ``present`` with assertion probability
   0.5 (no evidence either way).

So ``confidence = p_entity × p_assertion`` keeps its meaning: ``p_entity`` is learnt for the
model's spans and a prior for the rules' spans.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .mention import LABELS, Mention

if TYPE_CHECKING:
    from .annotator import ClinicalTextAnnotator
    from .ner import EntitySpan, NerTagger

P_MIN, P_MAX = 0.01, 0.99
UNALIGNED_ASSERTION_PROBABILITY = 0.5


def _clip(p: float | None) -> float:
    return min(P_MAX, max(P_MIN, float(p if p is not None else 0.5)))


def _overlaps(a: tuple[int, int], spans: Sequence[tuple[int, int]]) -> bool:
    return any(a[0] < e and s < a[1] for s, e in spans)


class HybridTextModel:
    """NER tagger for entities + rule annotator for assertions (and for entities the tagger misses).

    Parameters
    ----------
    rules : ClinicalTextAnnotator
        The rule annotator (fitted on first use if it is not).
    tagger : NerTagger
        A fitted tagger.
    keep_rule_mentions : bool
        Keep rule mentions that overlap no model span (see the module docstring).

    Notes
    -----
    ``predict`` is serialised by a lock: CRFsuite taggers keep per-call state, so one instance
    must not tag from two threads at once.
    """

    def __init__(self, rules: ClinicalTextAnnotator, tagger: NerTagger, keep_rule_mentions: bool = True) -> None:
        self.rules = rules
        self.tagger = tagger
        self.keep_rule_mentions = keep_rule_mentions
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        """``<rules version>+<tagger version>``, e.g. ``medspacy-rules-a1b2c3d4e5f6+crf-0123456789ab``."""
        return f"{self.rules.version}+{self.tagger.version}"

    def merge(
        self, model_spans: Sequence[EntitySpan], rule_mentions: Sequence[Mention]
    ) -> list[tuple[int, int, str, float, str]]:
        """The spans to assert: ``(start, end, label, entity probability, source)``, in text order.

        ``source`` is ``"model"`` or ``"rules"``; see the module docstring for the rule.
        """
        kept: list[tuple[int, int, str, float, str]] = [
            (s.start, s.end, s.label, _clip(s.probability), "model") for s in model_spans if s.label in LABELS and s.end > s.start
        ]
        if self.keep_rule_mentions:
            bounds = [(s, e) for s, e, *_ in kept]
            for m in rule_mentions:
                if not _overlaps((m.start, m.end), bounds):
                    kept.append((m.start, m.end, m.label, m.probability, "rules"))
                    bounds.append((m.start, m.end))
        return sorted(kept, key=lambda k: (k[0], k[1]))

    def predict(self, texts: Sequence[str]) -> list[list[Mention]]:
        """Mentions per text, in text order (same contract as :meth:`ClinicalTextAnnotator.predict`)."""
        texts = list(texts)
        if not texts:
            return []
        with self._lock:
            model_spans = self.tagger.predict_spans(texts)
            rule_mentions = self.rules.predict(texts) if self.keep_rule_mentions else [[] for _ in texts]
            merged = [self.merge(ms, rs) for ms, rs in zip(model_spans, rule_mentions, strict=True)]
            asserted = self.rules.assert_spans(texts, [[(s, e, lab) for s, e, lab, _, _ in m] for m in merged])
        out: list[list[Mention]] = []
        for text, spans, mentions in zip(texts, merged, asserted, strict=True):
            doc: list[Mention] = []
            for (start, end, label, p, _source), mention in zip(spans, mentions, strict=True):
                if mention is None:
                    mention = Mention(
                        start=start,
                        end=end,
                        text=text[start:end],
                        label=label,
                        probability=p,
                        assertion="present",
                        assertion_probability=UNALIGNED_ASSERTION_PROBABILITY,
                        section=None,
                        sentence_index=0,
                    )
                doc.append(
                    Mention(
                        start=start,
                        end=end,
                        text=text[start:end],
                        label=label,
                        probability=p,
                        assertion=mention.assertion,
                        assertion_probability=mention.assertion_probability,
                        section=mention.section,
                        sentence_index=mention.sentence_index,
                        attributes=mention.attributes,
                    )
                )
            out.append(doc)
        return out
