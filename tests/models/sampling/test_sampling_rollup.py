from __future__ import annotations

import numpy as np
import pytest

from cliniloop.models.sampling.rollup import MODALITY_ROLLUPS, rollup, rollup_for, token_entropy_sum
from cliniloop.models.sampling.scores import binary_entropy, task_uncertainty


def test_rollup_methods_hand_values() -> None:
    s = [0.1, 0.9, 0.5, 0.3]
    assert rollup(s, "max") == pytest.approx(0.9)
    assert rollup(s, "mean") == pytest.approx(0.45)
    assert rollup(s, "sum") == pytest.approx(1.8)
    assert rollup(s, "topk_mean", k=2) == pytest.approx(0.7)
    assert rollup(s, "topk_mean", k=10) == pytest.approx(0.45)


def test_rollup_empty_values() -> None:
    assert rollup([], "max") == 1.0
    assert rollup([], "mean") == 1.0
    assert rollup([], "topk_mean") == 1.0
    assert rollup([], "sum") == 0.0
    assert rollup([], "max", empty=0.25) == 0.25


def test_rollup_validates() -> None:
    with pytest.raises(ValueError, match="unknown roll-up"):
        rollup([0.1], "median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k must be"):
        rollup([0.1], "topk_mean", k=0)
    with pytest.raises(ValueError, match="finite"):
        rollup([0.1, float("nan")], "max")


def test_task_uncertainty_is_topk_mean_of_binary_entropy() -> None:
    c = [0.99, 0.6, 0.5, 0.8, 0.97, 0.7, 0.55]
    assert task_uncertainty(c, top_k=3) == pytest.approx(rollup(binary_entropy(c), "topk_mean", k=3))


def test_token_entropy_sum_favours_length() -> None:
    # two uniform tokens (1 each) and one certain token (0)
    assert token_entropy_sum([[0.5, 0.5], [1.0, 0.0], [0.5, 0.5]]) == pytest.approx(2.0)
    assert token_entropy_sum(np.zeros((0, 3))) == 0.0
    short = token_entropy_sum([[0.6, 0.4]])
    long = token_entropy_sum([[0.6, 0.4]] * 5)
    assert long == pytest.approx(5 * short)


def test_modality_rollups() -> None:
    assert set(MODALITY_ROLLUPS) == {"text_ner", "text_tagging", "ecg", "eeg", "image"}
    assert MODALITY_ROLLUPS["ecg"].how == "max"
    assert MODALITY_ROLLUPS["eeg"].how == "max"
    assert MODALITY_ROLLUPS["text_tagging"].how == "sum"
    beats = [0.05, 0.1, 0.95, 0.05]
    assert rollup_for("ecg", beats) == pytest.approx(0.95)  # one uncertain beat is enough
    assert rollup_for("image", [0.1] * 10 + [0.9]) == pytest.approx((0.9 + 4 * 0.1) / 5)
    assert rollup_for("text_ner", []) == 1.0
    with pytest.raises(ValueError, match="no roll-up"):
        rollup_for("audio", [0.1])
