"""Which entity tagger a deployment trains: the CRF, the transformer, or the better of both on the dev split.

``settings.ner_model`` (``CLINILOOP_NER_MODEL``) or the job's ``model`` parameter:

``auto`` (default)
    On a machine where torch sees a GPU, train both the CRF and the transformer and keep the one
    with the better dev ``promotion_metric`` (a tie goes to the CRF, which is cheaper to run). On
    a CPU only the CRF: a transformer round takes minutes there instead of seconds (see "The NER
    model" in the README for the measurement), so the choice is made by the device.
``crf`` / ``transformer``
    That tagger only, on any device.

The chosen tagger then goes through the same promotion gate as always
(:func:`cliniloop.services.loop.train.decide_promotion`): whatever its kind, it is promoted only when it is
not worse than the promoted version re-evaluated on the same dev split.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from cliniloop.services.core.labelled_text import LabelledText

KINDS = ("auto", "crf", "transformer")


def gpu_available() -> bool:
    """Whether torch sees a CUDA device."""
    import torch

    return bool(torch.cuda.is_available())


def candidate_kinds(choice: str, gpu: bool) -> list[str]:
    """Tagger kinds to train for ``choice`` (``auto``, ``crf``, ``transformer``) on a machine with or without a GPU.

    Raises
    ------
    ValueError
        On an unknown ``choice``.
    """
    if choice not in KINDS:
        raise ValueError(f"ner model {choice!r}: choose one of {', '.join(KINDS)} (CLINILOOP_NER_MODEL or the job's model parameter)")
    if choice == "auto":
        return ["crf", "transformer"] if gpu else ["crf"]
    return [choice]


def build(kind: str, params: dict[str, Any]) -> Any:
    """An unfitted tagger of ``kind`` with the job's parameters (``max_iterations`` for the CRF, ``transformer`` dict for the other)."""
    if kind == "crf":
        from cliniloop.models.text.ner import NerTagger

        return NerTagger(max_iterations=int(params["max_iterations"]))
    from cliniloop.models.text.ner_transformer import TransformerTagger

    return TransformerTagger(**dict(params.get("transformer") or {}))


def choose_tagger(
    train: Sequence[LabelledText],
    dev: Sequence[LabelledText],
    *,
    choice: str,
    params: dict[str, Any],
    metric: str,
    evaluate: Callable[[Any, Sequence[LabelledText]], dict[str, Any]],
    progress: Callable[[float, str], None],
    gpu: bool | None = None,
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Fit the candidate taggers and keep the best on ``dev``.

    Parameters
    ----------
    train, dev
        Training and dev texts.
    choice : str
        ``auto``, ``crf`` or ``transformer`` (module docstring).
    params : dict
        ``max_iterations`` (CRF) and ``transformer`` (keyword arguments of
        :class:`~cliniloop.models.text.ner_transformer.TransformerTagger`).
    metric : str
        Dev metric that decides (``f1``, ``precision`` or ``recall``).
    evaluate : callable
        ``evaluate(tagger, dev) -> scores`` (strict spans).
    progress : callable
        ``progress(fraction of the fitting, message)``.
    gpu : bool or None
        Whether a GPU is there; ``None`` asks torch.

    Returns
    -------
    tuple
        ``(tagger, its dev scores, choice record)``; the record holds ``model`` (kind), ``device``,
        ``choice`` and, per candidate, its dev metric and training seconds.
    """
    gpu = gpu_available() if gpu is None else gpu
    kinds = candidate_kinds(choice, gpu)
    fitted: list[tuple[str, Any, dict[str, Any], float]] = []
    for i, kind in enumerate(kinds):
        lo, hi = i / len(kinds), (i + 1) / len(kinds)
        tagger = build(kind, params)
        progress(lo, f"training the {kind} on {len(train)} tasks")
        t0 = time.perf_counter()
        tagger.fit(train, progress=lambda s, n, lo=lo, hi=hi, kind=kind: progress(lo + (hi - lo) * min(s, n) / max(n, 1), f"{kind}: {s}/{n}"))
        seconds = time.perf_counter() - t0
        fitted.append((kind, tagger, evaluate(tagger, dev), seconds))
    best = max(fitted, key=lambda f: (float(f[2].get(metric, 0.0)), -kinds.index(f[0])))
    kind, tagger, scores, _ = best
    device = getattr(tagger, "train_info_", {}).get("device", "cpu")
    why = (
        f"{choice}: best dev {metric} of {', '.join(kinds)}" if len(kinds) > 1
        else f"{choice}: {kind} only ({'no GPU' if choice == 'auto' and not gpu else 'by setting'})"
    )  # fmt: skip
    record = {
        "model": kind,
        "device": device,
        "choice": why,
        "candidates": {k: {metric: s.get(metric), "train_seconds": round(sec, 2)} for k, _t, s, sec in fitted},
    }
    return tagger, scores, record


def deployment(setting: str | None = None, gpu: bool | None = None) -> dict[str, Any]:
    """How this deployment picks its tagger: the setting, whether a GPU is seen, and what a training trains.

    Returns
    -------
    dict
        ``setting`` (``CLINILOOP_NER_MODEL``), ``device`` (``cuda`` or ``cpu``), ``trains`` (kinds a
        ``train-text`` job fits here) and ``rule`` in words.
    """
    if setting is None:
        from cliniloop.services.core.settings import get_settings

        setting = get_settings().ner_model
    gpu = gpu_available() if gpu is None else gpu
    kinds = candidate_kinds(setting, gpu)
    rule = f"{setting} on {'a GPU' if gpu else 'a CPU'}: " + (
        "trains the CRF and the transformer, keeps the better dev metric" if len(kinds) > 1 else f"trains the {kinds[0]}"
    )
    return {"setting": setting, "device": "cuda" if gpu else "cpu", "trains": kinds, "rule": rule}
