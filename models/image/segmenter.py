"""Trainable instance-mask model (nuclei and other blob-like regions): a small U-Net + watershed.

Input
-----
Images are ``uint8`` ``(H, W)`` grey, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA (alpha dropped) of
any size. The grey level of an image (mean of its colour channels) decides whether it is
inverted (median grey level above :data:`INVERT_MEDIAN`: bright-field and H&E images, where
nuclei are darker than the background, so that in every image the objects are brighter than
the background; ``invert=False`` / ``True`` forces it off / on), and its 1st and 99.5th
percentiles are mapped to 0 and 1. The network sees that grey channel, or with ``rgb=True`` the
three colour channels on the same scale (a grey image is repeated; colour ratios are kept,
which helps on stained tissue).

Network and targets
-------------------
:class:`cliniloop.models.image.unet.UNet` (``width`` channels at full resolution, ``depth`` poolings)
predicts three classes per pixel: background, object *interior* and object *boundary*, where
the boundary is every object pixel within ``boundary_width`` pixels (4-connected steps for 1,
a square neighbourhood beyond) of a pixel that is not the same object (background or another
object), so the interiors of touching objects are separated by at least
``2 * boundary_width`` pixels. Loss: cross-entropy with class weights
``(1, 1, boundary_weight)``.

Training samples ``patches_per_epoch`` random ``patch_size`` crops per epoch (image chosen
uniformly, so small and large images weigh the same), each at a random scale in
``scale_range`` (the crop is resized, image bilinearly and instance labels by nearest
neighbour, before the targets are computed), with a random rotation by a multiple of 90
degrees, a random flip, a random contrast/brightness/gamma change and Gaussian noise (with
``rgb``, also a random gain per colour channel, or a grey-out of one crop in five). AdamW,
one-epoch linear warm-up then cosine decay of the learning rate to 0.

Instances (:meth:`MaskSegmenter.predict`)
-----------------------------------------
With ``p_int``, ``p_bnd`` the interior and boundary probabilities and ``p_fg = p_int + p_bnd``:
markers are the connected components of ``p_int > interior_threshold``; they are grown by a
watershed on ``-p_int`` (:func:`skimage.segmentation.watershed`) within
``p_fg > foreground_threshold``; foreground components that hold no marker become instances of
their own; instances smaller than ``min_size`` pixels are dropped and their holes filled.

Region scores
-------------
The score of a region is the **mean foreground probability** ``p_fg`` over its pixels (so in
(``foreground_threshold``, 1]): close to 1 when the network is sure of every pixel, lower for
faint, partial or doubtful objects. The active-learning sampler reads the region uncertainty
as the binary entropy of this score.

Retraining from corrections
---------------------------
``fit(images, labels, init_from=previous)`` starts from ``previous``'s weights (and takes its
``width``, ``depth`` and ``invert``) and trains for this segmenter's ``epochs`` at this
segmenter's ``lr``; pass the corrected images together with (a sample of) the earlier training
images so the network does not forget.

Devices and determinism
-----------------------
``device=None`` picks ``"cuda"`` when :func:`torch.cuda.is_available` and ``"cpu"`` otherwise.
On CPU, training is deterministic for a given ``seed`` and thread count.

Files (:meth:`MaskSegmenter.save`): ``segmenter.pt`` (a plain ``state_dict`` of tensors, read
back with ``weights_only=True``) and ``segmenter.json`` (hyper-parameters, training summary,
version). No code is pickled.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from scipy import ndimage as ndi

from cliniloop.models.image.regions import Detections
from cliniloop.models.image.unet import UNet
from cliniloop.models.torch_common import resolve_device, weights_digest

#: Weights file and metadata file written by :meth:`MaskSegmenter.save`.
WEIGHTS_FILE = "segmenter.pt"
META_FILE = "segmenter.json"
FORMAT_VERSION = 1
#: ``invert="auto"`` inverts an image whose median grey level (0-255) is above this.
INVERT_MEDIAN = 100.0
#: Percentiles that map an image's grey levels to 0 and 1.
NORM_PERCENTILES = (1.0, 99.5)

Progress = Callable[[int, int, float], None]


def _channels(image: NDArray) -> NDArray[np.float32]:
    """``(H, W, 3)`` float32 colour channels of a grey, RGB or RGBA image (grey is repeated)."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise ValueError(f"image must be (H, W), (H, W, 3) or (H, W, 4), got shape {a.shape}")
    if a.shape[2] == 4:
        a = a[..., :3]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if a.shape[2] != 3:
        raise ValueError(f"image has {a.shape[2]} channels; expected 1, 3 (RGB) or 4 (RGBA)")
    return a.astype(np.float32)


