"""Selection: choose which items humans label next from their uncertainty scores."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike


class EmptyPoolError(ValueError):
    """Raised when there is nothing left to select from."""


class ExhaustedPoolError(EmptyPoolError):
    """Raised when a pool has items but every one of them is already labelled.

    A subclass of :class:`EmptyPoolError`, so callers that only care that nothing is
    selectable can keep catching that; callers that want to tell "nothing ingested" from
    "everything labelled" (the end of the active-learning loop) can catch this first.
    """


def top_k(ids: Sequence[str], scores: ArrayLike, k: int) -> list[str]:
    """Return the ``k`` ids with the highest scores (ties broken by id, so runs repeat exactly).

    Parameters
    ----------
    ids : sequence of str, length n
        Item ids.
    scores : array_like, shape (n,)
        One score per id; higher is selected first.
    k : int
        Budget; fewer ids come back when ``n < k``.

    Returns
    -------
    list of str
        Up to ``k`` ids, highest score first.

    Raises
    ------
    EmptyPoolError
        If ``ids`` is empty.
    ValueError
        If ``k < 1`` or ``ids`` and ``scores`` differ in length.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(ids) != s.size:
        raise ValueError(f"{len(ids)} ids but {s.size} scores")
    if k < 1:
        raise ValueError(f"budget k must be >= 1, got {k}")
    if not ids:
        raise EmptyPoolError("the pool is empty: every task is labelled or none was ingested")
    order = sorted(range(len(ids)), key=lambda i: (-s[i], ids[i]))
    return [ids[i] for i in order[:k]]
