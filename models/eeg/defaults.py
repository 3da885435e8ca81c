"""The default EEG seizure detector shipped inside the package (used before any version is promoted).

``models/eeg/default/`` holds a :class:`~cliniloop.models.eeg.seizure.SeizureDetector` written by
``scripts/train_default_models.py --only eeg`` from the Bonn University EEG segments (CC BY 4.0;
licence and provenance in ``models/eeg/default/PROVENANCE.md``). That script is the one way to
produce these files: when the epoch features of :mod:`cliniloop.models.eeg.features` change, re-run it.

Every third segment of each Bonn set (:func:`is_first_queue_segment`) is left out of training so
that ``cliniloop eval first-queue --modality eeg`` measures the default on segments it never saw.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any
from cliniloop.models.registry import DefaultModelError

#: Folder of the shipped weights.
DEFAULT_DIR = Path(__file__).resolve().parent / "default"
#: Command that (re)creates the shipped files.
TRAIN_COMMAND = "python scripts/train_default_models.py --only eeg --data <shared data folder>"




def is_first_queue_segment(index: int) -> bool:
    """Whether the ``index``-th segment (0-based, file-name order) of a Bonn set is kept out of training."""
    return index % 3 == 2


@lru_cache(maxsize=1)
def load_default() -> Any:
    """The shipped default seizure detector (a fitted :class:`~cliniloop.models.eeg.seizure.SeizureDetector`).

    Raises
    ------
    DefaultModelError
        When the files are missing, modified, or written for other features than this code computes.
    """
    from cliniloop.models.eeg.seizure import SeizureDetector

    if not (DEFAULT_DIR / "detector.json").is_file():
        raise DefaultModelError(f"{DEFAULT_DIR / 'detector.json'}: the default EEG seizure detector is missing; create it with `{TRAIN_COMMAND}`")
    try:
        return SeizureDetector.load(DEFAULT_DIR)
    except ValueError as err:
        raise DefaultModelError(f"the default EEG seizure detector in {DEFAULT_DIR} cannot be used (re-create it with `{TRAIN_COMMAND}`): {err}") from err
