"""Plots people would rather look at than read: learning curves of the replay harness."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_learning_curves(result: dict[str, Any], path: Path) -> Path:
    """Write a PNG with F1 against labelled sentences (left) and labelled tokens (right).

    Lines are the mean over repeats, bands ± one standard deviation; the dashed line is the
    target (a fraction of the full-pool F1) and the dotted one the full-pool F1.

    Parameters
    ----------
    result : dict
        What :func:`cliniloop.services.loop.simulate.simulate_ner` returns.
    path : Path
        Output PNG file.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    full = result["full_pool"]["f1"]
    target = result["target_f1"]
    for name, res in result["strategies"].items():
        mean = np.array(res["f1_mean"])
        sd = np.array(res["f1_sd"])
        for ax, xs in ((axes[0], res["sentences"]), (axes[1], res["tokens_mean"])):
            (line,) = ax.plot(xs, mean, marker="o", markersize=3, label=name)
            ax.fill_between(xs, mean - sd, mean + sd, color=line.get_color(), alpha=0.2)
    for ax, unit in ((axes[0], "labelled sentences"), (axes[1], "labelled tokens")):
        ax.axhline(full, color="black", linestyle=":", linewidth=1, label=f"full pool F1 {full:.3f}")
        ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:.3f}")
        ax.set_xlabel(unit)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("entity F1 (strict, micro)")
    axes[0].legend(loc="lower right", fontsize=8)
    cfg = result["config"]
    fig.suptitle(
        f"{result['task']} active learning: {cfg['repeats']} repeats, seed {cfg['seed_size']}, batch {cfg['batch']} "
        f"(mean ± sd)"
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
