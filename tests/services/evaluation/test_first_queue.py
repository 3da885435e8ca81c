"""The first-queue measurement: task errors and the rank correlation against hand-computed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from cliniloop.services.evaluation.first_queue import FirstQueueError, box_error, evaluate_first_queue, rank_correlation, window_error

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"


def test_window_error_counts_missed_extra_and_mislabelled() -> None:
    ref = [(100, "N"), (400, "V"), (700, "N")]
    got = [(102, "N"), (398, "N"), (900, "N")]  # one right, one mislabelled, one missed, one extra
    assert window_error(ref, got, tolerance=54) == pytest.approx(3 / 3)
    assert window_error(ref, ref, tolerance=54) == 0.0
    assert window_error([], [], tolerance=54) == 0.0


def test_box_error_is_one_minus_f1() -> None:
    ref = [((0, 0, 10, 10), "RBC"), ((20, 20, 30, 30), "WBC")]
    got = [((0, 0, 10, 10), "RBC", 0.9), ((20, 20, 30, 30), "RBC", 0.8)]  # second box: wrong class
    assert box_error(got, ref) == pytest.approx(1 - 2 * 1 / 4)
    assert box_error([], []) == 0.0


def test_rank_correlation_sign_and_constant_queue() -> None:
    good = rank_correlation([0.1, 0.2, 0.3, 0.9], [0.0, 0.1, 0.2, 0.8])
    assert good["spearman"] == pytest.approx(1.0)
    assert good["error_share_first_fifth"] == pytest.approx(0.8 / 1.1, abs=1e-4)
    assert rank_correlation([0.9, 0.3, 0.2, 0.1], [0.0, 0.1, 0.2, 0.8])["spearman"] == pytest.approx(-1.0)
    flat = rank_correlation([0.0, 0.0, 0.0], [0.1, 0.5, 0.0])
    assert flat["spearman"] is None and flat["uncertainty"]["distinct"] == 1


def test_unknown_modality_and_trained_records_are_refused() -> None:
    with pytest.raises(FirstQueueError, match="--modality"):
        evaluate_first_queue("audio", Path("."))
    from cliniloop.models.ecg.defaults import load_default

    seen = load_default().training_["records"][0]
    with pytest.raises(FirstQueueError, match="used to train"):
        evaluate_first_queue("ecg", DATA / "ecg" / "mitdb", records=[seen])
