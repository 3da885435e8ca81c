"""Binary masks <-> COCO-style uncompressed run-length counts (column-major), as stored in
:class:`cliniloop.services.core.schemas.Mask` and written to COCO JSON.

Counts alternate background/foreground runs starting with background, over the mask read in
column-major (Fortran) order, exactly as ``pycocotools`` writes uncompressed RLE.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def mask_to_counts(mask: NDArray[np.bool_]) -> list[int]:
    """Run-length counts of a 2-D boolean mask (column-major, first run is background)."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return []
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    return ([0] + runs) if flat[0] else runs


def counts_to_mask(counts: list[int], height: int, width: int) -> NDArray[np.bool_]:
    """Boolean ``(height, width)`` mask from run-length counts.

    Raises
    ------
    ValueError
        If the counts do not add up to ``height * width``.
    """
    total = int(sum(counts))
    if total != height * width:
        raise ValueError(f"mask counts add up to {total} pixels, not {height} x {width} = {height * width}")
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, counts)
    return flat.reshape((height, width), order="F")


def mask_bbox(mask: NDArray[np.bool_]) -> tuple[float, float, float, float] | None:
    """``(x0, y0, x1, y1)`` pixel-edge box around a mask's pixels, or ``None`` when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)
