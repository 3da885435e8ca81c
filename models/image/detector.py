"""Trainable box detector: a tiny CenterNet trained from scratch (:mod:`cliniloop.models.image.centernet`).

Images and coordinates
----------------------
Images are ``uint8`` ``(H, W)`` grey or ``(H, W, 3)`` RGB of any size (grey is replicated to three
channels). Each image is standardised with its own mean and standard deviation (over all pixels
and channels, so colour ratios are kept and the exposure or window of an image does not matter),
resized with antialiasing so that its longest side is ``input_size`` (aspect kept; the scale of
each axis is ``round(side * s) / side``), and padded at the bottom and right to a multiple of 32.
Boxes go back to original pixels by dividing by those per-axis scales: pixel-edge coordinates map
exactly (:mod:`cliniloop.models.image.regions`), and are clipped to the image.

Training
--------
Every epoch draws one random training crop per image: the image at a random scale of
``scale_range`` times its inference scale, a ``crop_size`` square window (padded where the image
is smaller), random horizontal and vertical flips, random 90-degree rotations (``rotate``; keep it
off for images with a canonical orientation such as CT slices), a per-channel gain and offset, a
global contrast change and Gaussian noise. Boxes cut by the crop stay targets (clipped) when at
least ``MIN_VISIBLE`` of their area is inside; smaller remnants are "ignore" areas (no heatmap
loss). AdamW with a linear warm-up (first 3 % of the steps) and cosine decay to 0, gradient norm
clipped at 10. Images without boxes are pure negatives.

Prediction
----------
Heatmap peaks (:func:`~cliniloop.models.image.centernet.decode`), optionally averaged with the horizontally
flipped image's heatmap and sizes (``flip_test``), then class-wise non-maximum suppression at
``nms_iou`` (CenterNet needs none in principle; it removes the odd double peak on large objects).
By default peaks are taken on the maximum over the class heatmaps, so one cell gives at most one
region (``per_class_peaks=True`` takes CenterNet's peaks of every class's heatmap instead: a cell
can then give regions of two classes with the same ``class_probs``). A region's score is its
heatmap peak (sigmoid, in [0, 1]), its label the peak's class (the arg-max of its
``class_probs``), and its ``class_probs`` the heatmap values of all classes at that cell,
normalised to sum to 1.

Retraining from corrections
---------------------------
``fit(images, targets, init_from=previous)`` starts from ``previous``'s weights (and takes its
``width`` and ``blocks``; the other hyper-parameters stay this detector's). Classes of the targets
(or of this detector's ``classes``) that ``previous`` does not know are appended to its class
list, with freshly initialised heatmap channels. Pass the corrected images together with (a sample
of) the original training images so the network does not forget.

Devices and determinism
-----------------------
``device=None`` picks ``"cuda"`` when :func:`torch.cuda.is_available` and ``"cpu"`` otherwise.
On CPU, training is deterministic for a given ``seed`` and thread count.

On BCCD (blood cells; train.txt 205 images, evaluated on val.txt 87 images, 640x480) the
defaults give Pascal VOC mAP@0.5 0.903 (AP RBC 0.854, WBC 0.996, Platelets 0.858; class-agnostic
recall 0.994), training in about 10 minutes on one CPU thread with bfloat16 autocast (AMX), and
predict in about 60 ms per image on one CPU thread (with ``flip_test``; 38 ms without, mAP 0.901).
A second seed gave 0.899; 80 epochs 0.890.

Files (:meth:`BoxDetector.save`): ``detector.pt`` (a plain ``state_dict``, read back with
``weights_only=True``) and ``detector.json`` (classes, hyper-parameters, training summary,
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

from cliniloop.models.image.centernet import (
    SIZE_MULTIPLE,
    STRIDE,
    CenterNet,
    build_targets,
    centernet_loss,
    decode,
    extend_classes,
    nms,
)
from cliniloop.models.image.regions import Detections
from cliniloop.models.torch_common import resolve_device, weights_digest
from cliniloop.services.core.targets import BoxTarget

#: Weights file and metadata file written by :meth:`BoxDetector.save`.
WEIGHTS_FILE = "detector.pt"
META_FILE = "detector.json"
FORMAT_VERSION = 1
#: A box cut by a training crop stays a target when this fraction of its area is inside the crop.
MIN_VISIBLE = 0.5

Progress = Callable[[int, int, float], None]


def _bf16_fast(device: str) -> bool:
    """Whether bfloat16 autocast is native (fast) on ``device``: CUDA with bf16, or a CPU with AVX512-BF16/AMX."""
    try:
        if device.startswith("cuda"):
            return bool(torch.cuda.is_bf16_supported())
        if device == "cpu":
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False
    return False


def _as_rgb(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """``(H, W, 3)`` view or copy of a grey or RGB image; raises on other shapes."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {np.asarray(image).shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {arr.dtype}")
    return arr


