"""Replay active learning with the transformer tagger: BALD and BADGE against entropy on the CRF.

``cliniloop simulate --task ner --model transformer`` runs this instead of the CRF replay of
:mod:`cliniloop.services.loop.simulate` (same seed sets, same curves and summary). Each round fine-tunes a
fresh :class:`~cliniloop.models.text.ner_transformer.TransformerTagger` on the labelled sentences, scores
it on the test file, and asks for the next ``batch`` sentences by one of:

``random``       seeded uniform choice (the baseline)
``entropy``      the transformer's total piece entropy (softmax, one pass)
``bald``         total piece BALD (nats) over ``mc_samples`` MC-dropout passes
                 (:func:`cliniloop.models.sampling.scores.bald`)
``badge``        k-means++ seeding on the sentences' mean last-layer gradient embeddings
                 (:func:`cliniloop.models.sampling.diversity.badge`)
``crf_entropy``  the loop's default: a CRF trained on the same labelled sentences picks by total
                 token entropy; the transformer is still the learner that is scored, so this
                 isolates the choice of sentences
``crf``          the CRF as learner and chooser (entropy): the CPU default, for reference

The full pool is not trained on (a transformer per round is what costs here): the target is
``target_fraction`` of the best final mean F1 of any strategy, and the saving against random is
measured at that target as in the CRF replay.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from cliniloop.services.core.labelled_text import LabelledText
from cliniloop.services.loop.simulate import RoundPoint, RunResult, SimulationConfig, SimulationError, choose, summarise

log = logging.getLogger(__name__)

STRATEGIES = ("random", "entropy", "bald", "badge", "crf_entropy", "crf")
DEFAULT_STRATEGIES = ("random", "bald", "badge", "crf_entropy")


def _scores(strategy: str, tagger: Any, texts: Sequence[str], mc_samples: int) -> np.ndarray:
    from cliniloop.models.sampling.rollup import token_entropy_sum

    if strategy == "bald":
        return tagger.bald_scores(texts, samples=mc_samples, reduce="sum")
    return np.array([token_entropy_sum(a.marginals) if len(a.tokens) else 0.0 for a in tagger.analyse(texts)])


def run_transformer_once(
    strategy: str,
    repeat: int,
    pool: Sequence[LabelledText],
    test: Sequence[LabelledText],
    config: SimulationConfig,
    transformer_params: dict[str, Any],
    mc_samples: int = 5,
) -> RunResult:
    """One (strategy, repeat) run (module docstring); the seed set is the CRF replay's for the same repeat."""
    from cliniloop.models.sampling.diversity import badge
    from cliniloop.models.text.ner import NerTagger
    from cliniloop.models.text.ner_metrics import span_scores
    from cliniloop.models.text.ner_transformer import TransformerTagger

    t_run = time.perf_counter()
    n = len(pool)
    ids = [f"{i:07d}" for i in range(n)]
    labelled = np.random.default_rng(config.seed + repeat).choice(n, size=config.seed_size, replace=False)
    gold = [s.spans for s in test]
    points: list[RoundPoint] = []
    for r in range(config.rounds + 1):
        train = [pool[i] for i in labelled]
        t0 = time.perf_counter()
        crf = None
        if strategy.startswith("crf"):
            crf = NerTagger(**config.tagger_params).fit(train)
        learner = crf if strategy == "crf" else TransformerTagger(**{**transformer_params, "seed": config.seed + repeat}).fit(train)
        train_s = time.perf_counter() - t0
        scores = span_scores(gold, learner.predict_spans([s.text for s in test], probabilities=False))
        points.append(
            RoundPoint(
                round=r, sentences=int(labelled.size), tokens=int(getattr(learner, "n_train_tokens_", 0)), f1=scores["f1"],
                precision=scores["precision"], recall=scores["recall"],
                per_label_f1={k: v["f1"] for k, v in scores["per_label"].items()}, train_s=round(train_s, 3), kappa=None, stop=False,
            )
        )  # fmt: skip
        log.info("%s repeat %d round %d: %d sentences, F1 %.4f", strategy, repeat, r, labelled.size, scores["f1"])
        if r == config.rounds or labelled.size == n:
            break
        rest = np.setdiff1d(np.arange(n), labelled)
        texts = [pool[i].text for i in rest]
        round_seed = config.seed * 1_000_003 + repeat * 1009 + r
        if strategy == "random":
            picked = [int(i) for i in choose("random", ids, [ids[i] for i in labelled], config.batch, round_seed)]
        elif strategy == "badge":
            emb = learner.sentence_gradient_embeddings(texts)
            picked = [int(rest[j]) for j in badge(emb, min(config.batch, rest.size), seed=round_seed)]
        else:
            chooser = crf if strategy.startswith("crf") else learner
            sc = np.zeros(n)
            sc[rest] = _scores("entropy" if strategy.startswith("crf") else strategy, chooser, texts, mc_samples)
            picked = [int(i) for i in choose("entropy", ids, [ids[i] for i in labelled], config.batch, round_seed, sc)]
        labelled = np.concatenate([labelled, np.array(picked, dtype=labelled.dtype)])
    return RunResult(strategy, repeat, points, None, round(time.perf_counter() - t_run, 2))


