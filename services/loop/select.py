"""Select: pick the tasks humans should label next and record the round."""

from __future__ import annotations

from dataclasses import dataclass

from models.sampling.selection import top_k
from services.core.store import Store
from services.loop.predict import TEXT_MODEL_NAME

STRATEGIES = ("uncertainty",)


@dataclass
class Selection:
    """A round's selection."""

    round_id: int
    strategy: str
    model_version: str
    task_ids: list[str]


def select_tasks(store: Store, budget: int, strategy: str = "uncertainty", model_name: str = TEXT_MODEL_NAME) -> Selection:
    """Choose up to ``budget`` unlabelled, predicted tasks by ``strategy`` and record a round.

    Raises
    ------
    ValueError
        For an unknown strategy.
    models.sampling.selection.EmptyPoolError
        When no predicted task is left without a human annotation.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    predictions = store.latest_predictions(model_name)
    labelled = store.annotated_task_ids()
    pool = sorted(tid for tid in predictions if tid not in labelled)
    chosen = top_k(pool, [predictions[t].uncertainty for t in pool], budget)
    version = predictions[chosen[0]].model_version
    round_id = store.add_round(strategy, model_name, version, budget, chosen)
    store.audit("cliniloop", "select", "round", str(round_id), strategy=strategy, budget=budget, selected=len(chosen))
    return Selection(round_id=round_id, strategy=strategy, model_version=version, task_ids=chosen)
