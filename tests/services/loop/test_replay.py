"""Pool-based replay (simulate --task eeg-seizure|image-boxes): the loop, the summary against random, the files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cliniloop.services.loop.replay import ReplayConfig, needed_to_reach, run_replay, summarise

SAMPLES = Path(__file__).resolve().parents[3] / "data_samples"


def test_needed_to_reach_interpolates() -> None:
    assert needed_to_reach([10, 20, 30], [0.5, 0.7, 0.9], 0.8) == pytest.approx(25.0)
    assert needed_to_reach([10, 20], [0.5, 0.6], 0.8) is None
    assert needed_to_reach([10, 20], [0.9, 1.0], 0.8) == 10.0


def test_uncertainty_beats_random_where_only_the_hard_items_teach() -> None:
    """Toy learner: the metric is the share of 'informative' items labelled; uncertainty knows which they are."""
    n = 100
    informative = np.zeros(n, bool)
    informative[::10] = True
    ids = [f"i{k:03d}" for k in range(n)]
    cost = np.full(n, 2.0)

    def fit(rows: np.ndarray) -> np.ndarray:
        return rows

    def score(rows: np.ndarray) -> float:
        return float(informative[rows].sum() / informative.sum())

    def pool_scores(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return informative.astype(float) + 0.01, cost

    config = ReplayConfig(strategies=("random", "uncertainty", "uncertainty_cost"), seed_size=2, batch=2, rounds=10, repeats=2)
    curves, chosen = run_replay(ids, cost, fit, score, pool_scores, config)
    assert len(chosen["uncertainty"]) == 2 and len(chosen["uncertainty"][0]) == 22
    summary = summarise(curves, 1.0, 0.95, "seconds_reviewed")
    rows = summary["strategies"]
    assert rows["uncertainty"]["items_to_target"] == pytest.approx(2 + 10 * 0.95 - 0.5, abs=2.5)
    assert rows["random"]["items_to_target"] is None or rows["random"]["items_to_target"] > 2 * rows["uncertainty"]["items_to_target"]
    assert rows["uncertainty"]["seconds_reviewed_mean"][0] == pytest.approx(4.0)


def test_simulate_eeg_seizure_writes_curves_and_labels(tmp_path: Path) -> None:
    from cliniloop.services.loop.eeg_simulate import simulate_eeg_seizure

    out = tmp_path / "sim"
    config = ReplayConfig(strategies=("random", "uncertainty"), seed_size=4, batch=2, rounds=1, repeats=1)
    result = simulate_eeg_seizure(SAMPLES / "eeg" / "bonn_format", config, out_dir=out)
    assert result["pool_segments"] == 10 and result["test_segments"] == 5
    summary = json.loads((out / "eeg_simulation.json").read_text())
    assert summary["cost_unit"] == "seconds_reviewed" and set(summary["strategies"]) == {"random", "uncertainty"}
    assert summary["strategies"]["random"]["seconds_reviewed_mean"][0] == pytest.approx(4 * 4097 / 173.61, rel=1e-3)
    assert (out / "eeg_learning_curves.png").stat().st_size > 1000
    assert json.loads((out / "eeg_labels.json").read_text())["chosen"]["uncertainty"][0]


def test_simulate_pool_task_needs_a_folder() -> None:
    from cliniloop.services.cli.main import app

    result = CliRunner().invoke(app, ["simulate", "--task", "image-boxes"])
    assert result.exit_code == 2 and "--pool DIR" in result.output
