from __future__ import annotations

import numpy as np
import pytest

from models.sampling.scores import binary_entropy, entropy, least_confidence, margin, task_uncertainty
from models.sampling.selection import EmptyPoolError, top_k


def test_scores_order_sure_below_unsure() -> None:
    proba = np.array([[0.98, 0.01, 0.01], [0.4, 0.35, 0.25], [1 / 3, 1 / 3, 1 / 3]])
    for fn in (least_confidence, margin, entropy):
        s = fn(proba)
        assert s.shape == (3,)
        assert s[0] < s[1] <= s[2] + 1e-12, fn.__name__
    assert entropy(proba)[2] == pytest.approx(1.0)
    assert margin([[0.5, 0.5]])[0] == pytest.approx(1.0)


def test_scores_reject_bad_shapes() -> None:
    with pytest.raises(ValueError):
        entropy([0.2, 0.8])
    with pytest.raises(ValueError):
        least_confidence([[1.5, -0.5]])


def test_binary_entropy_and_task_uncertainty() -> None:
    assert binary_entropy([0.5])[0] == pytest.approx(1.0)
    assert binary_entropy([1.0])[0] == pytest.approx(0.0)
    assert task_uncertainty([]) == 1.0
    sure = task_uncertainty([0.99] * 20)
    one_hard = task_uncertainty([0.99] * 20 + [0.5])
    assert sure < one_hard < 1.0
    # only the top_k most uncertain spans count: many easy mentions do not dilute a hard one
    assert task_uncertainty([0.99] * 200 + [0.5], top_k=1) == pytest.approx(1.0)


def test_top_k_is_deterministic_and_validates() -> None:
    assert top_k(["b", "a", "c"], [0.5, 0.5, 0.9], 2) == ["c", "a"]
    assert top_k(["a"], [0.1], 5) == ["a"]
    with pytest.raises(EmptyPoolError):
        top_k([], [], 3)
    with pytest.raises(ValueError):
        top_k(["a"], [0.1, 0.2], 1)
    with pytest.raises(ValueError):
        top_k(["a"], [0.1], 0)
