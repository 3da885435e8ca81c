"""Sleep staging: channel choice by name, and YASA staging of synthetic noise (one call, module-scoped)."""

from __future__ import annotations

import numpy as np
import pytest

from cliniloop.models.eeg.sleep import EPOCH_S, STAGES, SleepStages, StagingChannels, stage_sleep, staging_channels

FS = 100.0


def test_picks_fpz_cz_over_pz_oz_and_finds_eog_and_emg() -> None:
    names = ["EEG Pz-Oz", "EEG Fpz-Cz", "EOG horizontal", "Resp oro-nasal", "EMG submental", "Event marker"]
    assert staging_channels(names) == StagingChannels("EEG Fpz-Cz", "EOG horizontal", "EMG submental")


def test_picks_c4_m1_first_and_matches_aasm_names() -> None:
    names = ["F3-M2", "O1-M2", "C3-M2", "C4-M1", "E1-M2", "E2-M1", "Chin1-Chin2", "ECG"]
    assert staging_channels(names) == StagingChannels("C4-M1", "E1-M2", "Chin1-Chin2")


def test_eog_and_emg_are_optional() -> None:
    assert staging_channels(["ECG", "C3-A2"]) == StagingChannels("C3-A2", None, None)


def test_no_suitable_eeg_channel_gives_none() -> None:
    assert staging_channels(["F3-M2", "O1-M2", "EOG left", "EMG chin", "ECG"]) is None
    assert staging_channels([]) is None


def noise_night(seconds: float, channels: StagingChannels, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    names = [c for c in (channels.eeg, channels.eog, channels.emg) if c is not None]
    return {name: 30.0 * rng.standard_normal(n) for name in names}


CHOSEN = StagingChannels("C4-M1", "E1-M2", "Chin1-Chin2")


@pytest.fixture(scope="module")
def staged() -> SleepStages:
    return stage_sleep(noise_night(600.0, CHOSEN), FS, CHOSEN)


def test_ten_minutes_give_twenty_epochs(staged: SleepStages) -> None:
    assert len(staged.stages) == 20
    np.testing.assert_allclose(staged.starts, np.arange(20) * EPOCH_S)
    assert staged.channels == CHOSEN


def test_stages_and_probabilities_are_consistent(staged: SleepStages) -> None:
    assert set(staged.stages) <= set(STAGES)
    assert staged.proba.shape == (20, len(STAGES))
    assert (staged.proba >= 0).all()
    np.testing.assert_allclose(staged.proba.sum(axis=1), 1.0, atol=1e-3)
    assert staged.stages == [STAGES[i] for i in staged.proba.argmax(axis=1)]


def test_version_names_yasa(staged: SleepStages) -> None:
    import yasa

    assert staged.version == f"yasa-{yasa.__version__}"
    assert staged.version.startswith("yasa-")


def test_under_five_minutes_raises() -> None:
    chosen = StagingChannels("C4-M1")
    with pytest.raises(ValueError, match="at least 5 min"):
        stage_sleep(noise_night(4 * 60.0, chosen), FS, chosen)
