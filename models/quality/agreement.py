"""Inter-annotator agreement: two annotators' regions of one task, and kappa across items.

Regions are the stored JSON dicts of :mod:`cliniloop.services.core.schemas` (``kind`` one of ``span``,
``instant``, ``range``, ``rect``, ``mask``). Only regions of the same kind are ever compared:
a rectangle is never matched with a mask (no rasterising across kinds).

Matching criteria
-----------------
``mode`` selects the criterion; the kind decides the geometry. A pair is *allowed* when:

=========  ===============================  ==================================================
kind       ``"exact"`` / ``"overlap"``      ``Match.quality``
=========  ===============================  ==================================================
span       exact: same ``start``, ``end``;  1.0 (exact); overlap ratio ``|A ∩ B| / |A ∪ B|``
           overlap: ``[start, end)`` meet   of the character ranges (overlap)
instant    ``|t_a - t_b| <= tolerance_s``   ``1 - |dt| / tolerance_s``
range      temporal overlap ``> 0``         temporal IoU
rect       box IoU ``>= min_iou``           IoU (pixel-edge boxes, ``x .. x + width``)
mask       mask IoU ``>= min_iou``          IoU of the decoded masks
=========  ===============================  ==================================================

and, in both modes, the two regions carry the same ``label``. For instants, ranges, rectangles
and masks ``"exact"`` and ``"overlap"`` are the same criterion. Mode ``"position"`` drops the
label condition and keeps the geometry (overlap for spans); it is meant for ECG beats, whose
positions are compared whatever their class (:func:`beat_class_pairs`). Beats within
``tolerance_s`` get a slack of 1e-9 s so that a difference of exactly the tolerance matches
despite floating-point error. Two ranges with identical ``start_s`` and ``end_s`` (also
zero-length ones) match with IoU 1; otherwise a zero-length range never overlaps anything.

One-to-one assignment
---------------------
Among the allowed pairs, matching is one-to-one and of maximum cardinality (the most pairs
possible, so F1 is as high as the criterion allows); among such assignments the Hungarian
algorithm (:func:`scipy.optimize.linear_sum_assignment`) picks the one with the largest total
weight. The weight is ``Match.quality``, except for overlapping spans, whose weight is the
overlap length in characters (Hungarian on overlap length, not greedy).

Kappa
-----
:func:`cohen_kappa` (scikit-learn) and :func:`fleiss_kappa` (statsmodels) are undefined (0/0,
NaN) when every rating is one and the same category; agreement is then perfect and both return
1.0. Both return ``None`` when there is no item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

MODES = ("exact", "overlap", "position")
KINDS = ("span", "instant", "range", "rect", "mask")
IMAGE_KINDS = ("rect", "mask")

#: Slack added to ``tolerance_s`` when comparing beat times, in s.
_TIME_SLACK_S = 1e-9


@dataclass(frozen=True)
class Match:
    """One matched pair: annotator A's region ``a`` and annotator B's region ``b``.

    Attributes
    ----------
    a, b : int
        Indices into A's and B's region lists.
    label : str
        A's label (the same as B's except in mode ``"position"``).
    quality : float
        How well the pair agrees, in [0, 1] (see the module docstring).
    onset_diff_s : float or None
        ``|start_a - start_b|`` for ranges, ``|t_a - t_b|`` for instants, in s; else ``None``.
    """

    a: int
    b: int
    label: str
    quality: float
    onset_diff_s: float | None = None


@dataclass(frozen=True)
class LabelAgreement:
    """Agreement of two annotators on one label.

    Attributes
    ----------
    label : str
        The label.
    n_a, n_b : int
        Regions with this label of annotator A and of annotator B.
    matched : int
        Matches whose two regions both carry this label.
    f1 : float
        ``2 * matched / (n_a + n_b)``; 1.0 when ``n_a == n_b == 0``.
    mean_quality : float or None
        Mean ``Match.quality`` of the label's matches; ``None`` without matches.
    mean_dice : float or None
        Mean Dice ``2 IoU / (1 + IoU)`` of the label's image (rect, mask) matches; else ``None``.
    mean_onset_diff_s : float or None
        Mean ``Match.onset_diff_s`` of the label's range and instant matches, in s; else ``None``.
    """

    label: str
    n_a: int
    n_b: int
    matched: int
    f1: float
    mean_quality: float | None
    mean_dice: float | None
    mean_onset_diff_s: float | None


# ---------------------------------------------------------------------------------- helpers


def _kind(region: Mapping[str, Any], index: int, who: str) -> str:
    kind = region.get("kind")
    if kind not in KINDS:
        raise ValueError(f"region {index} of annotator {who} has unknown kind {kind!r} (expected one of {KINDS})")
    return str(kind)


def _attribute(region: Mapping[str, Any], attribute: str) -> str:
    """The region's attribute value as text; ``""`` when missing or ``None``."""
    value = (region.get("attributes") or {}).get(attribute)
    return "" if value is None else str(value)


