"""Cold-start region proposers that need no labels: classical segmentation with scikit-image.

Two proposers, scikit-learn style (the constructor stores parameters, :meth:`fit` works without
arguments and may calibrate sizes from labelled examples, :meth:`predict` returns
:class:`~cliniloop.models.image.regions.Detections` in pixels of the original image):

:class:`BlobProposer` (boxes; stained cells and round findings)
    Many segmentation hypotheses, pooled and de-duplicated:

    1. **Foreground channel.** The image is shrunk so that the smallest expected object is about
       12 px across (``min(1, 12 / min_size_px)``), converted to CIELAB, and split by Otsu on
       ``L*``; the more uniform Otsu class is the background (bright in brightfield, dark in
       fluorescence; :func:`_bright_background`) and its median colour the background colour.
       The channel is the colour distance ``ΔE`` (CIE76) of every pixel from it, smoothed
       (Gaussian, σ = 1 px) and clipped at its 95th percentile (so that dark nuclei do not set
       the threshold scale for pale cells; at its Otsu threshold if higher, so that sparse
       objects under 5 % of the image survive).
    2. **Masks.** The channel is thresholded at ``thresholds`` × Li's threshold (several levels:
       low levels keep pale cells whole, high levels split clumps at their pale necks). On RGB
       images one more mask comes from a blue-purple *stain* channel (``-b*`` of CIELAB:
       haematoxylin-like nuclei, platelets, parasites): foreground pixels (lowest level) above
       the Otsu threshold of the channel over the foreground and at least
       :data:`STAIN_MARGIN` bluer than the background (no stain mask on unstained images). In
       every mask, holes smaller than 30 % of the typical object area are filled (pale cell
       centres) and objects under a quarter of the smallest expected area removed.
    3. **Splitting.** Each mask is split by a watershed of its (σ = 2 px smoothed) distance
       transform from the ``peak_local_max`` peaks at least ``split_distances`` × the typical
       radius ``sqrt(min_size_px * max_size_px) / 2`` apart (several distances: touching cells
       of different sizes). Each region gives its bounding box, widened by ``box_pad`` of its
       size on each side, and a *disc box* around its peak with radius 1.15 × the peak's
       distance to the background (the whole cell when a neighbour overlaps it).
    4. **Size.** Boxes whose geometric-mean side ``sqrt(w * h)`` is outside
       ``[min_size_px, max_size_px]`` are dropped.
    5. **Score and NMS.** Each box scores ``circularity * sqrt(support)`` (see below); boxes are
       sorted by score and greedy non-maximum suppression drops any box with IoU >
       ``nms_iou`` with a better one.

    Score (in [0, 1]): *circularity* ``min(1, 4 pi A / P²)`` of the region that produced the box
    (area ``A``, perimeter ``P`` in px; 1 for a disc, low for ragged merges) times the square
    root of its *support*: the fraction of the hypotheses (threshold level × split distance ×
    box kind; masks with no region do not count) that produced a box with IoU >=
    ``support_iou`` to it. Stable objects, found whatever the threshold and split distance,
    score high; one-off fragments low. On a third of BCCD train this ranking gave class-agnostic
    AP 0.41 against 0.14 for solidity alone (circularity × solidity × sqrt(support): 0.41,
    not worth the convex hulls).

:class:`MaskProposer` (instance masks; nuclei in fluorescence, brightfield or H&E)
    1. Grey image, Gaussian σ = 1 px; Otsu threshold ``t``. **Polarity**: when the bright Otsu
       class is the background (the more uniform class, :func:`_bright_background`) the objects
       are dark and the image is inverted (or set ``polarity``).
    2. **Foreground.** Bright-on-dark (fluorescence): pixels above ``global_factor * t`` *and*
       above a local mean threshold (``threshold_local``, block ``local_block`` × the typical
       nucleus diameter ``sqrt(median component area)``), which keeps dim nuclei and separates
       touching bright ones. Dark-on-bright (brightfield, H&E): above ``t`` only (the local
       threshold splits textured cytoplasm into fragments there). Holes filled; objects under
       ``min_area_px`` removed (default: 10 % of the median component area, at least 4 px).
    3. **Splitting.** Watershed of the (σ = 1 px smoothed) distance transform from its
       h-maxima (``h_px``), which splits touching nuclei at necks deeper than ``h_px``. A
       component with no h-maximum (a sliver thinner than about ``2 * h_px``) is dropped.
    4. **Score** (in [0, 1]): ``solidity * contrast * size`` with *contrast*
       ``clip((mean inside - background mean) / (foreground mean - background mean), 0, 1)``
       (classes of the global threshold, on the polarity-corrected image) and *size*
       ``min(1, area / (0.5 * median area))``: faint, ragged or fragment-sized regions score
       low.

Measured (2 shared CPUs; see :mod:`cliniloop.models.image.metrics` for the definitions)
--------------------------------------------------------------------------
* BlobProposer on BCCD ``val.txt`` (87 images, 640 x 480, 1138 boxes; many red cells are not
  boxed, so precision and AP are understated): class-agnostic recall at IoU 0.5 0.875 and AP
  0.415 with the defaults (136 boxes, about 230 ms per image); 0.889 and 0.456 after
  ``fit(targets=...)`` on ``train.txt`` (size range 27-276 px; 110 boxes, about 190 ms).
  Keeping boxes with score >= 0.2 halves them (55 per image) at recall 0.80, AP 0.44.
* MaskProposer on the held-back fifth of dsb2018 (52 images, ``sha256(stem) % 5 == 0``):
  instance precision 0.851, recall 0.743, F1 0.793 at mask IoU 0.5 (fluorescence 0.858,
  brightfield/H&E 0.573), mean matched IoU 0.83; about 80 ms per image.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from cliniloop.models.image.metrics import box_iou
from cliniloop.models.image.regions import Detections
from cliniloop.models.params import init_params
from cliniloop.services.core.targets import BoxTarget

#: Objects are segmented at a scale where the smallest expected object is about this wide (px).
WORK_MIN_SIZE_PX = 12.0
#: Default size range relative to the image's shorter side, when neither given nor fitted.
DEFAULT_MIN_SIZE_FRAC = 0.05
DEFAULT_MAX_SIZE_FRAC = 0.5
#: Stained pixels are bluer than the background's median by at least this much (CIELAB b* units).
STAIN_MARGIN = 5.0


def _as_image(image: NDArray) -> NDArray[np.uint8]:
    """Validate an ``(H, W)`` or ``(H, W, 3|4)`` uint8 image (alpha dropped)."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise ValueError(f"images must be (H, W) or (H, W, 3), got shape {img.shape}")
    if min(img.shape[:2]) < 2:
        raise ValueError(f"image too small: {img.shape}")
    return img


