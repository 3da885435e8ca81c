"""Registry versions behind the store's ``production`` pointer: load the promoted one.

Used by the per-modality loaders (:func:`cliniloop.services.loop.ecg_train.load_ecg_classifier`, ...) behind
:func:`cliniloop.services.loop.promotion.load_promoted`. Registering and promoting a new version goes through
:func:`cliniloop.services.loop.promotion.register_and_decide`, which promotes only a version that is not worse
on the dev split: there is no unchecked promotion here any more.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cliniloop.models.registry import ModelRegistry
from cliniloop.services.core.store import Store

T = TypeVar("T")


def load_promoted_model(store: Store, models_dir: Path, name: str, load: Callable[[Path], T]) -> T | None:
    """``load(folder)`` of the promoted version of ``name``, or ``None`` when none is promoted."""
    version = store.alias(name)
    if version is None:
        return None
    return load(ModelRegistry(models_dir).path(name, version))
