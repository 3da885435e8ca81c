"""Predict and score: run the text model over tasks and store one prediction per task and version.

The text model is the rule annotator until a trained NER version (model ``clinical-ner``) is
promoted; from then on it is the hybrid of both (:class:`cliniloop.models.text.hybrid.HybridTextModel`),
whose version ``<rules>+<ner>`` names both parts. :func:`load_text_model` picks the right one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cliniloop.models.sampling.scores import expected_f1_error
from cliniloop.services.core.schemas import PredictionIn, TextSpan
from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.taxonomies.label_schemas import load_label_schema

if TYPE_CHECKING:
    from cliniloop.models.text import ClinicalTextAnnotator, Mention
    from cliniloop.models.text.ner import NerTagger

log = logging.getLogger(__name__)

TEXT_MODEL_NAME = "clinical-text"
NER_MODEL_NAME = "clinical-ner"
Progress = Callable[[int], None]


class TextModel(Protocol):
    """What the loop needs of a text model (see ``cliniloop.models.text``)."""

    @property
    def version(self) -> str: ...

    def predict(self, texts: Sequence[str]) -> list[list[Any]]: ...


class ModelArtifactMissing(FileNotFoundError):
    """A promoted model version whose files cannot be found."""


class SharedRules:
    """The process-wide rule annotator; calls are serialised, so threads can share one pipeline.

    The pipeline takes seconds and hundreds of MB to build, so the API's request threads, its
    job worker and the CLI in one process share a single instance (see :func:`rule_annotator`).
    """

    def __init__(self, annotator: ClinicalTextAnnotator) -> None:
        self.annotator = annotator
        self._lock = threading.RLock()

    @property
    def version(self) -> str:
        """The rules version (hash of the rule files)."""
        return self.annotator.version

    def predict(self, texts: Sequence[str]) -> list[list[Mention]]:
        """:meth:`ClinicalTextAnnotator.predict`, one caller at a time."""
        with self._lock:
            return self.annotator.predict(texts)

    def assert_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int, str]]]) -> list[list[Mention | None]]:
        """:meth:`ClinicalTextAnnotator.assert_spans`, one caller at a time."""
        with self._lock:
            return self.annotator.assert_spans(texts, spans)


_rules: SharedRules | None = None
_rules_lock = threading.Lock()


def rule_annotator() -> SharedRules:
    """The process-wide rule annotator, built (fitted) on first use."""
    global _rules
    with _rules_lock:
        if _rules is None:
            from cliniloop.models.text import ClinicalTextAnnotator

            _rules = SharedRules(ClinicalTextAnnotator().fit())
        return _rules


def ner_artifact_path(store: Store, settings: Settings, version: str) -> Path:
    """Folder of a registered ``clinical-ner`` version: the registry's, else the stored artifact URI.

    Raises
    ------
    ModelArtifactMissing
        If neither exists.
    """
    from cliniloop.models.registry import ModelRegistry, VersionNotFound

    try:
        return ModelRegistry(settings.resolved_models_dir).path(NER_MODEL_NAME, version)
    except VersionNotFound:
        row = store.model_version(NER_MODEL_NAME, version)
        if row is not None and row.artifact_uri and Path(row.artifact_uri).is_dir():
            return Path(row.artifact_uri)
    raise ModelArtifactMissing(
        f"{NER_MODEL_NAME} {version}: no artifact in {settings.resolved_models_dir} nor at its registered location"
    )


def load_ner_tagger(store: Store, settings: Settings, version: str) -> NerTagger:
    """Load a registered ``clinical-ner`` version from disk: a CRF, or a transformer tagger (its folder has ``transformer.json``)."""
    from cliniloop.models.text.ner import NerTagger
    from cliniloop.models.text.ner_transformer import TransformerTagger, is_transformer_dir

    path = ner_artifact_path(store, settings, version)
    if is_transformer_dir(path):
        return TransformerTagger.load(path)  # type: ignore[return-value]
    return NerTagger.load(path)


def load_text_model(store: Store, settings: Settings, ner_version: str | None = None) -> TextModel:
    """The text model to predict with: rules alone, or rules + the promoted NER version.

    Parameters
    ----------
    store, settings
        Where the promoted version and its artifact are found.
    ner_version : str or None
        The NER version to combine with the rules; default: the promoted one (``production``
        alias of ``clinical-ner``); none promoted means rules alone.

    Raises
    ------
    ModelArtifactMissing
        If the NER version's files are gone.
    """
    from cliniloop.models.text.hybrid import HybridTextModel

    rules = rule_annotator()
    version = ner_version or store.alias(NER_MODEL_NAME)
    if version is None:
        return rules
    return HybridTextModel(rules, load_ner_tagger(store, settings, version))  # type: ignore[arg-type]


@dataclass
class PredictReport:
    """What a predict step did."""

    model_version: str
    predicted: int
    already_predicted: int
    #: Tasks the model failed on: ``(neutral note name, error)``; skipped, retried on the next run.
    failed: list[tuple[str, str]] = field(default_factory=list)


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


#: Prior rate of mentions per whitespace token of a clinical note: what the rule annotator finds
#: on the bundled synthetic notes (1,395 mentions in 9,339 tokens, 0.149). It prices the
#: mentions a note is likely to hold but the model did not find (:func:`text_uncertainty`).
MENTIONS_PER_TOKEN = 0.15


def text_uncertainty(confidences: Iterable[float], text: str) -> float:
    """A text task's first-queue uncertainty: the expected ``1 - F1`` of its mentions, misses included.

    :func:`cliniloop.models.sampling.scores.expected_f1_error` with ``MENTIONS_PER_TOKEN``
    mentions expected per whitespace token of ``text``. A note where the model found few
    mentions for its length, or found doubtful ones, is asked first. (Rolling up only the
    found mentions' entropies ranked long, well-covered abstracts first: Spearman with the
    actual error -0.13 on NCBI-disease develop, against +0.18 with misses priced.)
    """
    return expected_f1_error(list(confidences), MENTIONS_PER_TOKEN * len(text.split()))


def text_prediction(task_id: str, mentions: Iterable[Any], model_version: str, taxonomy_version: str, text: str) -> PredictionIn:
    """Build a scored prediction from the mentions found in ``text`` (uncertainty: :func:`text_uncertainty`)."""
    regions = mentions_to_regions(mentions)
    uncertainty = text_uncertainty([r.probability or 0.0 for r in regions], text)
    return PredictionIn(
        task_id=task_id,
        model_name=TEXT_MODEL_NAME,
        model_version=model_version,
        taxonomy_version=taxonomy_version,
        regions=regions,
        score=round(1.0 - uncertainty, 4),
        uncertainty=round(uncertainty, 4),
    )


#: Longest piece of a note given to the model at once (spaCy refuses more than 1,000,000
#: characters, and memory grows with length); longer notes are predicted in pieces.
PIECE_CHARS = 100_000


def text_pieces(text: str, limit: int = PIECE_CHARS) -> list[tuple[int, str]]:
    """Split ``text`` into ``(offset, piece)`` of at most ``limit`` characters.

    Cuts fall on a paragraph break, else a line break, else a sentence end, else whitespace,
    in the second half of the window, so a mention is rarely cut; a text within the limit is
    one piece.
    """
    pieces: list[tuple[int, str]] = []
    start = 0
    while len(text) - start > limit:
        window = text[start : start + limit]
        cut = -1
        for sep in ("\n\n", "\n", ". ", " "):
            at = window.rfind(sep, limit // 2)
            if at != -1:
                cut = at + len(sep)
                break
        cut = cut if cut > 0 else limit
        pieces.append((start, window[:cut]))
        start += cut
    pieces.append((start, text[start:]))
    return pieces


def _shifted(mention: Any, offset: int) -> Any:
    if not offset:
        return mention
    import dataclasses

    if dataclasses.is_dataclass(mention):
        return dataclasses.replace(mention, start=mention.start + offset, end=mention.end + offset)
    return mention.model_copy(update={"start": mention.start + offset, "end": mention.end + offset})


def predict_mentions(model: TextModel, texts: Sequence[str], limit: int = PIECE_CHARS) -> list[list[Any]]:
    """``model.predict(texts)``, with texts longer than ``limit`` predicted in pieces (offsets kept)."""
    if all(len(t) <= limit for t in texts):
        return model.predict(texts)
    flat: list[tuple[int, int, str]] = []  # (text index, offset, piece)
    for i, text in enumerate(texts):
        flat.extend((i, off, piece) for off, piece in text_pieces(text, limit))
    found = model.predict([piece for _, _, piece in flat])
    out: list[list[Any]] = [[] for _ in texts]
    for (i, off, _), mentions in zip(flat, found, strict=True):
        out[i].extend(_shifted(m, off) for m in mentions)
    return out


def predict_texts(model: TextModel, items: Sequence[tuple[str, str]]) -> list[PredictionIn]:
    """Predict ``(task_id, text)`` pairs without touching the store (used by the ML backend)."""
    taxonomy_version = load_label_schema("clinical_text").taxonomy_version
    mentions = predict_mentions(model, [text for _, text in items])
    return [text_prediction(tid, ms, model.version, taxonomy_version, text) for (tid, text), ms in zip(items, mentions, strict=True)]


def predict_tasks(
    store: Store,
    model: TextModel,
    task_ids: Iterable[str] | None = None,
    batch_size: int = 16,
    progress: Progress | None = None,
) -> PredictReport:
    """Predict every stored text task whose latest prediction is not of this model version.

    A task that has an older prediction of this very version (the version was promoted again,
    e.g. by a rollback) gets it replaced, so that it becomes the task's latest.
    """
    tasks = store.list_tasks(modality="text", ids=task_ids)
    done = store.latest_predictions(TEXT_MODEL_NAME, [t.id for t in tasks])
    todo = [t for t in tasks if t.id not in done or done[t.id].model_version != model.version]
    failed: list[tuple[str, str]] = []
    predicted = 0
    for i in range(0, len(todo), batch_size):
        batch = todo[i : i + batch_size]
        try:
            predictions = predict_texts(model, [(t.id, t.data["text"]) for t in batch])
        except Exception:  # one bad note must not stop the batch: retry the batch one task at a time
            predictions = []
            for t in batch:
                try:
                    predictions.extend(predict_texts(model, [(t.id, t.data["text"])]))
                except Exception as err:  # noqa: BLE001 - reported by a neutral name, skipped
                    name = t.data.get("note_name") or f"task {t.id[:12]}"
                    log.warning("predict failed on %s: %s", name, type(err).__name__)
                    failed.append((name, f"{type(err).__name__}: {str(err)[:200]}"))
        if predictions:
            store.add_predictions(predictions, make_latest=True)
            predicted += len(predictions)
        if progress:
            progress(len(batch))
    if predicted:
        store.register_model_version(TEXT_MODEL_NAME, model.version, metrics={})
    return PredictReport(model_version=model.version, predicted=predicted, already_predicted=len(tasks) - len(todo), failed=failed)
