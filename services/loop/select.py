"""Select: pick the tasks humans should label next and record the round.

Strategies on stored predictions (see :mod:`models.sampling.strategies` for the registry):

``uncertainty``          highest task uncertainty (the stored roll-up of region uncertainties)
``uncertainty_kcenter``  the most uncertain tasks, spread out by k-center greedy on TF-IDF vectors
``uncertainty_cluster``  the most uncertain task per k-means cluster of TF-IDF vectors
``random``, ``sequential``  baselines (seeded uniform; ingestion order)

Options: ``cost_aware`` divides uncertainty by the expected annotation time (learned from Label
Studio ``lead_time`` once enough annotations carry one, else proportional to note length), and
``rare_boost`` favours tasks whose predicted labels are rare among the human labels so far.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from services.core.store import Store
from services.loop.predict import TEXT_MODEL_NAME

STRATEGIES = ("uncertainty", "uncertainty_kcenter", "uncertainty_cluster", "random", "sequential")
MIN_LEAD_TIMES = 5  # annotations with a lead time needed before the cost model is learned
SECONDS_PER_CHAR = 0.05  # prior reading cost before any lead time is known (about 20 chars/s)


@dataclass
class Selection:
    """A round's selection."""

    round_id: int
    strategy: str
    model_version: str
    task_ids: list[str]


def expected_costs(store: Store, lengths: np.ndarray) -> tuple[np.ndarray, str]:
    """Expected annotation seconds per task from its length (characters).

    Learned from the stored annotations' ``lead_time_s`` (non-negative linear fit on length)
    once :data:`MIN_LEAD_TIMES` of them exist; before that, ``SECONDS_PER_CHAR * length``.
    Returns the costs and which model produced them.
    """
    from models.sampling.cost import expected_cost_from_length, fit_cost_model

    annotations = [a for a in store.annotations() if a.lead_time_s]
    lengths_by_task = {t.id: len(t.data.get("text", "")) for t in store.list_tasks(ids={a.task_id for a in annotations})}
    timed = [(lengths_by_task[a.task_id], a.lead_time_s) for a in annotations if a.task_id in lengths_by_task]
    if len(timed) >= MIN_LEAD_TIMES:
        model = fit_cost_model(np.array([[n] for n, _ in timed], dtype=float), np.array([s for _, s in timed]))
        return model.predict(lengths.reshape(-1, 1).astype(float)), f"learned from {len(timed)} lead times"
    return expected_cost_from_length(lengths, SECONDS_PER_CHAR, base_s=10.0), "length prior"


def select_tasks(
    store: Store,
    budget: int,
    strategy: str = "uncertainty",
    model_name: str = TEXT_MODEL_NAME,
    *,
    seed: int = 0,
    cost_aware: bool = False,
    rare_boost: float | None = None,
) -> Selection:
    """Choose up to ``budget`` unlabelled, predicted tasks by ``strategy`` and record a round.

    Raises
    ------
    ValueError
        For an unknown strategy.
    models.sampling.selection.EmptyPoolError
        When no predicted task is left without a human annotation.
    """
    from models.sampling.selection import EmptyPoolError
    from models.sampling.strategies import PoolView, select

    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    predictions = store.latest_predictions(model_name)
    labelled = store.annotated_task_ids()
    rows = [t for t in store.list_tasks(ids=predictions) if t.id in predictions]  # ingestion order
    ids = tuple(t.id for t in rows)
    if not ids or all(i in labelled for i in ids):
        raise EmptyPoolError("the pool is empty: every predicted task is labelled or none was predicted")
    fields: dict = {"ids": ids}
    if strategy not in ("random", "sequential"):
        fields["scores"] = np.array([predictions[i].uncertainty or 0.0 for i in ids])
    if strategy.endswith(("_kcenter", "_cluster")):
        from models.text.embeddings import tfidf_embeddings

        fields["embeddings"] = tfidf_embeddings([t.data.get("text", "") for t in rows], seed=seed)
    cost_note = None
    if cost_aware:
        fields["costs"], cost_note = expected_costs(store, np.array([len(t.data.get("text", "")) for t in rows]))
    if rare_boost:
        label_counts = Counter(r["label"] for a in store.annotations() for r in a.regions if r.get("label"))
        classes = sorted(set(label_counts) | {r["label"] for p in predictions.values() for r in p.regions if r.get("label")})
        proba = np.full((len(ids), len(classes)), 1.0 / max(1, len(classes)))
        for row, tid in enumerate(ids):
            found = Counter(r["label"] for r in predictions[tid].regions if r.get("label"))
            if found:
                proba[row] = [found[c] / sum(found.values()) for c in classes]
        fields["proba"] = proba
        fields["class_counts"] = np.array([label_counts[c] for c in classes], dtype=float)
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
        "cliniloop", "select", "round", str(round_id),
        strategy=strategy, budget=budget, selected=len(chosen), cost_model=cost_note, rare_boost=rare_boost, seed=seed,
    )
    return Selection(round_id=round_id, strategy=strategy, model_version=version, task_ids=chosen)
