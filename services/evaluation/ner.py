"""``cliniloop eval ner``: train the NER tagger on one PubTator file, score it on another."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def evaluate_ner(train_path: Path, test_path: Path, tagger_params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train :class:`models.text.ner.NerTagger` on all of ``train_path``; score on ``test_path``.

    Returns
    -------
    dict
        Strict-span ``precision``/``recall``/``f1`` overall (micro) and ``per_label``, sizes,
        ``train_seconds`` and ``sentences_per_second`` at prediction (spans with probabilities,
        as the loop uses them).

    Raises
    ------
    FileNotFoundError
        If a file is missing (named).
    connectors.sources.pubtator.PubTatorError
        On a malformed file (file and line named).
    """
    from connectors.sources.pubtator import read_named_pubtator_files
    from models.text.ner import NerTagger
    from models.text.ner_metrics import span_scores

    files = read_named_pubtator_files({"--train": Path(train_path), "--test": Path(test_path)})
    train, test = files["--train"], files["--test"]
    t0 = time.perf_counter()
    tagger = NerTagger(**(tagger_params or {})).fit(train)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = tagger.predict_spans([s.text for s in test])
    predict_s = time.perf_counter() - t0
    scores = span_scores([s.spans for s in test], pred)
    return {
        "task": "ner",
        "train": str(train_path),
        "test": str(test_path),
        "model": "crf",
        "model_version": tagger.version,
        "train_sentences": len(train),
        "train_entities": sum(len(s.spans) for s in train),
        "test_sentences": len(test),
        "precision": scores["precision"],
        "recall": scores["recall"],
        "f1": scores["f1"],
        "support": scores["support"],
        "per_label": {k: {m: v[m] for m in ("precision", "recall", "f1", "support")} for k, v in scores["per_label"].items()},
        "train_seconds": round(train_s, 2),
        "sentences_per_second": round(len(test) / predict_s, 1) if predict_s > 0 else None,
    }
