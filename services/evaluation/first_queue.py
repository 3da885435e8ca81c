"""``cliniloop eval first-queue``: is the first-round queue ranked by how wrong the model is?

Before anything is trained, each modality's first queue is ordered by the uncertainty the
default model (shipped inside the package, :mod:`cliniloop.models.ecg.defaults`, :mod:`cliniloop.models.eeg.defaults`,
:mod:`cliniloop.models.image.defaults`; the rule annotator for text) gives every task. This runs the real
first-round path (ingest into a throw-away store, then the modality's predict) on reference data
**the defaults were not trained on**, computes each task's actual error against the reference, and
reports the Spearman rank correlation between task uncertainty and task error (positive = the
tasks ranked first are the ones with most to correct).

Task error, per modality (all in [0, 1], 0 = nothing to correct):

``ecg``    10-s window: ``(missed + extra + mislabelled beats) / max(1, reference beats)``; a
           predicted beat matches a reference beat within 150 ms (greedy, nearest first); classes
           are AAMI N/S/V/F/Q.
``eeg``    Bonn segment (one window): ``|fraction of the window predicted as seizure - truth|``
           (truth 1 for set S, else 0).
``image``  BCCD image: ``1 - F1`` of the predicted boxes against the reference boxes (IoU >= 0.5,
           same class, greedy by score).
``text``   NCBI-disease abstract (a PubTator file): ``1 - F1`` of the predicted problem mentions
           against the gold disease mentions (a match is an overlap of at least one character);
           or NegEx sentence (a ``.tsv``): 1 when the condition is missed or its assertion is wrong.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

Message = Callable[[str], None]
MODALITIES = ("text", "ecg", "eeg", "image")
#: Beat match tolerance (s).
MATCH_S = 0.15


class FirstQueueError(ValueError):
    """Bad inputs to the first-queue evaluation (the message names the path or option)."""


def rank_correlation(uncertainty: Sequence[float], error: Sequence[float]) -> dict[str, Any]:
    """Spearman ``rho`` (and its p-value) between task uncertainty and task error, with a summary of both.

    ``rho`` is ``None`` when either side is constant (no ranking at all).
    """
    from scipy.stats import spearmanr

    u = np.asarray(uncertainty, dtype=float)
    e = np.asarray(error, dtype=float)
    out: dict[str, Any] = {
        "tasks": int(len(u)),
        "uncertainty": {
            "min": _r(u.min()) if len(u) else None, "max": _r(u.max()) if len(u) else None,
            "distinct": int(len(np.unique(np.round(u, 6)))),
        },
        "error": {"mean": _r(e.mean()) if len(e) else None, "tasks_with_error": int((e > 0).sum())},
    }  # fmt: skip
    if len(u) < 3 or np.ptp(u) == 0 or np.ptp(e) == 0:
        out |= {"spearman": None, "p_value": None}
        return out
    res = spearmanr(u, e)
    out |= {"spearman": _r(float(res.statistic)), "p_value": float(f"{float(res.pvalue):.3g}")}
    # how much of the total error the first fifth of the queue holds (random order: 0.2)
    order = np.argsort(-u, kind="stable")
    k = max(1, len(u) // 5)
    out["error_share_first_fifth"] = _r(float(e[order[:k]].sum() / max(e.sum(), 1e-12)))
    return out


def _r(value: float) -> float:
    return round(float(value), 4)


def _temp_store(folder: Path) -> Any:
    from cliniloop.services.core.store import Store

    store = Store(f"sqlite:///{folder / 'first_queue.sqlite3'}")
    store.migrate()
    return store


# ---------------------------------------------------------------------------------------- ECG
def window_error(reference: Sequence[tuple[int, str]], predicted: Sequence[tuple[int, str]], tolerance: int) -> float:
    """``(missed + extra + mislabelled) / max(1, len(reference))`` of one window's beats (greedy nearest match)."""
    pairs = sorted(
        (abs(ps - rs), i, j) for i, (rs, _) in enumerate(reference) for j, (ps, _) in enumerate(predicted) if abs(ps - rs) <= tolerance
    )
    used_r: set[int] = set()
    used_p: set[int] = set()
    wrong = 0
    for _, i, j in pairs:
        if i in used_r or j in used_p:
            continue
        used_r.add(i)
        used_p.add(j)
        wrong += reference[i][1] != predicted[j][1]
    missed = len(reference) - len(used_r)
    extra = len(predicted) - len(used_p)
    return (missed + extra + wrong) / max(1, len(reference))


