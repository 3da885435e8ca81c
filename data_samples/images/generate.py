"""Write the synthetic blood-smear images of ``data_samples/images`` (CC0, no real data).

Each 640x480 RGB PNG is drawn at the scale and in the colours of a stained blood smear under a
100x objective (the BCCD dataset's 640x480 frames, whose red cells measure about 85-120 px
across): pink red cells 86-112 px across with a darker rim and a pale centre (RBC), one large
cell about 120-150 px across with pale lilac cytoplasm and a dark blue-purple nucleus of 3-4
lobes (WBC), and a few purple dots 30-42 px across (Platelets), on a light grey background with
uneven illumination, fine grain, a slight blur and noise. A Pascal VOC annotation of every cell
lies beside each image in ``Annotations/`` (the VOC layout: ``JPEGImages/`` holds the PNGs). Every
pixel is drawn here from numbers in this file; no real image was used or copied. Run
``python data_samples/images/generate.py`` to rebuild them (deterministic).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

HERE = Path(__file__).resolve().parent
#: Image size in px (BCCD's frame size).
W, H = 640, 480
#: Background RGB (light grey, slightly warm).
BACKGROUND = (214.0, 212.0, 206.0)
#: RBC body and rim RGB (pink).
RBC_BODY, RBC_RIM = (192.0, 150.0, 152.0), (170.0, 122.0, 128.0)
#: WBC cytoplasm and nucleus RGB (lilac, blue-purple).
WBC_CYTO, WBC_NUCLEUS = (200.0, 188.0, 212.0), (112.0, 82.0, 182.0)
#: Platelet RGB (purple).
PLATELET = (150.0, 128.0, 190.0)

Box = tuple[int, int, int, int]


def _paint(canvas: np.ndarray, alpha: np.ndarray, colour: tuple[float, float, float] | np.ndarray) -> None:
    """Blend ``colour`` into ``canvas`` with per-pixel opacity ``alpha`` in [0, 1] (in place)."""
    a = alpha[..., None]
    canvas *= 1 - a
    canvas += a * np.asarray(colour, dtype=float)


def _ellipse(cx: float, cy: float, rx: float, ry: float, angle: float) -> np.ndarray:
    """Normalised radius (1 on the edge) of an ellipse at every pixel of the canvas."""
    yy, xx = np.mgrid[0:H, 0:W].astype(float)
    c, s = np.cos(angle), np.sin(angle)
    u, v = (xx - cx) * c + (yy - cy) * s, -(xx - cx) * s + (yy - cy) * c
    return np.hypot(u / rx, v / ry)


def _soft(d: np.ndarray, edge: float) -> np.ndarray:
    """Opacity of a shape with normalised radius ``d``: 1 inside, falling to 0 over ``edge`` at the border."""
    return np.clip((1 - d) / edge, 0, 1)


def _rbc(canvas: np.ndarray, rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float, angle: float) -> None:
    """Draw a red cell (radii ``rx``, ``ry`` px, tilted ``angle`` rad) centred at ``cx``, ``cy`` px."""
    d = _ellipse(cx, cy, rx, ry, angle)
    _paint(canvas, _soft(d, 0.04), np.asarray(RBC_BODY) + rng.normal(0, 3, 3))
    _paint(canvas, _soft(d, 0.04) * np.clip((d - 0.72) / 0.2, 0, 1) * 0.8, RBC_RIM)  # darker rim
    _paint(canvas, _soft(d / 0.42, 0.6) * rng.uniform(0.45, 0.65), BACKGROUND)  # pale centre


def _wbc(canvas: np.ndarray, rng: np.random.Generator, cx: float, cy: float, r: float) -> None:
    """Draw a white cell of radius ``r`` px centred at ``cx``, ``cy`` px: cytoplasm, then a 3-4 lobed nucleus."""
    _paint(canvas, _soft(_ellipse(cx, cy, r, r * rng.uniform(0.88, 1.0), rng.uniform(0, np.pi)), 0.05), WBC_CYTO)
    nucleus = np.zeros((H, W))
    lobes = int(rng.integers(3, 5))
    start = rng.uniform(0, 2 * np.pi)
    for k in range(lobes):
        t = start + 2 * np.pi * k / lobes + rng.normal(0, 0.25)
        lx, ly = cx + 0.3 * r * np.cos(t), cy + 0.3 * r * np.sin(t)
        lr = r * rng.uniform(0.34, 0.42)
        nucleus = np.maximum(nucleus, _soft(_ellipse(lx, ly, lr, lr * rng.uniform(0.7, 0.95), t), 0.15))
    _paint(canvas, nucleus * 0.95, WBC_NUCLEUS)


def _image(rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[str, Box]]]:
    """One ``(H, W, 3)`` uint8 smear and its ``(label, (x0, y0, x1, y1) px)`` objects."""
    canvas = np.empty((H, W, 3))
    canvas[:] = BACKGROUND
    yy, xx = np.mgrid[0:H, 0:W].astype(float)
    light = 1 + 0.03 * np.cos(xx / W * rng.uniform(1.5, 3) + rng.uniform(0, 6)) * np.cos(yy / H * rng.uniform(1.5, 3) + rng.uniform(0, 6))
    objects: list[tuple[str, Box]] = []
    taken: list[tuple[float, float, float]] = []

    def free(cx: float, cy: float, r: float, gap: float) -> bool:
        return all(np.hypot(cx - x, cy - y) > r + q + gap for x, y, q in taken)

    def box(cx: float, cy: float, rx: float, ry: float) -> Box:
        return int(cx - rx), int(cy - ry), int(np.ceil(cx + rx)), int(np.ceil(cy + ry))

    wr = rng.uniform(62, 78)
    wx, wy = rng.uniform(wr + 10, W - wr - 10), rng.uniform(wr + 10, H - wr - 10)
    taken.append((wx, wy, wr))
    _wbc(canvas, rng, wx, wy, wr)
    objects.append(("WBC", box(wx, wy, wr, wr)))
    for _ in range(2000):
        if sum(o[0] == "RBC" for o in objects) >= 11:
            break
        r = rng.uniform(43, 56)
        cx, cy = rng.uniform(r * 0.6, W - r * 0.6), rng.uniform(r * 0.6, H - r * 0.6)  # a few cut by the frame
        if free(cx, cy, r, 4):
            taken.append((cx, cy, r))
            ry, angle = r * rng.uniform(0.88, 1.0), rng.uniform(0, np.pi)
            _rbc(canvas, rng, cx, cy, r, ry, angle)
            ext = np.hypot(r * np.cos(angle), ry * np.sin(angle)), np.hypot(r * np.sin(angle), ry * np.cos(angle))
            objects.append(("RBC", box(cx, cy, *ext)))
    for _ in range(2000):
        if sum(o[0] == "Platelets" for o in objects) >= 3:
            break
        r = rng.uniform(16, 22)
        cx, cy = rng.uniform(r + 4, W - r - 4), rng.uniform(r + 4, H - r - 4)
        if free(cx, cy, r, 6):
            taken.append((cx, cy, r))
            _paint(canvas, _soft(_ellipse(cx, cy, r, r * rng.uniform(0.75, 0.95), rng.uniform(0, np.pi)), 0.2), PLATELET)
            objects.append(("Platelets", box(cx, cy, r, r)))
    canvas *= light[..., None]
    canvas += ndimage.gaussian_filter(rng.normal(0, 5, (H, W)), 1.2)[..., None]  # grain (the only noise: keeps the PNGs small)
    canvas = ndimage.gaussian_filter(canvas, sigma=(1.5, 1.5, 0))
    return np.clip(canvas, 0, 255).astype(np.uint8), objects


def _voc_xml(name: str, objects: list[tuple[str, Box]]) -> str:
    parts = [f"<annotation><folder>JPEGImages</folder><filename>{name}</filename>",
             f"<size><width>{W}</width><height>{H}</height><depth>3</depth></size><segmented>0</segmented>"]  # fmt: skip
    for label, (x0, y0, x1, y1) in objects:
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
        parts.append(f"<object><name>{label}</name><truncated>0</truncated><difficult>0</difficult>"
                     f"<bndbox><xmin>{x0 + 1}</xmin><ymin>{y0 + 1}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>")  # fmt: skip
    parts.append("</annotation>\n")
    return "\n".join(parts)


def main(n: int = 4, seed: int = 12) -> None:
    """Write ``n`` images and their annotations (``smear_01`` ...) from random ``seed``.

    Seed 12 is the first from 7 up whose four PNGs all fall outside the fixed dev split (the
    SHA-256 of the file, :func:`cliniloop.services.loop.promotion.is_dev_group`), which the tests
    that train on corrected sample images rely on.
    """
    rng = np.random.default_rng(seed)
    (HERE / "JPEGImages").mkdir(exist_ok=True)
    (HERE / "Annotations").mkdir(exist_ok=True)
    for i in range(1, n + 1):
        pixels, objects = _image(rng)
        name = f"smear_{i:02d}.png"
        Image.fromarray(pixels).save(HERE / "JPEGImages" / name, optimize=True)
        (HERE / "Annotations" / f"smear_{i:02d}.xml").write_text(_voc_xml(name, objects), encoding="utf-8")


if __name__ == "__main__":
    main()
