"""Cheap text embeddings for batch diversity: TF-IDF reduced by truncated SVD (no model download)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


def tfidf_embeddings(
    texts: Sequence[str], dims: int = 64, seed: int = 0, min_df: int = 1, normalise: bool = False
) -> NDArray[np.float64]:
    """Dense vectors for ``texts``: sublinear TF-IDF, reduced to at most ``dims`` dimensions.

    Parameters
    ----------
    texts : sequence of str
        The texts (notes, sentences).
    dims : int
        Target dimensions; fewer when there are few texts or words (at most ``n - 1`` and
        ``vocabulary - 1``). Below 2 the TF-IDF matrix itself is returned.
    seed : int
        Random state of the SVD.
    min_df : int
        Words in fewer texts are ignored.
    normalise : bool
        Scale every row to unit length (cosine geometry for k-center).

    Returns
    -------
    ndarray, shape (n, d)
    """
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    x = TfidfVectorizer(min_df=min_df, sublinear_tf=True).fit_transform(texts)
    d = min(dims, x.shape[0] - 1, x.shape[1] - 1)
    z = np.asarray(x.todense()) if d < 2 else TruncatedSVD(n_components=d, random_state=seed).fit_transform(x)
    if normalise:
        norms = np.linalg.norm(z, axis=1, keepdims=True)
        z = z / np.where(norms > 0, norms, 1.0)
    return z
