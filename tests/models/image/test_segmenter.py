"""The trainable mask model (U-Net + watershed) on synthetic images of bright discs (no dataset needed)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skimage")

from cliniloop.models.image.segmenter import MaskSegmenter, class_targets, normalise  # noqa: E402

#: Small network and short training: the whole module runs in well under 30 s on one CPU.
FAST = dict(
    epochs=10, batch_size=8, lr=1e-2, patch_size=64, patches_per_epoch=64, width=8, depth=2, boundary_weight=5.0, scale_range=(1.0, 1.0)
)


def discs(seed: int, h: int = 64, w: int = 64, n: int = 6, touching: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``n`` bright domes (radius 5-8) on a dark noisy background; the first ``touching`` pairs touch.

    Returns the uint8 image and its int32 instance labels (disc ``k`` has label ``k``; discs
    ``2i + 1`` and ``2i + 2`` touch for ``i < touching``).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    lab = np.zeros((h, w), np.int32)
    img = np.full((h, w), 20.0)
    placed: list[tuple[float, float, float]] = []
    for _ in range(400):
        if len(placed) >= n:
            break
        r = rng.uniform(5, 8)
        touch = len(placed) < 2 * touching and len(placed) % 2 == 1
        if touch:
            pcy, pcx, pr = placed[-1]
            ang = rng.uniform(0, 2 * np.pi)
            cy, cx = pcy + (pr + r - 1.0) * np.sin(ang), pcx + (pr + r - 1.0) * np.cos(ang)
        else:
            cy, cx = rng.uniform(r + 1, h - r - 1), rng.uniform(r + 1, w - r - 1)
        if not (r + 1 < cy < h - r - 1 and r + 1 < cx < w - r - 1):
            continue
        d2 = (yy - cy) ** 2 + (xx - cx) ** 2
        others = lab[d2 <= (r + 3) ** 2]
        others = others[others > 0]
        if touch:
            others = others[others != len(placed)]
        if others.size:
            continue
        m = (d2 <= r * r) & (lab == 0)
        lab[m] = len(placed) + 1
        placed.append((cy, cx, r))
        img[m] += rng.uniform(120, 200) * (1 - 0.5 * d2[m] / (r * r))
    img += rng.normal(0, 8, (h, w))
    return np.clip(img, 0, 255).astype(np.uint8), lab


def f1_at_half(pred: list[np.ndarray], truth: list[np.ndarray]) -> float:
    """Instance F1 at mask IoU >= 0.5 (IoU > 0.5 pairs are necessarily one-to-one)."""
    tp = n_pred = n_true = 0
    for p, t in zip(pred, truth, strict=True):
        n_pred += len(np.unique(p[p > 0]))
        n_true += len(np.unique(t[t > 0]))
        for k in np.unique(t[t > 0]):
            m = t == k
            ids, counts = np.unique(p[m], return_counts=True)
            for i, c in zip(ids, counts, strict=True):
                if i > 0 and c / (m.sum() + (p == i).sum() - c) > 0.5:
                    tp += 1
    return 2 * tp / max(1, n_pred + n_true)


def split_pairs(pred: np.ndarray, truth: np.ndarray, touching: int = 2) -> tuple[int, int]:
    """(touching pairs whose two discs each match a different predicted region, touching pairs)."""
    done = total = 0
    for i in range(touching):
        a, b = truth == 2 * i + 1, truth == 2 * i + 2
        if not a.any() or not b.any():
            continue
        total += 1
        hits = []
        for m in (a, b):
            ids, counts = np.unique(pred[m], return_counts=True)
            best = [i for i, c in zip(ids, counts, strict=True) if i > 0 and c / (m.sum() + (pred == i).sum() - c) > 0.5]
            hits.append(best[0] if best else None)
        done += hits[0] is not None and hits[1] is not None and hits[0] != hits[1]
    return done, total


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Timings and determinism as on a one-thread CPU worker (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    train = [discs(i) for i in range(12)]
    test = [discs(100 + i) for i in range(6)]
    return train, test


@pytest.fixture(scope="module")
def fitted(data):
    train, _ = data
    seen = []
    seg = MaskSegmenter(**FAST).fit([a for a, _ in train], [b for _, b in train], progress=lambda *a: seen.append(a))
    return seg, seen


def test_class_targets_separate_touching_objects():
    lab = np.zeros((5, 8), np.int32)
    lab[:, 1:4] = 1
    lab[:, 4:7] = 2
    t = class_targets(lab, 1)
    assert t[2].tolist() == [0, 2, 1, 2, 2, 1, 2, 0]
    # the image border is not a boundary
    assert t[0, 2] == 1
    assert class_targets(lab, 0).max() == 1


def test_normalise_inverts_brightfield():
    dark = np.full((20, 20), 30, np.uint8)
    dark[5:10, 5:10] = 200
    bright = 255 - dark
    a, b = normalise(dark), normalise(bright)
    assert a.shape == (1, 20, 20)
    assert a[0, 7, 7] > a[0, 0, 0] and b[0, 7, 7] > b[0, 0, 0]  # objects bright in both
    np.testing.assert_allclose(a, b, atol=1e-5)
    kept = normalise(bright, invert=False)
    assert kept[0, 7, 7] < kept[0, 0, 0]
    # RGB keeps the colour channels, on the grey level's scale; RGBA drops alpha
    rgb = np.stack([dark, dark // 2, np.zeros_like(dark)], axis=2)
    x = normalise(rgb, rgb=True)
    assert x.shape == (3, 20, 20)
    assert x[0, 7, 7] > x[1, 7, 7] > x[2, 7, 7]
    rgba = np.concatenate([rgb, np.zeros((20, 20, 1), np.uint8)], axis=2)
    np.testing.assert_array_equal(normalise(rgba, rgb=True), x)
    np.testing.assert_allclose(normalise(rgb), x.mean(axis=0, keepdims=True), atol=1e-5)


def test_learns_discs_and_beats_untrained(fitted, data):
    seg, seen = fitted
    train, test = data
    images, truth = [a for a, _ in test], [b for _, b in test]
    f1 = f1_at_half([d.instance_labels for d in seg.predict(images)], truth)
    untrained = MaskSegmenter(**{**FAST, "epochs": 0}).fit([a for a, _ in train], [b for _, b in train])
    f1_untrained = f1_at_half([d.instance_labels for d in untrained.predict(images)], truth)
    assert f1 >= 0.7, f1
    assert f1 >= f1_untrained + 0.3, (f1, f1_untrained)
    # progress: (done, total, loss) once per epoch, loss falling
    assert [s[:2] for s in seen] == [(e, FAST["epochs"]) for e in range(1, FAST["epochs"] + 1)]
    assert seen[-1][2] < seen[0][2]


def test_touching_discs_are_split(fitted, data):
    from scipy import ndimage as ndi

    seg, _ = fitted
    _, test = data
    dets = seg.predict([a for a, _ in test])
    probs = seg.predict_proba([a for a, _ in test])
    split = merged_split = total = 0
    for d, p, (_, truth) in zip(dets, probs, test, strict=True):
        s, t = split_pairs(d.instance_labels, truth)
        split, total = split + s, total + t
        # plain connected components of the foreground would merge the pairs
        merged_split += split_pairs(ndi.label(p > 0.5)[0], truth)[0]
    assert total >= 8
    assert split >= 0.75 * total, (split, total)
    assert merged_split <= 0.25 * total, (merged_split, total)


def test_detections_are_consistent(fitted):
    seg, _ = fitted
    img, _ = discs(7, h=70, w=93)
    rgb = np.repeat(img[..., None], 3, axis=2)
    rgba = np.concatenate([rgb, np.full((70, 93, 1), 255, np.uint8)], axis=2)
    out = seg.predict([img, rgb, rgba])
    probs = seg.predict_proba([img, rgb, rgba])
    for d, p in zip(out, probs, strict=True):
        assert d.instance_labels.shape == (70, 93) and d.instance_labels.dtype == np.int32
        assert p.shape == (70, 93) and p.dtype == np.float32 and 0 <= p.min() and p.max() <= 1
        n = len(d)
        assert n >= 3
        assert d.labels == ["nucleus"] * n and d.classes == ("nucleus",)
        assert d.boxes.shape == (n, 4) and d.scores.shape == (n,)
        assert np.all(np.diff(d.scores) <= 0) and np.all((d.scores > 0.5) & (d.scores <= 1))
        assert sorted(np.unique(d.instance_labels)) == list(range(n + 1))
        for k in range(n):
            mask = d.instance_labels == k + 1
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            assert d.boxes[k].tolist() == [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]
            assert d.scores[k] == pytest.approx(float(p[mask].mean()), abs=1e-5)
    np.testing.assert_array_equal(out[0].instance_labels, out[1].instance_labels)
    np.testing.assert_array_equal(out[0].instance_labels, out[2].instance_labels)


def test_tiled_prediction_equals_whole_image(fitted):
    seg, _ = fitted
    img, _ = discs(11, h=150, w=171, n=14, touching=3)
    whole = seg.predict_proba([img])[0]
    tiled = MaskSegmenter(**{**FAST, "tile": 128})
    tiled.net_ = seg.net_
    parts = tiled.predict_proba([img])[0]
    assert parts.shape == whole.shape == (150, 171)
    np.testing.assert_allclose(parts, whole, atol=1e-4)


def test_save_load_roundtrip(fitted, data, tmp_path):
    seg, _ = fitted
    _, test = data
    seg.save(tmp_path / "m")
    back = MaskSegmenter.load(tmp_path / "m")
    assert back.version == seg.version and back.version.startswith("seg-") and len(back.version) == 16
    images = [a for a, _ in test[:3]]
    for a, b in zip(seg.predict(images), back.predict(images), strict=True):
        np.testing.assert_array_equal(a.instance_labels, b.instance_labels)
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.boxes, b.boxes)
    with pytest.raises(FileNotFoundError):
        MaskSegmenter.load(tmp_path / "missing")


def test_fine_tune_starts_from_parent(fitted, data):
    seg, _ = fitted
    train, test = data
    images, labels = [a for a, _ in train[:4]], [b for _, b in train[:4]]
    same = MaskSegmenter(**{**FAST, "epochs": 0, "width": 8, "depth": 3}).fit(images, labels, init_from=seg)
    assert (same.width, same.depth) == (seg.width, seg.depth)
    assert same.version == seg.version  # no step taken: the parent's weights
    tuned = MaskSegmenter(**{**FAST, "epochs": 1, "lr": 1e-3}).fit(images, labels, init_from=seg)
    assert tuned.version != seg.version
    assert tuned.training_["fine_tuned_from"] == seg.version
    f1 = f1_at_half([d.instance_labels for d in tuned.predict([a for a, _ in test])], [b for _, b in test])
    assert f1 >= 0.7, f1


def test_fit_is_deterministic_and_validates(data):
    train, _ = data
    images, labels = [a for a, _ in train[:3]], [b for _, b in train[:3]]
    kw = {**FAST, "epochs": 1, "patches_per_epoch": 16}
    assert MaskSegmenter(**kw).fit(images, labels).version == MaskSegmenter(**kw).fit(images, labels).version
    assert MaskSegmenter(**kw, seed=1).fit(images, labels).version != MaskSegmenter(**kw).fit(images, labels).version
    with pytest.raises(ValueError):
        MaskSegmenter(**kw).fit(images, labels[:2])
    with pytest.raises(ValueError):
        MaskSegmenter(**kw).fit(images[:1], [labels[0][:10]])
    with pytest.raises(ValueError):
        MaskSegmenter(**kw).fit([], [])
    with pytest.raises(RuntimeError):
        MaskSegmenter().predict(images)


def test_rgb_model_roundtrip(data, tmp_path):
    train, test = data
    # purple discs on a pink background: the colour channels differ
    tint = np.array([0.9, 0.5, 1.0])
    images = [np.clip(a[..., None] * tint + (1 - tint) * 60, 0, 255).astype(np.uint8) for a, _ in train[:4]]
    seg = MaskSegmenter(**{**FAST, "epochs": 1, "rgb": True}).fit(images, [b for _, b in train[:4]])
    assert seg.in_channels == 3 and seg.net_.down[0][0].in_channels == 3
    seg.save(tmp_path / "rgb")
    back = MaskSegmenter.load(tmp_path / "rgb")
    assert back.rgb and back.version == seg.version
    img = np.clip(test[0][0][..., None] * tint, 0, 255).astype(np.uint8)[:61, :59]
    a, b = seg.predict_proba([img])[0], back.predict_proba([img])[0]
    assert a.shape == (61, 59)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        seg.predict([np.zeros((8, 8, 2), np.uint8)])
