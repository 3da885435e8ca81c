"""Per-epoch EEG features, the epoch grid and the band-pass: shapes, spectra and scaling on synthetic signals."""

from __future__ import annotations

import numpy as np
import pytest

from cliniloop.models.eeg.features import BANDS, FEATURE_NAMES, FEATURE_RATE, epoch_features, epoch_starts, prepare_signal

FS = FEATURE_RATE
N = int(4 * FS)  # one 4-s epoch
COL = {name: i for i, name in enumerate(FEATURE_NAMES)}
REL = [COL[f"rel_{b[0]}"] for b in BANDS]


def sine(freq: float, amplitude: float = 50.0, n: int = N, fs: float = FS, phase: float = 0.3) -> np.ndarray:
    t = np.arange(n) / fs
    return amplitude * np.sin(2 * np.pi * freq * t + phase)


def band_limited_noise(n_epochs: int, n: int = N, seed: int = 0) -> np.ndarray:
    """White noise band-passed to the feature pass band, cut into epochs."""
    rng = np.random.default_rng(seed)
    x = prepare_signal(20.0 * rng.standard_normal(n_epochs * n), FS)
    return x.reshape(n_epochs, n)


def test_shape_is_epochs_by_feature_names() -> None:
    feats = epoch_features(band_limited_noise(7))
    assert feats.shape == (7, len(FEATURE_NAMES))
    assert np.isfinite(feats).all()


def test_alpha_sine_has_alpha_dominant_and_peak_at_10_hz() -> None:
    feats = epoch_features(sine(10.0)[None, :])[0]
    rel = feats[REL]
    assert int(np.argmax(rel)) == [b[0] for b in BANDS].index("alpha")
    assert rel[[b[0] for b in BANDS].index("alpha")] > 0.9
    assert feats[COL["peak_freq"]] == pytest.approx(10.0, abs=0.5)


def test_relative_band_powers_sum_to_one_for_band_limited_noise() -> None:
    feats = epoch_features(band_limited_noise(10, n=int(8 * FS)))
    sums = feats[:, REL].sum(axis=1)
    np.testing.assert_allclose(sums, 1.0, atol=0.01)
    assert (feats[:, REL] > 0).all()


def test_doubling_amplitude_adds_log4_to_log_var_and_keeps_relative_powers() -> None:
    x = band_limited_noise(5)
    a, b = epoch_features(x), epoch_features(2.0 * x)
    np.testing.assert_allclose(b[:, COL["log_var"]] - a[:, COL["log_var"]], np.log(4.0), atol=1e-9)
    np.testing.assert_allclose(b[:, COL["log_ptp"]] - a[:, COL["log_ptp"]], np.log(2.0), atol=1e-9)
    np.testing.assert_allclose(b[:, REL], a[:, REL], atol=1e-9)
    np.testing.assert_allclose(b[:, COL["peak_freq"]], a[:, COL["peak_freq"]])


def test_line_length_grows_with_frequency() -> None:
    epochs = np.stack([sine(f) for f in (2.0, 5.0, 10.0, 20.0)])
    line_length = epoch_features(epochs)[:, COL["log_line_length"]]
    assert (np.diff(line_length) > 0).all()


@pytest.mark.parametrize("shape", [(N,), (2, 3, N), (4, 15)])
def test_bad_shapes_raise(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        epoch_features(np.zeros(shape))


def test_epoch_starts_regular_grid() -> None:
    np.testing.assert_allclose(epoch_starts(10.0, 4.0, 2.0), [0.0, 2.0, 4.0, 6.0])
    np.testing.assert_allclose(epoch_starts(4.0, 4.0, 2.0), [0.0])


def test_epoch_starts_adds_tail_only_when_the_miss_exceeds_half_a_step() -> None:
    # grid ends at 10; 11 misses by 1 == step/2 -> no tail; 11.5 misses by 1.5 -> tail epoch at 7.5
    np.testing.assert_allclose(epoch_starts(11.0, 4.0, 2.0), [0.0, 2.0, 4.0, 6.0])
    np.testing.assert_allclose(epoch_starts(11.5, 4.0, 2.0), [0.0, 2.0, 4.0, 6.0, 7.5])


def test_epoch_starts_empty_when_shorter_than_an_epoch() -> None:
    assert len(epoch_starts(3.0, 4.0, 2.0)) == 0


def test_prepare_signal_removes_dc_offset_and_slow_drift() -> None:
    n = int(60 * FS)
    t = np.arange(n) / FS
    alpha = 30.0 * np.sin(2 * np.pi * 10.0 * t)
    raw = alpha + 200.0 + 80.0 * np.sin(2 * np.pi * 0.1 * t)
    out = prepare_signal(raw, FS)
    inner = slice(int(10 * FS), int(50 * FS))  # away from filtfilt's edges
    assert out.shape == raw.shape
    assert abs(out[inner].mean()) < 0.5
    assert np.max(np.abs(out[inner] - alpha[inner])) < 1.0


def test_prepare_signal_filters_along_axis_0() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((int(20 * FS), 3)) + np.array([100.0, -50.0, 0.0])
    out = prepare_signal(x, FS)
    assert out.shape == x.shape
    for j in range(3):
        np.testing.assert_allclose(out[:, j], prepare_signal(x[:, j], FS), atol=1e-9)
