"""Patient adaptation: a nearest-neighbour layer over one recording's corrected beats.

A cardiologist's corrections of a few beats of a recording say how *this* patient's ectopic and
normal beats look and time. :class:`PatientAdapter` keeps those beats (their embedding from
:meth:`cliniloop.models.ecg.boosted.BoostedBeatClassifier.embedding` and their class) and mixes, for every
beat of the same recording, the base model's probabilities with the class distribution of its
nearest corrected beats::

    d_i      = distance to the nearest corrected beat (embedding units: training standard deviations)
    q_i      = distance-weighted class shares of the n_neighbors nearest corrected beats,
               weights exp(-(d / bandwidth)^2)
    lambda_i = exp(-(d_i / bandwidth)^2) * m / (m + prior_beats)      (m = corrected beats)
    p'_i     = (1 - lambda_i) * p_i + lambda_i * q_i

So a beat close to a corrected beat takes that beat's class, a beat unlike any corrected beat
keeps the base model's probabilities, and the trust grows with the number of corrections. Rows
still sum to 1.

Sampling bias (``balance=True``): the corrected beats are *chosen* (uncertain and rare-class
beats first), so their class shares are not the recording's. Each neighbour's weight is then
multiplied by ``pi_c / f_c`` (importance weighting, cf. Saerens et al. 2002), with ``f_c`` the
share of class ``c`` among the corrected beats and ``pi_c`` the recording's class share estimated
as the mean base-model probability of its beats (both floored at 1 %). Without it, a handful of
corrected S beats spread their class over the many normal beats that look alike. A corrected beat itself (distance 0) gets ``lambda = m / (m + prior_beats)``.
The adapter is per recording: other recordings keep using the base model unchanged.

Pure numpy/scipy (``scipy.spatial.cKDTree``); nothing is computed at import time.
"""

from __future__ import annotations

import numpy as np

from cliniloop.taxonomies.ecg import AAMI_CLASSES


class PatientAdapter:
    """Nearest-neighbour correction layer for one recording (module docstring).

    Parameters
    ----------
    n_neighbors : int
        Corrected beats consulted per beat.
    bandwidth : float
        Distance scale (embedding units) of the Gaussian weights. The defaults (8, balanced, 3
        neighbours) were chosen by the replay over record-grouped DS1 folds
        (``cliniloop simulate --task ecg-beats``): bandwidth 2 barely moved the predictions
        (the embedding has 53 dimensions), unbalanced wide bandwidths spread S over normal beats.
    prior_beats : float
        Corrections at which the layer's trust reaches one half.
    balance : bool
        Importance-weight the neighbours by recording prior / corrected share (module docstring).
    """

    def __init__(self, *, n_neighbors: int = 3, bandwidth: float = 8.0, prior_beats: float = 2.0, balance: bool = True) -> None:
        self.n_neighbors = n_neighbors
        self.bandwidth = bandwidth
        self.prior_beats = prior_beats
        self.balance = balance
        self.embedding_: np.ndarray | None = None
        self.labels_: np.ndarray | None = None
        self.tree_ = None

    def fit(self, embedding: np.ndarray, labels: np.ndarray) -> PatientAdapter:
        """Keep the corrected beats.

        Parameters
        ----------
        embedding : np.ndarray
            ``(m, d)`` embedding of the corrected beats.
        labels : np.ndarray
            ``(m,)`` AAMI class letters (or class indices) of the corrected beats.

        Returns
        -------
        PatientAdapter
            ``self``.
        """
        from scipy.spatial import cKDTree

        emb = np.asarray(embedding, dtype=np.float64)
        labels = np.asarray(labels)
        if emb.ndim != 2 or len(emb) != len(labels):
            raise ValueError(f"embedding must be (m, d) with one label per row, got {emb.shape} and {labels.shape}")
        if labels.dtype.kind in "iu":
            idx = labels.astype(np.int64)
        else:
            lookup = {c: i for i, c in enumerate(AAMI_CLASSES)}
            bad = [str(c) for c in labels if c not in lookup]
            if bad:
                raise ValueError(f"label {bad[0]!r} is not one of {AAMI_CLASSES}")
            idx = np.array([lookup[c] for c in labels], dtype=np.int64)
        self.embedding_, self.labels_ = emb, idx
        self.tree_ = cKDTree(emb) if len(emb) else None
        return self

    def adjust(self, embedding: np.ndarray, proba: np.ndarray) -> np.ndarray:
        """Adapted probabilities ``(n, 5)`` of beats of the same recording.

        Parameters
        ----------
        embedding : np.ndarray
            ``(n, d)`` embedding of the beats to predict.
        proba : np.ndarray
            ``(n, 5)`` base-model probabilities (or ``(T, n, 5)`` samples, each adjusted).
        """
        if self.labels_ is None:
            raise RuntimeError("PatientAdapter is not fitted: call fit()")
        proba = np.asarray(proba, dtype=np.float64)
        if proba.ndim == 3:
            return np.stack([self.adjust(embedding, p) for p in proba])
        m = len(self.labels_)
        if m == 0 or len(proba) == 0:
            return proba.copy()
        k = min(self.n_neighbors, m)
        dist, idx = self.tree_.query(np.asarray(embedding, dtype=np.float64), k=k)
        if k == 1:
            dist, idx = dist[:, None], idx[:, None]
        w = np.exp(-((dist / self.bandwidth) ** 2))
        vote = w
        if self.balance:
            share = np.maximum(np.bincount(self.labels_, minlength=proba.shape[1]) / m, 0.01)
            prior = np.maximum(proba.mean(axis=0), 0.01)
            vote = w * (prior / share)[self.labels_[idx]]
        q = np.zeros_like(proba)
        np.add.at(q, (np.repeat(np.arange(len(proba)), k), self.labels_[idx].ravel()), vote.ravel())
        total = q.sum(axis=1, keepdims=True)
        q = np.divide(q, total, out=proba.copy(), where=total > 1e-12)
        lam = (w[:, 0] * m / (m + self.prior_beats))[:, None]
        return (1.0 - lam) * proba + lam * q
