"""The default box detector shipped inside the package (used before any version is promoted).

``models/image/default/`` holds a :class:`~cliniloop.models.image.proposals.ProposalBoxClassifier` (class
probabilities for the cold-start blob proposals) written by ``scripts/train_default_models.py
--only image`` from the BCCD blood-cell boxes of ``train.txt`` (MIT; licence and provenance in
``models/image/default/PROVENANCE.md``). Its classes (RBC, WBC, Platelets) come from that training
data. (The CenterNet :class:`~cliniloop.models.image.detector.BoxDetector` is more accurate but takes tens of
minutes to train on a CPU; it is what ``image train`` promotes.) ``val.txt`` is never trained on: ``cliniloop eval
first-queue --modality image`` measures the default there.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any
from cliniloop.models.registry import DefaultModelError

#: Folder of the shipped weights.
DEFAULT_DIR = Path(__file__).resolve().parent / "default"
#: Command that (re)creates the shipped files.
TRAIN_COMMAND = "python scripts/train_default_models.py --only image --data <shared data folder>"




@lru_cache(maxsize=1)
def load_default() -> Any:
    """The shipped default box model (a fitted :class:`~cliniloop.models.image.proposals.ProposalBoxClassifier`).

    Raises
    ------
    DefaultModelError
        When the files are missing or not of this code's format.
    """
    from cliniloop.models.image.proposals import META_FILE, ProposalBoxClassifier

    if not (DEFAULT_DIR / META_FILE).is_file():
        raise DefaultModelError(f"{DEFAULT_DIR / META_FILE}: the default box detector is missing; create it with `{TRAIN_COMMAND}`")
    try:
        return ProposalBoxClassifier.load(DEFAULT_DIR)
    except (ValueError, FileNotFoundError) as err:
        raise DefaultModelError(f"the default box detector in {DEFAULT_DIR} cannot be used (re-create it with `{TRAIN_COMMAND}`): {err}") from err