def _stats(rgb: NDArray[np.uint8]) -> tuple[float, float]:
    """Mean and standard deviation of an image in [0, 1] units (std at least 0.02)."""
    x = rgb.astype(np.float32) / 255.0
    return float(x.mean()), max(float(x.std()), 0.02)


def _resize(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Antialiased bilinear resize of a ``(C, H, W)`` float tensor (pixel edges map linearly)."""
    if x.shape[-2:] == (h, w):
        return x
    return F.interpolate(x[None], size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0]


def _round_up(n: int, m: int = SIZE_MULTIPLE) -> int:
    return int(math.ceil(n / m) * m)


class BoxDetector:
    """Box detector with a per-region class distribution (see the module docstring).

    Parameters
    ----------
    classes : sequence of str or None
        Class names (heatmap channels, ``class_probs`` columns). ``None``: the sorted labels of
        the training targets. Given explicitly, a target label outside it is an error.
    epochs : int
        Passes over the training images (one random crop per image and pass).
    batch_size : int
        Crops per optimisation step.
    lr : float
        Peak AdamW learning rate (warm-up, then cosine decay to 0).
    weight_decay : float
        AdamW weight decay.
    input_size : int
        Longest image side in network pixels at prediction (and the reference scale of training).
    crop_size : int
        Side of the square training crops in network pixels (rounded up to a multiple of 32).
    scale_range : tuple of float
        Training scale jitter (log-uniform), relative to the prediction scale.
    width : int
        Base channel count of the network (:class:`~cliniloop.models.image.centernet.CenterNet`).
    blocks : int
        Residual blocks per encoder stage.
    heatmap_alpha : float
        Gaussian standard deviation of a centre, as a fraction of ``box side / 6``.
    size_weight, offset_weight : float
        Loss weights of the log-size and offset regressions (the heatmap's is 1).
    rotate : bool
        Random 90-degree rotations in training (for rotation-invariant images such as cells).
    flip : bool
        Random horizontal and vertical flips in training.
    flip_test : bool
        Average the heatmap and sizes with the horizontally flipped image's at prediction.
    nms_iou : float or None
        Class-wise non-maximum suppression threshold at prediction (``None``: none).
    per_class_peaks : bool
        ``False``: one region per peak of the maximum over the class heatmaps, labelled with the
        arg-max class (so a region's label is the arg-max of its ``class_probs``). ``True``:
        CenterNet's peaks of every class's heatmap (a cell may give regions of several classes).
    precision : {"auto", "fp32", "bf16"}
        Training arithmetic: ``"bf16"`` autocasts the network to bfloat16 (weights and the loss
        stay float32); ``"auto"`` does so where bfloat16 is native (CUDA with bf16, CPUs with
        AVX512-BF16 or AMX: about 2.5x faster there) and uses float32 elsewhere. Prediction is
        always float32.
    seed : int
        Seeds the initialisation, crop order and augmentation.
    device : str or None
        Torch device; ``None`` = CUDA when available, else CPU.
    """

    def __init__(
        self,
        classes: Sequence[str] | None = None,
        *,
        epochs: int = 120,
        batch_size: int = 8,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        input_size: int = 512,
        crop_size: int = 320,
        scale_range: tuple[float, float] = (0.75, 1.33),
        width: int = 16,
        blocks: int = 1,
        heatmap_alpha: float = 0.54,
        size_weight: float = 1.0,
        offset_weight: float = 1.0,
        rotate: bool = True,
        flip: bool = True,
        flip_test: bool = True,
        nms_iou: float | None = 0.7,
        per_class_peaks: bool = False,
        precision: str = "auto",
        seed: int = 0,
        device: str | None = None,
    ) -> None:
        self.classes = tuple(classes) if classes is not None else None
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.input_size = input_size
        self.crop_size = crop_size
        self.scale_range = tuple(scale_range)
        self.width = width
        self.blocks = blocks
        self.heatmap_alpha = heatmap_alpha
        self.size_weight = size_weight
        self.offset_weight = offset_weight
        self.rotate = rotate
        self.flip = flip
        self.flip_test = flip_test
        self.nms_iou = nms_iou
        self.per_class_peaks = per_class_peaks
        if precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', not {precision!r}")
        self.precision = precision
        self.seed = seed
        self.device = device
        self.classes_: tuple[str, ...] = ()
        self.net_: CenterNet | None = None
        self.training_: dict[str, Any] = {}

    # ------------------------------------------------------------------ parameters
    def get_params(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able)."""
        return {
            "classes": list(self.classes) if self.classes is not None else None,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "input_size": self.input_size,
            "crop_size": self.crop_size,
            "scale_range": list(self.scale_range),
            "width": self.width,
            "blocks": self.blocks,
            "heatmap_alpha": self.heatmap_alpha,
            "size_weight": self.size_weight,
            "offset_weight": self.offset_weight,
            "rotate": self.rotate,
            "flip": self.flip,
            "flip_test": self.flip_test,
            "nms_iou": self.nms_iou,
            "per_class_peaks": self.per_class_peaks,
            "precision": self.precision,
            "seed": self.seed,
            "device": self.device,
        }

    @property
    def device_(self) -> str:
        """The torch device actually used."""
        return resolve_device(self.device)

    # ------------------------------------------------------------------ training
    def _class_list(self, targets: Sequence[BoxTarget], init_from: BoxDetector | None) -> tuple[str, ...]:
        seen = sorted({str(lab) for t in targets for lab in t.labels})
        if self.classes is not None:
            unknown = [lab for lab in seen if lab not in self.classes]
            if unknown:
                raise ValueError(f"target labels {unknown} are not among the detector's classes {list(self.classes)}")
            wanted = list(self.classes)
        else:
            wanted = seen
        if init_from is not None:
            base = list(init_from.classes_)
            return tuple(base + [c for c in wanted if c not in base])
        if not wanted:
            raise ValueError("no class: the targets have no box and no classes were given")
        return tuple(wanted)

    def _sample(
        self,
        rgb: torch.Tensor,
        stats: tuple[float, float],
        target: tuple[np.ndarray, np.ndarray],
        rng: np.random.Generator,
        crop: int,
    ) -> tuple[torch.Tensor, np.ndarray, np.ndarray, np.ndarray]:
        """One augmented training crop: ``(image (3, crop, crop), boxes, class indices, ignore boxes)``."""
        _, h, w = rgb.shape
        lo, hi = self.scale_range
        s = self.input_size / max(h, w) * math.exp(rng.uniform(math.log(lo), math.log(hi)))
        # the window of the original image that the crop shows (whole image where smaller)
        cw, ch = min(w, int(math.ceil(crop / s))), min(h, int(math.ceil(crop / s)))
        x0 = int(rng.integers(0, w - cw + 1))
        y0 = int(rng.integers(0, h - ch + 1))
        nw, nh = min(crop, max(1, round(cw * s))), min(crop, max(1, round(ch * s)))
        sx, sy = nw / cw, nh / ch
        px = int(rng.integers(0, crop - nw + 1))
        py = int(rng.integers(0, crop - nh + 1))
        mean, std = stats
        patch = (rgb[:, y0 : y0 + ch, x0 : x0 + cw].float() / 255.0 - mean) / std
        canvas = torch.zeros(3, crop, crop)
        canvas[:, py : py + nh, px : px + nw] = _resize(patch, nh, nw)

        boxes, cls = target
        keep_boxes = np.zeros((0, 4))
        keep_cls = np.zeros(0, np.int64)
        ignore = np.zeros((0, 4))
        if len(boxes):
            b = (boxes - [x0, y0, x0, y0]) * [sx, sy, sx, sy] + [px, py, px, py]
            clipped = np.stack(
                [
                    np.clip(b[:, 0], px, px + nw),
                    np.clip(b[:, 1], py, py + nh),
                    np.clip(b[:, 2], px, px + nw),
                    np.clip(b[:, 3], py, py + nh),
                ],
                axis=1,
            )
            area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
            vis = np.clip(clipped[:, 2] - clipped[:, 0], 0, None) * np.clip(clipped[:, 3] - clipped[:, 1], 0, None)
            frac = vis / np.maximum(area, 1e-9)
            ok = (frac >= MIN_VISIBLE) & (clipped[:, 2] - clipped[:, 0] >= 1) & (clipped[:, 3] - clipped[:, 1] >= 1)
            keep_boxes, keep_cls = clipped[ok], cls[ok]
            ignore = clipped[(~ok) & (vis > 0)]

        # geometric augmentation on the square canvas (boxes follow)
        def hflip(bx: np.ndarray) -> np.ndarray:
            return np.stack([crop - bx[:, 2], bx[:, 1], crop - bx[:, 0], bx[:, 3]], axis=1)

        def vflip(bx: np.ndarray) -> np.ndarray:
            return np.stack([bx[:, 0], crop - bx[:, 3], bx[:, 2], crop - bx[:, 1]], axis=1)

        def rot90(bx: np.ndarray) -> np.ndarray:  # torch.rot90(k=1, dims=(1, 2)): (x, y) -> (y, crop - x)
            return np.stack([bx[:, 1], crop - bx[:, 2], bx[:, 3], crop - bx[:, 0]], axis=1)

        if self.flip and rng.random() < 0.5:
            canvas = canvas.flip(2)
            keep_boxes, ignore = hflip(keep_boxes), hflip(ignore)
        if self.flip and rng.random() < 0.5:
            canvas = canvas.flip(1)
            keep_boxes, ignore = vflip(keep_boxes), vflip(ignore)
        if self.rotate and rng.random() < 0.5:
            canvas = torch.rot90(canvas, 1, dims=(1, 2))
            keep_boxes, ignore = rot90(keep_boxes), rot90(ignore)

        # photometric augmentation (in standardised units; padding stays 0)
        gain = torch.from_numpy(rng.uniform(0.9, 1.1, size=(3, 1, 1)).astype(np.float32))
        shift = torch.from_numpy(rng.uniform(-0.15, 0.15, size=(3, 1, 1)).astype(np.float32))
        contrast = float(rng.uniform(0.8, 1.25))
        noise = float(rng.uniform(0.0, 0.05))
        canvas = canvas * gain * contrast + shift
        if noise > 0:
            gen = torch.Generator().manual_seed(int(rng.integers(0, 2**31 - 1)))
            canvas = canvas + noise * torch.randn(canvas.shape, generator=gen)
        return canvas, keep_boxes, keep_cls, ignore

    def fit(
        self,
        images: Sequence[NDArray[np.uint8]],
        targets: Sequence[BoxTarget],
        *,
        init_from: BoxDetector | None = None,
        progress: Progress | None = None,
    ) -> BoxDetector:
        """Train on images and their boxes.

        Parameters
        ----------
        images : sequence of uint8 arrays
            ``(H, W)`` grey or ``(H, W, 3)`` RGB, any size.
        targets : sequence of BoxTarget
            Boxes (original pixels) and labels per image; ``difficult`` boxes are ignore areas.
        init_from : BoxDetector or None
            Fine-tune: start from this fitted detector's weights (module docstring); its
            ``width`` and ``blocks`` are taken over.
        progress : callable or None
            Called as ``progress(epoch, epochs, mean loss of the epoch)`` after every epoch.

        Returns
        -------
        BoxDetector
            ``self``.

        Raises
        ------
        ValueError
            Mismatched lengths, no image, a label outside ``classes``, or an unfitted ``init_from``.
        """
        t0 = time.perf_counter()
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        if not images:
            raise ValueError("no training image")
        if init_from is not None:
            if init_from.net_ is None:
                raise ValueError("init_from is not fitted")
            self.width, self.blocks = init_from.width, init_from.blocks
        classes = self._class_list(targets, init_from)
        lookup = {c: i for i, c in enumerate(classes)}
        device = self.device_

        rgbs, stats, boxes = [], [], []
        for img, tgt in zip(images, targets, strict=True):
            rgb = _as_rgb(img)
            rgbs.append(torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))))
            stats.append(_stats(rgb))
            b = np.asarray(tgt.boxes, np.float64).reshape(-1, 4)
            if len(b) != len(tgt.labels):
                raise ValueError(f"target with {len(b)} boxes but {len(tgt.labels)} labels")
            diff = np.zeros(len(b), bool) if tgt.difficult is None else np.asarray(tgt.difficult, bool)
            cls = np.asarray([lookup[str(lab)] for lab in tgt.labels], np.int64)
            # difficult boxes: ignore areas, encoded with class -1
            cls = np.where(diff, -1, cls)
            boxes.append((b, cls))

        torch.manual_seed(self.seed)
        net = CenterNet(len(classes), self.width, self.blocks)
        if init_from is not None:
            state = {k: v.detach().cpu() for k, v in init_from.net_.state_dict().items()}
            net.load_state_dict(extend_classes(state, len(init_from.classes_), net))
        net = net.to(device)
        use_bf16 = self.precision == "bf16" or (self.precision == "auto" and _bf16_fast(device))
        device_type = "cuda" if device.startswith("cuda") else "cpu"
        channels_last = device == "cpu"
        if channels_last:
            net = net.to(memory_format=torch.channels_last)

        crop = _round_up(self.crop_size)
        out = crop // STRIDE
        n = len(rgbs)
        steps_per_epoch = max(1, math.ceil(n / self.batch_size))
        total = steps_per_epoch * self.epochs
        warmup = max(1, int(0.03 * total))
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)

        def lr_at(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
        rng = np.random.default_rng(self.seed)
        net.train()
        history = []
        for epoch in range(self.epochs):
            order = rng.permutation(n)
            losses = []
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                if len(idx) < 2 and n >= 2:  # BatchNorm needs two samples: merge a lone remainder
                    idx = np.concatenate([idx, order[:1]])
                xs, heats, weights, bidx, cidx, sizes, offs = [], [], [], [], [], [], []
                for k, i in enumerate(idx):
                    b, c = boxes[i]
                    canvas, kb, kc, ign = self._sample(rgbs[i], stats[i], (b, c), rng, crop)
                    pos = kc >= 0
                    ign = np.concatenate([ign, kb[~pos]])
                    heat, weight, cell, size, off = build_targets(
                        kb[pos], kc[pos], ign, out, out, len(classes), self.heatmap_alpha
                    )
                    xs.append(canvas)
                    heats.append(heat)
                    weights.append(weight)
                    bidx.append(np.full(len(cell), k, np.int64))
                    cidx.append(cell)
                    sizes.append(size)
                    offs.append(off)
                x = torch.stack(xs).to(device)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=use_bf16):
                    outputs = net(x)
                loss, _parts = centernet_loss(
                    outputs,
                    torch.from_numpy(np.stack(heats)).to(device),
                    torch.from_numpy(np.stack(weights))[:, None].to(device),
                    torch.from_numpy(np.concatenate(bidx)).to(device),
                    torch.from_numpy(np.concatenate(cidx)).to(device),
                    torch.from_numpy(np.concatenate(sizes)).to(device),
                    torch.from_numpy(np.concatenate(offs)).to(device),
                    self.size_weight,
                    self.offset_weight,
                )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
            mean_loss = float(np.mean(losses))
            history.append(round(mean_loss, 4))
            if progress is not None:
                progress(epoch + 1, self.epochs, mean_loss)
        net.eval()
        self.net_ = net.to(memory_format=torch.contiguous_format)
        self.classes_ = classes
        counts = {c: 0 for c in classes}
        for _, cls in boxes:
            for ci in cls[cls >= 0]:
                counts[classes[ci]] += 1
        self.training_ = {
            "images": n,
            "box_counts": counts,
            "loss_history": history,
            "fine_tuned_from": init_from.version if init_from is not None else None,
            "device": device,
            "precision": "bf16" if use_bf16 else "fp32",
            "threads": torch.get_num_threads(),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        return self

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> None:
        if self.net_ is None or not self.classes_:
            raise RuntimeError("BoxDetector is not fitted: call fit() or load()")

    def _raw(self, image: NDArray[np.uint8]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float, float, int, int]:
        """Heatmap probabilities, log sizes and offsets of one image, plus its axis scales and size."""
        rgb = _as_rgb(image)
        h, w = rgb.shape[:2]
        mean, std = _stats(rgb)
        x = (torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float() / 255.0 - mean) / std
        s = self.input_size / max(h, w)
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        x = _resize(x, nh, nw)
        ph, pw = _round_up(nh), _round_up(nw)
        x = F.pad(x, (0, pw - nw, 0, ph - nh))[None]
        device = self.device_
        net = self.net_
        with torch.no_grad():
            batch = torch.cat([x, x.flip(3)]) if self.flip_test else x
            hm, size, off = net(batch.to(device))
            prob = torch.sigmoid(hm.float()).cpu()
            size, off = size.float().cpu(), off.float().cpu()
        if self.flip_test:
            prob = (prob[0] + prob[1].flip(2)) / 2
            size = (size[0] + size[1].flip(2)) / 2
        else:
            prob, size = prob[0], size[0]
        # no peak in cells of the padding
        prob[:, math.ceil(nh / STRIDE) :, :] = 0.0
        prob[:, :, math.ceil(nw / STRIDE) :] = 0.0
        return prob, size, off[0], nw / w, nh / h, h, w

    def predict(
        self,
        images: Sequence[NDArray[np.uint8]],
        *,
        score_threshold: float = 0.05,
        max_regions: int = 300,
    ) -> list[Detections]:
        """Regions of every image, in original pixels, by descending score (module docstring).

        Parameters
        ----------
        images : sequence of uint8 arrays
            ``(H, W)`` grey or ``(H, W, 3)`` RGB, any size.
        score_threshold : float
            Regions scoring below are dropped.
        max_regions : int
            At most this many regions per image (the top heatmap peaks).
        """
        self._check_fitted()
        self.net_.to(self.device_)
        self.net_.eval()
        results = []
        for image in images:
            prob, size, off, sx, sy, h, w = self._raw(image)
            boxes, scores, cls, class_scores = decode(prob, size, off, max_regions, self.per_class_peaks)
            ok = scores >= score_threshold
            boxes, scores, cls, class_scores = boxes[ok], scores[ok], cls[ok], class_scores[ok]
            if self.nms_iou is not None and len(boxes):
                keep = np.concatenate(
                    [
                        np.flatnonzero(cls == c)[nms(boxes[cls == c], scores[cls == c], self.nms_iou)]
                        for c in np.unique(cls)
                    ]
                )
                keep = keep[np.argsort(-scores[keep], kind="stable")]
                boxes, scores, cls, class_scores = boxes[keep], scores[keep], cls[keep], class_scores[keep]
            boxes = boxes / [sx, sy, sx, sy]
            boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
            boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
            ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            boxes, scores, cls, class_scores = boxes[ok], scores[ok], cls[ok], class_scores[ok]
            probs = class_scores / np.maximum(class_scores.sum(axis=1, keepdims=True), 1e-12)
            results.append(
                Detections(
                    boxes=boxes.astype(np.float64),
                    scores=np.clip(scores, 0.0, 1.0),
                    labels=[self.classes_[c] for c in cls],
                    class_probs=probs,
                    classes=tuple(self.classes_),
                )
            )
        return results

    def predict_proba(
        self,
        images: Sequence[NDArray[np.uint8]],
        *,
        score_threshold: float = 0.05,
        max_regions: int = 300,
    ) -> list[NDArray[np.float64]]:
        """Per image, the ``(N_regions, C)`` class distributions of :meth:`predict`'s regions.

        Columns follow ``classes_``; rows sum to 1.
        """
        return [d.class_probs for d in self.predict(images, score_threshold=score_threshold, max_regions=max_regions)]

    # ------------------------------------------------------------------ persistence
    @property
    def version(self) -> str:
        """``det-<12 hex>``: SHA-256 of the weights, classes and hyper-parameters."""
        self._check_fitted()
        params = {k: v for k, v in self.get_params().items() if k != "device"}
        return f"det-{weights_digest(self.net_, {'classes': list(self.classes_), 'params': params})[:12]}"

    def save(self, directory: Path) -> None:
        """Write ``detector.pt`` (state dict) and ``detector.json`` (metadata) into ``directory``."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().clone().contiguous() for k, v in self.net_.state_dict().items()}
        torch.save(state, directory / WEIGHTS_FILE)
        meta = {
            "format": FORMAT_VERSION,
            "model": "centernet",
            "version": self.version,
            "classes": list(self.classes_),
            "params": self.get_params(),
            "training": self.training_,
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, device: str | None = None) -> BoxDetector:
        """Read a detector written by :meth:`save`.

        Parameters
        ----------
        directory : Path
            Folder with ``detector.pt`` and ``detector.json``.
        device : str or None
            Device to run on; ``None`` = CUDA when available, else CPU.

        Raises
        ------
        FileNotFoundError
            Naming the missing file.
        ValueError
            When the file's format is not this code's.
        """
        directory = Path(directory)
        for name in (META_FILE, WEIGHTS_FILE):
            if not (directory / name).is_file():
                raise FileNotFoundError(f"{directory / name}: missing box detector file")
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_VERSION or meta.get("model") != "centernet":
            raise ValueError(f"{directory / META_FILE}: not a box detector file of this version of the code")
        params = dict(meta["params"])
        params["device"] = device
        params["scale_range"] = tuple(params["scale_range"])
        det = cls(**params)
        det.classes_ = tuple(meta["classes"])
        net = CenterNet(len(det.classes_), det.width, det.blocks)
        state = torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        net.eval()
        det.net_ = net.to(det.device_)
        det.training_ = dict(meta.get("training", {}))
        return det
