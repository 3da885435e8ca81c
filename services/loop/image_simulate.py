"""``cliniloop simulate --task image-boxes``: labelling images with boxes, replayed (BCCD-style VOC data).

Pool and test: the VOC ids of ``--pool-ids`` (BCCD ``train.txt``) are the pool an "annotator" (the
reference boxes) labels one image at a time; ``--test-ids`` (BCCD ``val.txt``) are held out. Cost
unit: **boxes drawn** (an image costs its reference boxes).

Learner. Retraining the box detector every round takes minutes per round on a CPU, so the replay
uses the light model that is also the shipped default,
:class:`~cliniloop.models.image.proposals.ProposalBoxClassifier`: the class-agnostic blob proposals of every
image are computed once (and cached), and each round a gradient-boosted classifier of their shape
and colour is trained on the proposals of the labelled images (matched to the reference boxes at
IoU >= 0.5, else ``background``). A proposal's score is ``1 - P(background)`` and its label the
most probable class. Metric: Pascal VOC mAP@0.5 on the test images (:func:`cliniloop.models.image.metrics.evaluate_boxes`).

An image's uncertainty is the image rule of ``image predict`` (:mod:`cliniloop.services.loop.image`): per
region ``max(H_b(score), H(class probs) / log C)``, mean of the image's top-5
(:func:`cliniloop.models.sampling.rollup.rollup_for` ``"image"``). ``uncertainty_cost`` divides it by the
image's expected boxes (proposals not called background).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cliniloop.services.loop.replay import ReplayConfig, plot_replay, run_replay, summarise

COST_UNIT = "boxes_drawn"


@dataclass
class _Image:
    image_id: str
    boxes: np.ndarray  # proposals (n, 4)
    features: np.ndarray  # (n, d)
    truth: list[str]  # proposal class or background
    target: Any  # reference BoxTarget


def _prepare(voc_root: Path, ids: Path | Sequence[str], cache: Path | None, progress: Callable[[str], None] | None) -> list[_Image]:
    """Cold-start proposals, their features and classes of every image (``cache``: a folder of ``.npz`` per image, reused)."""
    import hashlib

    from cliniloop.connectors.sources.voc import load_rgb, read_voc
    from cliniloop.models.image.proposals import ProposalBoxClassifier, proposal_truth

    model = ProposalBoxClassifier()
    out = []
    items = read_voc(voc_root, ids)
    for k, item in enumerate(items):
        key = hashlib.sha256(f"{Path(item.image_path).resolve()}:{model.proposer.version}".encode()).hexdigest()[:24]
        path = cache / f"{key}.npz" if cache is not None else None
        if path is not None and path.is_file():
            z = np.load(path)
            boxes, feats = z["boxes"], z["features"]
        else:
            boxes, feats = model.propose(load_rgb(item.image_path))
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.savez(path, boxes=boxes, features=feats)
        truth = proposal_truth(boxes, np.asarray(item.target.boxes, dtype=float), list(item.target.labels))
        out.append(_Image(item.image_id, boxes, feats, truth, item.target))
        if progress and (k + 1) % 50 == 0:
            progress(f"proposals of {k + 1}/{len(items)} images")
    return out


def image_uncertainty_of(det: Any) -> float:
    """``image predict``'s image uncertainty (module docstring) of one image's detections."""
    from cliniloop.models.sampling.rollup import rollup_for
    from cliniloop.models.sampling.scores import binary_entropy

    if not len(det.scores):
        return 1.0
    u = binary_entropy(np.clip(det.scores, 0, 1))
    q = np.clip(det.class_probs, 1e-12, 1.0)
    if q.shape[1] > 1:
        u = np.maximum(u, -(q * np.log(q)).sum(axis=1) / np.log(q.shape[1]))
    return float(rollup_for("image", np.clip(u, 0, 1)))


def simulate_image_boxes(
    voc_root: Path, pool_ids: Path, test_ids: Path, config: ReplayConfig, *, out_dir: Path | None = None,
    progress: Callable[[str], None] | None = None, cache: Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Replay box labelling (module docstring); writes ``image_simulation.json``, ``image_learning_curves.png`` and ``image_labels.json``.

    ``cache``: folder where each image's proposals are kept between runs (default ``out_dir/proposals``).
    """
    if cache is None and out_dir is not None:
        cache = Path(out_dir) / "proposals"
    from cliniloop.models.image.metrics import evaluate_boxes
    from cliniloop.models.image.proposals import ProposalBoxClassifier

    t0 = time.perf_counter()
    pool = _prepare(Path(voc_root), pool_ids, cache, progress)
    test = _prepare(Path(voc_root), test_ids, cache, progress)
    overlap = {p.image_id for p in pool} & {t.image_id for t in test}
    if overlap:
        raise ValueError(f"{len(overlap)} image(s) in both the pool and the test ids (e.g. {sorted(overlap)[0]})")
    classes = sorted({label for im in pool + test for label in im.target.labels})
    cost = np.array([len(im.target.labels) for im in pool], dtype=float)

    def fit(rows: np.ndarray) -> ProposalBoxClassifier:
        chosen = [pool[i] for i in rows]
        X = np.concatenate([im.features for im in chosen])
        return ProposalBoxClassifier(seed=config.seed).fit_features(X, [t for im in chosen for t in im.truth], classes)

    def score(model: ProposalBoxClassifier) -> float:
        dets = [model.detections(t.boxes, t.features) for t in test]
        return float(evaluate_boxes(dets, [t.target for t in test], classes=classes).as_dict()["map"])

    def pool_scores(model: ProposalBoxClassifier) -> tuple[np.ndarray, np.ndarray]:
        dets = [model.detections(im.boxes, im.features) for im in pool]
        return np.array([image_uncertainty_of(d) for d in dets]), np.array([max(1.0, float((d.scores >= 0.5).sum())) for d in dets])

    curves, chosen = run_replay([im.image_id for im in pool], cost, fit, score, pool_scores, config, progress=progress)
    full = score(fit(np.arange(len(pool))))
    summary = summarise(curves, full, config.target_fraction, COST_UNIT)
    result = {
        "task": "image-boxes", "data": str(voc_root), "pool_images": len(pool), "test_images": len(test),
        "pool_boxes": int(cost.sum()), "classes": classes, "metric": "mAP@0.5 (proposal classifier on cold-start proposals)",
        "config": config.__dict__, **summary, "seconds": round(time.perf_counter() - t0, 1),
    }  # fmt: skip
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "image_labels.json").write_text(json.dumps({"chosen": chosen}, indent=1) + "\n", encoding="utf-8")
        (out_dir / "image_simulation.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        result["plot"] = str(plot_replay(result, out_dir / "image_learning_curves.png", "Image boxes (BCCD): images labelled", "mAP@0.5"))
    return result
