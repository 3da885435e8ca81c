"""Select: pick the tasks humans should label next and record the round, for every modality.

Strategies (:mod:`cliniloop.models.sampling.strategies`) on the stored predictions of a modality
(:mod:`cliniloop.services.loop.modalities`); every selection is a recorded round:

``uncertainty``                        the stored task uncertainty (each modality's roll-up)
``least_confidence``, ``margin``, ``entropy``   on one class distribution per task (its least confident part)
``bald``, ``vote_entropy``             MC-dropout samples of the promoted torch model (ECG beat CNN)
``badge``                              gradient embeddings of that model; else class distributions x task features
``kcenter``, ``*_kcenter``, ``*_cluster``   diversity on TF-IDF (text) or prediction features (other modalities)
``random``, ``sequential``             baselines (seeded uniform; ingestion order)

Options: ``cost_aware`` divides the score by the expected annotation cost in the modality's unit
(text: seconds, learned from Label Studio ``lead_time`` once enough annotations carry one, else
proportional to note length; ECG/EEG: seconds of signal to review; images: expected regions), and
``rare_boost`` favours tasks whose predicted labels are rare among the human labels so far.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from cliniloop.models.sampling.cost import TEXT_SECONDS_PER_CHAR as SECONDS_PER_CHAR
from cliniloop.models.sampling.strategies import STRATEGIES as _ALL_STRATEGIES
from cliniloop.services.core.store import Store
from cliniloop.services.loop.predict import TEXT_MODEL_NAME

STRATEGIES = tuple(_ALL_STRATEGIES)
MIN_LEAD_TIMES = 5  # annotations with a lead time needed before the cost model is learned
#: Strategies whose scores come from a class distribution per task.
_PROBA_STRATEGIES = ("least_confidence", "margin", "entropy", "entropy_kcenter", "entropy_cluster", "badge")


@dataclass
class Selection:
    """A round's selection."""

    round_id: int
    strategy: str
    model_version: str
    task_ids: list[str]
    modality: str = "text"
    cost_unit: str | None = None


def expected_costs(store: Store, lengths: np.ndarray) -> tuple[np.ndarray, str]:
    """Expected annotation seconds per task from its length (characters).

    Learned from the stored annotations' ``lead_time_s`` (non-negative linear fit on length)
    once :data:`MIN_LEAD_TIMES` of them exist; before that, ``SECONDS_PER_CHAR * length``.
    Returns the costs and which model produced them.
    """
    from cliniloop.models.sampling.cost import expected_cost_from_length, fit_cost_model

    annotations = [a for a in store.annotations() if a.lead_time_s]
    lengths_by_task = {t.id: len(t.data.get("text", "")) for t in store.list_tasks(ids={a.task_id for a in annotations})}
    timed = [(lengths_by_task[a.task_id], a.lead_time_s) for a in annotations if a.task_id in lengths_by_task]
    if len(timed) >= MIN_LEAD_TIMES:
        model = fit_cost_model(np.array([[n] for n, _ in timed], dtype=float), np.array([s for _, s in timed]))
        return model.predict(lengths.reshape(-1, 1).astype(float)), f"learned from {len(timed)} lead times"
    return expected_cost_from_length(lengths, SECONDS_PER_CHAR, base_s=10.0), "length prior"


