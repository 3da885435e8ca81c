"""Replay harness: active learning on data with known labels, gold labels as the oracle.

Each *run* is one (strategy, repeat): start from a random seed set of ``seed_size`` sentences
(the same seed set for every strategy within a repeat, so strategies are compared paired), then
for ``rounds`` rounds train the tagger on what is labelled, score it on the test file, score the
unlabelled pool and "ask" the oracle for the next ``batch`` sentences. The full-pool model (trained
once on the whole pool; CRF training is deterministic) gives the ceiling.

Reported per strategy: mean ± sd of F1 against labelled sentences and labelled tokens, the
number of sentences (and tokens) needed to reach ``target_fraction`` (95%) of the full-pool F1
(linear interpolation on the mean curve), and the saving against random: ``1 - needed /
needed_random``. Every round also reports the stopping rule (:mod:`cliniloop.models.sampling.stopping`).

NER strategies (scores per sentence from the CRF's token marginals, higher = ask first):

``random``            seeded uniform choice (the baseline)
``sequential``        pool (file) order
``least_confidence``  ``1 - P(best label sequence)`` (Settles & Craven 2008)
``entropy``           total token entropy: the sum over tokens of the marginal entropy
``margin``            the sentence's worst token margin, ``max_t 1 - (p1 - p2)``
``mnlp``              mean token entropy (length-normalised, favours short hard sentences)
``entropy_kcenter``   total token entropy, diversified by k-center greedy on TF-IDF sentence
                      vectors among the top ``4 * batch`` candidates
``entropy_cost``      cost-aware: total token entropy per expected second of annotation,
                      ``H / (6 s + 0.4 s * tokens)`` (:mod:`cliniloop.models.sampling.cost`): uncertain
                      sentences that are cheap to read first
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from cliniloop.services.core.labelled_text import LabelledText

log = logging.getLogger(__name__)

NER_STRATEGIES = ("random", "sequential", "least_confidence", "entropy", "margin", "mnlp", "entropy_kcenter", "entropy_cost")
#: ``entropy_cost`` prior of annotation time: a fixed cost per sentence plus a cost per token (s).
SENTENCE_BASE_SECONDS = 6.0
TOKEN_SECONDS = 0.4
TASKS = ("ner", "ecg-beats", "eeg-seizure", "image-boxes")


class SimulationError(ValueError):
    """Bad simulation settings or inputs (the message names the option or file)."""


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate.

    Attributes
    ----------
    strategies : tuple of str
        Strategy names (see the module docstring).
    seed_size, batch, rounds, repeats : int
        Sentences in the random seed set; sentences asked per round; rounds after the seed;
        repeats with different seeds.
    seed : int
        Base random seed (repeat ``r`` uses ``seed + r``).
    target_fraction : float
        Fraction of the full-pool F1 that counts as "reached" (0.95).
    stop_set_size : int
        Unlabelled pool sentences the stopping rule watches.
    tagger_params : dict
        Keyword arguments for :class:`cliniloop.models.text.ner.NerTagger`.
    """

    strategies: tuple[str, ...] = ("random", "entropy", "least_confidence")
    seed_size: int = 100
    batch: int = 100
    rounds: int = 20
    repeats: int = 3
    seed: int = 0
    target_fraction: float = 0.95
    stop_set_size: int = 500
    tagger_params: dict[str, Any] = field(default_factory=dict)

    def validate(self, pool_size: int) -> None:
        """Raise :class:`SimulationError` on settings that cannot run on a pool of ``pool_size``."""
        unknown = [s for s in self.strategies if s not in NER_STRATEGIES]
        if unknown:
            raise SimulationError(f"--strategies: unknown {unknown}; choose from {', '.join(NER_STRATEGIES)}")
        if not self.strategies:
            raise SimulationError("--strategies: give at least one strategy")
        for name in ("seed_size", "batch", "rounds", "repeats"):
            if getattr(self, name) < 1:
                raise SimulationError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.seed_size >= pool_size:
            raise SimulationError(f"--seed-size {self.seed_size} leaves nothing to select in a pool of {pool_size} sentences")


@dataclass
class RoundPoint:
    """One point of a learning curve."""

    round: int
    sentences: int
    tokens: int
    f1: float
    precision: float
    recall: float
    per_label_f1: dict[str, float]
    train_s: float
    kappa: float | None
    stop: bool


@dataclass
class RunResult:
    """One (strategy, repeat) run."""

    strategy: str
    repeat: int
    points: list[RoundPoint]
    stopped_at_round: int | None
    seconds: float


