"""The modality registry and the one selection step: every modality's queue is a recorded round by a named strategy."""

from __future__ import annotations

import numpy as np
import pytest

from cliniloop.services.core.schemas import AnnotationIn, PredictionIn, Rectangle, TaskIn, TimeInstant
from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.loop.modalities import MODALITY_NAMES, get_modality
from cliniloop.services.loop.round import stopping_status_for
from cliniloop.services.loop.select import select_tasks

AAMI = ("N", "S", "V", "F", "Q")


def _beat(t: float, probs: tuple[float, ...]) -> TimeInstant:
    label = AAMI[int(np.argmax(probs))]
    return TimeInstant(label=label, time_s=t, probability=max(probs), attributes={"sample": int(t * 360), "probs": dict(zip(AAMI, probs, strict=True))})


def _ecg_pool(store: Store, windows: list[tuple[float, list[TimeInstant]]], version: str = "det+clf-1") -> list[str]:
    """ECG window tasks (``(seconds of signal, beats)``) and one prediction each; returns their ids."""
    tasks, preds = [], []
    for i, (seconds, beats) in enumerate(windows):
        tid = f"ecg-{i:02d}"
        data = {"record_path": "/nowhere/r.hea", "record_name": "r", "record_hash": "h", "sampling_rate": 360.0, "leads": ["MLII"],
                "start": 0, "core_start": 0, "core_stop": int(seconds * 360), "stop": int(seconds * 360)}  # fmt: skip
        tasks.append(TaskIn(id=tid, modality="ecg", source_uri=f"file:///r#{i}", data=data))
        u = 1.0 - min(b.probability for b in beats) if beats else 1.0
        preds.append(PredictionIn(task_id=tid, model_name="ecg-beats", model_version=version, taxonomy_version="aami", regions=beats, score=1 - u, uncertainty=u))
    store.add_tasks(tasks)
    store.add_predictions(preds, make_latest=True)
    return [t.id for t in tasks]


def test_every_modality_is_in_the_registry_with_its_loop_parts() -> None:
    assert MODALITY_NAMES == ("text", "codes", "ecg", "eeg", "image-boxes", "image-masks")
    for name in MODALITY_NAMES:
        mod = get_modality(name)
        assert mod.name == name and mod.prediction_model and mod.trained_model and mod.unit and mod.dev_metric
    assert get_modality("image").name == "image-boxes" and get_modality("image_masks").name == "image-masks"
    assert get_modality("ecg").unit == "seconds of signal" and get_modality("image-boxes").unit == "regions"
    with pytest.raises(ValueError, match="unknown modality 'ultrasound'.*text, codes, ecg"):
        get_modality("ultrasound")


def test_ecg_selection_is_a_recorded_round_by_the_chosen_strategy(store: Store) -> None:
    ids = _ecg_pool(
        store,
        [
            (10.0, [_beat(0.5, (0.98, 0.01, 0.01, 0.0, 0.0))]),  # sure N
            (10.0, [_beat(0.5, (0.50, 0.45, 0.05, 0.0, 0.0))]),  # N or S: the smallest margin
            (10.0, [_beat(0.5, (0.40, 0.20, 0.20, 0.10, 0.10))]),  # spread out: the highest entropy
        ],
    )
    sel = select_tasks(store, 1, "margin", modality="ecg")
    assert sel.task_ids == [ids[1]] and sel.modality == "ecg"
    assert select_tasks(store, 1, "entropy", modality="ecg").task_ids == [ids[2]]
    assert select_tasks(store, 1, "least_confidence", modality="ecg").task_ids == [ids[2]]
    rounds = store.rounds()
    assert [(r.strategy, r.model_name, r.selected_task_ids) for r in rounds] == [
        ("margin", "ecg-beats", [ids[1]]), ("entropy", "ecg-beats", [ids[2]]), ("least_confidence", "ecg-beats", [ids[2]]),
    ]  # fmt: skip
    assert len(select_tasks(store, 3, "kcenter", modality="ecg").task_ids) == 3
    assert len(select_tasks(store, 2, "badge", modality="ecg").task_ids) == 2


def test_ecg_cost_aware_divides_by_seconds_of_signal_and_labelled_windows_never_return(store: Store) -> None:
    ids = _ecg_pool(
        store,
        [(30.0, [_beat(0.5, (0.6, 0.4, 0.0, 0.0, 0.0))]), (5.0, [_beat(0.5, (0.7, 0.3, 0.0, 0.0, 0.0))])],
    )
    assert select_tasks(store, 1, "least_confidence", modality="ecg").task_ids == [ids[0]]
    sel = select_tasks(store, 1, "least_confidence", modality="ecg", cost_aware=True)
    assert sel.task_ids == [ids[1]] and "seconds of signal" in (sel.cost_unit or "")  # 0.3/5 s beats 0.4/30 s
    store.upsert_annotation(AnnotationIn(task_id=ids[1], source="test", source_annotation_id="a1", regions=[]))
    assert select_tasks(store, 2, "least_confidence", modality="ecg", cost_aware=True).task_ids == [ids[0]]


def test_bald_needs_a_torch_model_and_says_so(store: Store) -> None:
    _ecg_pool(store, [(10.0, [_beat(0.5, (0.9, 0.1, 0.0, 0.0, 0.0))])])
    with pytest.raises(ValueError, match="'bald' needs MC-dropout samples from a torch model; the ecg model in use"):
        select_tasks(store, 1, "bald", modality="ecg", settings=Settings())


def test_box_and_mask_images_are_separate_pools(store: Store) -> None:
    tasks, preds = [], []
    for i, kind in enumerate(("boxes", "masks", "boxes")):
        tid = f"img-{i}"
        tasks.append(TaskIn(id=tid, modality="image", source_uri=f"file:///i{i}.png", data={"kind": kind, "width": 10, "height": 10}))
        box = Rectangle(label="RBC", x=1, y=1, width=3, height=3, image_width=10, image_height=10, probability=0.5 + 0.2 * i)
        preds.append(PredictionIn(task_id=tid, model_name="image-regions", model_version="blob-1", taxonomy_version="x", regions=[box], score=0.5, uncertainty=0.9 - 0.1 * i))
    store.add_tasks(tasks)
    store.add_predictions(preds, make_latest=True)
    assert select_tasks(store, 5, "uncertainty", modality="image-boxes").task_ids == ["img-0", "img-2"]
    assert select_tasks(store, 5, "uncertainty", modality="image-masks").task_ids == ["img-1"]
    # cost-aware: expected regions per image (one each here), so the order stays
    assert select_tasks(store, 5, "uncertainty", modality="image", cost_aware=True).task_ids == ["img-0", "img-2"]


def test_the_stopping_rule_runs_for_signals_on_prediction_versions(store: Store) -> None:
    settings = Settings(stop_set_size=10, stop_window=1, stop_threshold=0.99)
    windows = [(10.0, [_beat(0.5, (0.9, 0.1, 0.0, 0.0, 0.0))]), (10.0, [_beat(0.5, (0.1, 0.9, 0.0, 0.0, 0.0))])]
    _ecg_pool(store, windows, version="v1")
    first = stopping_status_for(store, settings, "ecg")
    assert not first.should_stop and "two ecg model versions" in first.reason
    _ecg_pool(store, windows, version="v2")  # the same labels again: the predictions have stabilised
    status = stopping_status_for(store, settings, "ecg")
    assert status.agreements == [1.0] and status.should_stop
