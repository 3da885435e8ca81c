"""An 8-hour, 19-channel synthetic recording is scored with bounded memory and its planted seizures found."""

from __future__ import annotations

from pathlib import Path

from cliniloop.services.evaluation.eeg_long import evaluate_long_recording, planted_seizures


def test_planted_seizures_fall_one_per_hour() -> None:
    events = planted_seizures(8.0)
    assert len(events) == 8 and all(3600 * k + 300 <= e.onset_s < 3600 * (k + 1) - 400 for k, e in enumerate(events))


def test_eight_hours_of_19_channels_in_bounded_memory(tmp_path: Path) -> None:
    result = evaluate_long_recording(tmp_path, hours=8.0, channels=19, sampling_rate=128, block_s=120.0)
    assert result["epochs"] == 8 * 1800 - 1
    # the whole recording as float64 would be 534 MB; one block's work stays far below it
    assert result["samples_as_float64_mb"] > 500 and result["peak_traced_mb"] < 120
    assert result["detected"] == 8 and result["false_alarms"] <= 1
    assert abs(result["onset_latency_s"]["median"]) <= 4
