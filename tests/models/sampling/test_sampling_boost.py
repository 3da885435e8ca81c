from __future__ import annotations

import numpy as np
import pytest

from cliniloop.models.sampling.boost import rare_class_boost, rare_class_weights


def test_rare_class_weights_hand_values() -> None:
    np.testing.assert_allclose(rare_class_weights([9, 0]), [1.0, 10.0])
    np.testing.assert_allclose(rare_class_weights([3, 3, 1]), [1.0, 1.0, 2.0])
    np.testing.assert_allclose(rare_class_weights([9, 0], strength=0.5), [1.0, np.sqrt(10)])
    np.testing.assert_allclose(rare_class_weights([9, 0], strength=0.0), [1.0, 1.0])


def test_rare_class_boost_hand_values() -> None:
    proba = [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    np.testing.assert_allclose(rare_class_boost(proba, [9, 0]), [1.0, 5.5, 10.0])
    np.testing.assert_allclose(rare_class_boost([[0.2, 0.3, 0.5]], [3, 3, 1]), [1.5])
    np.testing.assert_allclose(rare_class_boost([[0.5, 0.5]], [9, 0], strength=0.5), [(1 + np.sqrt(10)) / 2])
    np.testing.assert_allclose(rare_class_boost(proba, [9, 0], strength=0.0), [1.0, 1.0, 1.0])
    # rows are normalised first (multi-label scores)
    np.testing.assert_allclose(rare_class_boost([[0.2, 0.2]], [9, 0]), [5.5])


def test_rare_class_boost_validates() -> None:
    with pytest.raises(ValueError, match="row 1 sums to 0"):
        rare_class_boost([[1.0, 0.0], [0.0, 0.0]], [1, 1])
    with pytest.raises(ValueError, match="classes"):
        rare_class_boost([[1.0, 0.0]], [1, 1, 1])
    with pytest.raises(ValueError, match="strength"):
        rare_class_weights([1, 2], strength=-1.0)
    with pytest.raises(ValueError, match="class_counts"):
        rare_class_weights([1, -2])
