"""``cliniloop bench predict``: ingest + de-identification + prediction throughput, one process or Ray.

Text: ``notes`` synthetic notes full of invented identifiers
(:func:`cliniloop.services.evaluation.synthetic_notes.generate_notes`) are written to a temporary folder,
then ingested (de-identified) and predicted into a temporary store (or the PostgreSQL database
given), by this process (``engine="local"``) or by Ray workers. ECG: ``hours`` of synthetic
two-lead ECG (a simulated minute, tiled with fresh noise, in 30-minute WFDB records) are
ingested into 10 s windows and their beats detected and predicted.

The JSON says the throughput over the work itself (``notes_per_s`` / ``ecg_hours_per_s``) and
with Ray's start-up included (``..._with_startup``), the CPU seconds the work took in the
workers (``work_cpu_s``, model loading included; on a shared machine the fairer per-core figure
is ``notes_per_cpu_s``), the start-up seconds, the peak RSS of every
worker process (MiB; the driver's own for ``local``), the machine's CPUs and its load average
before and after (a shared machine makes figures noisy).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from cliniloop.services.scale.engine import EngineOptions
from cliniloop.services.scale.ray_engine import cpu_s, peak_rss_mb

#: Minutes of ECG per synthetic record of the benchmark.
ECG_RECORD_MIN = 30


def write_notes(folder: Path, n: int, seed: int = 0) -> int:
    """Write ``n`` synthetic notes (invented identifiers only) as ``folder/<patient>/note-<k>.txt``; return bytes written."""
    from cliniloop.services.evaluation.synthetic_notes import generate_notes

    total = 0
    for note in generate_notes(n, seed=seed):
        path = folder / f"{note.name}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        total += path.write_text(note.text, encoding="utf-8")
    return total


def write_ecg(folder: Path, hours: float, seed: int = 0) -> int:
    """Write ``hours`` of synthetic 2-lead ECG at 360 Hz as WFDB records of :data:`ECG_RECORD_MIN` minutes; return records."""
    import neurokit2 as nk
    import numpy as np
    import wfdb

    fs = 360
    rng = np.random.default_rng(seed)
    minute = nk.ecg_simulate(duration=60, sampling_rate=fs, heart_rate=72, noise=0.02, random_state=seed)
    remaining = int(round(hours * 60))
    k = 0
    folder.mkdir(parents=True, exist_ok=True)
    while remaining > 0:
        minutes = min(ECG_RECORD_MIN, remaining)
        lead = np.concatenate([minute + rng.normal(0, 0.01, minute.shape) for _ in range(minutes)])
        second = 0.6 * np.roll(lead, 3)
        wfdb.wrsamp(f"bench{k:04d}", fs=fs, units=["mV", "mV"], sig_name=["MLII", "V5"], p_signal=np.stack([lead, second], axis=1),
                    fmt=["16", "16"], write_dir=str(folder))  # fmt: skip
        remaining -= minutes
        k += 1
    return k


def _local_text(store: Any, settings: Any, notes_dir: Path) -> dict[str, Any]:
    from cliniloop.services.loop.deid import NoteDeidentifier
    from cliniloop.services.loop.ingest import ingest_notes
    from cliniloop.services.loop.predict import load_text_model, predict_tasks

    ingest = ingest_notes(store, notes_dir, settings.max_note_bytes, NoteDeidentifier.from_settings(settings))
    predict = predict_tasks(store, load_text_model(store, settings))
    return {"tasks": len(ingest.added), "rejected": len(ingest.errors), "predicted": predict.predicted}


def _local_ecg(store: Any, settings: Any, folder: Path) -> dict[str, Any]:
    from cliniloop.models.ecg.detect import BeatDetector
    from cliniloop.services.loop.ecg import ingest_ecg, predict_ecg
    from cliniloop.services.loop.first_round import ecg_classifier

    ingest = ingest_ecg(store, folder)
    n = predict_ecg(store, BeatDetector().fit(), ecg_classifier(store, settings)[0])
    return {"tasks": len(ingest.added), "rejected": len(ingest.errors), "predicted": n}


def predict_benchmark(
    *, modality: str = "text", notes: int = 1000, hours: float = 2.0, options: EngineOptions | None = None,
    database_url: str | None = None, seed: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """Run one ingest + prediction pass and return its figures (see the module docstring).

    Parameters
    ----------
    modality : {"text", "ecg"}
        Notes or ECG.
    notes : int
        Synthetic notes (text).
    hours : float
        Hours of synthetic ECG (ecg).
    options : EngineOptions
        ``local`` or ``ray`` (with ``address`` and ``workers``).
    database_url : str, optional
        The store (default: a new SQLite file in a temporary folder; a cluster needs PostgreSQL).
    seed : int
        Seed of the synthetic data.
    """
    from pydantic import SecretStr

    from cliniloop.services.core.settings import Settings
    from cliniloop.services.core.store import open_store

    if modality not in ("text", "ecg"):
        raise ValueError(f"--modality must be text or ecg, not {modality!r}")
    options = options or EngineOptions()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="cliniloop-bench-") as tmp:
        root = Path(tmp)
        settings = Settings(var_dir=root / "var", deid_secret=SecretStr("bench-deid-key-" + "0" * 24), label_studio_api_key=None)
        url = database_url or f"sqlite:///{root / 'bench.sqlite3'}"
        data = root / "data"
        made = time.perf_counter()
        size = write_notes(data, notes, seed) if modality == "text" else write_ecg(data, hours, seed)
        generate_s = time.perf_counter() - made
        store = open_store(url)
        out: dict[str, Any] = {"modality": modality, "engine": options.engine, "workers": options.workers or 1, "cpus": os.cpu_count(),
                               "generate_s": round(generate_s, 2)}  # fmt: skip
        if modality == "text":
            out |= {"notes": notes, "note_bytes": size}
        else:
            out |= {"ecg_hours": hours, "records": size}
        started = time.perf_counter()
        if options.is_ray:
            from cliniloop.services.scale.ray_engine import RayPool, ray_ingest_notes, ray_ingest_records, ray_predict_signals, ray_predict_text

            pool = RayPool(settings, url, options, deid_secret=b"bench-deid-key-" + b"0" * 24, use_gpu=modality != "text")
            try:
                ready_cpu = dict(pool.stats.cpu_s)  # start-up (imports) is not work
                work = time.perf_counter()
                if modality == "text":
                    ingest = ray_ingest_notes(pool, data, keep_original=False)
                    predict = ray_predict_text(pool, store)
                    counts = {"tasks": len(ingest.added), "rejected": len(ingest.errors), "predicted": predict.predicted}
                else:
                    ingest = ray_ingest_records(pool, "ecg", data, {})
                    n, _ = ray_predict_signals(pool, store, "ecg", {})
                    counts = {"tasks": len(ingest.added), "rejected": len(ingest.errors), "predicted": n}
                work_s = time.perf_counter() - work
                rss = pool.worker_peak_rss_mb()
                cpu_before = sum(ready_cpu.values())
                used_cpu = sum(pool.stats.cpu_s.values()) - cpu_before
                out |= {"workers": pool.stats.workers, "ray_start_s": pool.stats.ray_start_s, "actors_ready_s": pool.stats.actors_ready_s,
                        "worker_restarts": max(0, len(rss) - pool.stats.workers)}  # fmt: skip
            finally:
                pool.close()
        else:
            work, cpu_before = time.perf_counter(), cpu_s()
            counts = (_local_text if modality == "text" else _local_ecg)(store, settings, data)
            work_s, used_cpu = time.perf_counter() - work, cpu_s() - cpu_before
            rss = {os.getpid(): peak_rss_mb()}
        total_s = time.perf_counter() - started
        store.close()
    unit, amount = ("notes_per_s", notes) if modality == "text" else ("ecg_hours_per_s", hours)
    out |= counts
    out |= {
        "work_s": round(work_s, 2),
        "total_s": round(total_s, 2),
        unit: round(amount / work_s, 4) if work_s else None,
        f"{unit}_with_startup": round(amount / total_s, 4) if total_s else None,
        "work_cpu_s": round(used_cpu, 2),
        f"{unit.removesuffix('_per_s')}_per_cpu_s": round(amount / used_cpu, 4) if used_cpu else None,
        "peak_rss_mb_per_worker": sorted(rss.values()),
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
    }
    return out