def _label_shares(store: Store, regions_of: dict[str, list[Any]], ids: tuple[str, ...], task_ids: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per task, the shares of its predicted labels, and the human label counts, over one class list."""
    label_counts = Counter(r["label"] for a in store.annotations() if a.task_id in task_ids for r in a.regions if r.get("label"))
    classes = sorted(set(label_counts) | {r["label"] for regions in regions_of.values() for r in regions if r.get("label")})
    proba = np.full((len(ids), len(classes)), 1.0 / max(1, len(classes)))
    for row, tid in enumerate(ids):
        found = Counter(r["label"] for r in regions_of[tid] if r.get("label"))
        if found:
            proba[row] = [found[c] / sum(found.values()) for c in classes]
    return proba, np.array([label_counts[c] for c in classes], dtype=float)


def select_tasks(
    store: Store,
    budget: int,
    strategy: str = "uncertainty",
    model_name: str | None = None,
    *,
    modality: str = "text",
    seed: int = 0,
    cost_aware: bool = False,
    rare_boost: float | None = None,
    settings: Any | None = None,
) -> Selection:
    """Choose up to ``budget`` unlabelled, predicted tasks of ``modality`` by ``strategy``; record a round.

    Parameters
    ----------
    model_name : str, optional
        Predictions to rank (default: the modality's prediction model).
    modality : str
        A name of :data:`cliniloop.services.loop.modalities.MODALITY_NAMES`.
    settings : Settings, optional
        For strategies that run the promoted model (``bald``, ``badge``); default from the environment.

    Raises
    ------
    ValueError
        For an unknown strategy or modality, or a strategy whose inputs this modality's model cannot give.
    cliniloop.models.sampling.selection.EmptyPoolError
        When no predicted task is left without a human annotation.
    """
    from cliniloop.models.sampling.parts import prediction_features, task_class_proba
    from cliniloop.models.sampling.selection import EmptyPoolError
    from cliniloop.models.sampling.strategies import PoolView, select
    from cliniloop.services.core.schemas import regions_from_json
    from cliniloop.services.loop.modalities import get_modality

    mod = get_modality(modality)
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    model_name = model_name or (TEXT_MODEL_NAME if mod.name == "text" else mod.prediction_model)
    tasks_all = mod.tasks(store)
    task_ids = {t.id for t in tasks_all}
    predictions = {k: v for k, v in store.latest_predictions(model_name).items() if k in task_ids}
    labelled = store.annotated_task_ids()
    rows = [t for t in tasks_all if t.id in predictions]  # ingestion order
    ids = tuple(t.id for t in rows)
    if not ids or all(i in labelled for i in ids):
        raise EmptyPoolError(f"the pool is empty: every predicted {mod.name} task is labelled or none was predicted")
    fields: dict[str, Any] = {"ids": ids}
    spec = _ALL_STRATEGIES[strategy]
    needs = {f for alt in spec.needs for f in alt}
    if "scores" in needs:
        fields["scores"] = np.array([predictions[i].uncertainty or 0.0 for i in ids])
    parsed: dict[str, list[Any]] | None = None
    classes: list[str] = []
    if strategy in _PROBA_STRATEGIES or "embeddings" in needs:
        from cliniloop.services.core.settings import get_settings

        settings = settings or get_settings()
        classes = mod.classes(store, settings)
        parsed = {i: regions_from_json(predictions[i].regions) for i in ids}
    if strategy in _PROBA_STRATEGIES:
        assert parsed is not None
        fields["proba"] = np.stack([task_class_proba(parsed[i], classes, predictions[i].uncertainty) for i in ids])
    if "embeddings" in needs:
        assert parsed is not None
        if mod.store_modality == "text":
            from cliniloop.models.text.embeddings import tfidf_embeddings

            fields["embeddings"] = tfidf_embeddings([t.data.get("text", "") for t in rows], seed=seed)
        else:
            fields["embeddings"] = np.stack([prediction_features(parsed[i], classes, predictions[i].uncertainty) for i in ids])
    if strategy in ("bald", "vote_entropy", "badge") and mod.model_outputs is not None:
        from cliniloop.services.core.settings import get_settings

        outputs = mod.model_outputs(store, settings or get_settings(), rows, predictions, seed)
        if outputs:
            fields["proba_samples"] = outputs.get("proba_samples")
            if strategy == "badge":
                fields["grad_embeddings"] = outputs.get("grad_embeddings")
    if strategy in ("bald", "vote_entropy") and fields.get("proba_samples") is None:
        raise ValueError(
            f"strategy {strategy!r} needs MC-dropout samples from a torch model; the {mod.name} model in use "
            f"({predictions[ids[0]].model_version}) gives none: choose uncertainty, margin, entropy, badge or kcenter"
        )
    cost_note = None
    if cost_aware:
        if mod.store_modality == "text":
            fields["costs"], cost_note = expected_costs(store, np.array([len(t.data.get("text", "")) for t in rows]))
        else:
            fields["costs"] = np.array([mod.cost(t, predictions[t.id]) for t in rows], dtype=float)
            cost_note = f"{mod.unit} per task"
    if rare_boost:
        shares, counts = _label_shares(store, {i: predictions[i].regions for i in ids}, ids, task_ids)
        if "proba" not in fields:
            fields["proba"] = shares
            fields["class_counts"] = counts
        else:
            human = Counter(r["label"] for a in store.annotations() if a.task_id in task_ids for r in a.regions if r.get("label"))
            fields["class_counts"] = np.array([human[c] for c in classes], dtype=float)
    fields = {k: v for k, v in fields.items() if v is not None}
    chosen = select(
        strategy,
        PoolView(**fields),
        budget,
        seed=seed,
        labelled_ids=labelled,
        rare_boost=rare_boost,
        cost_exponent=1.0 if cost_aware else None,
    )
    version = predictions[chosen[0]].model_version
    round_id = store.add_round(strategy, model_name, version, budget, chosen)
    store.audit(
        "cliniloop", "select", "round", str(round_id), modality=mod.name,
        strategy=strategy, budget=budget, selected=len(chosen), cost_model=cost_note, rare_boost=rare_boost, seed=seed,
    )  # fmt: skip
    return Selection(round_id=round_id, strategy=strategy, model_version=version, task_ids=chosen, modality=mod.name, cost_unit=cost_note)

