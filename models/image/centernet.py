"""A tiny CenterNet ("Objects as Points", Zhou et al. 2019) in plain torch: network, targets, loss, decoding.

Used by :class:`cliniloop.models.image.detector.BoxDetector`; nothing here knows about image files, class
names or original-image coordinates (all coordinates are network-input pixels, output cells are
``STRIDE`` pixels wide).

Network
-------
An encoder-decoder ("U-Net"-like, as in CenterNet's ResNet/DLA variants but far smaller):
a stride-2 stem, then four residual stages at strides 4, 8, 16 and 32 (``width * (2, 4, 6, 8)``
channels, one stride-2 3x3 convolution plus ``blocks`` basic residual blocks each), and a top-down
path that upsamples (nearest) back to stride 4, adding a 1x1-projected skip connection at every
level and mixing with a 3x3 convolution (``2 * width`` channels). Three heads on the stride-4
map, each a 3x3 convolution, ReLU and a 1x1 convolution:

* ``heatmap``: one logit map per class; the focal loss's prior bias ``-log((1 - 0.1) / 0.1)``;
* ``size``: ``log`` of the box width and height in output cells;
* ``offset``: sub-cell position of the box centre (``[0, 1)`` in both axes).

Targets
-------
Every box splats an elliptical Gaussian on its class's heatmap at its centre cell, with standard
deviations ``alpha * w / 6`` and ``alpha * h / 6`` (in cells, TTFNet's size-adaptive variant of
CenterNet's radius rule; ``alpha = 0.54`` by default), element-wise max over overlapping boxes.
Size and offset are supervised at the centre cell only (L1, the size in log space).

Loss
----
Penalty-reduced pixel-wise focal loss (CenterNet's, ``alpha = 2``, ``beta = 4``) normalised by the
number of objects, plus ``size_weight * L1(log size) + offset_weight * L1(offset)``. An "ignore"
mask removes the heatmap loss inside boxes that should be neither positive nor negative (objects
mostly cut away by a training crop).

Decoding
--------
Sigmoid heatmap, 3x3 max-pool peak extraction (a peak equals its neighbourhood maximum) on every
class's map or on the maximum over classes, top-K over all classes and cells; a peak at cell ``(i, j)`` with offset ``(ox, oy)`` and size ``(w, h)``
is the box centred at ``STRIDE * (j + ox, i + oy)`` of size ``STRIDE * (w, h)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: Output stride of the heads (network-input pixels per output cell).
STRIDE = 4
#: Input sizes must be multiples of this (the deepest stage is at stride 32).
SIZE_MULTIPLE = 32
#: Initial heatmap bias: every cell starts at probability 0.1 (CenterNet's prior).
PRIOR_BIAS = -math.log((1 - 0.1) / 0.1)
#: Heatmap probability of a class added by fine-tuning before it is trained.
NEW_CLASS_PRIOR = 0.01


def _conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class _Residual(nn.Module):
    """Basic residual block: two 3x3 conv-BN, identity shortcut, ReLU."""

    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(_conv_bn(ch, ch), _conv_bn(ch, ch, act=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x), inplace=True)


class _Head(nn.Sequential):
    def __init__(self, cin: int, hidden: int, cout: int, bias: float = 0.0):
        super().__init__(nn.Conv2d(cin, hidden, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(hidden, cout, 1))
        nn.init.constant_(self[2].bias, bias)


class CenterNet(nn.Module):
    """Encoder-decoder with stride-4 heatmap, size and offset heads (module docstring).

    Parameters
    ----------
    n_classes : int
        Heatmap channels.
    width : int
        Base channel count (stages have ``2, 4, 6, 8`` times it; the decoder ``2`` times it).
    blocks : int
        Residual blocks per encoder stage.
    in_channels : int
        Input channels (3: grey images are replicated).
    """

    def __init__(self, n_classes: int, width: int = 16, blocks: int = 1, in_channels: int = 3):
        super().__init__()
        chans = [2 * width, 4 * width, 6 * width, 8 * width]
        dec = 2 * width
        self.stem = _conv_bn(in_channels, width, 3, stride=2)
        stages = []
        cin = width
        for c in chans:
            stages.append(nn.Sequential(_conv_bn(cin, c, 3, stride=2), *[_Residual(c) for _ in range(blocks)]))
            cin = c
        self.stages = nn.ModuleList(stages)
        self.lateral = nn.ModuleList([_conv_bn(c, dec, 1) for c in chans])
        self.smooth = nn.ModuleList([_conv_bn(dec, dec) for _ in chans[:-1]])
        self.heatmap = _Head(dec, dec, n_classes, PRIOR_BIAS)
        self.size = _Head(dec, dec, 2)
        self.offset = _Head(dec, dec, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(heatmap logits (B, C, h, w), log size (B, 2, h, w), offset (B, 2, h, w))`` at stride 4."""
        feats = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        y = self.lateral[-1](feats[-1])
        for level in range(len(feats) - 2, -1, -1):
            skip = self.lateral[level](feats[level])
            y = F.interpolate(y, size=skip.shape[-2:], mode="nearest") + skip
            y = self.smooth[level](y)
        return self.heatmap(y), self.size(y), torch.sigmoid(self.offset(y))

    @property
    def n_classes(self) -> int:
        return self.heatmap[2].out_channels


