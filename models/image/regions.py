"""What every image proposer returns: regions on one image, in pixels of the original image.

Coordinates are pixel edges: a box ``(x0, y0, x1, y1)`` covers columns ``x0 <= x < x1`` and
rows ``y0 <= y < y1`` (a Pascal VOC box ``xmin..xmax`` (1-based, inclusive) is
``x0 = xmin - 1, x1 = xmax``). Images given to proposers are ``uint8`` arrays, ``(H, W)`` grey or
``(H, W, 3)`` RGB: the 8-bit rendering of :mod:`cliniloop.connectors.sources.image`, whose geometry equals
the original's. Ground truth (what sources read, what proposers train on) is
:class:`cliniloop.services.core.targets.BoxTarget`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Detections:
    """Proposed regions of one image.

    Attributes
    ----------
    boxes : ndarray, shape (N, 4)
        ``x0, y0, x1, y1`` in pixels of the original image, sorted by descending score.
    scores : ndarray, shape (N,)
        Confidence that the region is a true finding of its class, in [0, 1].
    labels : list of str
        Class of each region (cold-start proposers use one class-agnostic label).
    class_probs : ndarray, shape (N, C), optional
        Per-region class distribution over ``classes`` (rows sum to 1).
    classes : tuple of str
        Column names of ``class_probs``.
    instance_labels : ndarray of int32, shape (H, W), optional
        Masks, as an instance label image: region ``k`` is ``instance_labels == k + 1``.
    """

    boxes: NDArray[np.float64]
    scores: NDArray[np.float64]
    labels: list[str]
    class_probs: NDArray[np.float64] | None = None
    classes: tuple[str, ...] = field(default_factory=tuple)
    instance_labels: NDArray[np.int32] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def empty(cls, classes: tuple[str, ...] = ()) -> "Detections":
        """No regions."""
        return cls(np.zeros((0, 4)), np.zeros(0), [], classes=classes)
