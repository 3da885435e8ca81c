"""Cost-aware selection: prefer items that are uncertain *per second of annotator time*.

* :func:`expected_cost_from_length`: a fixed prior, ``base_s + seconds_per_unit * length``.
* :func:`fit_cost_model`: learn that line (or one over several features) from the
  ``lead_time`` Label Studio records for past annotations (seconds), by non-negative least
  squares, so a longer item can never be predicted to be cheaper.
* :func:`cost_adjusted`: ``score / cost ** exponent``. ``exponent = 0`` ignores cost,
  ``1`` ranks by uncertainty per second (return on investment), values in between trade off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


#: Prior reading cost of a text task before any lead time is known, seconds per character (about 20 chars/s).
TEXT_SECONDS_PER_CHAR = 0.05


def expected_cost_from_length(
    n_units: ArrayLike,
    seconds_per_unit: float,
    base_s: float = 0.0,
) -> NDArray[np.float64]:
    """Prior annotation cost from item length.

    Parameters
    ----------
    n_units : array_like, shape (n,)
        Length of each item in characters, tokens, beats or epochs (``>= 0``).
    seconds_per_unit : float
        Reading/labelling time per unit, in seconds (``>= 0``).
    base_s : float
        Fixed overhead per item in seconds (opening the task, submitting), ``>= 0``.

    Returns
    -------
    ndarray, shape (n,)
        Expected seconds per item.
    """
    u = np.asarray(n_units, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(u)) or np.any(u < 0):
        raise ValueError("n_units must be finite and >= 0")
    if not (np.isfinite(seconds_per_unit) and seconds_per_unit >= 0):
        raise ValueError(f"seconds_per_unit must be finite and >= 0, got {seconds_per_unit}")
    if not (np.isfinite(base_s) and base_s >= 0):
        raise ValueError(f"base_s must be finite and >= 0, got {base_s}")
    return base_s + seconds_per_unit * u


@dataclass(frozen=True)
class CostModel:
    """Linear annotation-time model ``max(floor_s, intercept_s + features @ coef)``.

    Attributes
    ----------
    intercept_s : float
        Fixed seconds per item, ``>= 0``.
    coef : tuple of float
        Seconds per unit of each feature, each ``>= 0``.
    floor_s : float
        Smallest prediction, so costs stay ``> 0`` for :func:`cost_adjusted`.
    n_samples : int
        Annotations the model was fitted on (after dropping missing lead times).
    """

    intercept_s: float
    coef: tuple[float, ...]
    floor_s: float
    n_samples: int

    def predict(self, features: ArrayLike) -> NDArray[np.float64]:
        """Expected seconds per item.

        Parameters
        ----------
        features : array_like, shape (n, f) or (n,) when ``f = 1``
            Same features, in the same order, as used for fitting.

        Returns
        -------
        ndarray, shape (n,)
            Predicted seconds, each ``>= floor_s``.
        """
        x = _as_features(features, len(self.coef))
        return np.maximum(self.floor_s, self.intercept_s + x @ np.asarray(self.coef, dtype=np.float64))


def _as_features(features: ArrayLike, n_features: int | None = None) -> NDArray[np.float64]:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    if x.ndim != 2:
        raise ValueError(f"features must have shape (n, f) or (n,), got {x.shape}")
    if n_features is not None and x.shape[1] != n_features:
        raise ValueError(f"features have {x.shape[1]} columns, the model was fitted on {n_features}")
    if not np.all(np.isfinite(x)):
        raise ValueError("features must be finite")
    return x


def fit_cost_model(
    features: ArrayLike,
    lead_times_s: Sequence[float | None] | ArrayLike,
    floor_s: float = 1.0,
) -> CostModel:
    """Fit annotation time from past annotations by non-negative least squares.

    Solves ``min ||[1, X] b - t||^2`` subject to ``b >= 0`` (``scipy.optimize.nnls``), so
    both the per-item overhead and every per-unit rate are non-negative.

    Parameters
    ----------
    features : array_like, shape (n, f) or (n,)
        Per-annotation features, e.g. characters or tokens of the task text.
    lead_times_s : sequence of float or None, length n
        Label Studio ``lead_time`` of each annotation in seconds. ``None`` or NaN (not
        recorded) rows are dropped; negative or infinite values are an error. Lead times
        inflated by idle tabs are taken as given; clip them first if that matters.
    floor_s : float
        Lower bound on predictions (seconds, ``> 0``).

    Returns
    -------
    CostModel
        With ``predict(features) -> seconds``.

    Raises
    ------
    ValueError
        On length mismatch, a bad lead time (its index is named), ``floor_s <= 0``, or when
        no annotation with a lead time remains.
    """
    x = _as_features(features)
    t = np.array([np.nan if v is None else float(v) for v in np.asarray(lead_times_s, dtype=object).reshape(-1)])
    if t.size != x.shape[0]:
        raise ValueError(f"{x.shape[0]} feature rows but {t.size} lead times")
    if not floor_s > 0:
        raise ValueError(f"floor_s must be > 0, got {floor_s}")
    bad = np.flatnonzero(np.isinf(t) | (t < 0))
    if bad.size:
        raise ValueError(f"lead_times_s[{bad[0]}] = {t[bad[0]]} is not a non-negative number of seconds")
    keep = ~np.isnan(t)
    if not keep.any():
        raise ValueError("no annotation has a lead time to fit on")
    from scipy.optimize import nnls

    design = np.column_stack([np.ones(int(keep.sum())), x[keep]])
    b, _ = nnls(design, t[keep])
    return CostModel(
        intercept_s=float(b[0]),
        coef=tuple(float(v) for v in b[1:]),
        floor_s=float(floor_s),
        n_samples=int(keep.sum()),
    )


def cost_adjusted(scores: ArrayLike, costs: ArrayLike, exponent: float = 1.0) -> NDArray[np.float64]:
    """Uncertainty per unit cost: ``score / cost ** exponent``.

    Parameters
    ----------
    scores : array_like, shape (n,)
        Uncertainty scores, ``>= 0`` (dividing a negative score by a cost would invert it).
    costs : array_like, shape (n,)
        Expected annotation cost per item, e.g. seconds; each must be finite and ``> 0``.
    exponent : float
        ``>= 0``; 0 leaves scores unchanged, 1 gives uncertainty per second.

    Returns
    -------
    ndarray, shape (n,)
        Adjusted scores, in score units per cost unit ** exponent.

    Raises
    ------
    ValueError
        Naming the first index whose cost is not finite and positive, or whose score is
        negative or not finite; or for a negative exponent or length mismatch.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    c = np.asarray(costs, dtype=np.float64).reshape(-1)
    if s.size != c.size:
        raise ValueError(f"{s.size} scores but {c.size} costs")
    if not (np.isfinite(exponent) and exponent >= 0):
        raise ValueError(f"exponent must be finite and >= 0, got {exponent}")
    bad = np.flatnonzero(~np.isfinite(c) | (c <= 0))
    if bad.size:
        raise ValueError(f"costs[{bad[0]}] = {c[bad[0]]} must be finite and > 0")
    bad = np.flatnonzero(~np.isfinite(s) | (s < 0))
    if bad.size:
        raise ValueError(f"scores[{bad[0]}] = {s[bad[0]]} must be finite and >= 0")
    return s / c**exponent
