"""Train the clinical NER tagger from stored annotations, version it, and promote it if it is not worse.

Training set
------------
Every text task with a training label contributes one :class:`~cliniloop.models.text.ner.LabelledText`:
the task's text and the text-span regions of its label (:func:`cliniloop.services.quality.labels.training_labels`:
a gold answer, a reviewer's adjudication, or the newest annotation when the annotators agree;
never an unresolved disagreement). A label without regions stays in: it says "no entity
here", which the tagger learns from too.

Fixed dev split
---------------
A task is in the dev split when ``int(sha256(task id), 16) % 5 == 0`` (about one task in five).
The split depends on nothing but the task id, so it never changes as tasks and labels are
added: a task evaluated on is never trained on, by any version.

Promotion rule
--------------
The new version is registered in any case (files in the model registry, a row in the store).
It is promoted (``production`` alias of ``clinical-ner``) when:

* nothing is promoted yet, the dev split holds at least one gold entity and the new version is
  not worse than the cold start, the rule annotator alone (what ``predict`` uses without a
  tagger), on the same split: ``new >= rules + promotion_min_delta``; without a gold entity
  there is nothing to measure, so it is *not* promoted (``cliniloop models promote VERSION``
  does it by hand);
* otherwise, when ``new >= current + promotion_min_delta`` on ``promotion_metric`` (strict-span
  micro P/R/F1), where *current* is the promoted version **re-evaluated on today's dev split**
  (its stored metric may come from an older, smaller split); with no gold entity in the dev
  split the versions cannot be compared and the promoted one stays. If the promoted version's
  files are gone, its stored metric is used instead (and said so in the reason).

A promotion then refreshes predictions and Label Studio (:mod:`cliniloop.services.loop.models`).
:func:`train_text` returns a :class:`~cliniloop.services.loop.promotion.TrainResult`; the ``train-text``
job (:func:`train_text_job`) stores the same fields plus the training details.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cliniloop.models.registry import ModelRegistry
from cliniloop.models.text.ner import EntitySpan, LabelledText, NerTagger
from cliniloop.models.text.ner_metrics import span_scores
from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.core.tables import as_utc
from cliniloop.services.loop.models import FractionProgress, promote
from cliniloop.services.loop.ner_choice import choose_tagger
from cliniloop.services.loop.predict import NER_MODEL_NAME, ModelArtifactMissing, load_ner_tagger
from cliniloop.services.loop.promotion import TEXT, TrainResult
from cliniloop.services.quality.labels import training_labels
from cliniloop.taxonomies.label_schemas import load_label_schema

log = logging.getLogger(__name__)

DEV_MODULUS = 5


class NotEnoughLabels(ValueError):
    """Too few annotated tasks (or entities) to train on."""


def is_dev_task(task_id: str, modulus: int = DEV_MODULUS) -> bool:
    """Whether a task belongs to the fixed dev split (``int(sha256(id), 16) % modulus == 0``)."""
    return int(hashlib.sha256(task_id.encode("utf-8")).hexdigest(), 16) % modulus == 0


@dataclass
class TrainingSet:
    """Labelled texts split into train and dev, with hashes of the labels they come from.

    Attributes
    ----------
    train, dev : list of LabelledText
        ``doc_id`` is the task id; sorted by task id.
    training_set_hash, dev_set_hash : str
        SHA-256 over the sorted ``(task id, annotation id, updated_at)`` entries of each split.
    """

    train: list[LabelledText] = field(default_factory=list)
    dev: list[LabelledText] = field(default_factory=list)
    training_set_hash: str = ""
    dev_set_hash: str = ""
    skipped_regions: int = 0

    @property
    def tasks(self) -> int:
        """Annotated text tasks in both splits."""
        return len(self.train) + len(self.dev)

    def entity_counts(self, split: str = "train") -> dict[str, int]:
        """Gold entities per label in ``split`` (``"train"`` or ``"dev"``)."""
        texts = self.train if split == "train" else self.dev
        return dict(sorted(Counter(s.label for t in texts for s in t.spans).items()))


def _utc_iso(value: datetime | None) -> str:
    if value is None:
        return ""
    return as_utc(value).astimezone(UTC).isoformat()


def _hash(entries: Sequence[tuple[str, str, str]]) -> str:
    h = hashlib.sha256()
    for entry in sorted(entries):
        h.update("\t".join(entry).encode("utf-8") + b"\n")
    return h.hexdigest()


def build_training_set(store: Store, dev_modulus: int = DEV_MODULUS) -> TrainingSet:
    """Labelled texts from the store's annotations of text tasks (see the module docstring)."""
    latest = training_labels(store, "text").labels
    tasks = {t.id: t for t in store.list_tasks(modality="text", ids=list(latest))}
    out = TrainingSet()
    entries: dict[str, list[tuple[str, str, str]]] = {"train": [], "dev": []}
    for task_id in sorted(tasks):
        ann, text = latest[task_id], tasks[task_id].data.get("text")
        if not isinstance(text, str):
            continue
        spans = []
        for region in ann.regions:
            if region.get("kind", "span") != "span":
                continue
            start, end, label = int(region["start"]), int(region["end"]), str(region["label"])
            if not 0 <= start < end <= len(text):
                out.skipped_regions += 1
                log.warning("task %s, %s: span [%d, %d) outside the text; ignored", task_id, ann.key, start, end)
                continue
            spans.append(EntitySpan(start, end, label))
        labelled = LabelledText(text, tuple(sorted(spans, key=lambda s: (s.start, s.end, s.label))), doc_id=task_id)
        split = "dev" if is_dev_task(task_id, dev_modulus) else "train"
        getattr(out, split).append(labelled)
        entries[split].append((task_id, ann.key, _utc_iso(ann.updated_at)))
    out.training_set_hash = _hash(entries["train"])
    out.dev_set_hash = _hash(entries["dev"])
    return out


