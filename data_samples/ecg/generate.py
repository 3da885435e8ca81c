"""Write the synthetic ECG sample records of this folder (neurokit2's ECG simulator, fixed seeds).

    python data_samples/ecg/generate.py

Each record is 60 s of two leads at 360 Hz (WFDB format 16) with a reference annotation file
(``.atr``: the simulator's R peaks, labelled N), so the ECG loop and `cliniloop eval ecg-detect` run without any download.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FS = 360
HERE = Path(__file__).resolve().parent


def make(name: str, heart_rate: int, seed: int) -> None:
    import neurokit2 as nk
    import wfdb

    ecg = nk.ecg_simulate(duration=60, sampling_rate=FS, heart_rate=heart_rate, noise=0.02, random_state=seed)
    _, info = nk.ecg_peaks(ecg, sampling_rate=FS)
    peaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64)
    second = 0.6 * np.roll(ecg, 3) + 0.05 * np.sin(2 * np.pi * 0.3 * np.arange(len(ecg)) / FS)
    wfdb.wrsamp(name, fs=FS, units=["mV", "mV"], sig_name=["MLII", "V5"], p_signal=np.stack([ecg, second], axis=1),
                fmt=["16", "16"], comments=["synthetic: neurokit2 ecg_simulate, seed %d" % seed], write_dir=str(HERE))  # fmt: skip
    wfdb.wrann(name, "atr", peaks, symbol=["N"] * len(peaks), fs=FS, write_dir=str(HERE))


if __name__ == "__main__":
    make("syn01", 72, 1)
    make("syn02", 95, 2)
    (HERE / "RECORDS").write_text("syn01\nsyn02\n")