def normalise(image: NDArray, invert: bool | str = "auto", rgb: bool = False) -> NDArray[np.float32]:
    """The network's input, ``(C, H, W)`` float32, objects bright, roughly in [0, 1].

    ``C`` is 3 (the colour channels) with ``rgb`` and 1 (their mean) without. The grey level
    (mean of the channels) decides the inversion and gives the two percentiles that map every
    channel to 0 and 1, so colour ratios are kept.
    """
    c = _channels(image)
    if c.shape[0] == 0 or c.shape[1] == 0:
        raise ValueError("empty image")
    g = c.mean(axis=2)
    lo, med, hi = np.percentile(g, [NORM_PERCENTILES[0], 50.0, NORM_PERCENTILES[1]])
    flip = (med > INVERT_MEDIAN) if invert == "auto" else bool(invert)
    if flip:
        c, g, lo, hi = 255.0 - c, 255.0 - g, 255.0 - hi, 255.0 - lo
    scale = max(float(hi - lo), 1.0)
    x = np.moveaxis(c, 2, 0) if rgb else g[None]
    return ((x - lo) / scale).astype(np.float32)


def class_targets(instances: NDArray, boundary_width: int = 1) -> NDArray[np.uint8]:
    """Per-pixel class 0 (background), 1 (interior) or 2 (boundary) of an instance label image."""
    lab = np.asarray(instances)
    if boundary_width < 1:
        return (lab > 0).astype(np.uint8)
    if boundary_width == 1:
        fp = ndi.generate_binary_structure(2, 1)
    else:
        fp = np.ones((2 * boundary_width + 1, 2 * boundary_width + 1), bool)
    hi = ndi.maximum_filter(lab, footprint=fp, mode="nearest")
    lo = ndi.minimum_filter(lab, footprint=fp, mode="nearest")
    fg = lab > 0
    out = fg.astype(np.uint8)
    out[fg & ((hi != lab) | (lo != lab))] = 2
    return out


def _tiles(length: int, tile: int, margin: int) -> list[tuple[int, int, int, int]]:
    """Overlapping windows ``(start, stop, keep_start, keep_stop)`` along one axis.

    The kept parts (a window without its ``margin`` on sides inside the image) cover
    ``0..length`` without gaps.
    """
    if length <= tile:
        return [(0, length, 0, length)]
    step = tile - 2 * margin
    starts = list(range(0, length - tile, step)) + [length - tile]
    out = []
    for s in starts:
        e = s + tile
        out.append((s, e, s + margin if s > 0 else 0, e - margin if e < length else length))
    return out


