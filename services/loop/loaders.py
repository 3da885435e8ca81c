"""Promoted models by name, loaded without importing a trainer.

One loader per trained model: the ECG beat classifier, the EEG seizure detector, the image box
detector and mask model. Prediction (:mod:`cliniloop.services.loop.image`), the first round
(:mod:`cliniloop.services.loop.first_round`) and the promotion check load models through here, so the
trainers, which import those modules, are never imported back. Models load lazily: importing
this module reads nothing and imports no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.loop.promoted import load_promoted_model

#: Store/registry names of the trained models.
ECG_CLASSIFIER = "ecg-beat-classifier"
EEG_DETECTOR = "eeg-seizure-detector"
BOX_MODEL = "image-box-detector"
MASK_MODEL = "image-mask-segmenter"


def load_beat_classifier(folder: Path) -> Any:
    """A saved beat classifier: the boosted model (``beatgbm.json``) or the CNN (``beatcnn.json``)."""
    from cliniloop.models.ecg import boosted

    if (Path(folder) / boosted.META_FILE).is_file():
        return boosted.BoostedBeatClassifier.load(folder)
    from cliniloop.models.ecg.classify import BeatClassifier

    return BeatClassifier.load(folder)


def load_ecg_classifier(store: Store, settings: Settings) -> Any | None:
    """The promoted beat classifier, or ``None`` when none was trained."""
    return load_promoted_model(store, settings.resolved_models_dir, ECG_CLASSIFIER, load_beat_classifier)


def load_eeg_detector(store: Store, settings: Settings) -> Any | None:
    """The promoted seizure detector, or ``None`` when none was trained."""
    from cliniloop.models.eeg.seizure import SeizureDetector

    return load_promoted_model(store, settings.resolved_models_dir, EEG_DETECTOR, SeizureDetector.load)


def load_image_model(store: Store, models_dir: Path, name: str) -> Any | None:
    """The promoted version of ``name`` (:data:`BOX_MODEL` or :data:`MASK_MODEL`), or ``None``.

    Raises
    ------
    ValueError
        For any other name.
    """
    if name == BOX_MODEL:
        from cliniloop.models.image.detector import BoxDetector

        return load_promoted_model(store, models_dir, name, BoxDetector.load)
    if name == MASK_MODEL:
        from cliniloop.models.image.segmenter import MaskSegmenter

        return load_promoted_model(store, models_dir, name, MaskSegmenter.load)
    raise ValueError(f"unknown image model {name!r} (expected {BOX_MODEL!r} or {MASK_MODEL!r})")
