"""Diversity: pick items that cover the pool instead of many near-duplicates of one hard case.

All functions work on row indices of an embedding matrix and return ``list[int]`` in pick
order. They are deterministic given ``seed``; ties go to the lowest row index, so callers
that sort their pool by id first (as :func:`cliniloop.models.sampling.strategies.select` does) get
ties broken by id.

* :func:`k_center_greedy`: core-set greedy (Sener & Savarese 2018), Euclidean.
* :func:`badge_embeddings` and :func:`badge`: BADGE (Ash et al. 2020), k-means++ seeding on
  last-layer gradient embeddings, which mixes uncertainty (gradient norm) and diversity.
* :func:`cluster_diverse_top`: k-means clusters, then the most uncertain item of each.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _as_matrix(x: ArrayLike, name: str) -> NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    return a


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"budget k must be >= 1, got {k}")


def k_center_greedy(
    embeddings: ArrayLike,
    k: int,
    already_selected_idx: Iterable[int] | None = None,
    seed: int = 0,
) -> list[int]:
    """Core-set selection by greedy k-center (Sener & Savarese 2018).

    Repeatedly picks the point farthest (Euclidean) from its nearest center, where the
    centers are ``already_selected_idx`` (typically the labelled items) plus the points
    picked so far. This greedily minimises the largest distance from any point to a center.

    Parameters
    ----------
    embeddings : array_like, shape (n, d)
        Feature vectors of all points, labelled ones included.
    k : int
        How many new points to pick (``>= 1``); fewer come back when fewer are left.
    already_selected_idx : iterable of int, optional
        Rows that are centers already and are never returned.
    seed : int
        Only used when there are no centers yet: the first center is then drawn uniformly
        at random with ``numpy.random.default_rng(seed)``.

    Returns
    -------
    list of int
        Up to ``k`` distinct new row indices, in pick order.
    """
    x = _as_matrix(embeddings, "embeddings")
    _check_k(k)
    n = x.shape[0]
    chosen = np.zeros(n, dtype=bool)
    for i in already_selected_idx or ():
        if not 0 <= int(i) < n:
            raise ValueError(f"already_selected_idx holds {i}, outside 0..{n - 1}")
        chosen[int(i)] = True
    budget = min(k, int((~chosen).sum()))
    if budget == 0:
        return []
    min_dist = np.full(n, np.inf)
    for c in np.flatnonzero(chosen):
        min_dist = np.minimum(min_dist, np.linalg.norm(x - x[c], axis=1))
    picks: list[int] = []
    if not chosen.any():
        first = int(np.random.default_rng(seed).integers(n))
        picks.append(first)
        chosen[first] = True
        min_dist = np.linalg.norm(x - x[first], axis=1)
    while len(picks) < budget:
        nxt = int(np.argmax(np.where(chosen, -np.inf, min_dist)))
        picks.append(nxt)
        chosen[nxt] = True
        min_dist = np.minimum(min_dist, np.linalg.norm(x - x[nxt], axis=1))
    return picks


def badge_embeddings(proba: ArrayLike, penultimate: ArrayLike) -> NDArray[np.float64]:
    """Last-layer gradient embeddings for BADGE (Ash et al. 2020).

    For a softmax classifier with last layer ``W`` (``k x d``) and the model's own
    prediction ``y_hat = argmax p`` as pseudo-label, the cross-entropy gradient w.r.t. ``W``
    is ``(p - onehot(y_hat)) ⊗ h``. Its norm is large when the model is unsure (``p`` far
    from one-hot) and its direction encodes both the features and the predicted class.

    Parameters
    ----------
    proba : array_like, shape (n, k)
        Softmax outputs; rows sum to 1. Argmax ties go to the lowest class index.
    penultimate : array_like, shape (n, d)
        Penultimate-layer activations ``h`` (the input of the last linear layer).

    Returns
    -------
    ndarray, shape (n, k * d)
        Row ``i`` is the flattened outer product; entry ``c * d + j`` is
        ``(p_ic - [c == y_hat_i]) * h_ij``.
    """
    p = _as_matrix(proba, "proba")
    h = _as_matrix(penultimate, "penultimate")
    if p.shape[0] != h.shape[0]:
        raise ValueError(f"proba has {p.shape[0]} rows but penultimate has {h.shape[0]}")
    residual = p.copy()
    residual[np.arange(p.shape[0]), p.argmax(axis=1)] -= 1.0
    return np.einsum("nk,nd->nkd", residual, h).reshape(p.shape[0], -1)


def badge(grad_embeddings: ArrayLike, k: int, seed: int = 0) -> list[int]:
    """BADGE selection: k-means++ seeding on gradient embeddings (Ash et al. 2020).

    The first pick is the row with the largest norm (the most uncertain, as in the reference
    implementation); each further pick is drawn with probability proportional to its squared
    distance ``D^2`` to the nearest pick so far. Points identical to a pick have ``D^2 = 0``
    and are never drawn; if only such points remain they are taken in index order.

    Parameters
    ----------
    grad_embeddings : array_like, shape (n, D)
        Gradient embeddings, e.g. from :func:`badge_embeddings` (``D = k * d``).
    k : int
        How many points to pick (``>= 1``); all ``n`` come back when ``n <= k``.
    seed : int
        Seed for ``numpy.random.default_rng`` driving the ``D^2`` draws.

    Returns
    -------
    list of int
        Up to ``k`` distinct row indices, in pick order.
    """
    g = _as_matrix(grad_embeddings, "grad_embeddings")
    _check_k(k)
    n = g.shape[0]
    if n == 0:
        return []
    rng = np.random.default_rng(seed)
    first = int(np.argmax(np.linalg.norm(g, axis=1)))
    picks = [first]
    chosen = np.zeros(n, dtype=bool)
    chosen[first] = True
    d2 = np.sum((g - g[first]) ** 2, axis=1)
    while len(picks) < min(k, n):
        weights = np.where(chosen, 0.0, d2)
        total = weights.sum()
        if total > 0:
            nxt = int(rng.choice(n, p=weights / total))
        else:
            nxt = int(np.flatnonzero(~chosen)[0])
        picks.append(nxt)
        chosen[nxt] = True
        d2 = np.minimum(d2, np.sum((g - g[nxt]) ** 2, axis=1))
    return picks


def cluster_diverse_top(
    scores: ArrayLike,
    embeddings: ArrayLike,
    k: int,
    n_clusters: int | None = None,
    seed: int = 0,
) -> list[int]:
    """Most uncertain item per k-means cluster.

    Clusters the embeddings with scikit-learn ``KMeans(n_clusters, n_init=10,
    random_state=seed)``, takes the highest-scoring item of each cluster, and returns those
    representatives by descending score. When that yields fewer than ``k`` items (fewer
    clusters than ``k``, or clusters that collapse on duplicate points) the rest of the
    budget goes to the highest-scoring remaining items.

    Parameters
    ----------
    scores : array_like, shape (n,)
        Uncertainty per item; higher is picked first.
    embeddings : array_like, shape (n, d)
        Feature vectors clustered with Euclidean k-means.
    k : int
        Budget (``>= 1``); all ``n`` come back, by score, when ``n <= k``.
    n_clusters : int, optional
        Defaults to ``k``; capped at ``n``.
    seed : int
        ``random_state`` of ``KMeans``.

    Returns
    -------
    list of int
        Up to ``k`` distinct row indices, by descending score (ties: lowest index).
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    x = _as_matrix(embeddings, "embeddings")
    _check_k(k)
    n = x.shape[0]
    if s.size != n:
        raise ValueError(f"{s.size} scores but {n} embeddings")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    by_score = sorted(range(n), key=lambda i: (-s[i], i))
    if n <= k:
        return by_score
    if n_clusters is not None and n_clusters < 1:
        raise ValueError(f"n_clusters must be >= 1, got {n_clusters}")
    c = min(k if n_clusters is None else n_clusters, n)
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct points than clusters
        labels = KMeans(n_clusters=c, n_init=10, random_state=seed).fit_predict(x)
    reps: list[int] = []
    seen: set[int] = set()
    for i in by_score:
        if labels[i] not in seen:
            seen.add(int(labels[i]))
            reps.append(i)
    picks = reps[:k]
    if len(picks) < k:
        taken = set(picks)
        picks += [i for i in by_score if i not in taken][: k - len(picks)]
    return sorted(picks, key=lambda i: (-s[i], i))