class MaskSegmenter:
    """Instance masks of one class of blob-like objects (see the module docstring).

    Parameters
    ----------
    label : str
        Class name given to every region.
    epochs : int
        Training epochs of ``patches_per_epoch`` random crops each.
    batch_size : int
        Crops per optimisation step.
    lr : float
        Peak AdamW learning rate.
    patch_size : int
        Side of the training crops (pixels, after scaling).
    patches_per_epoch : int
        Random crops per epoch.
    seed : int
        Seeds the initialisation, crops and augmentation.
    device : str or None
        Torch device; ``None`` = CUDA when available, else CPU.
    width, depth : int
        U-Net channels at full resolution and number of poolings.
    weight_decay : float
        AdamW weight decay.
    boundary_width : int
        Boundary class thickness in pixels.
    boundary_weight : float
        Cross-entropy weight of the boundary class.
    scale_range : (float, float)
        Range of the random scale augmentation (log-uniform).
    invert : "auto" or bool
        Invert images so that objects are bright (``"auto"``: by the median grey level).
    foreground_threshold, interior_threshold : float
        Probability thresholds of the post-processing.
    min_size : int
        Instances with fewer pixels are dropped.

    The post-processing defaults (0.6, 0.6, 40 px) were chosen on an inner validation part of the
    dsb2018 training images (68 of the 198 outside the held-back fifth; the held-back images were
    never used): instance F1 there 0.766, against 0.733 with 0.5 / 0.5 / 10 px. Smaller
    fragments were most of the false instances.
    tile : int
        Images larger than this are predicted in overlapping tiles of this size.
    """

    def __init__(
        self,
        *,
        label: str = "nucleus",
        epochs: int = 30,
        batch_size: int = 8,
        lr: float = 3e-3,
        patch_size: int = 128,
        patches_per_epoch: int = 400,
        seed: int = 0,
        device: str | None = None,
        width: int = 16,
        depth: int = 4,
        weight_decay: float = 1e-4,
        boundary_width: int = 1,
        boundary_weight: float = 2.0,
        scale_range: tuple[float, float] = (0.7, 1.4),
        invert: bool | str = "auto",
        rgb: bool = False,
        foreground_threshold: float = 0.6,
        interior_threshold: float = 0.6,
        min_size: int = 40,
        tile: int = 1024,
    ) -> None:
        self.label = label
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patch_size = patch_size
        self.patches_per_epoch = patches_per_epoch
        self.seed = seed
        self.device = device
        self.width = width
        self.depth = depth
        self.weight_decay = weight_decay
        self.boundary_width = boundary_width
        self.boundary_weight = boundary_weight
        self.scale_range = tuple(scale_range)
        self.invert = invert
        self.rgb = rgb
        self.foreground_threshold = foreground_threshold
        self.interior_threshold = interior_threshold
        self.min_size = min_size
        self.tile = tile
        self.net_: UNet | None = None
        self.training_: dict[str, Any] = {}

    # ------------------------------------------------------------------ parameters
    def get_params(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable)."""
        return {
            "label": self.label,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "patch_size": self.patch_size,
            "patches_per_epoch": self.patches_per_epoch,
            "seed": self.seed,
            "device": self.device,
            "width": self.width,
            "depth": self.depth,
            "weight_decay": self.weight_decay,
            "boundary_width": self.boundary_width,
            "boundary_weight": self.boundary_weight,
            "scale_range": list(self.scale_range),
            "invert": self.invert,
            "rgb": self.rgb,
            "foreground_threshold": self.foreground_threshold,
            "interior_threshold": self.interior_threshold,
            "min_size": self.min_size,
            "tile": self.tile,
        }

    @property
    def in_channels(self) -> int:
        """Network input channels: 3 with ``rgb``, else 1."""
        return 3 if self.rgb else 1

    @property
    def device_(self) -> str:
        """The torch device in use."""
        return resolve_device(self.device)

    # ------------------------------------------------------------------ training
    def _crop(
        self, x: NDArray[np.float32], lab: NDArray[np.int32], rng: np.random.Generator
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """One augmented training crop ``(C, ps, ps)`` and its class targets (255 = ignored padding)."""
        ps = self.patch_size
        lo_s, hi_s = self.scale_range
        scale = math.exp(rng.uniform(math.log(lo_s), math.log(hi_s))) if hi_s > lo_s else float(lo_s)
        side = max(4, int(round(ps / scale)))
        h, w = x.shape[1:]
        ph, pw = max(0, side - h), max(0, side - w)
        valid = np.ones_like(lab, dtype=bool)
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="reflect" if (ph < h and pw < w) else "edge")
            lab = np.pad(lab, ((0, ph), (0, pw)))
            valid = np.pad(valid, ((0, ph), (0, pw)))
            h, w = x.shape[1:]
        y0 = int(rng.integers(0, h - side + 1))
        x0 = int(rng.integers(0, w - side + 1))
        xc = x[:, y0 : y0 + side, x0 : x0 + side]
        lc = lab[y0 : y0 + side, x0 : x0 + side]
        vc = valid[y0 : y0 + side, x0 : x0 + side]
        if side != ps:
            t = torch.from_numpy(np.ascontiguousarray(xc))[None]
            xc = F.interpolate(t, size=(ps, ps), mode="bilinear", align_corners=False)[0].numpy()
            rows = np.minimum((np.arange(ps) + 0.5) * side / ps, side - 1).astype(np.int64)
            lc = lc[np.ix_(rows, rows)]
            vc = vc[np.ix_(rows, rows)]
        target = class_targets(lc, self.boundary_width).astype(np.int64)
        target[~vc] = 255
        k = int(rng.integers(0, 4))
        xc, target = np.rot90(xc, k, axes=(1, 2)), np.rot90(target, k)
        if rng.random() < 0.5:
            xc, target = xc[:, :, ::-1], target[:, ::-1]
        # intensity: colour balance (RGB) or grey-out, gamma, contrast, brightness, noise
        xc = np.clip(xc, 0.0, None)
        if xc.shape[0] > 1:
            if rng.random() < 0.2:
                xc = np.broadcast_to(xc.mean(axis=0, keepdims=True), xc.shape)
            else:
                xc = xc * rng.uniform(0.85, 1.15, (xc.shape[0], 1, 1))
        xc = xc ** math.exp(rng.uniform(-0.4, 0.4))
        xc = xc * rng.uniform(0.7, 1.3) + rng.uniform(-0.1, 0.1)
        xc = xc + rng.normal(0.0, rng.uniform(0.0, 0.05), xc.shape)
        return np.ascontiguousarray(xc, dtype=np.float32), np.ascontiguousarray(target)

    def fit(
        self,
        images: Sequence[NDArray[np.uint8]],
        instance_labels: Sequence[NDArray[np.int32]],
        *,
        init_from: MaskSegmenter | None = None,
        progress: Progress | None = None,
    ) -> MaskSegmenter:
        """Train on images and their instance label images (0 = background).

        Parameters
        ----------
        images : sequence of ndarray
            ``uint8`` ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` images.
        instance_labels : sequence of ndarray
            ``(H, W)`` integer instance label images of the same geometry (``k > 0`` = object).
        init_from : MaskSegmenter or None
            Fine-tune: start from this fitted segmenter's weights; this segmenter's ``width``,
            ``depth`` and ``invert`` are set to the parent's.
        progress : callable or None
            Called as ``progress(done_epochs, total_epochs, mean_loss_of_the_epoch)``.

        Returns
        -------
        MaskSegmenter
            ``self``.

        Raises
        ------
        ValueError
            No image, mismatched lengths or shapes, or an unfitted ``init_from``.
        """
        t0 = time.perf_counter()
        if len(images) != len(instance_labels):
            raise ValueError(f"{len(images)} images but {len(instance_labels)} label images")
        if not len(images):
            raise ValueError("no training image")
        if init_from is not None:
            if init_from.net_ is None:
                raise ValueError("init_from is not fitted")
            self.width, self.depth = init_from.width, init_from.depth
            self.invert, self.rgb = init_from.invert, init_from.rgb
        xs, labs = [], []
        for i, (img, lab) in enumerate(zip(images, instance_labels, strict=True)):
            lab = np.asarray(lab)
            x = normalise(img, self.invert, self.rgb)
            if lab.shape != x.shape[1:]:
                raise ValueError(f"image {i}: labels have shape {lab.shape}, image {x.shape[1:]}")
            xs.append(x)
            labs.append(lab.astype(np.int32))

        device = self.device_
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        net = UNet(self.in_channels, 3, self.width, self.depth)
        if init_from is not None:
            net.load_state_dict({k: v.detach().cpu().clone() for k, v in init_from.net_.state_dict().items()})
        net.to(device)
        weight = torch.tensor([1.0, 1.0, float(self.boundary_weight)], device=device)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        steps_per_epoch = max(1, math.ceil(self.patches_per_epoch / self.batch_size))
        total = steps_per_epoch * max(1, self.epochs)
        warm = min(steps_per_epoch, max(1, total // 10))

        def lr_factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * min(step - warm, total - warm) / max(1, total - warm)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
        net.train()
        losses = []
        for epoch in range(self.epochs):
            epoch_loss, n = 0.0, 0
            for _ in range(steps_per_epoch):
                batch = [self._crop(xs[j], labs[j], rng) for j in rng.integers(0, len(xs), self.batch_size)]
                xb = torch.from_numpy(np.stack([b[0] for b in batch])).to(device)
                yb = torch.from_numpy(np.stack([b[1] for b in batch])).to(device)
                loss = F.cross_entropy(net(xb), yb, weight=weight, ignore_index=255)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                epoch_loss += float(loss.detach())
                n += 1
            losses.append(epoch_loss / max(1, n))
            if progress is not None:
                progress(epoch + 1, self.epochs, losses[-1])
        net.eval()
        self.net_ = net
        self.training_ = {
            "images": len(xs),
            "instances": int(sum(len(np.unique(lab[lab > 0])) for lab in labs)),
            "epochs": self.epochs,
            "steps": total if self.epochs else 0,
            "final_loss": round(losses[-1], 5) if losses else None,
            "fine_tuned_from": init_from.version if init_from is not None else None,
            "device": device,
            "threads": torch.get_num_threads(),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        return self

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> None:
        if self.net_ is None:
            raise RuntimeError("MaskSegmenter is not fitted: call fit() or load()")

    def _probabilities(self, image: NDArray) -> NDArray[np.float32]:
        """``(3, H, W)`` background / interior / boundary probabilities.

        The normalised image is padded (reflection) to a multiple of ``2**depth``; images larger
        than ``tile`` are run in overlapping tiles whose starts are multiples of ``2**depth`` (so
        the pooling grid is the whole image's) and of which only the centre, ``tile // 4`` (at
        most 64) pixels away from a tile edge inside the image, is kept.
        """
        x = normalise(image, self.invert, self.rgb)
        h, w = x.shape[1:]
        m = 2**self.depth
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="reflect" if (ph < h and pw < w) else "edge")
        net, device = self.net_, self.device_
        net.to(device)
        net.eval()
        tile = max(4 * m, int(self.tile) // m * m)
        margin = min(64, tile // 4) // m * m
        out = np.zeros((3, *x.shape[1:]), np.float32)
        with torch.no_grad():
            for y0, y1, ky0, ky1 in _tiles(x.shape[1], tile, margin):
                for x0, x1, kx0, kx1 in _tiles(x.shape[2], tile, margin):
                    t = torch.from_numpy(np.ascontiguousarray(x[:, y0:y1, x0:x1]))[None].to(device)
                    p = torch.softmax(net(t), dim=1)[0].float().cpu().numpy()
                    out[:, ky0:ky1, kx0:kx1] = p[:, ky0 - y0 : ky1 - y0, kx0 - x0 : kx1 - x0]
        return out[:, :h, :w]

    def predict_proba(self, images: Sequence[NDArray[np.uint8]]) -> list[NDArray[np.float32]]:
        """Per image the ``(H, W)`` foreground probability (interior + boundary), float32."""
        self._check_fitted()
        out = []
        for img in images:
            p = self._probabilities(img)
            out.append(np.clip(p[1] + p[2], 0.0, 1.0).astype(np.float32))
        return out

    def _instances(self, p: NDArray[np.float32]) -> tuple[NDArray[np.int32], NDArray[np.float64]]:
        """Instance label image (regions by descending score) and region scores."""
        from skimage.measure import label as cc_label
        from skimage.segmentation import watershed

        p_int, p_fg = p[1], p[1] + p[2]
        fg = p_fg > self.foreground_threshold
        markers = cc_label(p_int > self.interior_threshold, connectivity=1)
        inst = watershed(-p_int, markers, mask=fg) if markers.max() else np.zeros(fg.shape, np.int64)
        orphans = cc_label(fg & (inst == 0), connectivity=1)
        if orphans.max():
            inst = np.where(orphans > 0, orphans + inst.max(), inst)
        n = int(inst.max())
        if n == 0:
            return np.zeros(p_fg.shape, np.int32), np.zeros(0)
        sizes = np.bincount(inst.ravel(), minlength=n + 1)
        keep = np.flatnonzero(sizes >= max(1, self.min_size))
        keep = keep[keep > 0]
        sums = np.bincount(inst.ravel(), weights=p_fg.ravel(), minlength=n + 1)
        scores = sums[keep] / sizes[keep]
        order = np.argsort(-scores, kind="stable")
        lut = np.zeros(n + 1, np.int32)
        lut[keep[order]] = np.arange(1, len(keep) + 1, dtype=np.int32)
        out = lut[inst]
        # fill holes inside each region
        holes = ndi.binary_fill_holes(out > 0) & (out == 0)
        if holes.any():
            hl, nh = ndi.label(holes)
            for k, sl in enumerate(ndi.find_objects(hl), start=1):
                r0, c0 = max(0, sl[0].start - 1), max(0, sl[1].start - 1)
                win = out[r0 : sl[0].stop + 1, c0 : sl[1].stop + 1]
                hole = hl[r0 : sl[0].stop + 1, c0 : sl[1].stop + 1] == k
                ring = ndi.binary_dilation(hole) & ~hole
                vals = win[ring]
                vals = vals[vals > 0]
                if vals.size and (vals == vals[0]).all():
                    win[hole] = vals[0]
        return out.astype(np.int32), scores[order].astype(np.float64)

    def predict(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        """Regions per image: masks as ``instance_labels`` (original geometry), boxes, scores.

        Regions are sorted by descending score (mean foreground probability, module
        docstring); region ``k`` is ``instance_labels == k + 1`` and ``boxes[k]`` its
        pixel-edge box ``(x0, y0, x1, y1)``.
        """
        self._check_fitted()
        out = []
        for img in images:
            inst, scores = self._instances(self._probabilities(img))
            n = len(scores)
            boxes = np.zeros((n, 4), np.float64)
            for k, sl in enumerate(ndi.find_objects(inst, max_label=n)):
                if sl is not None:
                    boxes[k] = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
            out.append(
                Detections(
                    boxes=boxes,
                    scores=scores,
                    labels=[self.label] * n,
                    classes=(self.label,),
                    instance_labels=inst,
                )
            )
        return out

    # ------------------------------------------------------------------ persistence
    @property
    def version(self) -> str:
        """``seg-<12 hex>``: SHA-256 of the weights and the preprocessing/post-processing settings."""
        self._check_fitted()
        return f"seg-{weights_digest(self.net_, self._inference_meta())[:12]}"

    def _inference_meta(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "depth": self.depth,
            "invert": self.invert,
            "rgb": self.rgb,
            "invert_median": INVERT_MEDIAN,
            "norm_percentiles": list(NORM_PERCENTILES),
            "foreground_threshold": self.foreground_threshold,
            "interior_threshold": self.interior_threshold,
            "min_size": self.min_size,
            "label": self.label,
        }

    def save(self, directory: Path) -> None:
        """Write ``segmenter.pt`` (state dict) and ``segmenter.json`` (metadata) into ``directory``."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().clone() for k, v in self.net_.state_dict().items()}
        torch.save(state, directory / WEIGHTS_FILE)
        meta = {
            "format": FORMAT_VERSION,
            "model": "unet-segmenter",
            "version": self.version,
            "classes": ["background", "interior", "boundary"],
            "params": self.get_params(),
            "normalisation": {"invert_median": INVERT_MEDIAN, "percentiles": list(NORM_PERCENTILES)},
            "training": self.training_,
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, device: str | None = None) -> MaskSegmenter:
        """Read a segmenter written by :meth:`save` (onto ``device``; ``None`` = CUDA if available).

        Raises
        ------
        FileNotFoundError
            Naming the missing file.
        ValueError
            When the file's format or normalisation differs from this code's.
        """
        directory = Path(directory)
        for name in (META_FILE, WEIGHTS_FILE):
            if not (directory / name).is_file():
                raise FileNotFoundError(f"{directory / name}: missing segmenter file")
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{directory / META_FILE}: format {meta.get('format')!r}, expected {FORMAT_VERSION}")
        norm = meta.get("normalisation", {})
        if norm.get("invert_median") != INVERT_MEDIAN or norm.get("percentiles") != list(NORM_PERCENTILES):
            raise ValueError(f"{directory / META_FILE}: normalisation differs from this version of the code")
        params = dict(meta["params"])
        params["device"] = device
        params["scale_range"] = tuple(params["scale_range"])
        seg = cls(**params)
        net = UNet(seg.in_channels, 3, seg.width, seg.depth)
        net.load_state_dict(torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True))
        net.eval()
        seg.net_ = net.to(seg.device_)
        seg.training_ = dict(meta.get("training", {}))
        return seg