# ---------------------------------------------------------------------------- scoring
def sentence_scores(strategy: str, analyses: Sequence[Any]) -> np.ndarray:
    """Per-sentence scores (higher = ask first) from :class:`cliniloop.models.text.ner.TextAnalysis` objects."""
    from cliniloop.models.sampling.rollup import token_entropy_sum
    from cliniloop.models.sampling.scores import entropy, margin, sequence_least_confidence

    if strategy == "least_confidence":
        return sequence_least_confidence([a.sequence_probability for a in analyses])
    if strategy in ("entropy", "entropy_kcenter"):
        return np.array([token_entropy_sum(a.marginals) for a in analyses])
    if strategy == "mnlp":
        return np.array([float(entropy(a.marginals).mean()) if len(a.tokens) else 0.0 for a in analyses])
    if strategy == "entropy_cost":
        from cliniloop.models.sampling.cost import cost_adjusted, expected_cost_from_length

        total = np.array([token_entropy_sum(a.marginals) for a in analyses])
        seconds = expected_cost_from_length([len(a.tokens) for a in analyses], TOKEN_SECONDS, SENTENCE_BASE_SECONDS)
        return cost_adjusted(np.maximum(total, 0.0), seconds, exponent=1.0)
    if strategy == "margin":
        return np.array([float(margin(a.marginals).max()) if len(a.tokens) else 0.0 for a in analyses])
    raise SimulationError(f"strategy {strategy!r} has no score")


def choose(
    strategy: str,
    ids: Sequence[str],
    labelled: Sequence[str],
    k: int,
    seed: int,
    scores: np.ndarray | None = None,
    embeddings: np.ndarray | None = None,
) -> list[str]:
    """The next ``k`` ids to label, through :func:`cliniloop.models.sampling.strategies.select`.

    ``scores`` (one per id; labelled rows are ignored) feed the registry's ``uncertainty``
    strategy; ``entropy_kcenter`` becomes ``uncertainty_kcenter`` on ``embeddings``.
    """
    from cliniloop.models.sampling.strategies import PoolView, select

    if strategy in ("random", "sequential"):
        return select(strategy, PoolView(ids=tuple(ids)), k, seed=seed, labelled_ids=labelled)
    if strategy == "entropy_kcenter":
        pool = PoolView(ids=tuple(ids), scores=scores, embeddings=embeddings)
        return select("uncertainty_kcenter", pool, k, seed=seed, labelled_ids=labelled)
    return select("uncertainty", PoolView(ids=tuple(ids), scores=scores), k, seed=seed, labelled_ids=labelled)


# ---------------------------------------------------------------------------- one run
def run_once(
    strategy: str,
    repeat: int,
    pool: Sequence[LabelledText],
    test: Sequence[LabelledText],
    config: SimulationConfig,
) -> RunResult:
    """Simulate one strategy for one repeat (see the module docstring)."""
    from cliniloop.models.sampling.stopping import StoppingRule, span_agreement
    from cliniloop.models.text.embeddings import tfidf_embeddings
    from cliniloop.models.text.ner import NerTagger, tokenize
    from cliniloop.models.text.ner_metrics import span_scores

    t_run = time.perf_counter()
    n = len(pool)
    ids = [f"{i:07d}" for i in range(n)]  # id order == pool order, so "sequential" is file order
    seed_rng = np.random.default_rng(config.seed + repeat)
    labelled = seed_rng.choice(n, size=config.seed_size, replace=False)
    unlabelled = np.setdiff1d(np.arange(n), labelled)
    stop_set = np.sort(seed_rng.choice(unlabelled, size=min(config.stop_set_size, unlabelled.size), replace=False))
    n_tokens = np.array([len(tokenize(s.text)) for s in pool])
    embeddings = None
    if strategy == "entropy_kcenter":
        embeddings = tfidf_embeddings([s.text for s in pool], seed=config.seed, min_df=2, normalise=True)
    stop_texts = [pool[i].text for i in stop_set]
    rule = StoppingRule()
    previous: list[list[Any]] | None = None
    stopped_at: int | None = None
    points: list[RoundPoint] = []
    gold = [s.spans for s in test]
    for r in range(config.rounds + 1):
        t0 = time.perf_counter()
        tagger = NerTagger(**config.tagger_params).fit([pool[i] for i in labelled])
        train_s = time.perf_counter() - t0
        scores = span_scores(gold, tagger.predict_spans([s.text for s in test], probabilities=False))
        current = tagger.predict_spans(stop_texts, probabilities=False)
        kappa = None
        stop = False
        if previous is not None:
            kappa = float(span_agreement(previous, current))
            stop = rule.update(kappa).should_stop
            if stop and stopped_at is None:
                stopped_at = r
        previous = current
        points.append(
            RoundPoint(
                round=r,
                sentences=int(labelled.size),
                tokens=int(n_tokens[labelled].sum()),
                f1=scores["f1"],
                precision=scores["precision"],
                recall=scores["recall"],
                per_label_f1={k: v["f1"] for k, v in scores["per_label"].items()},
                train_s=round(train_s, 3),
                kappa=None if kappa is None else round(kappa, 5),
                stop=stop,
            )
        )
        log.info("%s repeat %d round %d: %d sentences, F1 %.4f", strategy, repeat, r, labelled.size, scores["f1"])
        if r == config.rounds or labelled.size == n:
            break
        sc = None
        if strategy not in ("random", "sequential"):
            sc = np.zeros(n)
            rest = np.setdiff1d(np.arange(n), labelled)
            sc[rest] = sentence_scores(strategy, tagger.analyse([pool[i].text for i in rest]))
        round_seed = config.seed * 1_000_003 + repeat * 1009 + r
        picked = choose(strategy, ids, [ids[i] for i in labelled], config.batch, round_seed, sc, embeddings)
        labelled = np.concatenate([labelled, np.array([int(i) for i in picked])])
    return RunResult(strategy, repeat, points, stopped_at, round(time.perf_counter() - t_run, 2))


