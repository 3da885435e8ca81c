from __future__ import annotations

import numpy as np
import pytest

from cliniloop.models.sampling.selection import EmptyPoolError, ExhaustedPoolError
from cliniloop.models.sampling.strategies import STRATEGIES, PoolView, get_strategy, select

REQUIRED = {"random", "sequential", "least_confidence", "margin", "entropy", "bald", "kcenter", "entropy_kcenter", "badge"}


def full_pool(n: int = 40, seed: int = 0) -> PoolView:
    """A pool with every input, so every strategy can run."""
    rng = np.random.default_rng(seed)
    return PoolView(
        ids=[f"t{i:03d}" for i in range(n)],
        proba=rng.dirichlet(np.ones(3), size=n),
        scores=rng.random(n),
        proba_samples=rng.dirichlet(np.ones(3), size=(4, n)),
        embeddings=rng.normal(size=(n, 4)),
        costs=rng.random(n) + 0.5,
        class_counts=[10, 2, 0],
    )


def permuted(pool: PoolView, order: np.ndarray) -> PoolView:
    def take(a: np.ndarray | None, axis: int = 0) -> np.ndarray | None:
        return None if a is None else np.take(a, order, axis=axis)

    return PoolView(
        ids=[pool.ids[i] for i in order],
        proba=take(pool.proba),
        scores=take(pool.scores),
        proba_samples=take(pool.proba_samples, axis=1),
        embeddings=take(pool.embeddings),
        costs=take(pool.costs),
        class_counts=pool.class_counts,
    )


def test_registry_has_the_required_strategies() -> None:
    assert REQUIRED <= set(STRATEGIES)
    assert get_strategy("entropy").kind == "uncertainty"
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        get_strategy("nope")


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_is_deterministic_excludes_labelled_and_returns_distinct_ids(name: str) -> None:
    pool = full_pool()
    labelled = pool.ids[::3]
    a = select(name, pool, 8, seed=5, labelled_ids=labelled)
    assert a == select(name, pool, 8, seed=5, labelled_ids=labelled)
    assert len(a) == len(set(a)) == 8
    assert not set(a) & set(labelled)
    # k above what is left: everything unlabelled comes back
    rest = select(name, pool, 1000, seed=5, labelled_ids=labelled)
    assert sorted(rest) == sorted(set(pool.ids) - set(labelled))


@pytest.mark.parametrize("name", sorted(set(STRATEGIES) - {"sequential"}))
def test_selection_does_not_depend_on_pool_order(name: str) -> None:
    pool = full_pool()
    shuffled = permuted(pool, np.random.default_rng(9).permutation(len(pool)))
    assert select(name, shuffled, 6, seed=2, labelled_ids=["t001"]) == select(name, pool, 6, seed=2, labelled_ids=["t001"])


def test_random_is_seeded() -> None:
    pool = PoolView(ids=[f"id{i:04d}" for i in range(1000)])
    a = select("random", pool, 10, seed=1)
    assert a == select("random", pool, 10, seed=1)
    assert a != select("random", pool, 10, seed=2)


def test_sequential_is_pool_order() -> None:
    pool = PoolView(ids=["z", "y", "x", "w"])
    assert select("sequential", pool, 2, labelled_ids=["y"]) == ["z", "x"]


def test_each_uncertainty_strategy_uses_its_own_score() -> None:
    # a: margin 1 (two classes tie), entropy 0.63; b: margin 0.9, entropy 0.99, LC 0.6
    pool = PoolView(ids=["a", "b", "c"], proba=[[0.5, 0.5, 0.0], [0.4, 0.3, 0.3], [0.9, 0.05, 0.05]])
    assert select("margin", pool, 3) == ["a", "b", "c"]
    assert select("entropy", pool, 3) == ["b", "a", "c"]
    assert select("least_confidence", pool, 1) == ["b"]


def test_ties_are_broken_by_id() -> None:
    pool = PoolView(ids=["b", "c", "a"], scores=[0.5, 0.5, 0.5])
    assert select("uncertainty", pool, 2) == ["a", "b"]


def test_bald_prefers_disagreement() -> None:
    samples = [[[0.5, 0.5], [1.0, 0.0]], [[0.5, 0.5], [0.0, 1.0]]]  # a: both unsure; b: sure but disagree
    pool = PoolView(ids=["a", "b"], proba_samples=samples)
    assert select("bald", pool, 1) == ["b"]


def test_kcenter_treats_labelled_items_as_centers() -> None:
    pool = PoolView(ids=["a", "b", "c", "d"], embeddings=[[0, 0], [1, 0], [10, 0], [0, 9]])
    assert select("kcenter", pool, 1, labelled_ids=["a"]) == ["c"]
    assert select("kcenter", pool, 3, labelled_ids=["a"]) == ["c", "d", "b"]
    # with "c" labelled, "d" is now farthest from every center
    assert select("kcenter", pool, 1, labelled_ids=["a", "c"]) == ["d"]