def first_queue_ecg(wfdb_dir: Path, records: Sequence[str] | None = None, message: Message | None = None) -> dict[str, Any]:
    """First-round window uncertainty vs error on WFDB records the default classifier never saw."""
    from cliniloop.connectors.sources.ecg import read_reference_beats
    from cliniloop.models.ecg.defaults import FIRST_QUEUE_RECORDS, load_default
    from cliniloop.models.ecg.detect import BeatDetector
    from cliniloop.services.core.schemas import regions_from_json
    from cliniloop.services.loop.ecg import ECG_MODEL_NAME, ingest_ecg, predict_ecg, window_beats
    from cliniloop.taxonomies.ecg import load_beat_mapping

    wfdb_dir = Path(wfdb_dir)
    names = list(records or FIRST_QUEUE_RECORDS)
    classifier = load_default()
    seen = set(classifier.training_.get("records", []))
    overlap = sorted(set(names) & seen)
    if overlap:
        raise FirstQueueError(f"record(s) {', '.join(overlap)} were used to train the default classifier: evaluate on others")
    mapping = load_beat_mapping(None)
    uncertainties: list[float] = []
    errors: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = _temp_store(Path(tmp))
        try:
            for name in names:
                if not (wfdb_dir / f"{name}.hea").is_file():
                    raise FirstQueueError(f"{wfdb_dir / name}.hea: no such WFDB record")
                ingest_ecg(store, wfdb_dir / name)
            if message:
                message(f"ECG: predicting {store.count_tasks('ecg')} windows of {len(names)} records with {classifier.version}")
            predict_ecg(store, BeatDetector().fit(), classifier)
            preds = store.latest_predictions(ECG_MODEL_NAME)
            refs: dict[str, tuple[np.ndarray, list[str | None]]] = {}
            for task in store.list_tasks("ecg"):
                d = task.data
                name = d["record_name"]
                if name not in refs:
                    samples, symbols = read_reference_beats(wfdb_dir / name)
                    refs[name] = (np.asarray(samples), [mapping.to_class(s) for s in symbols])
                samples, classes = refs[name]
                ref = [(int(s), c) for s, c in zip(samples, classes, strict=True) if c is not None and d["core_start"] <= s < d["core_stop"]]
                pred = preds[task.id]
                got = window_beats(task, regions_from_json(pred.regions))
                uncertainties.append(float(pred.uncertainty))
                errors.append(window_error(ref, got, int(round(MATCH_S * d["sampling_rate"]))))
        finally:
            store.close()
    return {
        "modality": "ecg", "model": classifier.version, "records": names, "task": "10-s window",
        "error_definition": "(missed + extra + mislabelled beats) / reference beats",
        **rank_correlation(uncertainties, errors),
    }  # fmt: skip


# ---------------------------------------------------------------------------------------- EEG
def first_queue_eeg(bonn_dir: Path, message: Message | None = None) -> dict[str, Any]:
    """First-round window uncertainty vs error on the Bonn segments the default detector never saw."""
    from cliniloop.connectors.sources.eeg import BONN_SAMPLING_RATE
    from cliniloop.connectors.sources.eeg_events import SEIZURE
    from cliniloop.models.eeg.defaults import is_first_queue_segment, load_default
    from cliniloop.services.evaluation.eeg_seizure import ICTAL_SET, bonn_files
    from cliniloop.services.loop.eeg import EEG_MODEL_NAME, ingest_eeg, predict_eeg

    detector = load_default()
    index: dict[str, int] = {}
    chosen: list[tuple[str, Path]] = []
    try:
        files = bonn_files(Path(bonn_dir))
    except ValueError as err:
        raise FirstQueueError(str(err)) from None
    for s, path in files:
        k = index.get(s, 0)
        index[s] = k + 1
        if is_first_queue_segment(k):
            chosen.append((s, path))
    uncertainties: list[float] = []
    errors: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = _temp_store(Path(tmp))
        try:
            truth_of: dict[str, int] = {}
            for s, path in chosen:
                ingest_eeg(store, path, sampling_rate=BONN_SAMPLING_RATE, window_s=30.0)
                truth_of[str(path.resolve())] = int(s == ICTAL_SET)
            if message:
                message(f"EEG: predicting {store.count_tasks('eeg')} Bonn segments with {detector.version}")
            predict_eeg(store, detector, sleep=False)
            preds = store.latest_predictions(EEG_MODEL_NAME)
            for task in store.list_tasks("eeg"):
                d = task.data
                pred = preds[task.id]
                length = max(1e-9, float(d["stop_s"]) - float(d["start_s"]))
                covered = _covered([(r["start_s"], r["end_s"]) for r in pred.regions if r.get("label") == SEIZURE]) / length
                uncertainties.append(float(pred.uncertainty))
                errors.append(abs(min(1.0, covered) - truth_of[d["record_path"]]))
        finally:
            store.close()
    return {
        "modality": "eeg", "model": detector.version, "segments": len(chosen), "task": "Bonn segment (23.6 s, one window)",
        "error_definition": "|fraction predicted seizure - truth|",
        **rank_correlation(uncertainties, errors),
    }  # fmt: skip


