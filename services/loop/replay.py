"""What every pool-based replay shares (``simulate --task eeg-seizure|image-boxes``): the loop, the summary, the plot.

A replay starts from a random seed set (the same for every strategy within a repeat, so strategies
are compared paired), then each round trains the learner on what is labelled, scores it on the
held-out items, scores the unlabelled pool and asks the oracle (the reference labels) for the next
``batch`` items chosen through :func:`cliniloop.models.sampling.strategies.select`. Every point records the
items labelled, their cost in the modality's unit (seconds of signal reviewed, boxes drawn) and
the metric. The summary gives, per strategy, the items and the cost needed to reach
``target_fraction`` of the full-pool metric (linear interpolation on the mean curve) and the ratio
to random's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ReplayConfig:
    """Seed set, batch, rounds, repeats, seed, target fraction and the strategies to compare."""

    strategies: tuple[str, ...] = ("random", "uncertainty", "uncertainty_cost")
    seed_size: int = 10
    batch: int = 10
    rounds: int = 15
    repeats: int = 3
    seed: int = 0
    target_fraction: float = 0.95


#: Replay strategy -> (registry strategy, cost exponent).
STRATEGIES: Mapping[str, tuple[str, float | None]] = {
    "random": ("random", None),
    "uncertainty": ("uncertainty", None),
    "uncertainty_cost": ("uncertainty", 1.0),
}

#: ``fit(labelled rows) -> model``; ``score(model) -> metric``; ``pool_scores(model) -> (uncertainty, expected cost)`` per pool item.
Fit = Callable[[np.ndarray], Any]
Score = Callable[[Any], float]
PoolScores = Callable[[Any], tuple[np.ndarray, np.ndarray]]


def seed_set(n: int, size: int, rng: np.random.Generator, ok: Callable[[np.ndarray], bool]) -> np.ndarray:
    """``size`` random pool rows for which ``ok`` holds (e.g. both classes present), up to 100 draws."""
    for _ in range(100):
        rows = np.sort(rng.choice(n, size=min(size, n), replace=False))
        if ok(rows):
            return rows
    raise ValueError(f"no random seed set of {size} items satisfies the learner (too few of a class?)")


def run_replay(
    ids: Sequence[str], cost: np.ndarray, fit: Fit, score: Score, pool_scores: PoolScores, config: ReplayConfig,
    seed_ok: Callable[[np.ndarray], bool] = lambda rows: True, progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, list[list[dict[str, float]]]], dict[str, list[list[str]]]]:  # fmt: skip
    """Curves ``{strategy: [run points]}`` and chosen ids ``{strategy: [per repeat, in labelling order]}``."""
    from cliniloop.models.sampling.strategies import PoolView, select

    ids = tuple(ids)
    curves: dict[str, list[list[dict[str, float]]]] = {s: [] for s in config.strategies}
    chosen: dict[str, list[list[str]]] = {s: [] for s in config.strategies}
    for repeat in range(config.repeats):
        rng = np.random.default_rng(config.seed + repeat)
        start = seed_set(len(ids), config.seed_size, rng, seed_ok)
        for name in config.strategies:
            registry, exponent = STRATEGIES[name]
            labelled = list(start)
            points = []
            t0 = time.perf_counter()
            for r in range(config.rounds + 1):
                model = fit(np.asarray(labelled))
                points.append({"items": len(labelled), "cost": float(cost[labelled].sum()), "metric": float(score(model))})
                if r == config.rounds or len(labelled) >= len(ids):
                    break
                unc, expected = pool_scores(model) if registry != "random" else (None, None)
                pool = PoolView(ids=ids, scores=unc, costs=np.maximum(expected, 1e-6) if exponent else None)
                picked = select(
                    registry, pool, config.batch, seed=config.seed + 1000 * repeat + r, labelled_ids=[ids[i] for i in labelled],
                    cost_exponent=exponent,
                )  # fmt: skip
                index = {v: i for i, v in enumerate(ids)}
                labelled += [index[p] for p in picked]
            curves[name].append(points)
            chosen[name].append([ids[i] for i in labelled])
            if progress:
                progress(f"{name} repeat {repeat + 1}/{config.repeats}: {points[-1]['metric']:.3f} after {points[-1]['items']} items ({time.perf_counter() - t0:.0f} s)")
    return curves, chosen


def needed_to_reach(xs: Sequence[float], ys: Sequence[float], target: float) -> float | None:
    """Smallest ``x`` where ``ys(xs)`` first reaches ``target`` (linear interpolation); ``None`` if never."""
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if y >= target:
            if i == 0:
                return float(x)
            x0, y0 = xs[i - 1], ys[i - 1]
            return float(x0 + (target - y0) * (x - x0) / (y - y0)) if y != y0 else float(x)
    return None


def summarise(curves: Mapping[str, list[list[dict[str, float]]]], full_metric: float, target_fraction: float, cost_unit: str) -> dict[str, Any]:
    """Mean curves per strategy; items and cost to reach the target; ratios to random."""
    target = target_fraction * full_metric
    out: dict[str, Any] = {}
    for name, runs in curves.items():
        n = min(len(p) for p in runs)
        items = np.array([[pt["items"] for pt in p[:n]] for p in runs], dtype=float).mean(axis=0)
        cost = np.array([[pt["cost"] for pt in p[:n]] for p in runs], dtype=float).mean(axis=0)
        metric = np.array([[pt["metric"] for pt in p[:n]] for p in runs], dtype=float)
        mean = metric.mean(axis=0)
        out[name] = {
            "items_mean": items.round(1).tolist(), f"{cost_unit}_mean": cost.round(1).tolist(),
            "metric_mean": mean.round(4).tolist(), "metric_sd": metric.std(axis=0).round(4).tolist(),
            "items_to_target": _r(needed_to_reach(items, mean, target)),
            f"{cost_unit}_to_target": _r(needed_to_reach(cost, mean, target)),
            "final_metric": round(float(mean[-1]), 4),
        }  # fmt: skip
    base = out.get("random")
    for row in out.values():
        for unit in ("items", cost_unit):
            mine, ref = row[f"{unit}_to_target"], (base or {}).get(f"{unit}_to_target")
            row[f"{unit}_ratio_to_random"] = round(mine / ref, 3) if mine is not None and ref else None
    return {"full_pool_metric": round(full_metric, 4), "target": round(target, 4), "target_fraction": target_fraction, "cost_unit": cost_unit, "strategies": out}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def plot_replay(summary: Mapping[str, Any], path: Path, title: str, metric_name: str) -> Path:
    """Learning curves against items labelled and against cost (two panels), with the target line; PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit = summary["cost_unit"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, row in summary["strategies"].items():
        mean, sd = np.array(row["metric_mean"]), np.array(row["metric_sd"])
        for ax, xs in zip(axes, (row["items_mean"], row[f"{unit}_mean"]), strict=True):
            ax.plot(xs, mean, label=name)
            ax.fill_between(xs, mean - sd, mean + sd, alpha=0.15)
    for ax, xlabel in zip(axes, ("items labelled", unit.replace("_", " ")), strict=True):
        ax.axhline(summary["target"], color="grey", ls="--", lw=1, label=f"{summary['target_fraction']:.0%} of full pool")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric_name)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
