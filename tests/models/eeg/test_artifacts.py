"""Artifact rules on synthetic (n_epochs, n_channels, n_samples) epochs: flat, clipping, amplitude, line noise."""

from __future__ import annotations

import numpy as np
import pytest

from cliniloop.models.eeg.artifacts import ARTIFACT_KINDS, artifact_flags

FS = 256.0
N = int(4 * FS)
RANGE = (-3200.0, 3200.0)


def noise(n_epochs: int = 3, n_channels: int = 2, n: int = N, seed: int = 0) -> np.ndarray:
    return 20.0 * np.random.default_rng(seed).standard_normal((n_epochs, n_channels, n))


def mains(freq: float, fs: float, amplitude: float, n: int) -> np.ndarray:
    t = np.arange(n) / fs
    return amplitude * np.sin(2 * np.pi * freq * t + 0.7)


def test_clean_noise_has_no_flags() -> None:
    x = noise()
    flags = artifact_flags(x, FS, [RANGE, RANGE])
    assert tuple(flags) == ARTIFACT_KINDS
    for kind in ARTIFACT_KINDS:
        assert flags[kind].shape == (3, 2)
        assert not flags[kind].any(), kind


def test_flat_channel_is_flat() -> None:
    x = noise()
    x[:, 1, :] = 5.0 + 0.01 * np.random.default_rng(1).standard_normal(N)  # well under 1 uV peak-to-peak
    flags = artifact_flags(x, FS, [RANGE, RANGE])
    assert flags["flat"][:, 1].all()
    assert not flags["flat"][:, 0].any()
    assert not flags["clipping"].any()


def test_signal_pinned_at_the_range_is_clipping_not_flat() -> None:
    x = noise()
    x[:, 1, :] = RANGE[1]  # saturated: constant at the top of the range
    x[0, 0, :100] = RANGE[0]  # ~10 % of one epoch pinned at the bottom
    flags = artifact_flags(x, FS, [RANGE, RANGE])
    assert flags["clipping"][:, 1].all()
    assert not flags["flat"][:, 1].any()
    assert flags["clipping"][:, 0].tolist() == [True, False, False]


def test_clip_fraction_sets_how_many_samples_count() -> None:
    x = noise(1, 1)
    x[0, 0, :5] = RANGE[1]  # 5 of 1024 samples ~ 0.5 %
    assert not artifact_flags(x, FS, [RANGE])["clipping"].any()
    assert artifact_flags(x, FS, [RANGE], clip_fraction=0.004)["clipping"].all()


def test_infinite_physical_range_skips_clipping() -> None:
    x = noise()
    x[:, 1, :] = 100.0
    flags = artifact_flags(x, FS, [(-np.inf, np.inf), (float("-inf"), float("inf"))])
    assert not flags["clipping"].any()
    assert flags["flat"][:, 1].all()  # the flat rule still applies


def test_no_physical_range_means_no_clipping() -> None:
    x = noise()
    x[:, 0, :] = RANGE[1]
    assert not artifact_flags(x, FS)["clipping"].any()


def test_large_peak_to_peak_is_amplitude() -> None:
    x = noise()
    x[1, 0, :] += mains(2.0, FS, 1500.0, N)  # 3000 uV peak to peak
    flags = artifact_flags(x, FS, [RANGE, RANGE])
    assert flags["amplitude"].tolist() == [[False, False], [True, False], [False, False]]


def test_strong_50_hz_is_line_noise() -> None:
    x = noise()
    x[:, 0, :] += mains(50.0, FS, 50.0, N)
    flags = artifact_flags(x, FS, [RANGE, RANGE])
    assert flags["line_noise"][:, 0].all()
    assert not flags["line_noise"][:, 1].any()


def test_60_hz_is_line_noise_too() -> None:
    x = noise()
    x[:, 1, :] += mains(60.0, FS, 50.0, N)
    assert artifact_flags(x, FS)["line_noise"][:, 1].all()


@pytest.mark.parametrize("freq", [50.0, 60.0])
def test_mains_not_judged_when_the_rate_cannot_resolve_it(freq: float) -> None:
    # at 100 Hz neither 50 nor 60 Hz satisfies f + 1 < fs / 2, so line noise is never flagged
    fs = 100.0
    n = int(4 * fs)
    x = noise(n=n)
    x[:, 0, :] += mains(freq, fs, 200.0, n)  # 60 Hz aliases to a strong 40 Hz tone
    assert not artifact_flags(x, fs)["line_noise"].any()


def test_line_noise_not_judged_on_epochs_shorter_than_a_second() -> None:
    n = int(FS) - 1
    x = noise(n=n)
    x[:, 0, :] += mains(50.0, FS, 50.0, n)
    assert not artifact_flags(x, FS)["line_noise"].any()