def test_entropy_cluster_spreads_over_clusters() -> None:
    emb = [[0, 0], [0, 1], [1, 0], [50, 50], [50, 51], [51, 50]]
    proba = [[0.5, 0.5], [0.55, 0.45], [0.6, 0.4], [0.9, 0.1], [0.95, 0.05], [0.99, 0.01]]
    pool = PoolView(ids=list("abcdef"), proba=proba, embeddings=emb)
    assert select("entropy", pool, 2) == ["a", "b"]
    assert select("entropy_cluster", pool, 2) == ["a", "d"]


def test_badge_builds_gradient_embeddings_when_absent() -> None:
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(3), size=30)
    h = rng.normal(size=(30, 5))
    ids = [f"t{i:02d}" for i in range(30)]
    built = select("badge", PoolView(ids=ids, proba=proba, embeddings=h), 5, seed=1)
    from cliniloop.models.sampling.diversity import badge_embeddings

    given = select("badge", PoolView(ids=ids, grad_embeddings=badge_embeddings(proba, h)), 5, seed=1)
    assert built == given


def test_missing_inputs_are_named() -> None:
    pool = PoolView(ids=["a", "b"])
    with pytest.raises(ValueError, match="proba_samples"):
        select("bald", pool, 1)
    with pytest.raises(ValueError, match="missing: embeddings"):
        select("kcenter", pool, 1)
    with pytest.raises(ValueError, match="pool.grad_embeddings or pool.proba \\+ pool.embeddings"):
        select("badge", pool, 1)
    with pytest.raises(ValueError, match="missing: embeddings$"):
        select("entropy_kcenter", PoolView(ids=["a"], proba=[[1.0, 0.0]]), 1)


def test_empty_and_exhausted_pools() -> None:
    with pytest.raises(EmptyPoolError):
        select("random", PoolView(ids=()), 3)
    with pytest.raises(ExhaustedPoolError, match="all 2 items"):
        select("entropy", PoolView(ids=["a", "b"], proba=[[0.5, 0.5], [1.0, 0.0]]), 3, labelled_ids=["a", "b", "zz"])
    assert issubclass(ExhaustedPoolError, EmptyPoolError)
    # one left: it comes back even though k is larger
    assert select("random", PoolView(ids=["a", "b"]), 5, labelled_ids=["a"]) == ["b"]


def test_rare_boost_and_cost_options() -> None:
    # equal entropy; "b" leans to the class with no labels yet
    pool = PoolView(ids=["a", "b"], proba=[[0.6, 0.4], [0.4, 0.6]], costs=[1.0, 3.0], class_counts=[10, 0])
    assert select("entropy", pool, 2) == ["a", "b"]
    assert select("entropy", pool, 2, rare_boost=1.0) == ["b", "a"]  # boosts 5.0 vs 7.0
    assert select("entropy", pool, 2, cost_exponent=1.0) == ["a", "b"]
    pricey_a = PoolView(ids=["a", "b"], proba=[[0.6, 0.4], [0.4, 0.6]], costs=[3.0, 1.0])
    assert select("entropy", pricey_a, 2, cost_exponent=1.0) == ["b", "a"]
    # boost 7/5 for b against cost 3: 7/3 < 5/1, so a wins when both apply
    assert select("entropy", pool, 2, rare_boost=1.0, cost_exponent=1.0) == ["a", "b"]


def test_option_errors() -> None:
    pool = PoolView(ids=["a", "b"], proba=[[0.6, 0.4], [0.4, 0.6]])
    with pytest.raises(ValueError, match="no uncertainty score"):
        select("random", pool, 1, cost_exponent=1.0)
    with pytest.raises(ValueError, match="pool.costs"):
        select("entropy", pool, 1, cost_exponent=1.0)
    with pytest.raises(ValueError, match="pool.class_counts"):
        select("entropy", pool, 1, rare_boost=1.0)
    bad_cost = PoolView(ids=["a", "b"], proba=[[0.6, 0.4], [0.4, 0.6]], costs=[1.0, 0.0])
    with pytest.raises(ValueError, match=r"costs\[1\]"):
        select("entropy", bad_cost, 1, cost_exponent=1.0)


def test_argument_validation() -> None:
    pool = PoolView(ids=["a", "b"])
    with pytest.raises(ValueError, match="budget"):
        select("random", pool, 0)
    with pytest.raises(ValueError, match="seed"):
        select("random", pool, 1, seed=-1)
    with pytest.raises(TypeError, match="labelled_ids"):
        select("random", pool, 1, labelled_ids="a")


def test_pool_view_validation() -> None:
    with pytest.raises(ValueError, match="'a' occurs more than once"):
        PoolView(ids=["a", "b", "a"])
    with pytest.raises(ValueError, match="PoolView.scores has 1 rows but there are 2 ids"):
        PoolView(ids=["a", "b"], scores=[0.1])
    with pytest.raises(ValueError, match="proba_samples has 1 rows"):
        PoolView(ids=["a", "b"], proba_samples=np.full((3, 1, 2), 0.5))
    with pytest.raises(ValueError, match="class_counts has 3 classes"):
        PoolView(ids=["a"], proba=[[1.0, 0.0]], class_counts=[1, 2, 3])
    pool = PoolView(ids=["a"], scores=[0.3])
    assert pool.scores is not None and not pool.scores.flags.writeable
    assert len(pool) == 1
