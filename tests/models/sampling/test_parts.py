"""Task uncertainty from scored parts (ECG beats, image regions) and per-task class distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cliniloop.models.sampling.parts import beat_window_uncertainty, region_uncertainty, regions_uncertainty, task_class_proba


def test_beat_window_is_its_most_uncertain_beat_lifted_for_rare_classes() -> None:
    sure, unsure = np.array([1.0, 0, 0, 0, 0]), np.array([0.5, 0.5, 0, 0, 0])
    assert beat_window_uncertainty(["N", "N"], [sure, unsure], [0.9, 0.9]) == pytest.approx(math.log(2) / math.log(5))
    lifted = beat_window_uncertainty(["N", "V"], [sure, sure], [0.9, 0.9], frozenset({"V"}))
    assert lifted == pytest.approx(0.5)  # 0.5 + 0/2: a rare-class window outranks every sure N window
    assert beat_window_uncertainty(["N"], [None], [0.7]) == pytest.approx(0.3)  # no classifier: 1 - detector confidence
    assert beat_window_uncertainty([], [], []) == 1.0


def test_region_uncertainty_is_the_larger_of_score_and_class_entropy() -> None:
    assert region_uncertainty(0.5) == pytest.approx(1.0)
    assert region_uncertainty(1.0, {"RBC": 0.5, "WBC": 0.5}) == pytest.approx(1.0)
    assert region_uncertainty(0.9, {"RBC": 1.0, "WBC": 0.0}) == pytest.approx(-(0.9 * math.log2(0.9) + 0.1 * math.log2(0.1)))
    assert regions_uncertainty([]) == 1.0
    assert regions_uncertainty([(1.0, None), (0.5, None)]) == pytest.approx(0.5)


class _Region:
    def __init__(self, label: str, probability: float, probs: dict[str, float] | None = None) -> None:
        self.label, self.probability, self.attributes = label, probability, {"probs": probs} if probs else {}


def test_task_class_proba_takes_the_least_confident_part() -> None:
    classes = ["N", "S", "V"]
    regions = [_Region("N", 0.9, {"N": 0.9, "S": 0.05, "V": 0.05}), _Region("S", 0.6)]
    np.testing.assert_allclose(task_class_proba(regions, classes, 0.4), [0.2, 0.6, 0.2])
    np.testing.assert_allclose(task_class_proba([], classes, 0.3), [0.7, 0.15, 0.15])