def _run_in_worker(args: tuple) -> RunResult:
    strategy, repeat, pool, test, config = args
    logging.basicConfig(level=logging.WARNING)
    return run_once(strategy, repeat, pool, test, config)


# ---------------------------------------------------------------------------- analysis
def needed_to_reach(xs: Sequence[float], ys: Sequence[float], target: float) -> float | None:
    """Smallest ``x`` where the curve ``ys(xs)`` first reaches ``target`` (linear interpolation).

    Returns ``None`` when the curve never reaches it.
    """
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if y >= target:
            if i == 0:
                return float(x)
            x0, y0 = xs[i - 1], ys[i - 1]
            return float(x0 + (target - y0) * (x - x0) / (y - y0)) if y > y0 else float(x)
    return None


def summarise(runs: Sequence[RunResult], full_f1: float, config: SimulationConfig) -> dict[str, Any]:
    """Per-strategy mean ± sd curves, labels needed for the target, saving against random."""
    target = config.target_fraction * full_f1
    out: dict[str, Any] = {}
    for strategy in config.strategies:
        mine = [r for r in runs if r.strategy == strategy]
        if not mine:
            continue
        n_points = min(len(r.points) for r in mine)
        f1 = np.array([[p.f1 for p in r.points[:n_points]] for r in mine])
        sentences = np.array([[p.sentences for p in r.points[:n_points]] for r in mine], dtype=float)
        tokens = np.array([[p.tokens for p in r.points[:n_points]] for r in mine], dtype=float)
        mean_f1 = f1.mean(axis=0)
        need_s = needed_to_reach(sentences.mean(axis=0), mean_f1, target)
        need_t = needed_to_reach(tokens.mean(axis=0), mean_f1, target)
        stops = [r.stopped_at_round for r in mine]
        out[strategy] = {
            "sentences": sentences.mean(axis=0).round(1).tolist(),
            "tokens_mean": tokens.mean(axis=0).round(1).tolist(),
            "tokens_sd": tokens.std(axis=0).round(1).tolist(),
            "f1_mean": mean_f1.round(4).tolist(),
            "f1_sd": f1.std(axis=0).round(4).tolist(),
            "sentences_to_target": None if need_s is None else round(need_s, 1),
            "tokens_to_target": None if need_t is None else round(need_t, 1),
            "final_f1_mean": round(float(mean_f1[-1]), 4),
            "stopping_rule_round": stops,
            "seconds_per_run": round(float(np.mean([r.seconds for r in mine])), 1),
        }
    random = out.get("random", {})
    for strategy, res in out.items():
        for unit in ("sentences", "tokens"):
            mine, base = res[f"{unit}_to_target"], random.get(f"{unit}_to_target")
            key = f"{unit}_ratio_to_random"
            res[key] = round(mine / base, 4) if (mine is not None and base) else None
            res[f"{unit}_saving_vs_random"] = None if res[key] is None else round(1 - res[key], 4)
    return {"target_f1": round(target, 4), "strategies": out}