def _rgb(img: NDArray[np.uint8]) -> NDArray[np.uint8]:
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img


def _params_hash(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:10]


def nms(boxes: NDArray, scores: NDArray, iou_threshold: float) -> NDArray[np.int64]:
    """Greedy non-maximum suppression.

    Parameters
    ----------
    boxes : ndarray, shape (N, 4)
        Pixel-edge boxes ``x0, y0, x1, y1`` (px).
    scores : ndarray, shape (N,)
        Higher is better; ties keep the input order.
    iou_threshold : float
        A box whose IoU with an already kept box exceeds this is dropped.

    Returns
    -------
    ndarray of int64
        Indices of the kept boxes, best score first.
    """
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    if order.size == 0:
        return order.astype(np.int64)
    iou = box_iou(boxes, boxes)
    suppressed = np.zeros(order.size, dtype=bool)
    keep: list[int] = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(int(i))
        suppressed |= iou[i] > iou_threshold
    return np.asarray(keep, dtype=np.int64)


def _foreground_distance(rgb: NDArray[np.uint8]) -> NDArray[np.float64]:
    """CIE76 colour distance of every pixel from the background colour (see the module docstring)."""
    from skimage.color import rgb2lab
    from skimage.filters import threshold_otsu

    lab = rgb2lab(rgb)
    lightness = lab[..., 0]
    if np.ptp(lightness) < 1e-6:
        return np.zeros(lightness.shape)
    bright = lightness > threshold_otsu(lightness)
    background = bright if _bright_background(lightness, bright) else ~bright
    colour = np.median(lab[background], axis=0)
    return np.sqrt(((lab - colour) ** 2).sum(axis=-1))


