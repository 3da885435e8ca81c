"""The model each modality predicts with: the promoted version, else the default shipped in the package.

Before anything is trained the first queue must still be ranked (issue 21): ``ecg predict``,
``eeg predict`` and ``image predict`` fall back to the defaults of :mod:`cliniloop.models.ecg.defaults`,
:mod:`cliniloop.models.eeg.defaults` and :mod:`cliniloop.models.image.defaults` (small models trained on openly
licensed reference data by ``scripts/train_default_models.py``). When a default's files are
missing or do not match the code, the reason is logged and the cold start is used (every beat N,
no seizure model, the class-agnostic blob proposer), as before.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.loop.loaders import BOX_MODEL, load_ecg_classifier, load_eeg_detector, load_image_model

log = logging.getLogger(__name__)


def _default(module: Any) -> Any | None:
    try:
        return module.load_default()
    except module.DefaultModelError as err:
        log.warning("%s", err)
        return None


def ecg_classifier(store: Store, settings: Settings) -> tuple[Any | None, str]:
    """``(beat classifier, source)``: the promoted one (``"promoted"``), else the shipped default (``"default"``), else ``(None, "none")``."""
    from cliniloop.models.ecg import defaults

    promoted = load_ecg_classifier(store, settings)
    if promoted is not None:
        return promoted, "promoted"
    model = _default(defaults)
    return model, "default" if model is not None else "none"


def eeg_detector(store: Store, settings: Settings) -> tuple[Any | None, str]:
    """``(seizure detector, source)`` as :func:`ecg_classifier`."""
    from cliniloop.models.eeg import defaults

    promoted = load_eeg_detector(store, settings)
    if promoted is not None:
        return promoted, "promoted"
    model = _default(defaults)
    return model, "default" if model is not None else "none"


def default_box_detector() -> Any | None:
    """The shipped default box detector, or ``None`` (reason logged) when it cannot be used."""
    from cliniloop.models.image import defaults

    return _default(defaults)


def image_box_model(store: Store, models_dir: Path) -> tuple[Any | None, str]:
    """``(box model, source)``: promoted detector, else the shipped default, else ``(None, "none")`` (cold start)."""
    promoted = load_image_model(store, models_dir, BOX_MODEL)
    if promoted is not None:
        return promoted, "promoted"
    model = default_box_detector()
    return model, "default" if model is not None else "none"