# ---------------------------------------------------------------------------- entry point
def simulate_ner(
    pool_path: Path,
    test_path: Path,
    config: SimulationConfig,
    out_dir: Path | None = None,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run the NER replay on PubTator files and return (and optionally write) the results.

    Parameters
    ----------
    pool_path, test_path : Path
        PubTator files: the pool the sampler draws from (gold labels = the oracle) and the test set.
    config : SimulationConfig
        Strategies, sizes and seeds.
    out_dir : Path or None
        Where to write ``simulation.json`` and ``learning_curves.png``.
    jobs : int
        Runs in parallel (processes).
    progress : callable or None
        ``progress(done_runs, total_runs)``.

    Raises
    ------
    SimulationError
        On bad settings or a missing file; the PubTator reader raises
        :class:`~cliniloop.connectors.sources.pubtator.PubTatorError` on malformed files (file and line named).
    """
    from cliniloop.connectors.sources.pubtator import read_named_pubtator_files
    from cliniloop.models.text.ner import NerTagger
    from cliniloop.models.text.ner_metrics import span_scores

    try:
        files = read_named_pubtator_files({"--pool": Path(pool_path), "--test": Path(test_path)})
    except FileNotFoundError as err:
        raise SimulationError(str(err)) from err
    pool, test = files["--pool"], files["--test"]
    config.validate(len(pool))
    t0 = time.perf_counter()
    started = time.time()
    full = NerTagger(**config.tagger_params).fit(pool)
    full_train_s = time.perf_counter() - t0
    full_scores = span_scores([s.spans for s in test], full.predict_spans([s.text for s in test], probabilities=False))
    log.info("full pool (%d sentences): F1 %.4f in %.1f s", len(pool), full_scores["f1"], full_train_s)
    work = [(s, r, pool, test, config) for r in range(config.repeats) for s in config.strategies]
    runs: list[RunResult] = []
    if progress:
        progress(0, len(work))
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as ex:
            futures = [ex.submit(_run_in_worker, w) for w in work]
            for fut in as_completed(futures):
                runs.append(fut.result())
                if progress:
                    progress(len(runs), len(work))
    else:
        for w in work:
            runs.append(run_once(*w))
            if progress:
                progress(len(runs), len(work))
    runs.sort(key=lambda r: (config.strategies.index(r.strategy), r.repeat))
    summary = summarise(runs, full_scores["f1"], config)
    result = {
        "task": "ner",
        "pool": str(pool_path),
        "test": str(test_path),
        "pool_sentences": len(pool),
        "pool_tokens": full.n_train_tokens_,
        "test_sentences": len(test),
        "config": asdict(config),
        "full_pool": {
            "f1": full_scores["f1"],
            "precision": full_scores["precision"],
            "recall": full_scores["recall"],
            "per_label_f1": {k: v["f1"] for k, v in full_scores["per_label"].items()},
            "train_s": round(full_train_s, 2),
            "model_version": full.version,
        },
        **summary,
        "runs": [asdict(r) for r in runs],
        "wall_s": round(time.time() - started, 1),
    }
    if out_dir is not None:
        from cliniloop.services.loop.plots import plot_learning_curves

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "simulation.json").write_text(json.dumps(result, indent=2) + "\n")
        plot_learning_curves(result, out_dir / "learning_curves.png")
        result["files"] = [str(out_dir / "simulation.json"), str(out_dir / "learning_curves.png")]
    return result


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The short summary printed by the CLI: full-pool F1, target, and per strategy what it needed."""
    best = None
    rows = {}
    for name, res in result["strategies"].items():
        rows[name] = {
            "sentences_to_target": res["sentences_to_target"],
            "tokens_to_target": res["tokens_to_target"],
            "sentences_ratio_to_random": res["sentences_ratio_to_random"],
            "sentences_saving_vs_random": res["sentences_saving_vs_random"],
            "tokens_saving_vs_random": res["tokens_saving_vs_random"],
            "final_f1_mean": res["final_f1_mean"],
            "stopping_rule_round": res["stopping_rule_round"],
        }
        ratio = res["sentences_ratio_to_random"]
        if name != "random" and ratio is not None and (best is None or ratio < rows[best]["sentences_ratio_to_random"]):
            best = name
    return {
        "task": result["task"],
        "full_pool_f1": result["full_pool"]["f1"],
        "full_pool_per_label_f1": result["full_pool"]["per_label_f1"],
        "target_f1": result["target_f1"],
        "strategies": rows,
        "best_strategy": best,
        "wall_s": result["wall_s"],
        "files": result.get("files", []),
    }