def _bright_background(grey: NDArray[np.float64], bright: NDArray[np.bool_]) -> bool:
    """Whether the background is the bright Otsu class ``bright`` of ``grey``.

    The background is the more uniform class (lower standard deviation): right on every BCCD and
    dsb2018 tuning image, where "the larger class" fails on 7 % of BCCD (cells cover over half
    the field) and "the class of the histogram mode" on 1.5 %. When the two deviations are
    within 2 % of each other (noise-free drawings), the class holding the histogram mode is.
    """
    if bright.all() or not bright.any():
        return bool(bright.all())
    s_bright, s_dark = float(grey[bright].std()), float(grey[~bright].std())
    if abs(s_bright - s_dark) > 0.02 * max(s_bright, s_dark) + 1e-6 * float(np.ptp(grey)):
        return s_bright < s_dark
    hist, edges = np.histogram(grey, bins=64)
    mode = 0.5 * (edges[hist.argmax()] + edges[hist.argmax() + 1])
    return bool(mode >= 0.5 * (grey[~bright].max() + grey[bright].min()))


def _stain_channel(rgb: NDArray[np.uint8]) -> NDArray[np.float64] | None:
    """``-b*`` of CIELAB (blue-purple stain), or ``None`` for a colourless image."""
    from skimage.color import rgb2lab

    channel = -rgb2lab(rgb)[..., 2]
    return channel if channel.std() >= 1.0 else None


def _region_table(labels: NDArray) -> dict[str, NDArray]:
    from skimage.measure import regionprops_table

    return regionprops_table(labels, properties=("label", "bbox", "area", "perimeter"))