def _covered(spans: Sequence[tuple[float, float]]) -> float:
    total, end = 0.0, -math.inf
    for a, b in sorted(spans):
        a = max(a, end)
        if b > a:
            total += b - a
        end = max(end, b)
    return total


# -------------------------------------------------------------------------------------- image
def box_error(pred: Sequence[tuple[tuple[float, float, float, float], str, float]], ref: Sequence[tuple[tuple[float, float, float, float], str]], iou: float = 0.5) -> float:
    """``1 - F1`` of predicted boxes against reference boxes (same class, IoU >= ``iou``, greedy by score)."""
    if not pred and not ref:
        return 0.0
    used: set[int] = set()
    tp = 0
    for box, label, _ in sorted(pred, key=lambda p: -p[2]):
        best, best_j = iou, -1
        for j, (rbox, rlabel) in enumerate(ref):
            if j in used or rlabel != label:
                continue
            v = _iou(box, rbox)
            if v >= best:
                best, best_j = v, j
        if best_j >= 0:
            used.add(best_j)
            tp += 1
    return 1.0 - 2 * tp / (len(pred) + len(ref))


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def first_queue_image(voc_dir: Path, ids: Path | None = None, message: Message | None = None) -> dict[str, Any]:
    """First-round image uncertainty vs error on VOC images the default detector never saw (BCCD ``val.txt``)."""
    from cliniloop.connectors.sources.voc import read_voc
    from cliniloop.models.image.defaults import load_default
    from cliniloop.services.loop.image import IMAGE_MODEL_NAME, ingest_images, load_image_models, predict_images

    voc_dir = Path(voc_dir)
    ids = ids or voc_dir / "val.txt"
    if not Path(ids).is_file():
        raise FirstQueueError(f"{ids}: no such ids file")
    detector = load_default()
    trained_on = set(detector.training_.get("image_ids", []))
    items = read_voc(voc_dir, ids)
    overlap = sorted({i.image_id for i in items} & trained_on)
    if overlap:
        raise FirstQueueError(f"image(s) {overlap[0]}, ... were used to train the default detector: evaluate on others")
    reference = {Path(i.image_path).name: i.target for i in items}
    uncertainties: list[float] = []
    errors: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = _temp_store(Path(tmp))
        try:
            for item in items:
                ingest_images(store, Path(item.image_path))
            models = load_image_models(store, Path(tmp) / "models")
            if message:
                message(f"image: predicting {store.count_tasks('image')} images with {models.box_version}")
            predict_images(store, models)
            preds = store.latest_predictions(IMAGE_MODEL_NAME)
            for task in store.list_tasks("image"):
                pred = preds[task.id]
                target = reference[task.data["file_name"]]
                got = [((r["x"], r["y"], r["x"] + r["width"], r["y"] + r["height"]), r["label"], r.get("probability") or 0.0) for r in pred.regions if r.get("kind") == "rect"]
                ref = [(tuple(float(v) for v in b), label) for b, label in zip(target.boxes, target.labels, strict=True)]
                uncertainties.append(float(pred.uncertainty))
                errors.append(box_error(got, ref))
        finally:
            store.close()
    return {
        "modality": "image", "model": models.box_version, "images": len(items), "task": "image",
        "error_definition": "1 - F1 of boxes (same class, IoU >= 0.5)",
        **rank_correlation(uncertainties, errors),
    }  # fmt: skip


