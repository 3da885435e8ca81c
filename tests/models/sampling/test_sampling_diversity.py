from __future__ import annotations

import numpy as np
import pytest

from cliniloop.models.sampling.diversity import badge, badge_embeddings, cluster_diverse_top, k_center_greedy

POINTS = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [0.0, 10.0], [0.5, 0.0]])


def test_k_center_greedy_obvious_answer() -> None:
    # from center 0: rows 2 and 3 tie at distance 10 (lowest index wins), then row 3
    # (10 from row 0, 14.1 from row 2), then row 1 (1 away) before row 4 (0.5 away)
    assert k_center_greedy(POINTS, 3, already_selected_idx=[0]) == [2, 3, 1]
    assert k_center_greedy(POINTS, 10, already_selected_idx=[0]) == [2, 3, 1, 4]
    assert k_center_greedy(POINTS, 2, already_selected_idx=[0, 1, 2, 3, 4]) == []


def test_k_center_greedy_covers_clusters_whatever_the_seed() -> None:
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 0.1, size=(20, 2)), rng.normal(100, 0.1, size=(3, 2))])
    for seed in range(5):
        picks = k_center_greedy(x, 2, seed=seed)
        assert len(set(picks)) == 2
        assert {p >= 20 for p in picks} == {True, False}
        assert picks == k_center_greedy(x, 2, seed=seed)


def test_k_center_greedy_validates() -> None:
    with pytest.raises(ValueError, match="outside"):
        k_center_greedy(POINTS, 1, already_selected_idx=[5])
    with pytest.raises(ValueError, match="budget"):
        k_center_greedy(POINTS, 0)
    with pytest.raises(ValueError, match="shape"):
        k_center_greedy([1.0, 2.0], 1)


def test_badge_embeddings_hand_values() -> None:
    g = badge_embeddings([[0.7, 0.3], [0.2, 0.8]], [[1.0, 2.0], [3.0, -1.0]])
    # row 0: (p - onehot(0)) = (-0.3, 0.3) outer (1, 2); row 1: (0.2, -0.2) outer (3, -1)
    np.testing.assert_allclose(g, [[-0.3, -0.6, 0.3, 0.6], [0.6, -0.2, -0.6, 0.2]])
    assert g.shape == (2, 4)
    with pytest.raises(ValueError, match="rows"):
        badge_embeddings([[0.5, 0.5]], [[1.0], [2.0]])


def test_badge_is_deterministic_distinct_and_starts_at_largest_gradient() -> None:
    rng = np.random.default_rng(1)
    g = rng.normal(size=(200, 6))
    g[17] *= 10
    a = badge(g, 10, seed=3)
    assert a == badge(g, 10, seed=3)
    assert len(a) == len(set(a)) == 10
    assert a[0] == 17
    assert badge(g, 10, seed=4) != a
    assert sorted(badge(g[:4], 10)) == [0, 1, 2, 3]


def test_badge_with_duplicates_still_distinct() -> None:
    g = np.array([[1.0, 0.0]] * 4 + [[0.0, 5.0]])
    picks = badge(g, 3, seed=0)
    # largest norm first; then one of the four duplicates (equal D^2); after that every
    # remaining point has D^2 = 0 and the lowest remaining index is taken
    assert picks[0] == 4 and picks[1] in {0, 1, 2, 3}
    assert picks[2] == min({0, 1, 2, 3} - {picks[1]})
    assert len(set(picks)) == 3


def test_cluster_diverse_top_picks_one_per_cluster() -> None:
    x = np.array([[0, 0], [0, 1], [1, 0], [50, 50], [50, 51], [51, 50]], dtype=float)
    s = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    # plain top-2 would take rows 0 and 1, both from the first cluster
    assert cluster_diverse_top(s, x, 2, seed=0) == [0, 3]
    # one cluster: its best, then the budget is filled by score
    assert cluster_diverse_top(s, x, 2, n_clusters=1, seed=0) == [0, 1]
    assert cluster_diverse_top(s, x, 10) == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="scores"):
        cluster_diverse_top(s[:3], x, 2)
    with pytest.raises(ValueError, match="n_clusters"):
        cluster_diverse_top(s, x, 2, n_clusters=0)
