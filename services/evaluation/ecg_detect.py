"""``cliniloop eval ecg-detect``: beat detection scored against WFDB reference annotations.

Scoring follows the usual QRS-detection convention: per record, ``wfdb.processing.compare_annotations``
matches detections to reference beats within a 150 ms window; the reference is the ``.atr``
annotations whose symbol is a beat symbol (:func:`cliniloop.taxonomies.ecg.load_beat_mapping`; rhythm,
noise and flutter-wave annotations are not beats). Gross sensitivity and positive predictivity
pool TP/FN/FP over records. CPU time (``time.process_time``) covers detection only, not reading.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cliniloop.connectors.sources.ecg import EcgFileError, open_ecg, read_reference_beats
from cliniloop.taxonomies.ecg import load_beat_mapping

#: Matching window of a detection to a reference beat (ms).
WINDOW_MS = 150

Progress = Callable[[int, int], None]


def evaluate_detection(
    wfdb_dir: Path,
    records: list[str] | None = None,
    lead: str | None = None,
    progress: Progress | None = None,
    *,
    all_leads: bool = True,
    chunk_s: float | None = 300.0,
    detector: Any | None = None,
) -> dict[str, Any]:
    """Detect beats in WFDB records and score them against the reference ``.atr`` beats.

    Parameters
    ----------
    wfdb_dir : Path
        Folder of WFDB records (``.hea``/``.dat``/``.atr``).
    records : list of str, optional
        Record names; default: the folder's ``RECORDS`` file.
    lead : str, optional
        Reference lead, passed first to the detector; default as the reader chooses (MLII, II, ...).
    progress : callable, optional
        Called as ``progress(records_done, records_total)`` after each record.
    all_leads : bool
        Give the detector the other leads too (after ``lead``) so that they vote; ``False``
        detects on ``lead`` alone.
    chunk_s : float or None
        Detect in chunks of this many seconds (``BeatDetector.detect_chunked``, as recordings are
        processed in the loop); ``None`` detects on the whole record at once.
    detector : BeatDetector, optional
        Detector to evaluate (default: ``BeatDetector()`` with its default parameters).

    Returns
    -------
    dict
        JSON-able: ``records`` (count), ``hours`` (of ECG), ``gross`` (``sensitivity``, ``ppv``,
        ``tp``, ``fn``, ``fp``), ``per_record`` (the same plus ``beats`` = reference beats, per
        record), ``cpu_s`` and ``cpu_s_per_hour`` (detection only), ``detector`` (version),
        ``window_ms`` (150), ``chunk_s``, ``leads`` (per record, the leads given to the detector).

    Raises
    ------
    ValueError
        If the folder, its ``RECORDS`` file, a record's files or the lead is missing (the message
        names the path).
    """
    from wfdb.processing import compare_annotations

    from cliniloop.models.ecg.detect import BeatDetector

    wfdb_dir = Path(wfdb_dir)
    if not wfdb_dir.is_dir():
        raise ValueError(f"{wfdb_dir}: no such folder of WFDB records")
    if records is None:
        listing = wfdb_dir / "RECORDS"
        if not listing.is_file():
            raise ValueError(f"{listing}: no RECORDS file; pass the record names")
        records = [line.strip() for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not records:
        raise ValueError(f"{wfdb_dir}: no records to evaluate")
    for name in records:
        for ext in ("hea", "atr"):
            path = wfdb_dir / f"{name}.{ext}"
            if not path.is_file():
                raise ValueError(f"{path}: no such file (record {name!r})")

    det = (detector or BeatDetector()).fit()
    beat_symbols = load_beat_mapping().beat_symbols
    per_record: dict[str, dict[str, Any]] = {}
    leads_used: dict[str, list[str]] = {}
    tp = fn = fp = 0
    cpu = 0.0
    n_samples_total = 0.0
    for i, name in enumerate(records):
        base = wfdb_dir / name
        try:
            source = open_ecg(base.with_suffix(".hea"))
            ordered = source.lead_order(lead)
            ref_samples, ref_symbols = read_reference_beats(base)
        except EcgFileError as err:
            raise ValueError(str(err)) from None
        fs = source.sampling_rate
        used = ordered if all_leads else ordered[:1]
        signal = source.read(0, source.n_samples, used)
        ref = np.array([s for s, sym in zip(ref_samples, ref_symbols, strict=True) if sym in beat_symbols], dtype=np.int64)

        start = time.process_time()
        if chunk_s is None:
            beats = det.detect(signal, fs)
        else:
            beats = det.detect_chunked(lambda a, b: signal[a:b], signal.shape[0], fs, chunk_s=chunk_s)
        cpu += time.process_time() - start

        r_tp, r_fn, r_fp = _compare(compare_annotations, ref, beats.samples, int(WINDOW_MS / 1000 * fs))
        tp, fn, fp = tp + r_tp, fn + r_fn, fp + r_fp
        per_record[name] = {**_scores(r_tp, r_fn, r_fp), "beats": int(len(ref))}
        leads_used[name] = used
        n_samples_total += signal.shape[0] / fs
        if progress is not None:
            progress(i + 1, len(records))
    hours = n_samples_total / 3600.0
    return {
        "records": len(records),
        "hours": round(hours, 4),
        "gross": _scores(tp, fn, fp),
        "per_record": per_record,
        "cpu_s": round(cpu, 3),
        "cpu_s_per_hour": round(cpu / hours, 4) if hours else None,
        "detector": det.version,
        "window_ms": WINDOW_MS,
        "chunk_s": chunk_s,
        "leads": leads_used,
    }


def _compare(compare_annotations: Callable[..., Any], ref: np.ndarray, test: np.ndarray, window: int) -> tuple[int, int, int]:
    """(tp, fn, fp) of one record; empty sides handled (wfdb's comparator fails on them)."""
    test = np.asarray(test, dtype=np.int64)
    if len(ref) == 0 or len(test) == 0:
        return 0, int(len(ref)), int(len(test))
    result = compare_annotations(ref, test, window)
    return int(result.tp), int(result.fn), int(result.fp)


def _scores(tp: int, fn: int, fp: int) -> dict[str, Any]:
    """Sensitivity and positive predictivity (``None`` when undefined) with the counts."""
    return {
        "sensitivity": round(tp / (tp + fn), 6) if tp + fn else None,
        "ppv": round(tp / (tp + fp), 6) if tp + fp else None,
        "tp": int(tp),
        "fn": int(fn),
        "fp": int(fp),
    }
