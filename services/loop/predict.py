"""Predict and score: run the text model over tasks and store one prediction per task and version."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from models.sampling.scores import task_uncertainty
from services.core.schemas import PredictionIn, TextSpan
from services.core.store import Store
from taxonomies.label_schemas import load_label_schema

TEXT_MODEL_NAME = "clinical-text"
Progress = Callable[[int], None]


class TextModel(Protocol):
    """What the loop needs of a text model (see ``models.text``)."""

    @property
    def version(self) -> str: ...

    def predict(self, texts: Sequence[str]) -> list[list[Any]]: ...


@dataclass
class PredictReport:
    """What a predict step did."""

    model_version: str
    predicted: int
    already_predicted: int


def mentions_to_regions(mentions: Iterable[Any]) -> list[TextSpan]:
    """Convert the text model's mentions to text-span regions.

    ``probability`` on the region is the mention's overall confidence (entity and assertion
    right together); the parts are kept in ``attributes``.
    """
    return [
        TextSpan(
            start=m.start,
            end=m.end,
            text=m.text,
            label=m.label,
            probability=round(float(m.confidence), 4),
            attributes={
                "assertion": m.assertion,
                "assertion_probability": round(float(m.assertion_probability), 4),
                "entity_probability": round(float(m.probability), 4),
                "section": m.section,
            },
        )
        for m in mentions
    ]


def text_prediction(task_id: str, mentions: Iterable[Any], model_version: str, taxonomy_version: str) -> PredictionIn:
    """Build a scored prediction from mentions (uncertainty: :func:`task_uncertainty`)."""
    regions = mentions_to_regions(mentions)
    uncertainty = task_uncertainty([r.probability or 0.0 for r in regions])
    return PredictionIn(
        task_id=task_id,
        model_name=TEXT_MODEL_NAME,
        model_version=model_version,
        taxonomy_version=taxonomy_version,
        regions=regions,
        score=round(1.0 - uncertainty, 4),
        uncertainty=round(uncertainty, 4),
    )


def predict_texts(model: TextModel, items: Sequence[tuple[str, str]]) -> list[PredictionIn]:
    """Predict ``(task_id, text)`` pairs without touching the store (used by the ML backend)."""
    taxonomy_version = load_label_schema("clinical_text").taxonomy_version
    mentions = model.predict([text for _, text in items])
    return [text_prediction(tid, ms, model.version, taxonomy_version) for (tid, _), ms in zip(items, mentions, strict=True)]


def predict_tasks(
    store: Store,
    model: TextModel,
    task_ids: Iterable[str] | None = None,
    batch_size: int = 16,
    progress: Progress | None = None,
) -> PredictReport:
    """Predict every stored text task that has no prediction of this model version yet."""
    tasks = store.list_tasks(modality="text", ids=task_ids)
    done = store.latest_predictions(TEXT_MODEL_NAME, [t.id for t in tasks])
    todo = [t for t in tasks if t.id not in done or done[t.id].model_version != model.version]
    for i in range(0, len(todo), batch_size):
        batch = todo[i : i + batch_size]
        store.add_predictions(predict_texts(model, [(t.id, t.data["text"]) for t in batch]))
        if progress:
            progress(len(batch))
    if todo:
        store.register_model_version(TEXT_MODEL_NAME, model.version, metrics={})
        store.audit("cliniloop", "predict", "task", None, count=len(todo), model_version=model.version)
    return PredictReport(model_version=model.version, predicted=len(todo), already_predicted=len(tasks) - len(todo))
