"""The ECG patient-adaptation replay on synthetic records: deterministic, curves per strategy and k."""

from __future__ import annotations

import pytest

pytest.importorskip("lightgbm")
pytest.importorskip("neurokit2")
pytest.importorskip("torch")

from cliniloop.services.loop.ecg_simulate import (  # noqa: E402
    EcgSimulationConfig,
    EcgSimulationError,
    adaptation_plot,
    simulate_ecg_records,
)
from tests.models.ecg.test_classify import _synthetic_record  # noqa: E402

PARAMS = {"n_members": 2, "n_estimators": 20, "min_child_samples": 5}


@pytest.fixture(scope="module")
def records():
    return [_synthetic_record(n, s, n_beats=120, scale=sc) for n, s, sc in (("a", 1, 1.0), ("b", 2, 2.0), ("c", 3, 0.7), ("d", 4, 1.4))]


def test_replay_is_deterministic_and_reports_every_strategy_and_k(records, tmp_path):
    config = EcgSimulationConfig(
        strategies=("uncertainty", "bald", "rare_boost", "random"), ks=(0, 10, 20), folds=2, batch=5, seed=3, params=PARAMS
    )
    first = simulate_ecg_records(records, config)
    second = simulate_ecg_records(records, config)
    strip = lambda r: {k: v for k, v in r.items() if k not in ("seconds", "folds")}  # noqa: E731
    assert strip(first) == strip(second)
    assert set(first["strategies"]) == {"uncertainty", "bald", "rare_boost", "random"}
    for curve in first["strategies"].values():
        assert list(curve) == ["0", "10", "20"]
        total = sum(len(r.samples) for r in records)
        assert [curve[k]["beats"] for k in curve] == [total, total - 40, total - 80]  # corrected beats are not scored
        assert set(curve["0"]["per_class"]) == {"N", "S", "V", "F"}
        review = [curve[k]["review_s_per_record"] for k in curve]  # 10-s windows opened: none at k = 0, more as k grows
        assert review[0] == 0.0 and 0 < review[1] <= review[2] <= 20 * 10.0
    # k = 0 is the base model for every strategy
    assert len({c["0"]["macro_f1"] for c in first["strategies"].values()}) == 1
    other = simulate_ecg_records(records, EcgSimulationConfig(strategies=("random",), ks=(0, 10, 20), folds=2, seed=4, params=PARAMS))
    assert other["strategies"]["random"]["20"] != first["strategies"]["random"]["20"] or other["folds"] != first["folds"]
    png = adaptation_plot(first, tmp_path / "a.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_review_seconds_count_each_task_window_once() -> None:
    import numpy as np

    from cliniloop.services.loop.ecg_simulate import review_seconds

    # 360 Hz: beats at 1 s, 2 s (window 0), 12 s (window 1) and 35 s (window 3) -> three 10-s windows
    assert review_seconds(np.array([360, 720, 4320, 12600]), 360.0) == 30.0
    assert review_seconds(np.array([], dtype=int), 360.0) == 0.0


def test_bad_settings_are_named(records):
    with pytest.raises(EcgSimulationError, match="strategies"):
        simulate_ecg_records(records, EcgSimulationConfig(strategies=("magic",)))
    with pytest.raises(EcgSimulationError, match="ks"):
        simulate_ecg_records(records, EcgSimulationConfig(ks=(10, 0)))
    with pytest.raises(EcgSimulationError, match="two records"):
        simulate_ecg_records(records[:1], EcgSimulationConfig())