# --------------------------------------------------------------------------------------- text
def first_queue_text(pubtator: Path, message: Message | None = None, limit: int | None = None) -> dict[str, Any]:
    """First-round abstract uncertainty vs error of the rule annotator on a PubTator disease corpus (NCBI develop set)."""
    from cliniloop.connectors.sources.pubtator import read_pubtator
    from cliniloop.services.loop.predict import predict_mentions, rule_annotator, text_uncertainty

    try:
        docs = read_pubtator(Path(pubtator))
    except (FileNotFoundError, ValueError) as err:
        raise FirstQueueError(f"{pubtator}: {err}") from None
    docs = docs[:limit] if limit else docs
    model = rule_annotator()
    if message:
        message(f"text: predicting {len(docs)} documents with {model.version}")
    mentions = predict_mentions(model, [d.text for d in docs])
    uncertainties: list[float] = []
    errors: list[float] = []
    for doc, found in zip(docs, mentions, strict=True):
        uncertainties.append(text_uncertainty([float(m.confidence) for m in found], doc.text))
        got = [(m.start, m.end) for m in found if m.label == "Problem"]
        gold = [(e.start, e.end) for e in doc.entities if "disease" in e.label.lower()]
        errors.append(_span_error(got, gold))
    return {
        "modality": "text", "model": model.version, "documents": len(docs), "task": "abstract",
        "error_definition": "1 - F1 of problem mentions vs gold disease mentions (overlap match)",
        **rank_correlation(uncertainties, errors),
    }  # fmt: skip


#: NegEx negation status -> the assertions of ours that agree with it.
NEGEX_AGREES = {"negated": {"absent"}, "affirmed": {"present", "historical"}, "possible": {"possible", "hypothetical"}}


def first_queue_negex(tsv: Path, message: Message | None = None) -> dict[str, Any]:
    """First-round sentence uncertainty vs error of the rule annotator on NegEx sentences (condition + negation status).

    A sentence's error is 1 when no mention covers its condition or the mention's assertion
    disagrees with the reference status (:data:`NEGEX_AGREES`), else 0.
    """
    import csv

    from cliniloop.services.loop.predict import predict_mentions, rule_annotator, text_uncertainty

    try:
        with Path(tsv).open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t"))[1:]
    except FileNotFoundError as err:
        raise FirstQueueError(f"{tsv}: {err.strerror}") from None
    rows = [r for r in rows if len(r) >= 4 and r[3].strip().lower() in NEGEX_AGREES]
    if not rows:
        raise FirstQueueError(f"{tsv}: no NegEx rows (line number, condition, sentence, negation status)")
    model = rule_annotator()
    if message:
        message(f"text: predicting {len(rows)} NegEx sentences with {model.version}")
    found = predict_mentions(model, [r[2] for r in rows])
    uncertainties: list[float] = []
    errors: list[float] = []
    for row, mentions in zip(rows, found, strict=True):
        condition, sentence, status = row[1].lower(), row[2], row[3].strip().lower()
        uncertainties.append(text_uncertainty([float(m.confidence) for m in mentions], sentence))
        hits = [m for m in mentions if condition in sentence[m.start : m.end].lower() or sentence[m.start : m.end].lower() in condition]
        errors.append(0.0 if hits and hits[0].assertion in NEGEX_AGREES[status] else 1.0)
    return {
        "modality": "text", "model": model.version, "sentences": len(rows), "task": "sentence (NegEx dev)",
        "error_definition": "1 when the condition is not found or its assertion disagrees with the negation status, else 0",
        **rank_correlation(uncertainties, errors),
    }  # fmt: skip


def _span_error(got: Sequence[tuple[int, int]], gold: Sequence[tuple[int, int]]) -> float:
    if not got and not gold:
        return 0.0
    used: set[int] = set()
    tp = 0
    for a, b in got:
        for j, (c, d) in enumerate(gold):
            if j not in used and a < d and c < b:
                used.add(j)
                tp += 1
                break
    return 1.0 - 2 * tp / (len(got) + len(gold))


def evaluate_first_queue(modality: str, path: Path, *, ids: Path | None = None, records: Sequence[str] | None = None, message: Message | None = None) -> dict[str, Any]:
    """Dispatch to the modality's measurement (see the module docstring)."""
    if modality == "ecg":
        return first_queue_ecg(path, records, message)
    if modality == "eeg":
        return first_queue_eeg(path, message)
    if modality == "image":
        return first_queue_image(path, ids, message)
    if modality == "text":
        return first_queue_negex(path, message) if Path(path).suffix.lower() == ".tsv" else first_queue_text(path, message)
    raise FirstQueueError(f"--modality must be one of {', '.join(MODALITIES)}, not {modality!r}")