def simulate_ner_transformer(
    pool_path: Path,
    test_path: Path,
    config: SimulationConfig,
    *,
    transformer_params: dict[str, Any] | None = None,
    mc_samples: int = 5,
    max_pool: int | None = None,
    max_test: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run the transformer replay on PubTator files; return the same summary shape as the CRF replay.

    Parameters
    ----------
    pool_path, test_path : Path
        PubTator pool (gold labels = the oracle) and test file.
    config : SimulationConfig
        Strategies (from :data:`STRATEGIES`), sizes, seeds; ``tagger_params`` go to the CRF.
    transformer_params : dict
        Keyword arguments of :class:`~cliniloop.models.text.ner_transformer.TransformerTagger`.
    mc_samples : int
        MC-dropout passes for ``bald``.
    max_pool, max_test : int or None
        Use only the first sentences of each file (a CPU budget).

    Raises
    ------
    SimulationError
        On an unknown strategy, bad sizes or a missing file.
    """
    from cliniloop.connectors.sources.pubtator import read_named_pubtator_files

    unknown = [s for s in config.strategies if s not in STRATEGIES]
    if unknown or not config.strategies:
        raise SimulationError(f"--strategies: unknown {unknown}; with --model transformer choose from {', '.join(STRATEGIES)}")
    try:
        files = read_named_pubtator_files({"--pool": Path(pool_path), "--test": Path(test_path)})
    except FileNotFoundError as err:
        raise SimulationError(str(err)) from err
    pool, test = files["--pool"][:max_pool], files["--test"][:max_test]
    if config.seed_size >= len(pool):
        raise SimulationError(f"--seed-size {config.seed_size} leaves nothing to select in a pool of {len(pool)} sentences")
    started = time.time()
    work = [(s, r) for r in range(config.repeats) for s in config.strategies]
    runs: list[RunResult] = []
    for done, (s, r) in enumerate(work):
        if progress:
            progress(done, len(work))
        runs.append(run_transformer_once(s, r, pool, test, config, dict(transformer_params or {}), mc_samples))
    if progress:
        progress(len(work), len(work))
    best = max(float(np.mean([r.points[-1].f1 for r in runs if r.strategy == s])) for s in config.strategies)
    summary = summarise(runs, best, config)
    return {
        "task": "ner",
        "model": "transformer",
        "pool": str(pool_path),
        "test": str(test_path),
        "pool_sentences": len(pool),
        "test_sentences": len(test),
        "config": {**asdict(config), "mc_samples": mc_samples, "transformer": transformer_params or {}},
        "full_pool": {"f1": best, "per_label_f1": {}, "note": "not trained: the target is a fraction of the best final mean F1"},
        **summary,
        "runs": [asdict(r) for r in runs],
        "wall_s": round(time.time() - started, 1),
    }
