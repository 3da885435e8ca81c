"""Seizure detector on synthetic epochs: separation, threshold, determinism, persistence and event merging."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cliniloop.models.eeg.features import FEATURE_RATE, epoch_starts, prepare_signal
from cliniloop.models.eeg.seizure import DetectedEvent, SeizureDetector, best_threshold

FS = FEATURE_RATE
N = int(4 * FS)  # 4-s epochs = 512 samples
GROUPS = 40
PER_GROUP = 5


def synthetic_epochs(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(epochs, labels, groups): half the groups background (~20 uV noise), half rhythmic 3-6 Hz 200 uV discharges."""
    rng = np.random.default_rng(seed)
    t = np.arange(N) / FS
    epochs, labels, groups = [], [], []
    for g in range(GROUPS):
        ictal = g % 2 == 1
        freq = rng.uniform(3.0, 6.0)
        for _ in range(PER_GROUP):
            noise = 20.0 * rng.standard_normal(N)
            x = noise
            if ictal:
                phase = rng.uniform(0, 2 * np.pi)
                # spike-and-wave-like: fundamental plus harmonics
                x = x + 200.0 * (np.sin(2 * np.pi * freq * t + phase) + 0.4 * np.sin(4 * np.pi * freq * t + 2 * phase))
            epochs.append(prepare_signal(x, FS))
            labels.append(int(ictal))
            groups.append(f"g{seed}-{g}")
    return np.stack(epochs), np.array(labels), np.array(groups)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return synthetic_epochs(0)