class BlobProposer:
    """Class-agnostic box proposals for stained cells and round findings (module docstring).

    Parameters
    ----------
    label : str
        Label of every region.
    min_size_px, max_size_px : float, optional
        Object size range: geometric-mean box side ``sqrt(w * h)`` in px of the original image.
        Default: 5 % and 50 % of the image's shorter side, per image; :meth:`fit` with targets
        sets them from the labelled boxes.
    thresholds : sequence of float
        Foreground levels, as multiples of Li's threshold of the foreground channel.
    split_distances : sequence of float
        Smallest distances between split seeds, as multiples of the typical object radius
        ``sqrt(min_size_px * max_size_px) / 2``.
    stain_channel : bool
        Also segment the blue-purple stain channel of RGB images.
    box_pad : float
        Region boxes are widened by this fraction of their width (height) on each side
        (annotators draw boxes slightly outside the cell edge).
    nms_iou : float
        Non-maximum suppression IoU.
    support_iou : float
        IoU at which another hypothesis supports a box (score).
    max_regions : int
        At most this many regions per image (the best scored).
    """

    name = "blob-proposer-1"

    def __init__(
        self,
        label: str = "region",
        *,
        min_size_px: float | None = None,
        max_size_px: float | None = None,
        thresholds: Sequence[float] = (0.6, 0.85, 1.1, 1.35),
        split_distances: Sequence[float] = (0.25, 0.5, 0.8),
        stain_channel: bool = True,
        box_pad: float = 0.05,
        nms_iou: float = 0.7,
        support_iou: float = 0.7,
        max_regions: int = 300,
    ) -> None:
        self.label = label
        self.min_size_px = min_size_px
        self.max_size_px = max_size_px
        self.thresholds = tuple(thresholds)
        self.split_distances = tuple(split_distances)
        self.stain_channel = stain_channel
        self.box_pad = box_pad
        self.nms_iou = nms_iou
        self.support_iou = support_iou
        self.max_regions = max_regions

    def get_params(self) -> dict[str, object]:
        """Constructor parameters (scikit-learn convention)."""
        return init_params(self)

    def fit(self, images: Iterable[NDArray] | None = None, targets: Sequence[BoxTarget] | None = None) -> BlobProposer:
        """Validate the parameters; with ``targets``, calibrate the object size range.

        Parameters
        ----------
        images : iterable of ndarray, optional
            Unused (accepted for a uniform proposer interface).
        targets : sequence of BoxTarget, optional
            Labelled boxes. When given (and not set in the constructor), ``min_size_px_`` is
            0.8 × the 1st percentile and ``max_size_px_`` 1.2 × the 99th percentile of their
            geometric-mean sides ``sqrt(w * h)``.

        Returns
        -------
        BlobProposer
            ``self``, with ``min_size_px_`` and ``max_size_px_`` (``None``: relative to each
            image).

        Raises
        ------
        ValueError
            For a parameter out of range.
        """
        if not self.thresholds or min(self.thresholds) <= 0:
            raise ValueError(f"thresholds must be positive, got {self.thresholds}")
        if not self.split_distances or min(self.split_distances) <= 0:
            raise ValueError(f"split_distances must be positive, got {self.split_distances}")
        for name in ("nms_iou", "support_iou"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if self.box_pad < 0 or self.max_regions < 1:
            raise ValueError("box_pad must be >= 0 and max_regions >= 1")
        lo, hi = self.min_size_px, self.max_size_px
        if targets:
            boxes = np.concatenate([np.asarray(t.boxes, dtype=np.float64).reshape(-1, 4) for t in targets])
            sides = np.sqrt(np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None))
            sides = sides[sides > 0]
            if sides.size:
                lo = lo if lo is not None else 0.8 * float(np.percentile(sides, 1))
                hi = hi if hi is not None else 1.2 * float(np.percentile(sides, 99))
        bad_range = lo is not None and hi is not None and hi <= lo
        if (lo is not None and lo <= 0) or (hi is not None and hi <= 0) or bad_range:
            raise ValueError(f"need 0 < min_size_px < max_size_px, got {lo}, {hi}")
        self.min_size_px_, self.max_size_px_ = lo, hi
        return self

    @property
    def version(self) -> str:
        """``blob-proposer-1-<hash>`` of the parameters and the fitted size range."""
        params = dict(
            self.get_params(),
            min_size_px_=getattr(self, "min_size_px_", None),
            max_size_px_=getattr(self, "max_size_px_", None),
        )
        return f"{self.name}-{_params_hash(params)}"

    def _size_range(self, shape: tuple[int, ...]) -> tuple[float, float]:
        if not hasattr(self, "min_size_px_"):
            self.fit()
        short = float(min(shape[:2]))
        lo = self.min_size_px_ if self.min_size_px_ is not None else max(4.0, DEFAULT_MIN_SIZE_FRAC * short)
        hi = self.max_size_px_ if self.max_size_px_ is not None else max(lo * 2, DEFAULT_MAX_SIZE_FRAC * short)
        return lo, hi

    def predict(self, image: NDArray[np.uint8]) -> Detections:
        """Box proposals of one image.

        Parameters
        ----------
        image : ndarray of uint8, shape (H, W) or (H, W, 3)
            Grey or RGB image. Without a prior :meth:`fit`, ``fit()`` is applied first.

        Returns
        -------
        Detections
            Boxes in px of ``image``, sorted by descending score in [0, 1], all labelled
            ``label``; no ``instance_labels``.
        """
        from skimage.filters import gaussian, threshold_li, threshold_otsu
        from skimage.transform import rescale

        img = _rgb(_as_image(image))
        height, width = img.shape[:2]
        lo, hi = self._size_range(img.shape)
        scale = min(1.0, WORK_MIN_SIZE_PX / lo)
        small = img
        if scale < 1.0:
            small = rescale(img, scale, channel_axis=-1, anti_aliasing=True, preserve_range=True).astype(np.uint8)
        radius = 0.5 * np.sqrt(lo * hi) * scale
        min_area = 0.25 * np.pi / 4 * (lo * scale) ** 2

        boxes: list[NDArray] = []
        circ: list[NDArray] = []
        source: list[NDArray] = []
        n_sources = 0

        def add(mask: NDArray[np.bool_]) -> None:
            nonlocal n_sources
            hypotheses = _split_hypotheses(mask, radius, min_area, self.split_distances, self.box_pad)
            for b, c, k in hypotheses:
                boxes.append(b)
                circ.append(c)
                source.append(np.full(len(c), n_sources + k, dtype=np.int64))
            if hypotheses:  # an empty mask (say, no stain) is no hypothesis
                n_sources += 2 * len(self.split_distances)

        distance = gaussian(_foreground_distance(small), 1.0, preserve_range=True)
        if np.ptp(distance) <= 1e-6:
            return Detections.empty()
        distance = np.minimum(distance, max(np.percentile(distance, 95), threshold_otsu(distance)))
        level = threshold_li(distance)
        for factor in self.thresholds:
            add(distance > factor * level)
        if self.stain_channel and image.ndim == 3:
            stain = _stain_channel(small)
            foreground = distance > min(self.thresholds) * level
            if stain is not None and foreground.sum() > 1:
                stain = gaussian(stain, 1.0, preserve_range=True)
                floor = float(np.median(stain[~foreground])) + STAIN_MARGIN if (~foreground).any() else -np.inf
                add(foreground & (stain > max(threshold_otsu(stain[foreground]), floor)))
        if not boxes:
            return Detections.empty()
        all_boxes = np.concatenate(boxes) / scale
        all_boxes = np.clip(all_boxes, 0, [width, height, width, height])
        circularity = np.concatenate(circ)
        sources = np.concatenate(source)
        side = np.sqrt((all_boxes[:, 2] - all_boxes[:, 0]) * (all_boxes[:, 3] - all_boxes[:, 1]))
        ok = (side >= lo) & (side <= hi)
        all_boxes, circularity, sources = all_boxes[ok], circularity[ok], sources[ok]
        if not len(all_boxes):
            return Detections.empty()
        close = box_iou(all_boxes, all_boxes) >= self.support_iou
        onehot = np.zeros((len(all_boxes), n_sources), dtype=bool)
        onehot[np.arange(len(all_boxes)), sources] = True
        support = (close.astype(np.int32) @ onehot.astype(np.int32) > 0).sum(axis=1) / n_sources
        scores = np.clip(circularity * np.sqrt(support), 0.0, 1.0)
        keep = nms(all_boxes, scores, self.nms_iou)[: self.max_regions]
        return Detections(all_boxes[keep], scores[keep], [self.label] * len(keep))

    def predict_many(self, images: Iterable[NDArray[np.uint8]]) -> list[Detections]:
        """:meth:`predict` on each image."""
        return [self.predict(image) for image in images]