def _check_params(mode: str, tolerance_s: float, min_iou: float) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (expected one of {MODES})")
    if not tolerance_s > 0:
        raise ValueError(f"tolerance_s must be > 0, got {tolerance_s}")
    if not 0 < min_iou <= 1:
        raise ValueError(f"min_iou must be in (0, 1], got {min_iou}")


def _assign(allowed: NDArray[np.bool_], weight: NDArray[np.float64]) -> list[tuple[int, int]]:
    """Maximum-cardinality one-to-one pairs of ``allowed``, ties broken by maximum total weight.

    ``weight`` must be >= 0 on the allowed pairs. Each allowed pair is worth ``k + w / max(w)``
    with ``k = min(n, m) + 1``, larger than any total of the normalised weights, so one more
    pair always beats any weight gain.
    """
    if allowed.size == 0 or not allowed.any():
        return []
    from scipy.optimize import linear_sum_assignment

    top = float(weight[allowed].max())
    norm = weight / top if top > 0 else np.zeros_like(weight)
    k = min(allowed.shape) + 1.0
    score = np.where(allowed, k + norm, 0.0)
    rows, cols = linear_sum_assignment(score, maximize=True)
    return sorted((int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c])


def _span_geometry(a: Sequence[Mapping], b: Sequence[Mapping], exact: bool):
    """``(allowed, quality, weight)`` of span pairs by geometry alone."""
    sa = np.array([[r["start"], r["end"]] for r in a], dtype=np.float64).reshape(-1, 2)
    sb = np.array([[r["start"], r["end"]] for r in b], dtype=np.float64).reshape(-1, 2)
    inter = np.clip(np.minimum(sa[:, None, 1], sb[None, :, 1]) - np.maximum(sa[:, None, 0], sb[None, :, 0]), 0, None)
    if exact:
        allowed = (sa[:, None, 0] == sb[None, :, 0]) & (sa[:, None, 1] == sb[None, :, 1])
        quality = allowed.astype(np.float64)
        return allowed, quality, quality
    union = (sa[:, None, 1] - sa[:, None, 0]) + (sb[None, :, 1] - sb[None, :, 0]) - inter
    quality = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return inter > 0, quality, inter


def _instant_geometry(a: Sequence[Mapping], b: Sequence[Mapping], tolerance_s: float):
    """``(allowed, quality, |dt| in s)`` of beat pairs."""
    ta = np.array([r["time_s"] for r in a], dtype=np.float64)
    tb = np.array([r["time_s"] for r in b], dtype=np.float64)
    dt_s = np.abs(ta[:, None] - tb[None, :])
    allowed = dt_s <= tolerance_s + _TIME_SLACK_S
    quality = np.clip(1.0 - dt_s / tolerance_s, 0.0, 1.0)
    return allowed, quality, dt_s


def _range_geometry(a: Sequence[Mapping], b: Sequence[Mapping]):
    """``(allowed, temporal IoU, |onset difference| in s)`` of range pairs."""
    ra = np.array([[r["start_s"], r["end_s"]] for r in a], dtype=np.float64).reshape(-1, 2)
    rb = np.array([[r["start_s"], r["end_s"]] for r in b], dtype=np.float64).reshape(-1, 2)
    inter = np.clip(np.minimum(ra[:, None, 1], rb[None, :, 1]) - np.maximum(ra[:, None, 0], rb[None, :, 0]), 0, None)
    union = (ra[:, None, 1] - ra[:, None, 0]) + (rb[None, :, 1] - rb[None, :, 0]) - inter
    identical = (ra[:, None, 0] == rb[None, :, 0]) & (ra[:, None, 1] == rb[None, :, 1])
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    iou = np.where(identical, 1.0, iou)
    onset_s = np.abs(ra[:, None, 0] - rb[None, :, 0])
    return (inter > 0) | identical, iou, onset_s


