"""Record-relative feature columns of the boosted beat classifier (ectopic template, record z-scores)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pywt")

from cliniloop.models.ecg import beat_features as bf  # noqa: E402
from cliniloop.models.ecg.beat_table import feature_table  # noqa: E402


def _inputs(n_normal: int = 60, n_ectopic: int = 12) -> bf.BeatInputs:
    """Synthetic beats: a narrow dominant QRS, a wide inverted ectopic one and one 50/50 fusion (last row)."""
    t = np.arange(bf.MORPH_LENGTH) / bf.MORPH_RATE - bf.PRE_S
    normal = np.exp(-0.5 * (t / 0.012) ** 2)
    ectopic = -1.2 * np.exp(-0.5 * ((t - 0.02) / 0.05) ** 2)
    rng = np.random.default_rng(0)
    rows = [normal] * n_normal + [ectopic] * n_ectopic + [0.5 * normal + 0.5 * ectopic]
    morph = np.stack([np.stack([r, 0.7 * r]) for r in rows]) + rng.normal(0.0, 0.01, (len(rows), 2, bf.MORPH_LENGTH))
    template = np.median(morph[:n_normal], axis=0)
    rr, record_rr = bf.rr_context(np.arange(len(rows)) * 288, 360.0)
    return bf.BeatInputs(morph.astype(np.float32), template.astype(np.float32), rr, np.ones(2), record_rr)


def test_mixture_fraction_places_a_fusion_between_dominant_and_ectopic_beats():
    X, names = feature_table(_inputs())
    frac = X[:, names.index("e0:mix_frac")]
    assert np.all(np.abs(frac[:60]) < 0.1)
    assert np.all(frac[60:72] > 0.9)
    assert 0.3 < frac[72] < 0.7
    assert X[0, names.index("e0:ect_share")] == pytest.approx(13 / 73, abs=1e-6)
    assert X[0, names.index("e1:ect_vs_tmpl")] < 0.5


def test_without_ectopic_beats_the_ectopic_columns_fall_back_to_the_template():
    X, names = feature_table(_inputs(n_ectopic=0))
    assert np.all(X[:, names.index("e0:mix_b")][:60] == 0.0)
    assert X[0, names.index("e0:ect_vs_tmpl")] == 1.0
    assert np.allclose(X[:, names.index("e0:corr_ect")], X[:, names.index("s0:corr_qrs")], atol=1e-5)


def test_record_z_scores_are_relative_to_the_records_own_spread():
    X, names = feature_table(_inputs())
    z = X[:, names.index("z0:rms_qrs")]
    assert abs(float(np.median(z))) < 1e-3
    assert np.all(z[60:72] > 10) and np.all(np.abs(z[:60]) < 5)
    assert np.isfinite(X).all()


def test_run_columns_mark_an_abrupt_fast_run_and_not_a_gradual_speed_up():
    from cliniloop.models.ecg.beat_table import fast_runs, run_columns

    # 1.0 s rhythm; an abrupt run of 4 beats at 0.6 s; later a gradual speed-up 0.9 -> 0.8 -> 0.8 s
    pre = np.array([1.0, 1.0, 1.0, 0.6, 0.6, 0.62, 0.6, 1.0, 1.0, 0.9, 0.8, 0.8, 1.0])
    assert fast_runs(pre, 1.0) == [(3, 6), (10, 11)]
    onset, pos = run_columns(pre, 1.0)
    assert np.allclose(onset[3:7], np.log(0.6))
    assert np.allclose(onset[10:12], np.log(0.8 / 0.9))
    assert np.all(onset[[0, 1, 2, 7, 8, 9, 12]] == 0.0) and np.all(pos[[0, 1, 2, 7, 8, 9, 12]] == 0.0)
    assert np.allclose(pos[3:7], np.log1p([1, 2, 3, 4]))
    assert fast_runs(pre, 0.0) == [] and run_columns(np.zeros(0), 1.0)[0].shape == (0,)


def test_feature_table_ends_with_the_run_columns():
    inputs = _inputs()
    X, names = feature_table(inputs)
    assert names[-2:] == ["rr:run_onset", "rr:run_pos"]
    from cliniloop.models.ecg.beat_table import run_columns

    onset, pos = run_columns(inputs.rr[:, bf.RR_FEATURES.index("pre_s")], inputs.record_rr_s)
    assert np.allclose(X[:, -2], onset) and np.allclose(X[:, -1], pos)
