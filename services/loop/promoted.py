"""Registry versions behind the store's ``production`` pointer: load the promoted one, register and promote a new one.

Shared by the ECG, EEG and image trainers (the text NER model has its own promotion rules in
:mod:`services.loop.models`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from models.registry import ModelRegistry
from services.core.store import Store

T = TypeVar("T")


def load_promoted_model(store: Store, models_dir: Path, name: str, load: Callable[[Path], T]) -> T | None:
    """``load(folder)`` of the promoted version of ``name``, or ``None`` when none is promoted."""
    version = store.alias(name)
    if version is None:
        return None
    return load(ModelRegistry(models_dir).path(name, version))


def register_and_promote(
    store: Store, models_dir: Path, name: str, model: Any, meta: dict[str, Any], *, label_count: int, reason: str, **audit: Any
) -> Path:
    """Write ``model`` (its ``save(folder)``) as a registry version, register it, promote it and audit it.

    ``meta`` must hold ``version`` and ``parent``; ``audit`` keywords go into the audit entry.
    Returns the version's folder.
    """
    info = ModelRegistry(models_dir).create(name, model.save, meta)
    store.register_model_version(name, meta["version"], parent=meta.get("parent"), label_count=label_count, artifact_uri=str(info.path.resolve()))
    store.promote(name, meta["version"], actor="cliniloop", reason=reason)
    store.audit("cliniloop", "train", "model", meta["version"], model=name, **audit)
    return info.path
