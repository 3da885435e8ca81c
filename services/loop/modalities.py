"""The modality registry: one config object per modality, one loop running them all.

Every modality (``text``, ``codes``, ``ecg``, ``eeg``, ``image-boxes``, ``image-masks``) is one
:class:`Modality` naming what the loop needs of it:

=================  ===========================================================================
field              what it is
=================  ===========================================================================
``ingest``         files -> tasks (``store, path, settings, progress`` -> report with ``added``)
``infer``          predict every task lacking the current model's prediction -> :class:`InferReport`
``default_model``  the cold-start model used when nothing is promoted (one function per modality)
``classes``        the label set (columns of per-task class distributions, Label Studio choices)
``projects``       Label Studio project(s) of a push: title, label config and task ids
``task_data``      a task's Label Studio data (``None``: the text default)
``cost``           expected annotation cost of a task in ``unit`` (seconds of signal, regions, ...)
``model_outputs``  BALD / BADGE inputs from the promoted torch model (``None`` when not a torch model)
``export``         labelled data out (WFDB/CSV, EDF+/BIDS, COCO, mappings)
``train``          the trainer (returns :class:`cliniloop.services.loop.promotion.TrainResult`)
``dev_metric``     the metric the promotion gate compares
=================  ===========================================================================

The loop itself (select, push, pull, round, stopping rule) is in :mod:`cliniloop.services.loop.round` and
:mod:`cliniloop.services.loop.select` and is the same for every modality. Uncertainty maths lives only in
:mod:`cliniloop.models.sampling`. Nothing heavy is imported at module load.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store

Progress = Callable[[int], None]


@dataclass
class InferReport:
    """What an inference step did (the text step's :class:`cliniloop.services.loop.predict.PredictReport` has the same fields)."""

    model_version: str
    predicted: int
    already_predicted: int
    failed: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ProjectPart:
    """One Label Studio project of a push: its title, label config and the tasks that go there."""

    title: str
    label_config: str
    task_ids: list[str]


def _all(_task: Any) -> bool:
    return True


@dataclass(frozen=True)
class Modality:
    """Everything the loop needs to know about one modality (see the module docstring)."""

    name: str
    store_modality: str
    prediction_model: str
    trained_model: str
    noun: str
    unit: str
    dev_metric: str
    project: Callable[[Settings], str]
    ingest: Callable[..., Any] | None
    infer: Callable[[Store, Settings, Progress | None], Any] | None
    default_model: Callable[[Store, Settings], Any]
    classes: Callable[[Store, Settings], list[str]]
    projects: Callable[[Store, Settings, str, Sequence[Any]], list[ProjectPart]]
    task_data: Callable[[Any], dict[str, Any]] | None
    cost: Callable[[Any, Any], float]
    export: Callable[..., Any] | None
    train: Callable[..., Any] | None
    model_outputs: Callable[..., dict[str, np.ndarray] | None] | None = None
    task_filter: Callable[[Any], bool] = _all

    def tasks(self, store: Store, ids: Sequence[str] | None = None) -> list[Any]:
        """This modality's tasks (in ingestion order)."""
        return [t for t in store.list_tasks(self.store_modality, ids=ids) if self.task_filter(t)]

    def predictions(self, store: Store) -> dict[str, Any]:
        """Newest prediction per task of this modality."""
        ids = {t.id for t in self.tasks(store)}
        return {k: v for k, v in store.latest_predictions(self.prediction_model).items() if k in ids}

    def model(self, store: Store, settings: Settings) -> Any:
        """The promoted model, or :attr:`default_model` when nothing is promoted."""
        from cliniloop.services.loop.promotion import MODALITIES, load_promoted

        promoted = load_promoted(store, settings, self.name) if self.name in MODALITIES else None
        return promoted if promoted is not None else self.default_model(store, settings)


# -- text ----------------------------------------------------------------------------------------------
def _text_ingest(store: Store, path: Path, settings: Settings, progress: Progress | None = None, **_: Any) -> Any:
    from cliniloop.services.loop.deid import NoteDeidentifier
    from cliniloop.services.loop.ingest import ingest_notes

    return ingest_notes(
        store, path, settings.max_note_bytes, NoteDeidentifier.from_settings(settings), progress, keep_original=settings.deid_keep_original
    )


def _text_default(store: Store, settings: Settings) -> Any:
    from cliniloop.services.loop.predict import load_text_model

    return load_text_model(store, settings)  # rules, or rules + the promoted NER version


def _text_infer(store: Store, settings: Settings, progress: Progress | None = None) -> Any:
    from cliniloop.services.loop.predict import load_text_model, predict_tasks

    return predict_tasks(store, load_text_model(store, settings), None, progress=progress)


def _text_classes(store: Store, settings: Settings) -> list[str]:
    from cliniloop.taxonomies.label_schemas import load_label_schema

    return list(load_label_schema("clinical_text").label_values)


def _text_projects(store: Store, settings: Settings, title: str, tasks: Sequence[Any]) -> list[ProjectPart]:
    from cliniloop.services.loop.push import text_project_config

    return [ProjectPart(title, text_project_config(), [t.id for t in tasks])]


def _text_cost(task: Any, _pred: Any) -> float:
    from cliniloop.models.sampling.cost import TEXT_SECONDS_PER_CHAR

    return 10.0 + TEXT_SECONDS_PER_CHAR * len(task.data.get("text", ""))


def _text_train(store: Store, settings: Settings, **options: Any) -> Any:
    from cliniloop.services.loop.train import train_text_job

    params = {"max_iterations": options["max_iterations"]} if options.get("max_iterations") else None
    return text_train_result(train_text_job(store, settings, lambda _f, _m: None, params=params))


def text_train_result(result: Any) -> Any:
    """The text training job's result dict as a :class:`cliniloop.services.loop.promotion.TrainResult` (passed through when it is one)."""
    from cliniloop.services.loop.promotion import TrainResult

    if isinstance(result, TrainResult):
        return result
    if "metric_name" in result:
        name, value, baseline = str(result["metric_name"]), result.get("metric"), result.get("baseline")
    else:  # the older job result: ``metric`` names the metric, values in ``metrics`` / ``current_metrics``
        name = str(result.get("metric") or "f1")
        value, baseline = (result.get("metrics") or {}).get(name), (result.get("current_metrics") or {}).get(name)
    return TrainResult(
        modality="text", model_name="clinical-ner", version=result.get("version"), metric_name=name, metric=value, baseline=baseline,
        promoted=bool(result.get("promoted")), reason=str(result.get("reason") or ""),
    )  # fmt: skip


def _text_export(store: Store, out: Path, **_: Any) -> Any:
    from cliniloop.services.loop.mappings import export_mappings

    return export_mappings(store, out)


# -- ECG -----------------------------------------------------------------------------------------------
def _ecg_ingest(store: Store, path: Path, settings: Settings, progress: Progress | None = None, **options: Any) -> Any:
    from cliniloop.services.loop.ecg import ingest_ecg

    return ingest_ecg(store, path, progress=progress, **options)


def _ecg_default(store: Store, settings: Settings) -> Any:
    """The beat classifier shipped in the package (:mod:`cliniloop.models.ecg.defaults`); ``None`` when it cannot be used
    (beats are then detected and labelled N)."""
    from cliniloop.services.loop.first_round import ecg_classifier

    return ecg_classifier(store, settings)[0]


def _ecg_infer(store: Store, settings: Settings, progress: Progress | None = None) -> InferReport:
    from cliniloop.models.ecg.detect import BeatDetector
    from cliniloop.services.loop.ecg import predict_ecg

    classifier = ECG.model(store, settings)
    failures: list[Any] = []
    before = len(ECG.predictions(store))
    n = predict_ecg(store, BeatDetector().fit(), classifier, progress=progress, mapping_path=settings.ecg_beat_mapping, failures=failures)
    version = getattr(classifier, "version", None) or "unclassified"
    return InferReport(str(version), n, max(0, before - n), [(str(f.path.name), f.reason) for f in failures])


def _ecg_classes(store: Store, settings: Settings) -> list[str]:
    from cliniloop.taxonomies.ecg import AAMI_CLASSES

    return list(AAMI_CLASSES)


def _ecg_projects(store: Store, settings: Settings, title: str, tasks: Sequence[Any]) -> list[ProjectPart]:
    from cliniloop.services.loop.ecg import ecg_project_config

    return [ProjectPart(title, ecg_project_config(settings.ecg_beat_mapping), [t.id for t in tasks])]


def _ecg_task_data(task: Any) -> dict[str, Any]:
    from cliniloop.services.loop.ecg import ecg_window_data

    return ecg_window_data(task)


def _ecg_cost(task: Any, _pred: Any) -> float:
    d = task.data
    return max(1e-3, (d["core_stop"] - d["core_start"]) / float(d["sampling_rate"]))


def _ecg_export(store: Store, out: Path, **options: Any) -> Any:
    from cliniloop.services.loop.ecg import export_beats

    return export_beats(store, out, **options)


def _ecg_train(store: Store, settings: Settings, **options: Any) -> Any:
    from cliniloop.services.loop.ecg_train import train_ecg_classifier

    return train_ecg_classifier(store, settings, options.pop("wfdb_dirs", ()), **options)


def _ecg_model_outputs(store: Store, settings: Settings, tasks: Sequence[Any], predictions: dict[str, Any], seed: int = 0) -> dict[str, np.ndarray] | None:
    """MC-dropout samples and gradient embeddings of the promoted beat CNN, one row per window.

    A window is represented by its beat with the largest BALD (samples) and the beat with the
    largest gradient norm (embedding); ``None`` when the classifier in use is not the CNN.
    """
    from cliniloop.models.ecg.classify import BeatClassifier

    clf = ECG.model(store, settings)
    if not isinstance(clf, BeatClassifier):
        return None
    import torch

    from cliniloop.connectors.sources.ecg import open_ecg
    from cliniloop.models.ecg.classify import RecordBeats
    from cliniloop.models.sampling.torch_al import TaskRows, gradient_embeddings, mc_dropout_proba

    rows_out = TaskRows(len(tasks), 20, 5)
    by_record: dict[str, list[int]] = {}
    for row, task in enumerate(tasks):
        by_record.setdefault(task.data["record_path"], []).append(row)
    for path, rows in by_record.items():
        data = tasks[rows[0]].data
        beats = sorted({int(r.get("attributes", {}).get("sample", -1)) for i in rows for r in predictions[tasks[i].id].regions} - {-1})
        if not beats:
            continue
        source = open_ecg(Path(path), data.get("csv_sampling_rate"))
        record = RecordBeats(data["record_name"], source.read(0, source.n_samples, data["leads"][:2]), source.sampling_rate, np.array(beats))
        morph, rr = clf._inputs(record)
        m = torch.from_numpy(morph).to(clf.device_)
        r = torch.from_numpy(((rr - clf.rr_mean_) / clf.rr_std_).astype(np.float32)).to(clf.device_)
        forward = lambda net: net(m, r) / clf.temperature_  # noqa: E731
        samples = mc_dropout_proba(clf.net_, forward, samples=20, seed=seed)
        grads = gradient_embeddings(clf.net_, forward, clf.net_.head[-1])
        index = {s: j for j, s in enumerate(beats)}
        for i in rows:
            mine = [index[int(r["attributes"]["sample"])] for r in predictions[tasks[i].id].regions if r.get("attributes", {}).get("sample") in index]
            if mine:
                rows_out.set(i, samples[:, mine, :], grads[mine])
    return rows_out.outputs()


# -- EEG -----------------------------------------------------------------------------------------------
def _eeg_ingest(store: Store, path: Path, settings: Settings, progress: Progress | None = None, **options: Any) -> Any:
    from cliniloop.services.loop.eeg import ingest_eeg

    return ingest_eeg(store, path, progress=progress, **options)


def _eeg_default(store: Store, settings: Settings) -> Any:
    """The seizure detector shipped in the package (:mod:`cliniloop.models.eeg.defaults`); ``None`` when it cannot be used
    (only artifacts and sleep stages are then predicted)."""
    from cliniloop.services.loop.first_round import eeg_detector

    return eeg_detector(store, settings)[0]


def _eeg_infer(store: Store, settings: Settings, progress: Progress | None = None) -> InferReport:
    from cliniloop.services.loop.eeg import predict_eeg

    detector = EEG.model(store, settings)
    failures: list[Any] = []
    before = len(EEG.predictions(store))
    n = predict_eeg(store, detector, sleep=settings_flag(settings, "eeg_sleep", True), progress=progress, failures=failures)
    version = getattr(detector, "version", None) or "no-detector"
    return InferReport(str(version), n, max(0, before - n), [(str(f.path.name), f.reason) for f in failures])


def settings_flag(settings: Settings, name: str, default: bool) -> bool:
    """A boolean setting that may not exist in every version of :class:`Settings`."""
    return bool(getattr(settings, name, default))


def _eeg_classes(store: Store, settings: Settings) -> list[str]:
    from cliniloop.services.loop.eeg import ARTIFACT

    return ["seizure", ARTIFACT, "W", "N1", "N2", "N3", "R"]


def _eeg_projects(store: Store, settings: Settings, title: str, tasks: Sequence[Any]) -> list[ProjectPart]:
    """One project per channel montage (titled ``<title> [<montage>]`` when there are several)."""
    from cliniloop.services.loop.eeg import eeg_project_config

    montages = sorted({t.data["montage"] for t in EEG.tasks(store)} | {t.data["montage"] for t in tasks})
    parts: dict[str, list[Any]] = {}
    for t in tasks:
        parts.setdefault(t.data["montage"], []).append(t)
    return [
        ProjectPart(title if len(montages) == 1 else f"{title} [{montage}]", eeg_project_config(items[0].data["channels"]), [t.id for t in items])
        for montage, items in parts.items()
    ]


def _eeg_project_titles(store: Store, title: str) -> list[str]:
    montages = sorted({t.data["montage"] for t in EEG.tasks(store)})
    return [title] if len(montages) <= 1 else [f"{title} [{m}]" for m in montages]


def _eeg_task_data(task: Any) -> dict[str, Any]:
    from cliniloop.services.loop.eeg import eeg_window_data

    return eeg_window_data(task)


def _eeg_cost(task: Any, _pred: Any) -> float:
    d = task.data
    return max(1e-3, float(d["stop_s"]) - float(d["start_s"]))


def _eeg_export(store: Store, out: Path, **options: Any) -> Any:
    from cliniloop.services.loop.eeg import export_events

    return export_events(store, out, **options)


def _eeg_train(store: Store, settings: Settings, **options: Any) -> Any:
    from cliniloop.services.loop.eeg_train import train_eeg_detector

    return train_eeg_detector(store, settings, **options)


# -- images --------------------------------------------------------------------------------------------
def _image_ingest(kind: str) -> Callable[..., Any]:
    def ingest(store: Store, path: Path, settings: Settings, progress: Progress | None = None, **options: Any) -> Any:
        from cliniloop.services.loop.image import ingest_images

        return ingest_images(store, path, kind=kind, progress=progress, **options)  # type: ignore[arg-type]

    return ingest


def _image_box_default(store: Store, settings: Settings) -> Any:
    """The box detector shipped in the package (:mod:`cliniloop.models.image.defaults`), else the cold-start blob proposer."""
    from cliniloop.models.image.classical import BlobProposer
    from cliniloop.services.loop.first_round import default_box_detector
    from cliniloop.services.loop.image import COLD_START_LABEL

    return default_box_detector() or BlobProposer(label=COLD_START_LABEL).fit()


def _image_mask_default(store: Store, settings: Settings) -> Any:
    """The cold-start mask proposer."""
    from cliniloop.models.image.classical import MaskProposer

    return MaskProposer().fit()


def _image_infer(store: Store, settings: Settings, progress: Progress | None = None) -> InferReport:
    """Predict every image task (boxes and masks share one pass)."""
    from cliniloop.services.loop.image import ImageModels, predict_images

    boxes, masks = IMAGE_BOXES.model(store, settings), IMAGE_MASKS.model(store, settings)
    models = ImageModels(boxes, masks, str(boxes.version), str(masks.version))
    n, errors = predict_images(store, models, progress=progress)
    total = len(store.latest_predictions(IMAGE_BOXES.prediction_model))
    return InferReport(f"{models.box_version} / {models.mask_version}", n, max(0, total - n), [(str(e), "") for e in errors])


def _image_classes(kind: str) -> Callable[[Store, Settings], list[str]]:
    def classes(store: Store, settings: Settings) -> list[str]:
        from cliniloop.services.loop.image import labels_in_use

        boxes, masks = labels_in_use(store)
        found = boxes if kind == "boxes" else masks
        model = (IMAGE_BOXES if kind == "boxes" else IMAGE_MASKS).model(store, settings)
        trained = list(getattr(model, "classes_", None) or getattr(model, "classes", None) or [])
        return list(dict.fromkeys([*trained, *found])) or ["region"]

    return classes


def _image_projects(store: Store, settings: Settings, title: str, tasks: Sequence[Any]) -> list[ProjectPart]:
    """One image project: box classes of the model in use and of the labels so far; mask classes in use."""
    from cliniloop.services.loop.image import image_project_config, labels_in_use

    _, masks = labels_in_use(store)
    return [ProjectPart(title, image_project_config(_image_classes("boxes")(store, settings), masks), [t.id for t in tasks])]


def _image_task_data(task: Any) -> dict[str, Any]:
    from cliniloop.services.loop.image import image_task_data

    return image_task_data(task)


def _image_cost(_task: Any, pred: Any) -> float:
    """Expected regions to draw or check: the predicted ones, at least one."""
    return float(max(1, len(pred.regions) if pred is not None else 1))


def _image_export(store: Store, out: Path, **options: Any) -> Any:
    from cliniloop.services.loop.image import export_coco, export_voc

    return export_voc(store, out, **options) if out.suffix.lower() != ".json" else export_coco(store, out, **options)


def _box_train(store: Store, settings: Settings, **options: Any) -> Any:
    from cliniloop.services.loop.image_train import VocSource, train_box_detector

    sources = [s if isinstance(s, VocSource) else VocSource(Path(s), None) for s in options.pop("voc", ())]
    return train_box_detector(store, settings, sources, **options)


def _mask_train(store: Store, settings: Settings, **options: Any) -> Any:
    from cliniloop.services.loop.image_train import train_mask_segmenter

    return train_mask_segmenter(store, settings, options.pop("sources", ()), **options)


def _box_model_outputs(store: Store, settings: Settings, tasks: Sequence[Any], predictions: dict[str, Any], seed: int = 0) -> dict[str, np.ndarray] | None:
    """MC-dropout samples and gradient embeddings of the box detector in use, one row per image.

    The items are the detector's 5 strongest heatmap peaks of each image (the regions it proposes);
    the class distribution at a peak is the softmax of its class logits; an image is represented by
    its peak with the largest BALD (samples) and the peak with the largest gradient norm (embedding).
    ``None`` when the box model in use is not the CenterNet detector (the blob proposer has no weights).
    """
    from cliniloop.models.image.detector import BoxDetector

    det = IMAGE_BOXES.model(store, settings)
    if not isinstance(det, BoxDetector):
        return None
    from cliniloop.models.sampling.torch_al import TaskRows, cell_outputs
    from cliniloop.services.loop.image import load_frame

    rows_out = TaskRows(len(tasks), 20, len(det.classes_))
    net = det.net_
    for i, task in enumerate(tasks):
        seen: list[Any] = []
        hook = net.register_forward_pre_hook(lambda _m, args: seen.append(args[0][:1].detach()))
        try:
            prob = det._raw(load_frame(task.data).pixels)[0]  # (C, h, w) peak probabilities, padding zeroed
        finally:
            hook.remove()
        strength = prob.max(dim=0).values.numpy()
        top = np.argsort(-strength, axis=None, kind="stable")[:5]
        cells = np.stack(np.unravel_index(top, strength.shape), axis=1)
        x = seen[0]
        rows_out.set(i, *cell_outputs(net, lambda m: m(x)[0], cells, net.heatmap[2], 20, seed=seed))
    return rows_out.outputs()


def _mask_model_outputs(store: Store, settings: Settings, tasks: Sequence[Any], predictions: dict[str, Any], seed: int = 0) -> dict[str, np.ndarray] | None:
    """MC-dropout samples and gradient embeddings of the U-Net mask model in use, one row per image.

    The items are the 5 least confident pixels (background / interior / boundary softmax) of the
    first tile the model sees of each image; an image is represented by its pixel with the largest
    BALD (samples) and the pixel with the largest gradient norm (embedding). ``None`` when the mask
    model in use is not the U-Net (the cold-start proposer has no weights).
    """
    from cliniloop.models.image.segmenter import MaskSegmenter

    seg = IMAGE_MASKS.model(store, settings)
    if not isinstance(seg, MaskSegmenter) or seg.net_ is None:
        return None
    import torch

    from cliniloop.models.sampling.torch_al import TaskRows, cell_outputs
    from cliniloop.services.loop.image import load_frame

    net = seg.net_
    rows_out = TaskRows(len(tasks), 20, int(net.head.out_channels))
    for i, task in enumerate(tasks):
        seen: list[Any] = []
        hook = net.register_forward_hook(lambda _m, args, out: seen.append((args[0][:1].detach(), out[:1].detach())) if not seen else None)
        try:
            seg._probabilities(load_frame(task.data).pixels)
        finally:
            hook.remove()
        x, logits = seen[0]
        confidence = torch.softmax(logits[0].float(), dim=0).max(dim=0).values.numpy()
        low = np.argsort(confidence, axis=None, kind="stable")[:5]
        cells = np.stack(np.unravel_index(low, confidence.shape), axis=1)
        rows_out.set(i, *cell_outputs(net, lambda m: m(x), cells, net.head, 20, seed=seed))
    return rows_out.outputs()


def _is_kind(kind: str) -> Callable[[Any], bool]:
    return lambda task: task.data.get("kind", "boxes") == kind


# -- codes ---------------------------------------------------------------------------------------------
def _codes_projects(store: Store, settings: Settings, title: str, tasks: Sequence[Any]) -> list[ProjectPart]:
    """The coders' queue is built from mentions, not tasks: refuse with the command that pushes it."""
    raise ValueError("the coders' queue is pushed with `cliniloop codes push --budget N`, not `push --modality codes`")


# -- the registry --------------------------------------------------------------------------------------
def _text_model_outputs(store: Store, settings: Settings, tasks: Sequence[Any], predictions: dict[str, Any], seed: int = 0) -> dict[str, np.ndarray] | None:
    """MC-dropout samples and BADGE embeddings of the promoted transformer entity tagger, one row per note.

    A note is represented by its word piece with the largest BALD (samples, 10 passes) and by the
    mean of its pieces' last-layer gradient embeddings. ``None`` when the promoted tagger is not the
    transformer (the CRF has no dropout to sample).
    """
    from cliniloop.models.text.ner_transformer import TransformerTagger
    from cliniloop.services.loop.predict import NER_MODEL_NAME, load_ner_tagger

    version = store.alias(NER_MODEL_NAME)
    if version is None:
        return None
    tagger = load_ner_tagger(store, settings, version)
    if not isinstance(tagger, TransformerTagger):
        return None
    from cliniloop.models.sampling.torch_al import TaskRows

    texts = [t.data.get("text", "") for t in tasks]
    rows_out = TaskRows(len(tasks), 10, len(tagger.labels_))
    for i, s in enumerate(tagger.mc_dropout_proba(texts, samples=10)):
        rows_out.set(i, s)
    return {**rows_out.outputs(), "grad_embeddings": tagger.sentence_gradient_embeddings(texts)}


TEXT = Modality(
    name="text", store_modality="text", prediction_model="clinical-text", trained_model="clinical-ner", noun="notes", unit="seconds",
    dev_metric="f1", project=lambda s: s.label_studio_project, ingest=_text_ingest, infer=_text_infer, default_model=_text_default,
    classes=_text_classes, projects=_text_projects, task_data=None, cost=_text_cost, export=_text_export, train=_text_train,
    model_outputs=_text_model_outputs,
)
CODES = Modality(
    name="codes", store_modality="text", prediction_model="clinical-text", trained_model="clinical-ner", noun="mentions", unit="mentions",
    dev_metric="recall@5", project=lambda s: s.label_studio_coder_project, ingest=_text_ingest, infer=_text_infer,
    default_model=_text_default, classes=_text_classes, projects=_codes_projects, task_data=None, cost=lambda _t, _p: 1.0,
    export=_text_export, train=None,
)
ECG = Modality(
    name="ecg", store_modality="ecg", prediction_model="ecg-beats", trained_model="ecg-beat-classifier", noun="windows",
    unit="seconds of signal", dev_metric="macro_f1", project=lambda s: "cliniloop ECG beats", ingest=_ecg_ingest, infer=_ecg_infer,
    default_model=_ecg_default, classes=_ecg_classes, projects=_ecg_projects, task_data=_ecg_task_data, cost=_ecg_cost,
    export=_ecg_export, train=_ecg_train, model_outputs=_ecg_model_outputs,
)
EEG = Modality(
    name="eeg", store_modality="eeg", prediction_model="eeg-events", trained_model="eeg-seizure-detector", noun="windows",
    unit="seconds of signal", dev_metric="auroc", project=lambda s: "cliniloop EEG", ingest=_eeg_ingest, infer=_eeg_infer,
    default_model=_eeg_default, classes=_eeg_classes, projects=_eeg_projects, task_data=_eeg_task_data, cost=_eeg_cost,
    export=_eeg_export, train=_eeg_train,
)
IMAGE_BOXES = Modality(
    name="image-boxes", store_modality="image", prediction_model="image-regions", trained_model="image-box-detector", noun="images",
    unit="regions", dev_metric="map50", project=lambda s: "cliniloop images", ingest=_image_ingest("boxes"), infer=_image_infer,
    default_model=_image_box_default, classes=_image_classes("boxes"), projects=_image_projects, task_data=_image_task_data,
    cost=_image_cost, export=_image_export, train=_box_train, model_outputs=_box_model_outputs, task_filter=_is_kind("boxes"),
)
IMAGE_MASKS = Modality(
    name="image-masks", store_modality="image", prediction_model="image-regions", trained_model="image-mask-segmenter", noun="images",
    unit="regions", dev_metric="f1", project=lambda s: "cliniloop images", ingest=_image_ingest("masks"), infer=_image_infer,
    default_model=_image_mask_default, classes=_image_classes("masks"), projects=_image_projects, task_data=_image_task_data,
    cost=_image_cost, export=_image_export, train=_mask_train, model_outputs=_mask_model_outputs, task_filter=_is_kind("masks"),
)

_ALIASES = {"image": "image-boxes", "boxes": "image-boxes", "masks": "image-masks", "ner": "text", "coders": "codes", "code": "codes"}


@cache
def _registry() -> dict[str, Modality]:
    return {m.name: m for m in (TEXT, CODES, ECG, EEG, IMAGE_BOXES, IMAGE_MASKS)}


#: Names accepted by ``--modality``.
MODALITY_NAMES = ("text", "codes", "ecg", "eeg", "image-boxes", "image-masks")


def get_modality(name: str) -> Modality:
    """The registry entry for ``name`` (``image`` means ``image-boxes``; ``_`` may stand for ``-``).

    Raises
    ------
    ValueError
        For an unknown modality, naming the known ones.
    """
    key = str(name).strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    found = _registry().get(key)
    if found is None:
        raise ValueError(f"unknown modality {name!r}; choose one of {', '.join(MODALITY_NAMES)}")
    return found


def project_titles(modality: Modality, store: Store, title: str) -> list[str]:
    """The Label Studio project titles a pull reads (EEG: one per montage)."""
    return _eeg_project_titles(store, title) if modality.name == "eeg" else [title]
