from __future__ import annotations

import numpy as np
import pytest

from cliniloop.models.sampling.cost import cost_adjusted, expected_cost_from_length, fit_cost_model


def test_expected_cost_from_length() -> None:
    np.testing.assert_allclose(expected_cost_from_length([0, 10, 250], 0.2, base_s=5.0), [5.0, 7.0, 55.0])
    with pytest.raises(ValueError):
        expected_cost_from_length([-1], 0.2)
    with pytest.raises(ValueError):
        expected_cost_from_length([1], -0.2)


def test_fit_cost_model_recovers_a_line_and_skips_missing_lead_times() -> None:
    model = fit_cost_model([10, 20, 30, 40, 50], [10.0, 15.0, None, 25.0, float("nan")])
    assert model.intercept_s == pytest.approx(5.0)
    assert model.coef == pytest.approx((0.5,))
    assert model.n_samples == 3
    np.testing.assert_allclose(model.predict([100, 0]), [55.0, 5.0])


def test_fit_cost_model_two_features() -> None:
    x = np.array([[1, 0], [0, 1], [1, 1], [2, 1]], dtype=float)
    t = 3 + 2 * x[:, 0] + 4 * x[:, 1]
    model = fit_cost_model(x, t)
    assert (model.intercept_s, *model.coef) == pytest.approx((3.0, 2.0, 4.0))
    with pytest.raises(ValueError, match="columns"):
        model.predict([[1, 2, 3]])


def test_fit_cost_model_is_non_negative_and_floored() -> None:
    # time falls with length: a free fit would give a negative slope; NNLS gives slope 0
    model = fit_cost_model([10, 20, 30, 40], [25.0, 20.0, 15.0, 10.0])
    assert model.coef == (0.0,)
    assert model.intercept_s == pytest.approx(17.5)
    zero = fit_cost_model([1, 2], [0.0, 0.0], floor_s=2.0)
    np.testing.assert_allclose(zero.predict([5]), [2.0])


def test_fit_cost_model_validates() -> None:
    with pytest.raises(ValueError, match=r"lead_times_s\[1\]"):
        fit_cost_model([1, 2], [3.0, -1.0])
    with pytest.raises(ValueError, match="no annotation"):
        fit_cost_model([1, 2], [None, None])
    with pytest.raises(ValueError, match="lead times"):
        fit_cost_model([1, 2, 3], [1.0, 2.0])


def test_cost_adjusted_hand_values() -> None:
    np.testing.assert_allclose(cost_adjusted([1.0, 1.0, 0.5], [2.0, 0.5, 0.5]), [0.5, 2.0, 1.0])
    np.testing.assert_allclose(cost_adjusted([1.0, 0.2], [4.0, 9.0], exponent=0.0), [1.0, 0.2])
    np.testing.assert_allclose(cost_adjusted([1.0, 0.3], [4.0, 9.0], exponent=0.5), [0.5, 0.1])


def test_cost_adjusted_names_bad_index() -> None:
    with pytest.raises(ValueError, match=r"costs\[1\]"):
        cost_adjusted([1.0, 1.0, 1.0], [1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match=r"costs\[2\]"):
        cost_adjusted([1.0, 1.0, 1.0], [1.0, 3.0, -2.0])
    with pytest.raises(ValueError, match=r"scores\[0\]"):
        cost_adjusted([-0.1], [1.0])
    with pytest.raises(ValueError, match="exponent"):
        cost_adjusted([1.0], [1.0], exponent=-1.0)
    with pytest.raises(ValueError, match="2 scores but 1 costs"):
        cost_adjusted([1.0, 2.0], [1.0])
