"""Write the synthetic EEG samples of this folder (fixed seeds; CC0, like everything generated here).

    python data_samples/eeg/generate.py

- ``synthetic_seizures.edf``: 3 min of 8 bipolar channels at 128 Hz, EDF+, with two planted seizures
  (one on four channels only), a flat channel and a clipped stretch, written as EDF+ annotations
  (``seizure``, ``artifact``) so the file carries its own reference events.
- ``bonn_format/{Z,O,N,F,S}/``: three single-channel segments per set in the Bonn format (one sample
  per line, 4097 samples at 173.61 Hz); S segments are ictal throughout.

For ``cliniloop eeg ...`` and ``cliniloop eval eeg-seizure / eeg-events`` without any download.
"""

from __future__ import annotations

from pathlib import Path

from cliniloop.connectors.sources.eeg_synthetic import PlantedEvent, write_synthetic_edf, write_synthetic_segment

HERE = Path(__file__).resolve().parent


def main() -> None:
    events = [PlantedEvent(40, 30), PlantedEvent(120, 25, channels=(0, 1, 2, 3)), PlantedEvent(85, 10, "flat", (5,)), PlantedEvent(160, 6, "clipping", (6,))]
    write_synthetic_edf(HERE / "synthetic_seizures.edf", 180, events, n_channels=8, sampling_rate=128, seed=11)
    for k, name in enumerate("ZONFS"):
        folder = HERE / "bonn_format" / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(3):
            write_synthetic_segment(folder / f"{name}{i + 1:03d}.txt", ictal=name == "S", seed=100 * k + i)


if __name__ == "__main__":
    main()
