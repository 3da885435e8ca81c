"""Write the synthetic blood-smear images of ``data_samples/images`` (CC0, no real data).

Each 320x240 RGB PNG shows pale red discs with a lighter centre (RBC), one large purple cell with
a lobed nucleus (WBC) and a few small purple dots (Platelets) on a light background with noise and
blur, and a Pascal VOC annotation beside it in ``Annotations/`` (the VOC layout: ``JPEGImages/``
holds the PNGs). Run ``python data_samples/images/generate.py`` to rebuild them (deterministic).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

HERE = Path(__file__).resolve().parent
W, H = 320, 240


def _disc(canvas: np.ndarray, cx: float, cy: float, r: float, colour: tuple[float, float, float], centre: float = 0.0) -> None:
    yy, xx = np.mgrid[0:H, 0:W]
    d = np.hypot(xx - cx, yy - cy)
    inside = d <= r
    for c in range(3):
        canvas[..., c][inside] = colour[c]
    if centre:
        pale = d <= r * 0.45
        canvas[pale] = canvas[pale] * (1 - centre) + 235 * centre


def _image(rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[str, tuple[int, int, int, int]]]]:
    canvas = np.full((H, W, 3), (232.0, 222.0, 205.0))
    objects: list[tuple[str, tuple[int, int, int, int]]] = []
    taken: list[tuple[float, float, float]] = []

    def free(cx: float, cy: float, r: float) -> bool:
        return all(np.hypot(cx - x, cy - y) > r + q + 2 for x, y, q in taken)

    wx, wy, wr = rng.uniform(60, W - 60), rng.uniform(60, H - 60), rng.uniform(30, 38)
    taken.append((wx, wy, wr))
    for _ in range(400):
        if len([o for o in objects if o[0] == "RBC"]) >= 9:
            break
        cx, cy, r = rng.uniform(20, W - 20), rng.uniform(20, H - 20), rng.uniform(17, 22)
        if free(cx, cy, r):
            taken.append((cx, cy, r))
            _disc(canvas, cx, cy, r, (205, 120, 125), centre=0.35)
            objects.append(("RBC", (int(cx - r), int(cy - r), int(np.ceil(cx + r)), int(np.ceil(cy + r)))))
    _disc(canvas, wx, wy, wr, (200, 170, 205))
    for dx, dy in ((-9, -6), (8, -4), (0, 9)):
        _disc(canvas, wx + dx, wy + dy, wr * 0.38, (95, 45, 130))
    objects.append(("WBC", (int(wx - wr), int(wy - wr), int(np.ceil(wx + wr)), int(np.ceil(wy + wr)))))
    for _ in range(300):
        if len([o for o in objects if o[0] == "Platelets"]) >= 3:
            break
        cx, cy, r = rng.uniform(10, W - 10), rng.uniform(10, H - 10), rng.uniform(4, 6)
        if free(cx, cy, r):
            taken.append((cx, cy, r))
            _disc(canvas, cx, cy, r, (120, 60, 150))
            objects.append(("Platelets", (int(cx - r), int(cy - r), int(np.ceil(cx + r)), int(np.ceil(cy + r)))))
    canvas = ndimage.gaussian_filter(canvas, sigma=(1.0, 1.0, 0))
    canvas += rng.normal(0, 1.5, canvas.shape)
    return np.clip(canvas, 0, 255).astype(np.uint8), objects


def _voc_xml(name: str, objects: list[tuple[str, tuple[int, int, int, int]]]) -> str:
    parts = [f"<annotation><folder>JPEGImages</folder><filename>{name}</filename>",
             f"<size><width>{W}</width><height>{H}</height><depth>3</depth></size><segmented>0</segmented>"]  # fmt: skip
    for label, (x0, y0, x1, y1) in objects:
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
        parts.append(f"<object><name>{label}</name><truncated>0</truncated><difficult>0</difficult>"
                     f"<bndbox><xmin>{x0 + 1}</xmin><ymin>{y0 + 1}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>")  # fmt: skip
    parts.append("</annotation>\n")
    return "\n".join(parts)


def main(n: int = 4, seed: int = 7) -> None:
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
