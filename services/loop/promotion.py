"""One promotion rule for every trainer: a fixed, grouped dev split and "promoted only when not worse".

Fixed dev split
---------------
Every modality holds out the same share of its *groups* (:func:`is_dev_group`: ``int(sha256(key), 16)
% DEV_MODULUS == 0``, about one group in five). The group key is what must never be on both sides:

=============  ====================================================
modality       group key
=============  ====================================================
text           the task id (one note per task)
ecg            the recording (record name)
eeg            the recording, or the Bonn segment
image-boxes    the image (file hash of a corrected task, or the VOC image id)
image-masks    the image (file hash of a corrected task, or the dataset image id)
=============  ====================================================

The split depends on nothing but the key, so it never changes as data is added: a group evaluated
on is never trained on, by any version.

Promotion rule
--------------
Each new version is written to the registry and registered in the store in any case. It is
promoted (the store's ``production`` alias) only when its dev metric is not worse than the
baseline, ``new >= baseline + settings.promotion_min_delta``; the baseline is the promoted
version re-evaluated on today's dev split or, when nothing is promoted, the modality's cold-start
predictor on the same split. With no dev data (or no metric) nothing is promoted, and ``cliniloop
models promote`` does it by hand.

Every trainer returns a :class:`TrainResult`; :func:`load_promoted` loads the promoted model of any
modality.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store

#: One group in ``DEV_MODULUS`` (by hash) is in the dev split.
DEV_MODULUS = 5

TEXT = "text"
ECG = "ecg"
EEG = "eeg"
IMAGE_BOXES = "image-boxes"
IMAGE_MASKS = "image-masks"
MODALITIES = (TEXT, ECG, EEG, IMAGE_BOXES, IMAGE_MASKS)
_ALIASES = {"boxes": IMAGE_BOXES, "masks": IMAGE_MASKS, "image": IMAGE_BOXES, "ner": TEXT}


def canonical_modality(modality: str) -> str:
    """``modality`` as one of :data:`MODALITIES` (``image_boxes``, ``boxes`` → ``image-boxes``).

    Raises
    ------
    ValueError
        For an unknown modality (naming the known ones).
    """
    key = str(modality).strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; known: {', '.join(MODALITIES)}")
    return key


def is_dev_group(key: str, modulus: int = DEV_MODULUS) -> bool:
    """Whether the group ``key`` (a task id, record name, image id) is in the fixed dev split."""
    return int(hashlib.sha256(str(key).encode("utf-8")).hexdigest(), 16) % modulus == 0


@dataclass(frozen=True)
class TrainResult:
    """What every trainer returns.

    Attributes
    ----------
    modality : str
        One of :data:`MODALITIES`.
    model_name : str
        The registry/store name of the model (``clinical-ner``, ``ecg-beat-classifier``, ...).
    version : str or None
        The new version (``None`` when nothing was written).
    metric_name : str
        The dev metric that decided (e.g. ``f1``, ``macro_f1``).
    metric : float or None
        The new version's dev metric (``None`` when it could not be measured).
    baseline : float or None
        The promoted version's (or the cold-start predictor's) dev metric on the same split.
    promoted : bool
        Whether the new version is now the promoted one.
    reason : str
        Why (one sentence, no identifiers).
    """

    modality: str
    model_name: str
    version: str | None
    metric_name: str
    metric: float | None
    baseline: float | None
    promoted: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    def summary(self) -> str:
        """One line for the CLI: metric, baseline, promoted/refused and why."""

        def f(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.4f}"

        verdict = "promoted" if self.promoted else "refused"
        return (
            f"{self.modality} {self.model_name} {self.version or '-'}: dev {self.metric_name} {f(self.metric)} "
            f"vs baseline {f(self.baseline)}: {verdict} ({self.reason})"
        )


@dataclass(frozen=True)
class Decision:
    """Whether a new version is promoted, and why."""

    promote: bool
    reason: str


def decide(
    metric_name: str,
    new: float | None,
    baseline: float | None,
    *,
    baseline_label: str,
    dev_size: str,
    min_delta: float = 0.0,
) -> Decision:
    """The promotion rule: promote when ``new >= baseline + min_delta``.

    Parameters
    ----------
    metric_name : str
        Name of the dev metric (for the reason).
    new, baseline : float or None
        Dev metric of the new version and of the baseline (promoted version or cold start) on the
        same dev split; ``None`` when it could not be measured.
    baseline_label : str
        What the baseline is ("the promoted version 1a2b", "the cold-start proposer").
    dev_size : str
        The dev split's size in words ("3 records, 1500 beats"), for the reason.
    min_delta : float
        Required gain (``settings.promotion_min_delta``; 0 means "not worse").
    """
    if new is None or (isinstance(new, float) and math.isnan(new)):
        return Decision(False, f"no dev {metric_name} ({dev_size}): not promoted; promote it by hand with `cliniloop models promote`")
    if baseline is None or (isinstance(baseline, float) and math.isnan(baseline)):
        return Decision(True, f"dev {metric_name} {new:.4f} on {dev_size}; {baseline_label} cannot be evaluated")
    if new >= baseline + min_delta:
        return Decision(True, f"dev {metric_name} {new:.4f} >= {baseline:.4f} + {min_delta:g} of {baseline_label} on {dev_size}")
    return Decision(False, f"dev {metric_name} {new:.4f} < {baseline:.4f} + {min_delta:g} of {baseline_label} on {dev_size}: worse, refused")


def _loaders() -> dict[str, tuple[str, Callable[[Store, Settings], Any]]]:
    # Lazy: nothing is loaded at import time. Loaders, never trainers (the trainers import this module).
    from cliniloop.services.loop.loaders import BOX_MODEL, ECG_CLASSIFIER, EEG_DETECTOR, MASK_MODEL, load_ecg_classifier, load_eeg_detector, load_image_model
    from cliniloop.services.loop.predict import NER_MODEL_NAME

    def text(store: Store, settings: Settings) -> Any:
        from cliniloop.services.loop.predict import load_ner_tagger

        version = store.alias(NER_MODEL_NAME)
        return None if version is None else load_ner_tagger(store, settings, version)

    return {
        TEXT: (NER_MODEL_NAME, text),
        ECG: (ECG_CLASSIFIER, load_ecg_classifier),
        EEG: (EEG_DETECTOR, load_eeg_detector),
        IMAGE_BOXES: (BOX_MODEL, lambda store, settings: load_image_model(store, settings.resolved_models_dir, BOX_MODEL)),
        IMAGE_MASKS: (MASK_MODEL, lambda store, settings: load_image_model(store, settings.resolved_models_dir, MASK_MODEL)),
    }


def model_name_of(modality: str) -> str:
    """The store/registry model name of ``modality``'s trained model."""
    return _loaders()[canonical_modality(modality)][0]


