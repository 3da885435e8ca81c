"""Build the rule-based medspaCy pipeline from a rules directory.

Pipeline (``spacy.blank("en")``; no statistical model):

1. medspaCy's clinical tokenizer (splits ``chf+cp``, ``c/o`` ...);
2. spaCy's rule-based ``sentencizer`` (PyRuSH is not used: it is slower and chatty), plus
   ``cliniloop_paragraphs``: a paragraph break (``"\\n\\n"`` after whitespace
   normalisation, see :mod:`cliniloop.models.text.textnorm`) also starts a sentence;
3. ``medspacy_target_matcher`` with the lexicon terms (phrase rules on ``LOWER``;
   abbreviations as case-sensitive ``ORTH`` token patterns);
4. ``medspacy_sectionizer`` with ``section_rules.json`` (section headers also start a
   sentence, so ConText scopes never cross a header);
5. ``cliniloop_context``: medspaCy's ConText with ``context_rules.json``, except that a
   modifier overlapping a target is dropped *before* scopes are computed (medspaCy drops it
   only afterwards, if at all, so a trigger word inside an entity phrase, e.g. "status post"
   in "status post CABG", still cut the scope of other modifiers).
"""

from __future__ import annotations

import logging
from pathlib import Path

from .rules import CONTEXT_FILE, SECTION_FILE, TargetEntry, load_context_rules, load_section_rules

LOGGER = logging.getLogger(__name__)

SENTENCE_PIPE = "sentencizer"
PARAGRAPH_PIPE = "cliniloop_paragraphs"
TARGET_PIPE = "medspacy_target_matcher"
SECTION_PIPE = "medspacy_sectionizer"
CONTEXT_PIPE = "cliniloop_context"


def _token_pattern(nlp, literal: str) -> list[dict]:
    """Return a case-sensitive spaCy token pattern for ``literal``."""
    return [{"ORTH": tok.text} for tok in nlp.make_doc(literal)]


def target_rules(nlp, entries: list[TargetEntry]) -> list:
    """Convert lexicon entries into medspaCy ``TargetRule`` objects.

    Parameters
    ----------
    nlp : spacy.Language
        Pipeline whose tokenizer tokenises case-sensitive patterns.
    entries : list of TargetEntry
        Lexicon terms.

    Returns
    -------
    list of medspacy.ner.TargetRule
        One rule per term; ``metadata`` keeps the source.
    """
    from medspacy.ner import TargetRule

    rules = []
    for entry in entries:
        pattern = _token_pattern(nlp, entry.literal) if entry.case_sensitive else None
        rules.append(
            TargetRule(
                literal=entry.literal,
                category=entry.label,
                pattern=pattern,
                metadata={"source": entry.source},
            )
        )
    return rules


def paragraph_breaks(doc):
    """Start a sentence after every whitespace token that holds a blank line."""
    for token in doc[:-1]:
        if token.is_space and "\n\n" in token.text:
            doc[token.i + 1].is_sent_start = True
    return doc


def _context_class():
    """Return the ConText subclass that ignores modifiers overlapping targets."""
    from medspacy.context import ConText, ConTextGraph, ConTextModifier

    class TargetAwareConText(ConText):
        """medspaCy ConText that drops modifiers overlapping a target before scoping."""

        def __call__(self, doc, targets: str | None = None):
            if targets:
                spans = list(getattr(doc._, targets))
            elif self.input_span_type == "ents":
                spans = list(doc.ents)
            else:
                spans = list(doc.spans[self.span_group_name])
            bounds = [(s.start, s.end) for s in spans]
            matcher = self._ConText__matcher
            graph = ConTextGraph(prune_on_modifier_overlap=self.prune_on_target_overlap)
            graph.targets = spans
            graph.modifiers = []
            for match_id, start, end in matcher(doc):
                if any(start < t_end and t_start < end for t_start, t_end in bounds):
                    continue
                rule = matcher.rule_map[self.nlp.vocab[match_id].text]
                graph.modifiers.append(
                    ConTextModifier(rule, start, end, doc, max_scope=self.max_scope)
                )
            graph.update_scopes()
            graph.apply_modifiers()
            for target, modifier in graph.edges:
                target._.modifiers += (modifier,)
            if self.context_attributes_mapping:
                self.set_context_attributes(graph.edges)
            doc._.context_graph = graph
            return doc

    return TargetAwareConText


def _register_components() -> None:
    from spacy.language import Language

    if not Language.has_factory(PARAGRAPH_PIPE):
        Language.component(PARAGRAPH_PIPE, func=paragraph_breaks)
    if not Language.has_factory(CONTEXT_PIPE):
        Language.factory(CONTEXT_PIPE, func=_context_class())


def base_nlp():
    """Return a blank English pipeline with medspaCy's tokenizer and sentence splitting."""
    import spacy
    from medspacy.custom_tokenizer import create_medspacy_tokenizer

    _register_components()
    nlp = spacy.blank("en")
    nlp.tokenizer = create_medspacy_tokenizer(nlp)
    nlp.add_pipe(SENTENCE_PIPE)
    nlp.add_pipe(PARAGRAPH_PIPE)
    return nlp


def build_pipeline(rules_dir: Path, entries: list[TargetEntry]):
    """Build the full annotation pipeline.

    Parameters
    ----------
    rules_dir : Path
        Rules directory (``context_rules.json``, ``section_rules.json``).
    entries : list of TargetEntry
        Lexicon terms for the target matcher.

    Returns
    -------
    spacy.Language
        The pipeline.
    """
    import medspacy  # noqa: F401  (registers the medspaCy factories)

    nlp = base_nlp()
    matcher = nlp.add_pipe(TARGET_PIPE)
    matcher.add(target_rules(nlp, entries))
    section_path = Path(rules_dir) / SECTION_FILE
    sectionizer = nlp.add_pipe(
        SECTION_PIPE,
        config={"rules": None, "span_attrs": None, "apply_sentence_boundary": True},
    )
    if section_path.is_file():
        sectionizer.add(load_section_rules(section_path))
    context = nlp.add_pipe(CONTEXT_PIPE, config={"rules": None})
    context.add(load_context_rules(Path(rules_dir) / CONTEXT_FILE))
    LOGGER.info("built pipeline %s with %d target rules", nlp.pipe_names, len(entries))
    return nlp