def evaluate(tagger: NerTagger, dev: Sequence[LabelledText]) -> dict[str, Any]:
    """Strict-span scores of ``tagger`` on ``dev`` (see :func:`cliniloop.models.text.ner_metrics.span_scores`)."""
    predicted = tagger.predict_spans([t.text for t in dev]) if dev else []
    scores = span_scores([list(t.spans) for t in dev], predicted)
    scores["dev_tasks"] = len(dev)
    return scores


@dataclass
class PromotionDecision:
    """Whether a new version replaces the promoted one, and why."""

    promote: bool
    reason: str
    current_metrics: dict[str, Any] | None = None
    #: The baseline's value of the promotion metric (promoted version or cold-start rules).
    baseline: float | None = None


def cold_start_scores(dev: Sequence[LabelledText]) -> dict[str, Any]:
    """Strict-span scores of the cold start, the rule annotator alone, on ``dev`` (its mentions' offsets and labels)."""
    from cliniloop.services.loop.predict import rule_annotator

    mentions = rule_annotator().predict([t.text for t in dev]) if dev else []
    predicted = [[EntitySpan(m.start, m.end, m.label) for m in ms] for ms in mentions]
    scores = span_scores([list(t.spans) for t in dev], predicted)
    scores["dev_tasks"] = len(dev)
    return scores


