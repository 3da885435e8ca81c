"""``cliniloop eval eeg-long``: a synthetic many-hour recording scored with bounded memory.

Writes a synthetic EDF+ (:mod:`cliniloop.connectors.sources.eeg_synthetic`) of ``hours`` x ``channels`` with
seizures planted at known times, trains a detector on a separate 10-minute synthetic recording,
then predicts the long one block by block and reports the peak memory traced while predicting
(``tracemalloc``: Python and NumPy allocations), the process's peak resident set, the time, and
the planted seizures found (event sensitivity, false alarms per hour, onset latency).
"""

from __future__ import annotations

import resource
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

from cliniloop.connectors.sources.eeg_synthetic import PlantedEvent, write_synthetic_edf


def planted_seizures(hours: float, every_s: float = 3600.0, seed: int = 0) -> list[PlantedEvent]:
    """One seizure (20-60 s) at a random time in each ``every_s`` of the recording."""
    rng = np.random.default_rng(seed)
    out = []
    for start in np.arange(0.0, hours * 3600 - every_s / 2, every_s):
        out.append(PlantedEvent(float(round(start + rng.uniform(300, every_s - 400))), float(round(rng.uniform(20, 60)))))
    return out


def evaluate_long_recording(folder: Path, *, hours: float = 8.0, channels: int = 19, sampling_rate: int = 256, block_s: float = 300.0, seed: int = 0) -> dict[str, Any]:
    """Write, score and check a synthetic recording; one dict of figures."""
    from cliniloop.connectors.sources.eeg import open_eeg
    from cliniloop.models.eeg.seizure import SeizureDetector
    from cliniloop.services.loop.eeg import predict_recording
    from cliniloop.services.evaluation.eeg_events import match_events
    from cliniloop.services.loop.eeg_train import annotated_recording_rows

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    train = write_synthetic_edf(folder / "train.edf", 600, [PlantedEvent(60, 40), PlantedEvent(220, 30), PlantedEvent(400, 50)],
                                n_channels=channels, sampling_rate=sampling_rate, seed=seed + 100)  # fmt: skip
    X, y, g = annotated_recording_rows(train, None)
    detector = SeizureDetector(seed=seed).fit(None, y, g, features=X)
    planted = planted_seizures(hours, seed=seed)
    t0 = time.perf_counter()
    path = write_synthetic_edf(folder / "long.edf", hours * 3600, planted, n_channels=channels, sampling_rate=sampling_rate, seed=seed)
    write_s = time.perf_counter() - t0
    source = open_eeg(path)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    prediction = predict_recording(source, source.channel_names, detector, sleep=False, block_s=block_s)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from cliniloop.connectors.sources.eeg_events import EegEvent

    reference = [EegEvent(e.onset_s, e.duration_s, "seizure") for e in planted]
    n_samples = int(hours * 3600 * sampling_rate) * channels
    return {
        "hours": hours, "channels": channels, "sampling_rate": sampling_rate, "block_s": block_s,
        "file_mb": round(path.stat().st_size / 2**20, 1), "samples_as_float64_mb": round(n_samples * 8 / 2**20, 1),
        "write_s": round(write_s, 1), "predict_wall_s": round(wall, 1), "predict_cpu_s": round(cpu, 1),
        "ms_per_minute_eeg": round(1000 * cpu / (hours * 60), 2),
        "peak_traced_mb": round(peak / 2**20, 1), "peak_rss_mb": round(rss_after, 1), "rss_growth_mb": round(rss_after - rss_before, 1),
        "epochs": int(len(prediction.epoch_starts)), "artifact_events": len(prediction.artifacts),
        **match_events(reference, prediction.seizures, hours * 3600),
    }  # fmt: skip