def _split_hypotheses(
    mask: NDArray[np.bool_], radius: float, min_area: float, split_distances: Sequence[float], box_pad: float
) -> list[tuple[NDArray[np.float64], NDArray[np.float64], int]]:
    """Boxes (working px) and circularity of the watershed regions of ``mask`` at each split distance.

    Returns ``(boxes, circularity, source offset)`` per split distance and box kind (region box
    at offset ``2 i``, disc box at ``2 i + 1``).
    """
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.filters import gaussian
    from skimage.measure import label as label_components
    from skimage.morphology import remove_small_holes, remove_small_objects
    from skimage.segmentation import watershed

    mask = remove_small_holes(mask, max_size=int(0.3 * np.pi * radius**2))
    mask = remove_small_objects(mask, max_size=int(min_area))
    if not mask.any():
        return []
    dist = gaussian(ndi.distance_transform_edt(mask), 2.0, preserve_range=True)
    components = label_components(mask)
    out = []
    for i, factor in enumerate(split_distances):
        peaks = peak_local_max(dist, min_distance=max(1, int(factor * radius)), labels=components, exclude_border=False)
        if not len(peaks):
            continue
        markers = np.zeros(mask.shape, dtype=np.int32)
        markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
        regions = watershed(-dist, markers, mask=mask)
        table = _region_table(regions)
        if not len(table["label"]):
            continue
        y0, x0, y1, x1 = (table[f"bbox-{k}"].astype(np.float64) for k in range(4))
        w, h = x1 - x0, y1 - y0
        circularity = np.clip(4 * np.pi * table["area"] / np.maximum(table["perimeter"], 1.0) ** 2, 0.0, 1.0)
        region_boxes = np.stack([x0 - box_pad * w, y0 - box_pad * h, x1 + box_pad * w, y1 + box_pad * h], axis=1)
        py, px = peaks[table["label"] - 1].T.astype(np.float64)
        r = 1.15 * dist[peaks[table["label"] - 1, 0], peaks[table["label"] - 1, 1]]
        disc_boxes = np.stack([px - r, py - r, px + r + 1, py + r + 1], axis=1)
        out.append((region_boxes, circularity, 2 * i))
        out.append((disc_boxes, circularity, 2 * i + 1))
    return out