def decide_promotion(
    store: Store,
    settings: Settings,
    version: str,
    metrics: dict[str, Any],
    dev: Sequence[LabelledText],
    current: str | None,
    current_tagger: NerTagger | None = None,
) -> PromotionDecision:
    """Apply the promotion rule (module docstring) to a new version's dev ``metrics``.

    ``current_tagger`` is the promoted version already loaded (see :func:`load_tagger_version`); without
    it the version is loaded here.
    """
    metric, delta = settings.promotion_metric, settings.promotion_min_delta
    gold = sum(len(t.spans) for t in dev)
    if current == version:
        return PromotionDecision(False, f"identical to the promoted version {current}: nothing to change")
    if current is None:
        if gold == 0:
            return PromotionDecision(
                False,
                f"no version is promoted yet, but the dev split ({len(dev)} tasks) has no gold entity to evaluate on; "
                "not promoted (promote it by hand with `cliniloop models promote`)",
            )
        rules = cold_start_scores(dev)
        new, cur = float(metrics[metric]), float(rules[metric])
        if new >= cur + delta:
            return PromotionDecision(
                True, f"first evaluated version: {metric} {new:.4f} >= {cur:.4f} + {delta:g} of the cold-start rules ({len(dev)} dev tasks)", rules, cur
            )
        return PromotionDecision(
            False, f"{metric} {new:.4f} < {cur:.4f} + {delta:g} of the cold-start rules ({len(dev)} dev tasks): worse, refused", rules, cur
        )
    if gold == 0:
        return PromotionDecision(False, f"the dev split has no gold entity: cannot compare with {current}, which stays promoted")
    loaded, err = (current_tagger, None) if current_tagger is not None else load_tagger_version(store, settings, current)
    if loaded is not None:
        current_metrics = evaluate(loaded, dev)
        how = "re-evaluated on today's dev split"
    else:
        row = store.model_version(NER_MODEL_NAME, current)
        current_metrics = dict(row.metrics) if row is not None and row.metrics else None
        how = f"its files could not be loaded ({err}); using its stored metrics"
        if current_metrics is None or metric not in current_metrics:
            return PromotionDecision(True, f"the promoted version {current} cannot be evaluated ({err}) and has no stored {metric}")
    new, cur = float(metrics[metric]), float(current_metrics[metric])
    if new >= cur + delta:
        return PromotionDecision(
            True, f"{metric} {new:.4f} >= {cur:.4f} + {delta:g} of {current} ({how}, {len(dev)} tasks)", current_metrics, cur
        )
    return PromotionDecision(
        False, f"{metric} {new:.4f} < {cur:.4f} + {delta:g} of {current} ({how}, {len(dev)} tasks): {current} stays promoted", current_metrics, cur
    )


