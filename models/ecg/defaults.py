"""The default ECG beat classifier shipped inside the package (used before any version is promoted).

``models/ecg/default/`` holds a :class:`~cliniloop.models.ecg.boosted.BoostedBeatClassifier` written by
``scripts/train_default_models.py --only ecg`` from MIT-BIH Arrhythmia DS1 beats (ODC-By 1.0;
licence and provenance in ``models/ecg/default/PROVENANCE.md``). That script is the one way to
produce these files: when the beat features of :mod:`cliniloop.models.ecg.beat_table` change, re-run it.

The records in :data:`FIRST_QUEUE_RECORDS` are left out of the default's training so that the
first-queue evaluation (``cliniloop eval first-queue --modality ecg``) measures it on patients it
has never seen.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any
from cliniloop.models.registry import DefaultModelError

#: Folder of the shipped weights.
DEFAULT_DIR = Path(__file__).resolve().parent / "default"
#: DS1 records kept out of the default's training (first-queue evaluation records).
FIRST_QUEUE_RECORDS: tuple[str, ...] = ("106", "119", "220", "223")
#: Command that (re)creates the shipped files.
TRAIN_COMMAND = "python scripts/train_default_models.py --only ecg --data <shared data folder>"




@lru_cache(maxsize=1)
def load_default() -> Any:
    """The shipped default beat classifier (a fitted :class:`~cliniloop.models.ecg.boosted.BoostedBeatClassifier`).

    Raises
    ------
    DefaultModelError
        When the files are missing, or were written for another feature set than the one this
        code computes (the message says how to re-create them).
    """
    from cliniloop.models.ecg.boosted import META_FILE, BoostedBeatClassifier

    if not (DEFAULT_DIR / META_FILE).is_file():
        raise DefaultModelError(f"{DEFAULT_DIR / META_FILE}: the default ECG beat classifier is missing; create it with `{TRAIN_COMMAND}`")
    try:
        return BoostedBeatClassifier.load(DEFAULT_DIR)
    except (ValueError, FileNotFoundError) as err:
        raise DefaultModelError(
            f"the default ECG beat classifier in {DEFAULT_DIR} does not match this code's beat features "
            f"(re-create it with `{TRAIN_COMMAND}`): {err}"
        ) from err
