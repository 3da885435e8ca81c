from __future__ import annotations

import numpy as np
import pytest

from cliniloop.models.sampling.scores import (
    bald,
    binary_entropy,
    entropy,
    least_confidence,
    margin,
    mnlp,
    sequence_least_confidence,
    task_uncertainty,
    vote_entropy,
)
from cliniloop.models.sampling.selection import EmptyPoolError, top_k


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



def test_single_proba_scores_hand_values() -> None:
    proba = [[0.7, 0.2, 0.1], [0.5, 0.25, 0.25], [1.0, 0.0, 0.0]]
    np.testing.assert_allclose(least_confidence(proba), [0.3, 0.5, 0.0])
    np.testing.assert_allclose(margin(proba), [0.5, 0.75, 0.0])
    # H([.5,.25,.25]) = 1.5 ln 2 nats; normalised by ln 3
    np.testing.assert_allclose(entropy(proba)[1:], [1.5 * np.log(2) / np.log(3), 0.0])
    assert entropy([[0.5, 0.5]])[0] == pytest.approx(1.0)
    assert entropy([[0.25] * 4])[0] == pytest.approx(1.0)
    # Bernoulli(0.25): -(.25 log2 .25 + .75 log2 .75) = 0.811278 bits
    assert binary_entropy([0.25])[0] == pytest.approx(0.811278, abs=1e-6)


def test_task_uncertainty_hand_value() -> None:
    # H(0.5) = 1 bit, H(0.25) = 0.811278, H(1.0) = 0; top 2 -> mean(1, 0.811278)
    assert task_uncertainty([1.0, 0.25, 0.5], top_k=2) == pytest.approx((1.0 + 0.811278) / 2, abs=1e-6)


def test_bald_hand_example() -> None:
    samples = np.array(
        [
            [[1.0, 0.0], [0.5, 0.5], [0.9, 0.1], [0.8, 0.2]],
            [[0.0, 1.0], [0.5, 0.5], [0.9, 0.1], [0.4, 0.6]],
        ]
    )  # T=2, n=4, k=2
    s = bald(samples)
    assert s.shape == (4,)
    # confident samples that disagree: H([.5,.5]) - 0 = ln 2 nats
    assert s[0] == pytest.approx(np.log(2))
    # identical samples carry no model uncertainty, however unsure each one is
    assert s[1] == pytest.approx(0.0, abs=1e-12)
    assert s[2] == pytest.approx(0.0, abs=1e-12)
    # H([.6,.4]) - (H([.8,.2]) + H([.4,.6])) / 2 = 0.673012 - (0.500402 + 0.673012) / 2
    assert s[3] == pytest.approx(0.086305, abs=1e-6)


def test_bald_validates_shape_and_values() -> None:
    with pytest.raises(ValueError, match="T, n, k"):
        bald([[0.5, 0.5]])
    with pytest.raises(ValueError):
        bald([[[1.2, -0.2]]])


def test_vote_entropy_hand_values() -> None:
    # 4 members, 2 items, 2 classes: votes (0,0,1,1) and (1,1,1,1)
    samples = np.array([[[0.9, 0.1], [0.2, 0.8]], [[0.6, 0.4], [0.1, 0.9]], [[0.3, 0.7], [0.4, 0.6]], [[0.1, 0.9], [0.0, 1.0]]])
    np.testing.assert_allclose(vote_entropy(samples), [1.0, 0.0], atol=1e-12)
    # 2 members, 3 classes, votes 0 and 1: ln 2 / ln 3
    two = np.array([[[0.8, 0.1, 0.1]], [[0.1, 0.8, 0.1]]])
    assert vote_entropy(two)[0] == pytest.approx(np.log(2) / np.log(3))


def test_sequence_scores() -> None:
    np.testing.assert_allclose(sequence_least_confidence([0.9, 0.25, 1.0]), [0.1, 0.75, 0.0])
    with pytest.raises(ValueError):
        sequence_least_confidence([1.5])
    s = mnlp([np.log([0.5, 0.5]), np.log([1.0, 0.25]), [], np.log([1.0])])
    # mean NLL per token: ln 2, (0 + ln 4) / 2 = ln 2, empty -> 0, certain -> 0
    np.testing.assert_allclose(s, [np.log(2), np.log(2), 0.0, 0.0], atol=1e-12)
    with pytest.raises(ValueError, match=r"token_log_probs\[1\]"):
        mnlp([[-0.1], [0.3]])


def test_expected_f1_error_hand_values_and_misses() -> None:
    from cliniloop.models.sampling.scores import expected_f1_error

    # TP = 0.9 + 0.6 = 1.5, FP = 0.1 + 0.4 = 0.5, FN = max(0, 3 - 1.5) = 1.5 -> 1 - 3 / (3 + 0.5 + 1.5) = 0.4
    assert expected_f1_error([0.9, 0.6], 3.0) == pytest.approx(0.4)
    # no prior count: only the doubtful regions count, 1 - 3 / 3.5
    assert expected_f1_error([0.9, 0.6], 0.0) == pytest.approx(1 - 3 / 3.5)
    assert expected_f1_error([], 2.0) == 1.0 and expected_f1_error([], 0.0) == 0.0
    # the same confident regions: the task expected to hold more of them (a longer one) is asked first
    assert expected_f1_error([0.95] * 4, 12.0) > expected_f1_error([0.95] * 4, 4.0)
    with pytest.raises(ValueError):
        expected_f1_error([0.5], -1.0)

