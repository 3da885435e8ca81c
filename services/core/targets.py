"""Ground-truth regions of one image: what image sources read and image models train on.

A plain data type shared by ``connectors`` (the Pascal VOC and instance-mask readers build it)
and ``models`` (the proposers, detector and metrics consume it); it lives in ``cliniloop.services.core``,
the layer both may import, so connectors need not import models. Coordinates follow
:mod:`cliniloop.models.image.regions`: a box ``(x0, y0, x1, y1)`` covers columns ``x0 <= x < x1`` and rows
``y0 <= y < y1``, in pixels of the original image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class BoxTarget:
    """Ground-truth (or corrected) regions of one image for training and evaluation.

    Attributes
    ----------
    boxes : ndarray, shape (N, 4)
        ``x0, y0, x1, y1`` in pixels (float).
    labels : list of str
        Class of each box.
    difficult : ndarray of bool, shape (N,), optional
        Pascal VOC ``difficult`` flags (ignored by AP, neither TP nor FN).
    instance_labels : ndarray of int32, shape (H, W), optional
        Instance label image (0 = background, ``k`` = region ``k - 1``) when masks are known.
    """

    boxes: NDArray[np.float64]
    labels: list[str]
    difficult: NDArray[np.bool_] | None = None
    instance_labels: NDArray[np.int32] | None = None
