"""Named sampling strategies for the active-learning loop and the replay harness.

A strategy turns a :class:`PoolView` (ids plus whatever model outputs are available) into
the ids humans should label next, via :func:`select`. The registry :data:`STRATEGIES` holds:

=======================  ===========  ====================================================
name                     kind         needs (``PoolView`` fields)
=======================  ===========  ====================================================
``random``               baseline     (nothing) seeded uniform sample
``sequential``           baseline     (nothing) pool order: labelling in file order
``uncertainty``          uncertainty  ``scores`` (precomputed, e.g. ``task_uncertainty``)
``least_confidence``     uncertainty  ``proba``
``margin``               uncertainty  ``proba``
``entropy``              uncertainty  ``proba``
``bald``                 uncertainty  ``proba_samples`` (MC dropout / ensemble)
``vote_entropy``         uncertainty  ``proba_samples`` (committee)
``kcenter``              diversity    ``embeddings`` (core-set; labelled rows are centers)
``entropy_kcenter``      hybrid       ``proba``, ``embeddings``
``uncertainty_kcenter``  hybrid       ``scores``, ``embeddings``
``entropy_cluster``      hybrid       ``proba``, ``embeddings``
``uncertainty_cluster``  hybrid       ``scores``, ``embeddings``
``badge``                hybrid       ``grad_embeddings``, or ``proba`` + ``embeddings``
=======================  ===========  ====================================================

``*_kcenter`` hybrids take the ``PREFILTER_FACTOR * k`` most uncertain unlabelled items and
run core-set k-center on them (labelled items are centers); ``*_cluster`` hybrids take the
most uncertain item per k-means cluster. Every strategy with an uncertainty score (kinds
*uncertainty* and *hybrid* except ``badge``) accepts two options of :func:`select`:
``rare_boost`` (multiply by :func:`cliniloop.models.sampling.boost.rare_class_boost`, needs ``proba``
and ``class_counts``) and ``cost_exponent`` (divide by ``costs ** exponent``, see
:func:`cliniloop.models.sampling.cost.cost_adjusted`, needs ``costs``).

Selection contract of :func:`select`:

* deterministic given ``seed``; the unlabelled pool is put in id order first, so ties are
  broken by id (as in :func:`cliniloop.models.sampling.selection.top_k`) and the result does not
  depend on the order of ``pool.ids`` (except for ``sequential``, which *is* pool order);
* never returns a labelled id (``labelled_ids``); returns ids best-first;
* ``k`` larger than the number of unlabelled items returns all of them (ranked);
* raises :class:`~cliniloop.models.sampling.selection.EmptyPoolError` for a pool without ids,
  :class:`~cliniloop.models.sampling.selection.ExhaustedPoolError` (a subclass) when every id is
  labelled, and ``ValueError`` naming the missing ``PoolView`` field when a strategy or
  option needs an input that is absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cliniloop.models.sampling.boost import rare_class_boost
from cliniloop.models.sampling.cost import cost_adjusted
from cliniloop.models.sampling.diversity import badge, badge_embeddings, cluster_diverse_top, k_center_greedy
from cliniloop.models.sampling.scores import bald, entropy, least_confidence, margin, vote_entropy
from cliniloop.models.sampling.selection import EmptyPoolError, ExhaustedPoolError

#: ``*_kcenter`` hybrids run k-center on this many times ``k`` of the most uncertain items.
PREFILTER_FACTOR = 10

_Array = NDArray[np.float64]


def _frozen(a: ArrayLike | None, name: str, ndim: int) -> _Array | None:
    if a is None:
        return None
    out = np.array(a, dtype=np.float64)
    if out.ndim != ndim:
        raise ValueError(f"PoolView.{name} must have {ndim} dimension(s), got shape {out.shape}")
    if not np.all(np.isfinite(out)):
        raise ValueError(f"PoolView.{name} must be finite")
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class PoolView:
    """What a strategy may look at: the pool's ids and the model outputs for them.

    Row ``i`` of every array belongs to ``ids[i]``. Labelled items may be included (the
    core-set strategies use their embeddings as centers); :func:`select` never returns them.
    Arrays are copied and made read-only.

    Attributes
    ----------
    ids : tuple of str, length n
        Unique item (task) ids.
    proba : ndarray, shape (n, k), optional
        Predicted class probabilities.
    scores : ndarray, shape (n,), optional
        Precomputed uncertainty per item, higher first (e.g. a roll-up of region scores).
    proba_samples : ndarray, shape (T, n, k), optional
        MC-dropout or ensemble probabilities, for ``bald`` and ``vote_entropy``.
    embeddings : ndarray, shape (n, d), optional
        Feature vectors (for ``badge``: the penultimate-layer activations).
    grad_embeddings : ndarray, shape (n, D), optional
        BADGE gradient embeddings; built from ``proba`` and ``embeddings`` when absent.
    costs : ndarray, shape (n,), optional
        Expected annotation cost per item (e.g. seconds), each ``> 0``.
    class_counts : ndarray, shape (k,), optional
        Labels per class so far, in the column order of ``proba``.
    """

    ids: tuple[str, ...]
    proba: _Array | None = None
    scores: _Array | None = None
    proba_samples: _Array | None = None
    embeddings: _Array | None = None
    grad_embeddings: _Array | None = None
    costs: _Array | None = None
    class_counts: _Array | None = None

    def __post_init__(self) -> None:
        ids = tuple(self.ids)
        if not all(isinstance(i, str) for i in ids):
            raise ValueError("PoolView.ids must be strings")
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"PoolView.ids must be unique; {dup!r} occurs more than once")
        object.__setattr__(self, "ids", ids)
        dims = {"proba": 2, "scores": 1, "proba_samples": 3, "embeddings": 2, "grad_embeddings": 2, "costs": 1, "class_counts": 1}
        for name, ndim in dims.items():
            object.__setattr__(self, name, _frozen(getattr(self, name), name, ndim))
        n = len(ids)
        rows = {
            "proba": None if self.proba is None else self.proba.shape[0],
            "scores": None if self.scores is None else self.scores.shape[0],
            "proba_samples": None if self.proba_samples is None else self.proba_samples.shape[1],
            "embeddings": None if self.embeddings is None else self.embeddings.shape[0],
            "grad_embeddings": None if self.grad_embeddings is None else self.grad_embeddings.shape[0],
            "costs": None if self.costs is None else self.costs.shape[0],
        }
        for name, m in rows.items():
            if m is not None and m != n:
                raise ValueError(f"PoolView.{name} has {m} rows but there are {n} ids")
        if self.proba is not None and self.class_counts is not None and self.class_counts.size != self.proba.shape[1]:
            raise ValueError(f"PoolView.class_counts has {self.class_counts.size} classes but proba has {self.proba.shape[1]}")

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class PickRequest:
    """What a strategy's ``pick`` receives from :func:`select`.

    Attributes
    ----------
    pool : PoolView
        The whole pool.
    candidates : ndarray of int, shape (m,)
        Rows of unlabelled items, in id order.
    labelled : ndarray of int, shape (l,)
        Rows of labelled items present in the pool, in id order.
    k : int
        Budget, ``1 <= k``; may exceed ``m``.
    seed : int
        Random seed.
    scores : ndarray, shape (n,), optional
        The strategy's uncertainty for every row after options (boost, cost) were applied.
    """

    pool: PoolView
    candidates: NDArray[np.intp]
    labelled: NDArray[np.intp]
    k: int
    seed: int
    scores: _Array | None = None


Needs = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Strategy:
    """A named selection strategy.

    Attributes
    ----------
    name : str
        Registry key.
    kind : {"baseline", "uncertainty", "diversity", "hybrid"}
        Family, for reports.
    description : str
        One line for reports.
    needs : tuple of tuple of str
        Alternatives of required ``PoolView`` fields: satisfied when every field of at least
        one alternative is present. ``()`` needs nothing.
    pick : callable
        ``PickRequest -> list[int]`` rows, best first.
    score : callable, optional
        ``PoolView -> ndarray (n,)`` uncertainty, for strategies that have one; only these
        accept the ``rare_boost`` and ``cost_exponent`` options.
    """

    name: str
    kind: Literal["baseline", "uncertainty", "diversity", "hybrid"]
    description: str
    needs: Needs
    pick: Callable[[PickRequest], list[int]] = field(repr=False)
    score: Callable[[PoolView], _Array] | None = field(default=None, repr=False)

    def missing(self, pool: PoolView) -> str | None:
        """Describe the missing inputs for ``pool``, or ``None`` when all are present."""
        if not self.needs or any(all(getattr(pool, f) is not None for f in alt) for alt in self.needs):
            return None
        wanted = " or ".join(" + ".join(f"pool.{f}" for f in alt) for alt in self.needs)
        absent = sorted({f for alt in self.needs for f in alt if getattr(pool, f) is None})
        return f"strategy {self.name!r} needs {wanted}; missing: {', '.join(absent)}"


def _top(req: PickRequest, rows: NDArray[np.intp], k: int) -> NDArray[np.intp]:
    """``k`` of ``rows`` (given in id order) with the highest score; stable, so ties go by id."""
    assert req.scores is not None
    order = np.argsort(-req.scores[rows], kind="stable")
    return rows[order[:k]]


def _pick_random(req: PickRequest) -> list[int]:
    perm = np.random.default_rng(req.seed).permutation(req.candidates.size)
    return [int(i) for i in req.candidates[perm[: req.k]]]


def _pick_sequential(req: PickRequest) -> list[int]:
    return [int(i) for i in np.sort(req.candidates)[: req.k]]


def _pick_top(req: PickRequest) -> list[int]:
    return [int(i) for i in _top(req, req.candidates, req.k)]


def _kcenter_on(req: PickRequest, rows: NDArray[np.intp]) -> list[int]:
    emb = req.pool.embeddings
    assert emb is not None
    x = np.vstack([emb[rows], emb[req.labelled]])
    centers = range(rows.size, rows.size + req.labelled.size)
    return [int(rows[j]) for j in k_center_greedy(x, req.k, already_selected_idx=centers, seed=req.seed)]


def _pick_kcenter(req: PickRequest) -> list[int]:
    return _kcenter_on(req, req.candidates)


def _pick_prefilter_kcenter(req: PickRequest) -> list[int]:
    assert req.scores is not None
    m = min(req.candidates.size, PREFILTER_FACTOR * req.k)
    positions = np.argsort(-req.scores[req.candidates], kind="stable")[:m]
    return _kcenter_on(req, req.candidates[np.sort(positions)])  # back in id order for tie-breaks


def _pick_cluster(req: PickRequest) -> list[int]:
    assert req.scores is not None and req.pool.embeddings is not None
    rows = req.candidates
    picks = cluster_diverse_top(req.scores[rows], req.pool.embeddings[rows], req.k, seed=req.seed)
    return [int(rows[j]) for j in picks]


def _pick_badge(req: PickRequest) -> list[int]:
    pool = req.pool
    if pool.grad_embeddings is not None:
        g = pool.grad_embeddings[req.candidates]
    else:
        assert pool.proba is not None and pool.embeddings is not None
        g = badge_embeddings(pool.proba[req.candidates], pool.embeddings[req.candidates])
    return [int(req.candidates[j]) for j in badge(g, req.k, seed=req.seed)]


def _proba_score(fn: Callable[[ArrayLike], _Array]) -> Callable[[PoolView], _Array]:
    def score(pool: PoolView) -> _Array:
        assert pool.proba is not None
        return fn(pool.proba)

    return score


def _samples_score(fn: Callable[[ArrayLike], _Array]) -> Callable[[PoolView], _Array]:
    def score(pool: PoolView) -> _Array:
        assert pool.proba_samples is not None
        return fn(pool.proba_samples)

    return score


def _given_scores(pool: PoolView) -> _Array:
    assert pool.scores is not None
    return pool.scores


def _registry() -> dict[str, Strategy]:
    proba, scores, emb = ("proba",), ("scores",), ("embeddings",)
    samples = ("proba_samples",)
    strategies = [
        Strategy("random", "baseline", "seeded uniform random sample of the unlabelled pool", (), _pick_random),
        Strategy("sequential", "baseline", "the first unlabelled items in pool (file) order", (), _pick_sequential),
        Strategy("uncertainty", "uncertainty", "highest precomputed uncertainty (pool.scores)", (scores,), _pick_top, _given_scores),
        Strategy("least_confidence", "uncertainty", "highest 1 - max p", (proba,), _pick_top, _proba_score(least_confidence)),
        Strategy("margin", "uncertainty", "smallest gap between the two best classes", (proba,), _pick_top, _proba_score(margin)),
        Strategy("entropy", "uncertainty", "highest normalised predictive entropy", (proba,), _pick_top, _proba_score(entropy)),
        Strategy("bald", "uncertainty", "highest BALD mutual information", (samples,), _pick_top, _samples_score(bald)),
        Strategy("vote_entropy", "uncertainty", "highest committee vote entropy", (samples,), _pick_top, _samples_score(vote_entropy)),
        Strategy("kcenter", "diversity", "core-set greedy k-center; labelled items are centers", (emb,), _pick_kcenter),
        Strategy(
            "entropy_kcenter", "hybrid", f"k-center among the {PREFILTER_FACTOR}k highest-entropy items",
            (proba + emb,), _pick_prefilter_kcenter, _proba_score(entropy),
        ),
        Strategy(
            "uncertainty_kcenter", "hybrid", f"k-center among the {PREFILTER_FACTOR}k most uncertain items (pool.scores)",
            (scores + emb,), _pick_prefilter_kcenter, _given_scores,
        ),
        Strategy(
            "entropy_cluster", "hybrid", "highest-entropy item of each of k k-means clusters",
            (proba + emb,), _pick_cluster, _proba_score(entropy),
        ),
        Strategy(
            "uncertainty_cluster", "hybrid", "most uncertain item (pool.scores) of each of k k-means clusters",
            (scores + emb,), _pick_cluster, _given_scores,
        ),
        Strategy(
            "badge", "hybrid", "BADGE: k-means++ seeding on last-layer gradient embeddings",
            (("grad_embeddings",), proba + emb), _pick_badge,
        ),
    ]
    return {s.name: s for s in strategies}


#: Every strategy by name (read-only).
STRATEGIES: Mapping[str, Strategy] = MappingProxyType(_registry())


def get_strategy(name: str) -> Strategy:
    """Look a strategy up by name.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known ones.
    """
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}") from None


def select(
    strategy_name: str,
    pool: PoolView,
    k: int,
    seed: int = 0,
    labelled_ids: Iterable[str] = (),
    *,
    rare_boost: float | None = None,
    cost_exponent: float | None = None,
) -> list[str]:
    """Choose up to ``k`` unlabelled ids from ``pool`` with a named strategy.

    Parameters
    ----------
    strategy_name : str
        A key of :data:`STRATEGIES`.
    pool : PoolView
        Ids and model outputs.
    k : int
        Budget, ``>= 1``. When fewer unlabelled items remain, all of them come back.
    seed : int
        Non-negative seed for every random choice (``random``, k-center start, BADGE draws,
        k-means); the same seed and inputs give the same ids.
    labelled_ids : iterable of str
        Ids that already have a human label; never returned. Ids not in the pool are ignored.
    rare_boost : float, optional
        Strength ``s > 0`` of the rare-class boost multiplied into the uncertainty score
        (needs ``pool.proba`` and ``pool.class_counts``); ``None`` or 0 for none.
    cost_exponent : float, optional
        Divide the (boosted) score by ``pool.costs ** cost_exponent``; ``None`` for none.

    Returns
    -------
    list of str
        Distinct unlabelled ids, best first; ``min(k, unlabelled)`` of them.

    Raises
    ------
    EmptyPoolError
        When ``pool`` has no ids.
    ExhaustedPoolError
        When every id of ``pool`` is in ``labelled_ids``.
    ValueError
        For an unknown strategy, ``k < 1``, a bad seed, an input the strategy or an option
        needs but ``pool`` lacks (the field is named), or an option given to a strategy
        without an uncertainty score.
    """
    strategy = get_strategy(strategy_name)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"budget k must be an int >= 1, got {k!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")
    if isinstance(labelled_ids, str):
        raise TypeError("labelled_ids must be an iterable of ids, not one string")
    if len(pool) == 0:
        raise EmptyPoolError("the pool is empty: no task was ingested or predicted")
    problem = strategy.missing(pool)
    if problem:
        raise ValueError(problem)
    boost = rare_boost is not None and rare_boost != 0
    if (boost or cost_exponent is not None) and strategy.score is None:
        scored = ", ".join(s.name for s in STRATEGIES.values() if s.score is not None)
        raise ValueError(
            f"strategy {strategy.name!r} has no uncertainty score to boost or cost-adjust; options apply to: {scored}"
        )
    if boost:
        for name in ("proba", "class_counts"):
            if getattr(pool, name) is None:
                raise ValueError(f"rare_boost needs pool.{name}, which is missing")
    if cost_exponent is not None and pool.costs is None:
        raise ValueError("cost_exponent needs pool.costs, which is missing")

    labelled = set(labelled_ids)
    by_id = np.array(sorted(range(len(pool)), key=pool.ids.__getitem__), dtype=np.intp)
    is_labelled = np.array([pool.ids[i] in labelled for i in by_id], dtype=bool)
    candidates, labelled_rows = by_id[~is_labelled], by_id[is_labelled]
    if candidates.size == 0:
        raise ExhaustedPoolError(f"all {len(pool)} items of the pool are labelled")

    scores = None
    if strategy.score is not None:
        scores = np.asarray(strategy.score(pool), dtype=np.float64)
        if boost:
            assert pool.proba is not None and pool.class_counts is not None and rare_boost is not None
            scores = scores * rare_class_boost(pool.proba, pool.class_counts, rare_boost)
        if cost_exponent is not None:
            assert pool.costs is not None
            scores = cost_adjusted(scores, pool.costs, cost_exponent)
    req = PickRequest(pool, candidates, labelled_rows, int(k), int(seed), scores)
    rows = strategy.pick(req)
    chosen = [pool.ids[i] for i in rows]
    if len(set(chosen)) != len(chosen) or labelled.intersection(chosen) or len(chosen) != min(k, candidates.size):
        raise RuntimeError(f"strategy {strategy.name!r} broke the selection contract: {chosen}")
    return chosen