@pytest.fixture(scope="module")
def detector(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> SeizureDetector:
    epochs, labels, groups = data
    return SeizureDetector(seed=0).fit(epochs, labels, groups)


def auroc(score: np.ndarray, truth: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(truth, score))


def test_predict_proba_separates_held_out_epochs(detector: SeizureDetector) -> None:
    epochs, labels, _ = synthetic_epochs(1)
    proba = detector.predict_proba(epochs)
    assert proba.shape == (len(labels),)
    assert ((proba >= 0) & (proba <= 1)).all()
    assert auroc(proba, labels) > 0.95
    assert proba[labels == 1].mean() > proba[labels == 0].mean() + 0.5


def test_threshold_chosen_from_groups_within_bounds(detector: SeizureDetector) -> None:
    assert 0.05 < detector.threshold_ < 0.95
    assert detector.train_summary_ == {"epochs": GROUPS * PER_GROUP, "ictal_epochs": GROUPS * PER_GROUP // 2, "threshold": detector.threshold_}
    assert detector.version is not None and detector.version.startswith("eeg-seizure-")


def test_fit_with_one_class_raises(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    epochs, labels, _ = data
    with pytest.raises(ValueError):
        SeizureDetector().fit(epochs[labels == 0], labels[labels == 0])


def test_predict_before_fit_raises() -> None:
    with pytest.raises(RuntimeError):
        SeizureDetector().predict_proba(np.zeros((2, N)))


def test_fit_is_deterministic_for_a_seed(data: tuple[np.ndarray, np.ndarray, np.ndarray], detector: SeizureDetector) -> None:
    epochs, labels, groups = data
    again = SeizureDetector(seed=0).fit(epochs, labels, groups)
    assert again.version == detector.version
    assert again.threshold_ == detector.threshold_
    np.testing.assert_array_equal(again.predict_proba(epochs[:10]), detector.predict_proba(epochs[:10]))


def test_save_load_round_trip(detector: SeizureDetector, data: tuple[np.ndarray, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    epochs = data[0][::7]
    detector.save(tmp_path / "det")
    loaded = SeizureDetector.load(tmp_path / "det")
    assert loaded.version == detector.version
    assert loaded.threshold_ == detector.threshold_
    assert loaded.params() == detector.params()
    np.testing.assert_array_equal(loaded.predict_proba(epochs), detector.predict_proba(epochs))


def test_load_refuses_tampered_model(detector: SeizureDetector, tmp_path: Path) -> None:
    detector.save(tmp_path)
    model = tmp_path / "model.joblib"
    model.write_bytes(model.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="digest"):
        SeizureDetector.load(tmp_path)


def test_load_refuses_folder_without_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SeizureDetector.load(tmp_path)


# -- merging epochs into events ------------------------------------------------------------
CHANNELS = ("Fp1", "C3", "O2")


def merger(**kwargs: float) -> SeizureDetector:
    """An untrained detector (merging needs only the parameters and threshold), no smoothing by default."""
    params = {"smooth_epochs": 1, **kwargs}
    detector = SeizureDetector(**params)  # type: ignore[arg-type]
    detector.threshold_ = 0.5
    return detector


def flagged(n: int, indices: list[int], channel: int = 0, value: float = 0.9) -> np.ndarray:
    proba = np.full((n, len(CHANNELS)), 0.1)
    proba[indices, channel] = value
    return proba


def test_run_in_the_middle_owns_the_middle_step_of_each_epoch() -> None:
    starts = epoch_starts(60.0, 4.0, 2.0)  # 0, 2, ..., 56
    events = merger().merge_events(starts, flagged(len(starts), [5, 6, 7, 8, 9]), CHANNELS)
    # epoch 5 spans [10, 14) and owns [11, 13); epoch 9 spans [18, 22) and owns [19, 21)
    assert events == [DetectedEvent(11.0, 21.0, pytest.approx(0.9), ("Fp1",))]


def test_first_and_last_epochs_extend_to_the_recording_edges() -> None:
    starts = epoch_starts(60.0, 4.0, 2.0)
    n = len(starts)
    events = merger().merge_events(starts, flagged(n, [0, 1, 2, n - 3, n - 2, n - 1]), CHANNELS)
    assert [(e.onset_s, e.offset_s) for e in events] == [(0.0, 7.0), (53.0, 60.0)]


def test_runs_closer_than_max_gap_merge() -> None:
    starts = epoch_starts(60.0, 4.0, 2.0)
    # run [5, 6] owns [11, 15); run [9, 10] owns [19, 23): gap 4 <= max_gap 4 -> one event
    events = merger(max_gap_s=4.0).merge_events(starts, flagged(len(starts), [5, 6, 9, 10]), CHANNELS)
    assert [(e.onset_s, e.offset_s) for e in events] == [(11.0, 23.0)]
    # run [10, 11] owns [21, 25): gap 6 > 4 -> two events
    events = merger(max_gap_s=4.0).merge_events(starts, flagged(len(starts), [5, 6, 10, 11]), CHANNELS)
    assert [(e.onset_s, e.offset_s) for e in events] == [(11.0, 15.0), (21.0, 25.0)]


def test_runs_shorter_than_min_duration_are_dropped() -> None:
    starts = epoch_starts(60.0, 4.0, 2.0)
    # a lone epoch owns 2 s; three epochs own 6 s
    events = merger(min_duration_s=4.0, max_gap_s=0.0).merge_events(starts, flagged(len(starts), [5, 12, 13, 14]), CHANNELS)
    assert [(e.onset_s, e.offset_s) for e in events] == [(25.0, 31.0)]
    assert merger(min_duration_s=8.0).merge_events(starts, flagged(len(starts), [12, 13, 14]), CHANNELS) == []


def test_event_channels_are_those_above_threshold() -> None:
    starts = epoch_starts(60.0, 4.0, 2.0)
    proba = flagged(len(starts), [5, 6, 7], channel=0)
    proba[6, 2] = 0.7  # O2 joins for one epoch
    proba[7, 1] = 0.49  # C3 stays just below
    (event,) = merger().merge_events(starts, proba, CHANNELS)
    assert event.channels == ("Fp1", "O2")
    assert event.confidence == pytest.approx(0.9)


def test_nothing_flagged_gives_no_events() -> None:
    starts = epoch_starts(60.0, 4.0, 2.0)
    assert merger().merge_events(starts, np.full((len(starts), 3), 0.2), CHANNELS) == []


def test_no_epochs_gives_no_events() -> None:
    assert merger().merge_events(np.zeros(0), np.zeros((0, len(CHANNELS))), CHANNELS) == []


def test_smoothing_averages_over_smooth_epochs() -> None:
    detector = SeizureDetector(smooth_epochs=3)
    np.testing.assert_allclose(detector.smooth(np.array([0.0, 0.0, 0.9, 0.0, 0.0])), [0.0, 0.3, 0.3, 0.3, 0.0])
    two = np.array([[0.0, 0.6], [0.9, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(detector.smooth(two), [[0.3, 0.4], [0.3, 0.2], [0.3, 0.0]])  # per column, edges repeat
    np.testing.assert_array_equal(SeizureDetector(smooth_epochs=1).smooth(np.array([0.0, 1.0, 0.0])), [0.0, 1.0, 0.0])


def test_smoothing_drops_a_lone_flagged_epoch() -> None:
    starts = epoch_starts(60.0, 4.0, 2.0)
    detector = merger(smooth_epochs=3, min_duration_s=0.0)
    assert detector.merge_events(starts, flagged(len(starts), [10]), CHANNELS) == []  # 0.9 -> ~0.37 < 0.5


def test_best_threshold_separates_separable_scores() -> None:
    score = np.array([0.1, 0.3, 0.2, 0.8, 0.7, 0.9])
    truth = np.array([0, 0, 0, 1, 1, 1])
    t = best_threshold(score, truth)
    assert 0.3 < t < 0.7
    assert ((score >= t) == truth.astype(bool)).all()


def test_best_threshold_stays_within_bounds() -> None:
    assert best_threshold(np.array([0.96, 0.97, 0.99, 0.995]), np.array([0, 0, 1, 1])) == 0.95