def extend_classes(state: dict[str, torch.Tensor], n_old: int, net: CenterNet) -> dict[str, torch.Tensor]:
    """``state`` (of a network with ``n_old`` classes) adapted to ``net``'s larger class count.

    Every tensor is copied except the last heatmap convolution, whose first ``n_old`` output
    channels are copied and whose new channels start "off": zero weights and a bias giving
    probability ``NEW_CLASS_PRIOR`` everywhere (random weights on trained features would light
    the new class up on every object and much of the background until it is learnt).
    """
    own = net.state_dict()
    out = {}
    for key, value in state.items():
        target = own[key]
        if key.startswith("heatmap.2.") and value.shape != target.shape:
            merged = torch.zeros_like(target)
            if key.endswith("bias"):
                merged.fill_(-math.log((1 - NEW_CLASS_PRIOR) / NEW_CLASS_PRIOR))
            merged[:n_old] = value
            out[key] = merged
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------------- targets
def build_targets(
    boxes: np.ndarray,
    classes: np.ndarray,
    ignore: np.ndarray,
    out_h: int,
    out_w: int,
    n_classes: int,
    alpha: float = 0.54,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training targets of one image.

    Parameters
    ----------
    boxes : ndarray (N, 4)
        Positive boxes ``x0, y0, x1, y1`` in network-input pixels.
    classes : ndarray (N,)
        Class index per box.
    ignore : ndarray (M, 4)
        Boxes whose area gets no heatmap loss.
    out_h, out_w : int
        Heatmap size (input size / ``STRIDE``).
    n_classes : int
        Heatmap channels.
    alpha : float
        Gaussian standard deviation as a fraction of ``box size / 6``.

    Returns
    -------
    heatmap : ndarray (C, out_h, out_w) float32
    weight : ndarray (out_h, out_w) float32
        1 where the heatmap loss counts, 0 in ignored areas (all classes).
    index : ndarray (K,) int64
        Flat centre cell ``i * out_w + j`` of every positive box kept.
    log_size : ndarray (K, 2) float32
        ``log`` width and height in cells.
    offset : ndarray (K, 2) float32
        Centre minus its cell's corner, in cells.
    """
    heat = np.zeros((n_classes, out_h, out_w), np.float32)
    weight = np.ones((out_h, out_w), np.float32)
    ys = np.arange(out_h, dtype=np.float32)[:, None]
    xs = np.arange(out_w, dtype=np.float32)[None, :]
    for x0, y0, x1, y1 in np.asarray(ignore, np.float64).reshape(-1, 4):
        j0, i0 = int(max(0, math.floor(x0 / STRIDE))), int(max(0, math.floor(y0 / STRIDE)))
        j1, i1 = int(min(out_w, math.ceil(x1 / STRIDE))), int(min(out_h, math.ceil(y1 / STRIDE)))
        weight[i0:i1, j0:j1] = 0.0
    index, sizes, offsets = [], [], []
    seen: set[int] = set()
    for (x0, y0, x1, y1), c in zip(np.asarray(boxes, np.float64).reshape(-1, 4), classes, strict=True):
        w, h = (x1 - x0) / STRIDE, (y1 - y0) / STRIDE
        if w <= 0 or h <= 0:
            continue
        cx, cy = (x0 + x1) / 2 / STRIDE, (y0 + y1) / 2 / STRIDE
        j, i = int(min(max(math.floor(cx), 0), out_w - 1)), int(min(max(math.floor(cy), 0), out_h - 1))
        sx, sy = max(alpha * w / 6, 0.5), max(alpha * h / 6, 0.5)
        # a window of 3 standard deviations around the centre cell
        rj, ri = int(math.ceil(3 * sx)), int(math.ceil(3 * sy))
        a0, a1, b0, b1 = max(0, i - ri), min(out_h, i + ri + 1), max(0, j - rj), min(out_w, j + rj + 1)
        g = np.exp(-((xs[:, b0:b1] - j) ** 2) / (2 * sx * sx) - ((ys[a0:a1] - i) ** 2) / (2 * sy * sy))
        np.maximum(heat[c, a0:a1, b0:b1], g, out=heat[c, a0:a1, b0:b1])
        heat[c, i, j] = 1.0
        weight[i, j] = 1.0
        flat = i * out_w + j
        if flat in seen:  # two centres in one cell: the first keeps the size/offset target
            continue
        seen.add(flat)
        index.append(flat)
        sizes.append((math.log(w), math.log(h)))
        offsets.append((cx - j, cy - i))
    return (
        heat,
        weight,
        np.asarray(index, np.int64),
        np.asarray(sizes, np.float32).reshape(-1, 2),
        np.asarray(offsets, np.float32).reshape(-1, 2),
    )


# ---------------------------------------------------------------------- loss
def focal_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """CenterNet's penalty-reduced focal loss summed over cells (``weight`` (B, 1, h, w) masks negatives).

    Returns ``(loss sum, number of positives)``.
    """
    logits = logits.float()
    pos = target.eq(1).float()
    neg = (1 - pos) * weight
    logp = F.logsigmoid(logits)
    log1mp = F.logsigmoid(-logits)
    p = torch.sigmoid(logits)
    pos_loss = -(logp * (1 - p) ** 2 * pos).sum()
    neg_loss = -(log1mp * p**2 * (1 - target) ** 4 * neg).sum()
    return pos_loss + neg_loss, pos.sum()


def centernet_loss(
    outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    heat: torch.Tensor,
    weight: torch.Tensor,
    batch_index: torch.Tensor,
    cell_index: torch.Tensor,
    log_size: torch.Tensor,
    offset: torch.Tensor,
    size_weight: float = 1.0,
    offset_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss of a batch (module docstring) and its parts.

    ``batch_index`` / ``cell_index`` (K,) locate the K positive centres (image, flat cell);
    ``log_size`` and ``offset`` (K, 2) are their regression targets.
    """
    hm, size, off = outputs
    fl, n_pos = focal_loss(hm, heat, weight)
    norm = torch.clamp(n_pos, min=1.0)
    b, _, h, w = size.shape
    if len(cell_index):
        size_at = size.float().reshape(b, 2, h * w)[batch_index, :, cell_index]
        off_at = off.float().reshape(b, 2, h * w)[batch_index, :, cell_index]
        size_l = F.l1_loss(size_at, log_size, reduction="sum") / (2 * norm)
        off_l = F.l1_loss(off_at, offset, reduction="sum") / (2 * norm)
    else:
        size_l = off_l = size.sum() * 0.0
    heat_l = fl / norm
    total = heat_l + size_weight * size_l + offset_weight * off_l
    return total, {"heatmap": float(heat_l.detach()), "size": float(size_l.detach()), "offset": float(off_l.detach())}


# ---------------------------------------------------------------------- decoding
def decode(
    heat_prob: torch.Tensor, log_size: torch.Tensor, offset: torch.Tensor, k: int, per_class: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Top-``k`` peaks of one image's heatmap.

    Parameters
    ----------
    heat_prob : tensor (C, h, w)
        Heatmap probabilities (after the sigmoid).
    log_size, offset : tensor (2, h, w)
    k : int
        Peaks kept.
    per_class : bool
        ``True``: peaks of every class's heatmap (CenterNet; one cell can give a peak in several
        classes). ``False``: peaks of the maximum over classes, each labelled with its arg-max
        class (one region per cell).

    Returns
    -------
    boxes : ndarray (K, 4)
        ``x0, y0, x1, y1`` in network-input pixels, by descending score.
    scores : ndarray (K,)
    classes : ndarray (K,) int
    class_scores : ndarray (K, C)
        All classes' heatmap values at each peak's cell.
    """
    c, h, w = heat_prob.shape
    if per_class:
        maps = heat_prob
    else:
        maps, best = heat_prob.max(dim=0, keepdim=True)
    pooled = F.max_pool2d(maps[None], 3, stride=1, padding=1)[0]
    peaks = maps * (pooled == maps)
    flat = peaks.reshape(-1)
    k = min(k, flat.numel())
    scores, idx = torch.topk(flat, k)
    cell = idx % (h * w)
    cls = idx // (h * w) if per_class else best.reshape(-1)[cell]
    i, j = cell // w, cell % w
    cx = (j.float() + offset[0].reshape(-1)[cell]) * STRIDE
    cy = (i.float() + offset[1].reshape(-1)[cell]) * STRIDE
    bw = torch.exp(log_size[0].reshape(-1)[cell]) * STRIDE
    bh = torch.exp(log_size[1].reshape(-1)[cell]) * STRIDE
    boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], dim=1)
    class_scores = heat_prob.reshape(c, -1)[:, cell].T
    return (
        boxes.double().numpy(),
        scores.double().numpy(),
        cls.numpy().astype(np.int64),
        class_scores.double().numpy(),
    )


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices kept, by descending score."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    while len(order):
        i = order[0]
        keep.append(i)
        rest = order[1:]
        ix0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        iy0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        ix1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        iy1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, np.int64)
