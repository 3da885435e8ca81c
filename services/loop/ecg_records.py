"""Annotated WFDB records as beat tables: the reader the ECG trainer and the evaluation share.

:func:`read_annotated_record` returns one record's signal with its reference beats (MIT-BIH
symbols mapped to AAMI classes by :func:`cliniloop.taxonomies.ecg.load_beat_mapping`); :func:`record_folds`
splits records into record-grouped folds (no record on both sides).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cliniloop.taxonomies.ecg import load_beat_mapping

if TYPE_CHECKING:
    from cliniloop.models.ecg.classify import RecordBeats


class EcgRecordError(ValueError):
    """The records cannot be used (the message names the file or record)."""


def read_record_list(folder: Path) -> list[str]:
    """Record names of a folder's ``RECORDS`` file (one per line; blank lines and ``#`` ignored).

    Raises
    ------
    EcgRecordError
        When the folder or its ``RECORDS`` file is missing.
    """
    folder = Path(folder)
    path = folder / "RECORDS"
    if not path.is_file():
        raise EcgRecordError(f"{path}: missing RECORDS file (or pass the record names explicitly)")
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


def read_annotated_record(folder: Path, name: str, mapping_path: Path | None = None) -> RecordBeats:
    """One WFDB record with its reference beats as :class:`~cliniloop.models.ecg.classify.RecordBeats`.

    Parameters
    ----------
    folder : Path
        Folder with ``<name>.hea``, its signal file and ``<name>.atr``.
    name : str
        Record name.
    mapping_path : Path or None
        Symbol -> class mapping file (default: the bundled AAMI EC57 mapping).

    Returns
    -------
    RecordBeats
        ``signal`` in physical units (mV), the reader's chosen lead (MLII, II, ...) first; ``samples`` and ``labels`` (AAMI letters)
        of the beat annotations.

    Raises
    ------
    EcgRecordError
        Naming the missing or unreadable file.
    """
    from cliniloop.connectors.sources.ecg import EcgFileError, open_ecg, read_reference_beats
    from cliniloop.models.ecg.classify import RecordBeats  # noqa: F811 (runtime import; torch loads here)

    folder = Path(folder)
    try:
        source = open_ecg(folder / f"{name}.hea")
        signal = source.read(0, source.n_samples, source.lead_order())
        ref_samples, symbols = read_reference_beats(folder / name)
    except EcgFileError as exc:
        raise EcgRecordError(f"{exc} (record {name})") from exc
    mapping = load_beat_mapping(Path(mapping_path) if mapping_path is not None else None)
    keep = [i for i, sym in enumerate(symbols) if mapping.to_class(sym) is not None]
    samples = ref_samples[keep]
    labels = np.array([mapping.to_class(symbols[i]) for i in keep], dtype="<U1")
    srt = np.argsort(samples, kind="stable")
    return RecordBeats(name, signal, source.sampling_rate, samples[srt], labels[srt])


def record_folds(records: Sequence[Any], folds: int | None, seed: int) -> list[list[int]]:
    """Indices of the test records of each fold: record-grouped, stratified by beat class.

    Leave-one-record-out when ``folds`` is None or at least the number of records; else
    scikit-learn ``StratifiedGroupKFold`` (shuffled by ``seed``) over the records' beats.

    Raises
    ------
    EcgRecordError
        When ``folds`` is below 2.
    """
    n = len(records)
    if folds is None or folds >= n:
        return [[i] for i in range(n)]
    if folds < 2:
        raise EcgRecordError(f"folds must be at least 2 (or None for leave-one-record-out), got {folds}")
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.concatenate([r.labels for r in records])
    groups = np.concatenate([np.full(len(r.labels), i) for i, r in enumerate(records)])
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    out = []
    with warnings.catch_warnings():  # "least populated class has only 8 members": expected for Q
        warnings.simplefilter("ignore", UserWarning)
        for _, test_idx in splitter.split(np.zeros(len(y)), y, groups):
            out.append(sorted({int(g) for g in groups[test_idx]}))
    return out