def train_text_job(
    store: Store,
    settings: Settings,
    progress: FractionProgress,
    *,
    params: dict[str, Any] | None = None,
    actor: str = "cliniloop",
) -> dict[str, Any]:
    """Train, evaluate, version and (maybe) promote the clinical NER tagger: the ``train-text`` job.

    Parameters
    ----------
    store, settings
        The store with the annotations; settings give the registry root, the promotion rule,
        ``min_train_labels`` and ``ner_max_iterations``.
    progress : callable
        ``progress(fraction, message)``.
    params : dict, optional
        ``max_iterations`` overrides ``settings.ner_max_iterations``; ``model`` (``auto``, ``crf``,
        ``transformer``) overrides ``settings.ner_model`` (:mod:`cliniloop.services.loop.ner_choice`);
        ``transformer`` holds keyword arguments of the transformer tagger.
    actor : str
        Who the promotion is recorded for.

    Returns
    -------
    dict
        The :class:`~cliniloop.services.loop.promotion.TrainResult` fields (``modality``, ``model_name``,
        ``version``, ``metric_name``, ``metric``, ``baseline``, ``promoted``, ``reason``), and
        ``metrics`` (dev), ``current_metrics`` (the previously promoted version, or the cold-start
        rules, on the same dev split), ``previous_version``,
        ``training_set_hash``, ``train_tasks``, ``dev_tasks``, ``entities``, ``artifact`` and,
        after a promotion, ``refresh`` (predictions and Label Studio).

    Raises
    ------
    NotEnoughLabels
        With fewer than ``settings.min_train_labels`` annotated text tasks, no task outside the
        dev split, or no entity in the training split.
    """
    params = dict(params or {})
    progress(0.0, "building the training set")
    data = build_training_set(store)
    if data.tasks < settings.min_train_labels:
        raise NotEnoughLabels(
            f"{data.tasks} annotated text task(s); training needs at least {settings.min_train_labels} "
            "(CLINILOOP_MIN_TRAIN_LABELS)"
        )
    if not data.train:
        raise NotEnoughLabels(f"all {data.tasks} annotated tasks are in the dev split: label more tasks")
    if not any(t.spans for t in data.train):
        raise NotEnoughLabels(f"the {len(data.train)} training tasks hold no entity: nothing to learn")
    max_iterations = int(params.get("max_iterations") or settings.ner_max_iterations)
    progress(0.05, f"training on {len(data.train)} tasks ({len(data.dev)} held out)")
    tfm_params = {"epochs": settings.ner_transformer_epochs, **dict(params.get("transformer") or {})}
    tagger, metrics, choice = choose_tagger(
        data.train, data.dev, choice=str(params.get("model") or settings.ner_model), metric=settings.promotion_metric,
        params={"max_iterations": max_iterations, "transformer": tfm_params}, evaluate=evaluate,
        progress=lambda f, msg: progress(0.05 + 0.6 * f, msg),
    )  # fmt: skip
    progress(0.65, f"evaluated the {choice['model']} on {len(data.dev)} dev tasks")
    metrics = {**metrics, "model": choice["model"], "device": choice["device"]}
    current = store.alias(NER_MODEL_NAME)
    version = tagger.version
    parent = current if current != version else None  # same version again: registry and store keep the first record
    tagger_params = {k: getattr(tagger, k) for k in ("c1", "c2", "max_iterations", "min_freq", "gazetteer") if hasattr(tagger, k)}
    meta = {
        "version": version,
        "parent": parent,
        "training_set_hash": data.training_set_hash,
        "dev_set_hash": data.dev_set_hash,
        "label_count": len(data.train),
        "metrics": metrics,
        "taxonomy_version": load_label_schema("clinical_text").taxonomy_version,
        "params": {**tagger_params, "dev_modulus": DEV_MODULUS, "train_tasks": len(data.train), "dev_tasks": len(data.dev)},
        "ner_choice": choice,
        "entities": {"train": data.entity_counts("train"), "dev": data.entity_counts("dev")},
    }
    progress(0.7, f"writing version {version}")
    previous, _ = load_tagger_version(store, settings, current) if current not in (None, version) else (None, None)
    metrics = {**metrics, "dev_metric": settings.promotion_metric}
    agreement = stop_set_agreement(store, settings, tagger, previous)
    if agreement is not None:
        metrics = {**metrics, "stop_set_agreement": agreement}
        meta["metrics"] = metrics
    info = ModelRegistry(settings.resolved_models_dir).create(NER_MODEL_NAME, tagger.save, meta)
    store.register_model_version(
        NER_MODEL_NAME,
        version,
        parent=parent,
        training_set_hash=data.training_set_hash,
        label_count=len(data.train),
        metrics=metrics,
        artifact_uri=str(info.path.resolve()),
    )
    decision = decide_promotion(store, settings, version, metrics, data.dev, current, previous)
    store.audit(
        actor, "model_trained", "model", NER_MODEL_NAME, version=version, parent=parent, training_set_hash=data.training_set_hash,
        train_tasks=len(data.train), dev_tasks=len(data.dev), metric=settings.promotion_metric,
        value=metrics[settings.promotion_metric], promote=decision.promote, reason=decision.reason,
    )  # fmt: skip
    result: dict[str, Any] = {
        "modality": TEXT,
        "model_name": NER_MODEL_NAME,
        "version": version,
        "promoted": False,
        "reason": decision.reason,
        "metric_name": settings.promotion_metric,
        "metric": metrics[settings.promotion_metric],
        "baseline": decision.baseline,
        "metrics": metrics,
        "current_metrics": decision.current_metrics,
        "previous_version": current,
        "training_set_hash": data.training_set_hash,
        "train_tasks": len(data.train),
        "dev_tasks": len(data.dev),
        "entities": meta["entities"],
        "artifact": str(info.path),
        "stopping": stopping_status(store, settings).as_dict(),
    }
    if decision.promote:
        progress(0.75, f"promoting {version}")
        report = promote(
            store, settings, NER_MODEL_NAME, version, actor=actor, reason=decision.reason,
            progress=lambda f, msg: progress(0.75 + 0.25 * f, msg),
        )  # fmt: skip
        result["promoted"] = True
        result["refresh"] = report.as_dict()["refresh"]
    progress(1.0, "promoted" if result["promoted"] else "not promoted")
    return result