def _rect_iou(a: Sequence[Mapping], b: Sequence[Mapping]) -> NDArray[np.float64]:
    from cliniloop.models.image.metrics import box_iou

    def boxes(rs: Sequence[Mapping]) -> NDArray[np.float64]:
        return np.array(
            [[r["x"], r["y"], r["x"] + r["width"], r["y"] + r["height"]] for r in rs], dtype=np.float64
        ).reshape(-1, 4)

    return box_iou(boxes(a), boxes(b))


def _decoded_masks(regions: Sequence[Mapping]) -> tuple[NDArray[np.bool_], tuple[int, int] | None]:
    """``(n, H*W)`` flattened masks and their common ``(H, W)`` (``None`` without masks)."""
    from cliniloop.services.core.masks import counts_to_mask

    shapes = {(int(r["image_height"]), int(r["image_width"])) for r in regions}
    if len(shapes) > 1:
        raise ValueError(f"masks of one task have different image sizes (height, width): {sorted(shapes)}")
    if not shapes:
        return np.zeros((0, 0), dtype=bool), None
    (h, w) = shapes.pop()
    flat = np.stack([counts_to_mask(list(r["counts"]), h, w).ravel() for r in regions])
    return flat, (h, w)


def _mask_iou(a: Sequence[Mapping], b: Sequence[Mapping]) -> NDArray[np.float64]:
    ma, shape_a = _decoded_masks(a)
    mb, shape_b = _decoded_masks(b)
    if shape_a is None or shape_b is None:
        return np.zeros((len(a), len(b)))
    if shape_a != shape_b:
        raise ValueError(f"annotator A's masks are {shape_a} (height, width), annotator B's {shape_b}")
    fa, fb = ma.astype(np.float64), mb.astype(np.float64)
    inter = fa @ fb.T
    union = fa.sum(axis=1)[:, None] + fb.sum(axis=1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _match_kind(
    kind: str,
    a: Sequence[Mapping],
    b: Sequence[Mapping],
    mode: str,
    tolerance_s: float,
    min_iou: float,
    attribute: str | None,
) -> list[tuple[int, int, float, float | None]]:
    """``(i, j, quality, onset_diff_s)`` of matched pairs among regions of one kind."""
    onset_s = None
    if kind == "span":
        allowed, quality, weight = _span_geometry(a, b, exact=mode == "exact")
    elif kind == "instant":
        allowed, quality, onset_s = _instant_geometry(a, b, tolerance_s)
        weight = quality
    elif kind == "range":
        allowed, quality, onset_s = _range_geometry(a, b)
        weight = quality
    else:
        quality = _rect_iou(a, b) if kind == "rect" else _mask_iou(a, b)
        allowed, weight = quality >= min_iou, quality
    if mode != "position":
        la = np.array([str(r["label"]) for r in a], dtype=object)
        lb = np.array([str(r["label"]) for r in b], dtype=object)
        allowed = allowed & (la[:, None] == lb[None, :])
    if attribute is not None:
        va = np.array([_attribute(r, attribute) for r in a], dtype=object)
        vb = np.array([_attribute(r, attribute) for r in b], dtype=object)
        allowed = allowed & (va[:, None] == vb[None, :])
    return [
        (i, j, float(quality[i, j]), None if onset_s is None else float(onset_s[i, j]))
        for i, j in _assign(np.asarray(allowed, dtype=bool), np.asarray(weight, dtype=np.float64))
    ]


def _match(
    a: Sequence[Mapping],
    b: Sequence[Mapping],
    mode: str,
    tolerance_s: float,
    min_iou: float,
    attribute: str | None = None,
) -> list[Match]:
    """:func:`match_regions`, optionally also requiring equal values of ``attribute``."""
    _check_params(mode, tolerance_s, min_iou)
    kinds_a = [_kind(r, i, "A") for i, r in enumerate(a)]
    kinds_b = [_kind(r, j, "B") for j, r in enumerate(b)]
    matches: list[Match] = []
    for kind in KINDS:
        ia = [i for i, k in enumerate(kinds_a) if k == kind]
        ib = [j for j, k in enumerate(kinds_b) if k == kind]
        if not ia or not ib:
            continue
        pairs = _match_kind(kind, [a[i] for i in ia], [b[j] for j in ib], mode, tolerance_s, min_iou, attribute)
        matches += [Match(ia[i], ib[j], str(a[ia[i]]["label"]), q, d) for i, j, q, d in pairs]
    return sorted(matches, key=lambda m: (m.a, m.b))


def _f1(matched: int, n_a: int, n_b: int) -> float:
    return 1.0 if n_a + n_b == 0 else 2.0 * matched / (n_a + n_b)


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


# ---------------------------------------------------------------------------------- matching


def match_regions(
    a: Sequence[Mapping[str, Any]],
    b: Sequence[Mapping[str, Any]],
    mode: str = "exact",
    *,
    tolerance_s: float = 0.15,
    min_iou: float = 0.5,
) -> list[Match]:
    """One-to-one matches between annotator A's and annotator B's regions of one task.

    Parameters
    ----------
    a, b : sequence of mapping
        Stored region dicts of the two annotators (any mix of kinds).
    mode : {"exact", "overlap", "position"}
        Matching criterion (see the module docstring).
    tolerance_s : float
        Largest ``|t_a - t_b|`` at which two instants (beats) match, in s (> 0).
    min_iou : float
        Smallest IoU at which two rectangles or two masks match, in (0, 1].

    Returns
    -------
    list of Match
        Sorted by ``(a, b)``; only regions of the same kind are paired.

    Raises
    ------
    ValueError
        For an unknown mode or kind, ``tolerance_s <= 0``, ``min_iou`` outside (0, 1], or masks
        of different image sizes.
    """
    return _match(a, b, mode, tolerance_s, min_iou)


def label_agreement(
    a: Sequence[Mapping[str, Any]],
    b: Sequence[Mapping[str, Any]],
    mode: str = "exact",
    *,
    tolerance_s: float = 0.15,
    min_iou: float = 0.5,
) -> dict[str, LabelAgreement]:
    """Per-label agreement over the union of both annotators' labels (sorted by label).

    A match counts for a label only when both of its regions carry that label, so in mode
    ``"position"`` a beat matched across classes counts for neither (see
    :func:`beat_class_pairs` for the class confusion). Parameters as :func:`match_regions`.

    Returns
    -------
    dict of str to LabelAgreement
    """
    matches = _match(a, b, mode, tolerance_s, min_iou)
    labels_a = [str(r["label"]) for r in a]
    labels_b = [str(r["label"]) for r in b]
    result: dict[str, LabelAgreement] = {}
    for label in sorted(set(labels_a) | set(labels_b)):
        own = [m for m in matches if labels_a[m.a] == label and labels_b[m.b] == label]
        images = [m for m in own if a[m.a]["kind"] in IMAGE_KINDS]
        n_a, n_b = labels_a.count(label), labels_b.count(label)
        result[label] = LabelAgreement(
            label=label,
            n_a=n_a,
            n_b=n_b,
            matched=len(own),
            f1=_f1(len(own), n_a, n_b),
            mean_quality=_mean([m.quality for m in own]),
            mean_dice=_mean([2 * m.quality / (1 + m.quality) for m in images]),
            mean_onset_diff_s=_mean([m.onset_diff_s for m in own if m.onset_diff_s is not None]),
        )
    return result


def pair_f1(
    a: Sequence[Mapping[str, Any]],
    b: Sequence[Mapping[str, Any]],
    mode: str = "exact",
    *,
    tolerance_s: float = 0.15,
    min_iou: float = 0.5,
) -> float:
    """Micro F1 over all labels and kinds: ``2 * matches / (len(a) + len(b))``; 1.0 if both empty.

    Parameters as :func:`match_regions`.
    """
    return _f1(len(_match(a, b, mode, tolerance_s, min_iou)), len(a), len(b))


def attribute_pairs(
    a: Sequence[Mapping[str, Any]],
    b: Sequence[Mapping[str, Any]],
    attribute: str,
    mode: str = "exact",
    *,
    tolerance_s: float = 0.15,
    min_iou: float = 0.5,
) -> list[tuple[str, str]]:
    """``(A's value, B's value)`` of ``attribute`` for each matched pair (input to kappa).

    A missing attribute (or ``None``) reads as ``""``; values are converted to text. Pairs are
    in the order of :func:`match_regions`; other parameters as there.
    """
    return [
        (_attribute(a[m.a], attribute), _attribute(b[m.b], attribute))
        for m in _match(a, b, mode, tolerance_s, min_iou)
    ]


def beat_class_pairs(
    a: Sequence[Mapping[str, Any]],
    b: Sequence[Mapping[str, Any]],
    tolerance_s: float = 0.15,
) -> list[tuple[str, str]]:
    """``(A's label, B's label)`` of the beats (instants) matched by position within ``tolerance_s``.

    Regions of other kinds are ignored. Feed the result to :func:`cohen_kappa` for beat-class
    agreement.
    """
    beats_a = [r for r in a if r.get("kind") == "instant"]
    beats_b = [r for r in b if r.get("kind") == "instant"]
    matches = _match(beats_a, beats_b, "position", tolerance_s, 0.5)
    return [(str(beats_a[m.a]["label"]), str(beats_b[m.b]["label"])) for m in matches]


# ---------------------------------------------------------------------------------- kappa


def cohen_kappa(labels_a: Sequence[str], labels_b: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters over the same items (:func:`sklearn.metrics.cohen_kappa_score`).

    Parameters
    ----------
    labels_a, labels_b : sequence of str
        The category each rater gave each item, in the same item order.

    Returns
    -------
    float or None
        ``(p_o - p_e) / (1 - p_e)``; ``None`` without items; 1.0 when both raters used one and
        the same category for every item (``p_e = 1``, where scikit-learn gives NaN).

    Raises
    ------
    ValueError
        When the two sequences differ in length.
    """
    if len(labels_a) != len(labels_b):
        raise ValueError(f"rater A rated {len(labels_a)} items, rater B {len(labels_b)}")
    if len(labels_a) == 0:
        return None
    if len(set(labels_a) | set(labels_b)) == 1:
        return 1.0
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score([str(x) for x in labels_a], [str(x) for x in labels_b]))


def fleiss_kappa(ratings: Sequence[Sequence[str]]) -> float | None:
    """Fleiss' kappa of a fixed number of raters per item (statsmodels).

    Parameters
    ----------
    ratings : sequence of sequence of str
        ``ratings[i]`` holds the categories the raters gave item ``i``; every item needs the
        same number (>= 2) of ratings. The raters need not be the same people across items.

    Returns
    -------
    float or None
        Fleiss' kappa (:func:`statsmodels.stats.inter_rater.fleiss_kappa` on the table of
        :func:`~statsmodels.stats.inter_rater.aggregate_raters`); ``None`` without items; 1.0
        when every rating is the same category (``P_e = 1``, where statsmodels gives NaN).

    Raises
    ------
    ValueError
        When an item has a different number of ratings than item 0, or fewer than 2.
    """
    if len(ratings) == 0:
        return None
    n_raters = len(ratings[0])
    for i, item in enumerate(ratings):
        if len(item) != n_raters:
            raise ValueError(f"item {i} has {len(item)} ratings, item 0 has {n_raters}")
    if n_raters < 2:
        raise ValueError(f"Fleiss' kappa needs at least 2 ratings per item, got {n_raters}")
    categories = sorted({str(c) for item in ratings for c in item})
    if len(categories) == 1:
        return 1.0
    from statsmodels.stats import inter_rater

    code = {c: k for k, c in enumerate(categories)}
    data = np.array([[code[str(c)] for c in item] for item in ratings], dtype=np.int64)
    table, _ = inter_rater.aggregate_raters(data, n_cat=len(categories))
    return float(inter_rater.fleiss_kappa(table, method="fleiss"))


# ---------------------------------------------------------------------------------- task


def task_agreement(
    a: Sequence[Mapping[str, Any]],
    b: Sequence[Mapping[str, Any]],
    *,
    attribute: str | None = None,
    tolerance_s: float = 0.15,
    min_iou: float = 0.5,
) -> float:
    """The one number that says whether two annotators agree on a task (low -> adjudicate).

    Micro F1 ``2 * matches / (len(a) + len(b))`` over all kinds, where a match needs the
    modality's criterion of mode ``"exact"`` (spans: same boundaries and label; beats: same
    label within ``tolerance_s``; ranges: same label and temporal overlap; rectangles and
    masks: same label and IoU ``>= min_iou``) and, when ``attribute`` is given, equal values of
    that attribute (missing reads as ``""``). The attribute condition takes part in the
    one-to-one assignment. Both lists empty -> 1.0.

    Parameters
    ----------
    a, b : sequence of mapping
        Stored region dicts of the two annotators.
    attribute : str, optional
        Attribute that must also agree, e.g. ``"assertion"``.
    tolerance_s : float
        Beat tolerance, in s.
    min_iou : float
        Image IoU threshold.

    Returns
    -------
    float
        In [0, 1].
    """
    return _f1(len(_match(a, b, "exact", tolerance_s, min_iou, attribute)), len(a), len(b))
