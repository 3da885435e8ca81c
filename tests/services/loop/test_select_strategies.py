"""Strategies of the live selection step: baselines, diversity, cost-aware, rare-class boost."""

from __future__ import annotations

from pathlib import Path

import pytest

from cliniloop.services.core.schemas import AnnotationIn, PredictionIn, TextSpan
from cliniloop.services.core.store import Store
from cliniloop.services.loop.ingest import ingest_notes
from cliniloop.services.loop.select import select_tasks


@pytest.fixture(autouse=True)
def _gate(deidentifier) -> None:
    """Ingest needs the de-identification gate; ``_pool`` reads it from here."""
    global _DEIDENTIFIER
    _DEIDENTIFIER = deidentifier


def _pool(store: Store, tmp_path: Path, texts: list[str], uncertainties: list[float], labels: list[str] | None = None) -> list[str]:
    folder = tmp_path / "notes"
    folder.mkdir()
    for i, text in enumerate(texts):
        (folder / f"{i:02d}.txt").write_text(text)
    ingest_notes(store, folder, 10**6, _DEIDENTIFIER)
    ids = [_DEIDENTIFIER.task_id(text) for text in texts]  # task ids are keyed hashes of the original text
    assert set(ids) <= {t.id for t in store.list_tasks()}
    labels = labels or ["Problem"] * len(texts)
    store.add_predictions(
        [
            PredictionIn(
                task_id=t, model_name="clinical-text", model_version="v1", taxonomy_version="x",
                regions=[TextSpan(start=0, end=3, text=texts[i][:3], label=labels[i], probability=0.5)],
                score=1 - u, uncertainty=u,
            )
            for i, (t, u) in enumerate(zip(ids, uncertainties, strict=True))
        ]
    )
    return ids


def test_random_is_seeded_and_sequential_follows_ingestion(store: Store, tmp_path: Path) -> None:
    ids = _pool(store, tmp_path, [f"note {i} text" for i in range(12)], [0.5] * 12)
    a = select_tasks(store, 4, "random", seed=1).task_ids
    assert a == select_tasks(store, 4, "random", seed=1).task_ids
    assert a != select_tasks(store, 4, "random", seed=2).task_ids
    stored_order = [t.id for t in store.list_tasks()]  # ingestion time, then id
    assert sorted(stored_order) == sorted(ids)
    assert select_tasks(store, 3, "sequential").task_ids == stored_order[:3]


def test_cost_aware_prefers_short_notes_at_equal_uncertainty(store: Store, tmp_path: Path) -> None:
    texts = ["Fever. " * 200, "Cough.", "Rash. " * 100, "Pain."]
    ids = _pool(store, tmp_path, texts, [0.8, 0.8, 0.8, 0.8])
    assert set(select_tasks(store, 2, "uncertainty", cost_aware=True).task_ids) == {ids[1], ids[3]}
    audit = store.audit_events("select")[-1]
    assert audit.details["cost_model"] == "length prior"


def test_cost_model_is_learned_from_lead_times(store: Store, tmp_path: Path) -> None:
    texts = [("Note text. " * (i + 1)) for i in range(8)]
    ids = _pool(store, tmp_path, texts, [0.5] * 8)
    for i, tid in enumerate(ids[:6]):
        store.upsert_annotation(
            AnnotationIn(task_id=tid, annotator="a", regions=[], source="test", source_annotation_id=str(i), lead_time_s=5.0 + 2 * i)
        )
    select_tasks(store, 1, "uncertainty", cost_aware=True)
    assert store.audit_events("select")[-1].details["cost_model"] == "learned from 6 lead times"


def test_rare_boost_lifts_tasks_predicted_with_a_rare_label(store: Store, tmp_path: Path) -> None:
    labels = ["Problem", "Problem", "Anatomy", "Problem"]
    ids = _pool(store, tmp_path, ["a b c", "d e f", "g h i", "j k l"], [0.60, 0.62, 0.55, 0.5], labels)
    span = {"kind": "span", "start": 0, "end": 1, "text": "j", "label": "Problem"}
    store.upsert_annotation(AnnotationIn(task_id=ids[3], annotator="a", regions=[span] * 3, source="t", source_annotation_id="1"))
    assert select_tasks(store, 1, "uncertainty").task_ids == [ids[1]]
    assert select_tasks(store, 1, "uncertainty", rare_boost=1.0).task_ids == [ids[2]]


def test_diversity_strategies_and_unknown_name(store: Store, tmp_path: Path) -> None:
    texts = ["chest pain and dyspnea"] * 3 + ["knee swelling after a fall", "rash on both arms", "headache with photophobia"]
    texts = [f"{t} ({i})" for i, t in enumerate(texts)]
    ids = _pool(store, tmp_path, texts, [0.9, 0.89, 0.88, 0.5, 0.5, 0.5])
    plain = select_tasks(store, 3, "uncertainty").task_ids
    assert plain == ids[:3]
    spread = select_tasks(store, 3, "uncertainty_kcenter").task_ids
    assert len(set(spread)) == 3 and len(set(spread) & set(ids[:3])) < 3
    assert len(select_tasks(store, 2, "uncertainty_cluster").task_ids) == 2
    with pytest.raises(ValueError, match="unknown strategy"):
        select_tasks(store, 1, "oracle")