def train_text(
    store: Store,
    settings: Settings,
    progress: FractionProgress | None = None,
    *,
    params: dict[str, Any] | None = None,
    actor: str = "cliniloop",
) -> TrainResult:
    """Train, evaluate, version and (maybe) promote the NER tagger; the typed outcome (see :func:`train_text_job`)."""
    return train_result(train_text_job(store, settings, progress or (lambda _f, _m: None), params=params, actor=actor))


def train_result(result: dict[str, Any]) -> TrainResult:
    """The :class:`~cliniloop.services.loop.promotion.TrainResult` fields of a ``train-text`` job result."""
    return TrainResult(
        TEXT, NER_MODEL_NAME, result.get("version"), str(result.get("metric_name") or "f1"), result.get("metric"),
        result.get("baseline"), bool(result.get("promoted")), str(result.get("reason") or ""),
    )  # fmt: skip


def load_tagger_version(store: Store, settings: Settings, version: str) -> tuple[NerTagger | None, Exception | None]:
    """Load a registered tagger version; ``(None, error)`` when its files cannot be read."""
    try:
        return load_ner_tagger(store, settings, version), None
    except (ModelArtifactMissing, FileNotFoundError, ValueError) as err:
        log.warning("the promoted version %s cannot be loaded: %s", version, err)
        return None, err


def stop_set_agreement(store: Store, settings: Settings, tagger: NerTagger, previous: NerTagger | None) -> float | None:
    """Span agreement (F1) between ``tagger`` and the ``previous`` (promoted) tagger on the fixed stop set.

    The stop set is ``settings.stop_set_size`` text tasks drawn by :func:`cliniloop.models.sampling.stopping.stop_set`
    (seed 0) from the tasks stored at training time; it needs no labels. ``None`` when there is
    no previous tagger (nothing promoted yet, or its files cannot be loaded).
    """
    from cliniloop.models.sampling.stopping import span_agreement, stop_set

    if previous is None:
        return None
    tasks = {t.id: t for t in store.list_tasks(modality="text")}
    texts = [tasks[i].data.get("text", "") for i in stop_set(tasks, settings.stop_set_size, seed=0)]
    if not texts:
        return None
    before, after = (m.predict_spans(texts, probabilities=False) for m in (previous, tagger))
    return round(float(span_agreement(before, after)), 5)


@dataclass
class StoppingStatus:
    """The stopping rule over the trainings so far (shown in every round report)."""

    agreements: list[float]
    should_stop: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"agreements": self.agreements, "should_stop": self.should_stop, "reason": self.reason}


def stopping_status(store: Store, settings: Settings) -> StoppingStatus:
    """Replay the stopping rule over the ``stop_set_agreement`` of every trained version, oldest first."""
    from cliniloop.models.sampling.stopping import StoppingRule

    rule = StoppingRule(threshold=settings.stop_threshold, window=settings.stop_window)
    agreements = [
        float(row.metrics["stop_set_agreement"])
        for row in store.model_version_rows(NER_MODEL_NAME)
        if row.metrics and row.metrics.get("stop_set_agreement") is not None
    ]
    decision = None
    for a in agreements:
        decision = rule.update(a)
    if decision is None:
        return StoppingStatus([], False, "no agreement yet: the stopping rule needs two trained versions (keep labelling)")
    return StoppingStatus(agreements, decision.should_stop, decision.reason)
