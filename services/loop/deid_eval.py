"""``cliniloop eval deid``: identifier detection scored against gold BRAT spans."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from connectors.sources.brat import BratDocument, read_brat_dir
from models.text.deid.analyzer import PhiDetector
from models.text.deid.metrics import false_positives, missed_spans, score_deid
from models.text.deid.types import PHI_TYPES, PhiSpan


class DeidEvalError(ValueError):
    """The evaluation data cannot be used (the message names the file)."""


def gold_spans(doc: BratDocument) -> list[PhiSpan]:
    """A BRAT document's entities as PhiSpans (a discontinuous entity gives one span per fragment).

    Raises
    ------
    DeidEvalError
        For an entity type that is not an identifier type.
    """
    spans = []
    for entity in doc.entities:
        if entity.type not in PHI_TYPES:
            raise DeidEvalError(
                f"{doc.name}.ann: entity {entity.id} has type {entity.type!r}; use one of {', '.join(PHI_TYPES)}"
            )
        spans.extend(PhiSpan(start, end, entity.type) for start, end in entity.spans)
    return spans


def evaluate_deid(
    data: Path,
    *,
    spacy_model: str,
    threshold: float = 0.5,
    use_name_lists: bool = True,
    errors_path: Path | None = None,
) -> dict[str, Any]:
    """Detect identifiers in every note of a BRAT folder and score them against the gold spans.

    Returns
    -------
    dict
        ``notes``, ``detector`` (version), ``overall`` and ``per_type`` scores
        (:func:`models.text.deid.metrics.score_deid`), ``seconds``, ``notes_per_second`` and
        ``chars_per_second`` (detection only; loading spaCy is reported apart as ``load_seconds``).
    """
    docs = read_brat_dir(data)
    gold = [gold_spans(d) for d in docs]
    t0 = time.perf_counter()
    detector = PhiDetector(spacy_model=spacy_model, threshold=threshold, use_name_lists=use_name_lists).fit()
    detector.detect("warm up")
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    predicted = [detector.detect(d.text) for d in docs]
    seconds = time.perf_counter() - t0
    texts = [d.text for d in docs]
    result: dict[str, Any] = {
        "data": str(data),
        "notes": len(docs),
        "detector": detector.version,
        "threshold": threshold,
        "name_lists": use_name_lists,
        **score_deid(texts, gold, predicted),
        "load_seconds": round(load_s, 2),
        "seconds": round(seconds, 3),
        "notes_per_second": round(len(docs) / seconds, 1) if seconds else None,
        "chars_per_second": round(sum(map(len, texts)) / seconds) if seconds else None,
    }
    if errors_path is not None:
        _write_errors(errors_path, docs, gold, predicted)
    return result


def _write_errors(path: Path, docs: list[BratDocument], gold: list[list[PhiSpan]], predicted: list[list[PhiSpan]]) -> None:
    """Misses and false positives with some context, one JSON object per line."""
    with path.open("w", encoding="utf-8") as out:
        for doc, g, p in zip(docs, gold, predicted, strict=True):
            for kind, spans in (("miss", missed_spans(doc.text, g, p)), ("false_positive", false_positives(g, p, len(doc.text)))):
                for s in spans:
                    context = doc.text[max(0, s.start - 40) : s.end + 40].replace("\n", " ")
                    row = {"note": doc.name, "kind": kind, "type": s.type, "text": doc.text[s.start : s.end], "context": context}
                    if kind == "false_positive":
                        row["source"] = s.source
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