class MaskProposer:
    """Instance masks of nuclei (fluorescence, brightfield, H&E) by thresholding and watershed.

    See the module docstring for the method and the score.

    Parameters
    ----------
    label : str
        Label of every region.
    polarity : {"auto", "bright", "dark"}
        Objects brighter (fluorescence) or darker (brightfield, H&E) than the background;
        ``auto`` takes the more uniform Otsu class as the background.
    min_area_px : float, optional
        Smallest object area in px². Default: 10 % of the median area of the image's
        foreground components, at least 4 px²; :meth:`fit` with targets sets it.
    global_factor : float
        Bright-on-dark images: the global threshold is this multiple of Otsu's.
    local_block : float
        Bright-on-dark images: block size of the local threshold, in typical nucleus diameters
        (``sqrt`` of the median component area); 0 disables the local threshold.
    h_px : float
        Depth (px of the distance transform) of a neck that splits touching nuclei.
    """

    name = "mask-proposer-1"

    def __init__(
        self,
        label: str = "nucleus",
        *,
        polarity: str = "auto",
        min_area_px: float | None = None,
        global_factor: float = 0.5,
        local_block: float = 2.0,
        h_px: float = 2.0,
    ) -> None:
        self.label = label
        self.polarity = polarity
        self.min_area_px = min_area_px
        self.global_factor = global_factor
        self.local_block = local_block
        self.h_px = h_px

    def get_params(self) -> dict[str, object]:
        """Constructor parameters (scikit-learn convention)."""
        return init_params(self)

    def fit(self, images: Iterable[NDArray] | None = None, targets: Sequence[BoxTarget] | None = None) -> MaskProposer:
        """Validate the parameters; with ``targets``, calibrate the smallest object area.

        Parameters
        ----------
        images : iterable of ndarray, optional
            Unused (accepted for a uniform proposer interface).
        targets : sequence of BoxTarget, optional
            Labelled examples. When given (and ``min_area_px`` is not set), ``min_area_px_`` is
            half the 2nd percentile of the true instance areas (from ``instance_labels``, or
            ``pi / 4 * w * h`` of the boxes of targets without masks).

        Returns
        -------
        MaskProposer
            ``self``, with ``min_area_px_`` (``None``: relative to each image).

        Raises
        ------
        ValueError
            For a parameter out of range.
        """
        if self.polarity not in ("auto", "bright", "dark"):
            raise ValueError(f"polarity must be 'auto', 'bright' or 'dark', got {self.polarity!r}")
        if not 0 < self.global_factor <= 1:
            raise ValueError(f"global_factor must be in (0, 1], got {self.global_factor}")
        if self.local_block < 0 or self.h_px < 0:
            raise ValueError("local_block and h_px must be >= 0")
        min_area = self.min_area_px
        if min_area is None and targets:
            areas = []
            for t in targets:
                if t.instance_labels is not None:
                    a = np.bincount(np.asarray(t.instance_labels).ravel().astype(np.int64))[1:]
                    areas.append(a[a > 0].astype(np.float64))
                else:
                    b = np.asarray(t.boxes, dtype=np.float64).reshape(-1, 4)
                    areas.append(np.pi / 4 * (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))
            pooled = np.concatenate(areas) if areas else np.zeros(0)
            pooled = pooled[pooled > 0]
            if pooled.size:
                min_area = max(1.0, 0.5 * float(np.percentile(pooled, 2)))
        if min_area is not None and min_area < 0:
            raise ValueError(f"min_area_px must be >= 0, got {min_area}")
        self.min_area_px_ = min_area
        return self

    @property
    def version(self) -> str:
        """``mask-proposer-1-<hash>`` of the parameters and the fitted smallest area."""
        params = dict(self.get_params(), min_area_px_=getattr(self, "min_area_px_", None))
        return f"{self.name}-{_params_hash(params)}"

    def predict(self, image: NDArray[np.uint8]) -> Detections:
        """Instance masks of one image.

        Parameters
        ----------
        image : ndarray of uint8, shape (H, W) or (H, W, 3)
            Grey or RGB image. Without a prior :meth:`fit`, ``fit()`` is applied first.

        Returns
        -------
        Detections
            Regions sorted by descending score in [0, 1], labelled ``label``, with
            ``instance_labels`` (region ``k`` is ``instance_labels == k + 1``) and pixel-edge
            boxes around the masks.
        """
        from scipy import ndimage as ndi
        from skimage.color import rgb2gray
        from skimage.filters import gaussian, threshold_local, threshold_otsu
        from skimage.measure import label as label_components
        from skimage.measure import regionprops_table
        from skimage.morphology import h_maxima, remove_small_objects
        from skimage.segmentation import watershed

        if not hasattr(self, "min_area_px_"):
            self.fit()
        img = _as_image(image)
        grey = gaussian(rgb2gray(img) if img.ndim == 3 else img / 255.0, 1.0)
        empty = Detections(np.zeros((0, 4)), np.zeros(0), [], instance_labels=np.zeros(img.shape[:2], dtype=np.int32))
        if np.ptp(grey) < 1e-3:
            return empty
        level = threshold_otsu(grey)
        above = grey > level
        bright_objects = {"bright": True, "dark": False}.get(self.polarity)
        if bright_objects is None:
            bright_objects = not _bright_background(grey, above)
        if not bright_objects:
            grey, level, above = 1.0 - grey, 1.0 - level, ~above
        background_mean = float(grey[~above].mean()) if (~above).any() else 0.0
        foreground_mean = float(grey[above].mean()) if above.any() else 1.0
        areas = np.bincount(label_components(above).ravel())[1:]
        areas = areas[areas >= 4]
        median_area = float(np.median(areas)) if areas.size else 16.0

        if bright_objects:
            mask = grey > self.global_factor * level
            if self.local_block > 0:
                block = max(3, int(self.local_block * np.sqrt(median_area)) | 1)
                mask &= grey > threshold_local(grey, block, offset=0)
        else:
            mask = above
        mask = ndi.binary_fill_holes(mask)
        min_area = self.min_area_px_ if self.min_area_px_ is not None else max(4.0, 0.1 * median_area)
        mask = remove_small_objects(mask, max_size=int(min_area))
        if not mask.any():
            return empty
        dist = gaussian(ndi.distance_transform_edt(mask), 1.0, preserve_range=True)
        # a component without an h-maximum (thinner than about 2 * h_px) gets no marker and is
        # dropped: on the dsb2018 tuning part such slivers are mostly debris (F1 0.80 vs 0.75)
        markers = label_components(h_maxima(dist, self.h_px)) if self.h_px > 0 else label_components(mask)
        regions = watershed(-dist, markers, mask=mask)
        properties = ("label", "bbox", "area", "solidity", "intensity_mean")
        table = regionprops_table(regions, intensity_image=grey, properties=properties)
        if not len(table["label"]):
            return empty
        spread = max(foreground_mean - background_mean, 1e-6)
        contrast = np.clip((table["intensity_mean"] - background_mean) / spread, 0, 1)
        size = np.minimum(1.0, table["area"] / (0.5 * median_area))
        scores = np.clip(table["solidity"] * contrast * size, 0.0, 1.0)
        order = np.argsort(-scores, kind="stable")
        relabel = np.zeros(int(regions.max()) + 1, dtype=np.int32)
        relabel[table["label"][order]] = np.arange(1, order.size + 1, dtype=np.int32)
        instance_labels = relabel[regions]
        y0, x0, y1, x1 = (table[f"bbox-{k}"][order].astype(np.float64) for k in range(4))
        boxes = np.stack([x0, y0, x1, y1], axis=1)
        return Detections(boxes, scores[order], [self.label] * order.size, instance_labels=instance_labels)

    def predict_many(self, images: Iterable[NDArray[np.uint8]]) -> list[Detections]:
        """:meth:`predict` on each image."""
        return [self.predict(image) for image in images]
