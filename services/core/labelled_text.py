"""Plain data types for labelled text shared by readers (``connectors``) and models (``models``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EntitySpan:
    """One entity: character offsets ``[start, end)`` into its text, a label, and a probability.

    ``probability`` is ``None`` for gold spans and the model's probability that exactly this span
    carries exactly this label for predicted ones.
    """

    start: int
    end: int
    label: str
    probability: float | None = None


@dataclass(frozen=True)
class LabelledText:
    """A text (usually one sentence) with its gold entity spans.

    Attributes
    ----------
    text : str
        The text.
    spans : tuple of EntitySpan
        Gold entities; an empty tuple means "labelled: no entities here".
    doc_id : str or None
        The document the text comes from (PubTator PMID, task id), for grouping.
    start : int
        Offset of ``text`` in its document (characters).
    """

    text: str
    spans: tuple[EntitySpan, ...] = ()
    doc_id: str | None = None
    start: int = 0