def load_promoted(store: Store, settings: Settings, modality: str) -> Any | None:
    """The promoted model of ``modality`` (see :data:`MODALITIES`), or ``None`` when none is promoted.

    Text: the NER tagger; ECG: the beat classifier; EEG: the seizure detector; image boxes/masks:
    the box detector / mask model. Loading is lazy (nothing is read at import time).

    Raises
    ------
    ValueError
        For an unknown modality.
    """
    return _loaders()[canonical_modality(modality)][1](store, settings)


def register_and_decide(
    store: Store,
    settings: Settings,
    *,
    modality: str,
    model_name: str,
    model: Any,
    meta: dict[str, Any],
    metric_name: str,
    metric: float | None,
    baseline: float | None,
    baseline_label: str,
    dev_size: str,
    label_count: int,
    metrics: dict[str, Any] | None = None,
    training_set_hash: str | None = None,
    actor: str = "cliniloop",
    **audit: Any,
) -> TrainResult:
    """Write ``model`` as a registry version, register it with its dev metrics, promote it when not worse.

    Parameters
    ----------
    store, settings
        Where the version is registered; ``settings.resolved_models_dir`` is the registry root and
        ``settings.promotion_min_delta`` the required gain.
    modality, model_name
        See :class:`TrainResult`.
    model : object
        Has ``version`` and ``save(folder)``.
    meta : dict
        Registry metadata; must hold ``parent``. The dev metrics are added to it.
    metric_name, metric, baseline, baseline_label, dev_size
        See :func:`decide`.
    label_count : int
        Training labels (beats, epochs, boxes, instances, tasks): the learning curve's x.
    metrics : dict, optional
        Further dev figures stored with the version (the learning curve reads ``metric_name``).
    audit
        Extra keywords of the ``model_trained`` audit entry (counts only, no identifiers).
    """
    from cliniloop.models.registry import ModelRegistry

    version = str(model.version)
    current = store.alias(model_name)
    stored = {**(metrics or {}), "dev_metric": metric_name, metric_name: metric, "baseline": baseline}
    info = ModelRegistry(settings.resolved_models_dir).create(
        model_name, model.save, {**meta, "version": version, "label_count": label_count, "metrics": stored}
    )
    store.register_model_version(
        model_name, version, parent=meta.get("parent"), training_set_hash=training_set_hash, label_count=label_count,
        metrics=stored, artifact_uri=str(info.path.resolve()),
    )  # fmt: skip
    if current == version:
        decision = Decision(False, f"identical to the promoted version {current}: nothing to change")
    else:
        decision = decide(
            metric_name, metric, baseline, baseline_label=baseline_label, dev_size=dev_size, min_delta=settings.promotion_min_delta
        )
    store.audit(
        actor, "model_trained", "model", model_name, version=version, parent=meta.get("parent"), metric=metric_name,
        value=metric, baseline=baseline, promote=decision.promote, reason=decision.reason, **audit,
    )  # fmt: skip
    if decision.promote:
        store.promote(model_name, version, actor=actor, reason=decision.reason)
    return TrainResult(canonical_modality(modality), model_name, version, metric_name, metric, baseline, decision.promote, decision.reason)


def baseline_label(current_version: str | None, cold_start: str) -> str:
    """Words for the baseline: the promoted version, or the cold-start predictor when none is promoted."""
    return f"the promoted version {current_version}" if current_version else f"the cold-start {cold_start}"
