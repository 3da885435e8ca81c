from __future__ import annotations

from typing import Any

import pytest

from cliniloop.models.registry import ModelRegistry
from cliniloop.services.core.schemas import AnnotationIn, TaskIn, TextSpan
from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import NoEarlierVersion, Store
from cliniloop.services.loop.jobs import TRAIN_TEXT, enqueue_job, run_pending
from cliniloop.services.loop.models import model_listing, promote, rollback
from cliniloop.services.loop.predict import NER_MODEL_NAME, TEXT_MODEL_NAME, rule_annotator
from cliniloop.services.loop.train import NotEnoughLabels, build_training_set, is_dev_task, train_text_job


def _progress_log() -> tuple[list[tuple[float, str]], Any]:
    seen: list[tuple[float, str]] = []
    return seen, lambda f, msg: seen.append((f, msg))


def _train(store: Store, settings: Settings) -> dict[str, Any]:
    _, progress = _progress_log()
    return train_text_job(store, settings, progress)


def _train_job(store: Store, settings: Settings):
    job_id = enqueue_job(store, TRAIN_TEXT, {}, requested_by="test")
    (job,) = run_pending(store, settings)
    assert job.id == job_id
    return job


def _dev_ids(ids: list[str]) -> set[str]:
    return {t for t in ids if is_dev_task(t)}


def test_training_set_takes_the_latest_annotation_and_keeps_empty_ones(store: Store, label_tasks) -> None:
    ids = label_tasks(12)
    # a second, newer annotation of the first task with one region; an empty one on the second
    text = store.get_task(ids[0]).data["text"]
    store.upsert_annotation(AnnotationIn(task_id=ids[0], source_annotation_id="2:0", regions=[TextSpan(start=0, end=4, text=text[:4], label="Test")]))
    store.upsert_annotation(AnnotationIn(task_id=ids[1], source_annotation_id="1:1", regions=[]))
    store.add_tasks([TaskIn(id="ecg-1", modality="ecg", source_uri="x", data={"signal": "s.npy"})])
    store.upsert_annotation(AnnotationIn(task_id="ecg-1", source_annotation_id="3:1", regions=[]))
    data = build_training_set(store)
    texts = {t.doc_id: t for t in data.train + data.dev}
    assert set(texts) == set(ids), "non-text tasks are left out"
    assert [(s.start, s.end, s.label) for s in texts[ids[0]].spans] == [(0, 4, "Test")]
    assert texts[ids[1]].spans == (), "an annotation without regions says: nothing here"
    assert {t.doc_id for t in data.dev} == _dev_ids(ids)
    assert data.tasks == 12 and data.entity_counts("train")["Problem"] > 0


def test_dev_split_is_fixed_and_the_hash_follows_the_labels(store: Store, label_tasks) -> None:
    ids = label_tasks(10)
    before = build_training_set(store)
    more = label_tasks(30)  # the first 10 are the same notes
    after = build_training_set(store)
    assert more[:10] == ids
    assert {t.doc_id for t in before.dev} <= {t.doc_id for t in after.dev}
    assert {t.doc_id for t in after.dev} == _dev_ids(more)
    assert before.training_set_hash != after.training_set_hash
    assert build_training_set(store).training_set_hash == after.training_set_hash, "deterministic"


def test_too_few_labels_is_a_clear_error(store: Store, label_tasks, train_settings: Settings) -> None:
    label_tasks(4)
    with pytest.raises(NotEnoughLabels, match="4 annotated text task.*at least 5"):
        _train(store, train_settings)
    job = _train_job(store, train_settings)
    assert job.status == "failed" and "NotEnoughLabels: 4 annotated text task(s)" in job.error
    assert store.model_versions(NER_MODEL_NAME) == []


def test_first_training_registers_promotes_and_refreshes(store: Store, label_tasks, train_settings: Settings) -> None:
    ids = label_tasks(30)
    seen, progress = _progress_log()
    result = train_text_job(store, train_settings, progress)
    version = result["version"]
    assert result["promoted"] and result["previous_version"] is None and "first evaluated version" in result["reason"]
    assert result["dev_tasks"] == len(_dev_ids(ids)) > 0 and result["train_tasks"] == 30 - result["dev_tasks"]
    assert result["metrics"]["f1"] > 0.9, result["metrics"]
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    # registry: immutable files + metadata; store: the version row and the alias
    reg = ModelRegistry(train_settings.resolved_models_dir)
    meta = reg.metadata(NER_MODEL_NAME, version)
    assert meta["training_set_hash"] == result["training_set_hash"] and meta["label_count"] == result["train_tasks"]
    assert meta["taxonomy_version"].startswith("clinical_text@") and meta["params"]["max_iterations"] == 20
    row = store.model_version(NER_MODEL_NAME, version)
    assert row.metrics["f1"] == result["metrics"]["f1"] and row.artifact_uri == str(reg.path(NER_MODEL_NAME, version).resolve())
    assert store.alias(NER_MODEL_NAME) == version
    # every text task predicted by the combined model, whose version names both parts
    combined = f"{rule_annotator().version}+{version}"
    assert result["refresh"]["text_model_version"] == combined and result["refresh"]["predicted"] == 30
    assert result["refresh"]["label_studio"].startswith("not configured")
    preds = store.latest_predictions(TEXT_MODEL_NAME)
    assert {p.model_version for p in preds.values()} == {combined} and set(preds) == set(ids)
    assert store.alias(TEXT_MODEL_NAME) == combined
    # the rules still assert the model's spans: "No <problem> today." is absent
    absent = [r for p in preds.values() for r in p.regions if r["attributes"]["assertion"] == "absent"]
    assert absent and all(r["label"] == "Problem" for r in absent)
    trained = store.audit_events("model_trained")[-1]
    assert trained.details["version"] == version and trained.details["promote"] is True
    assert store.audit_events("model_promote")[-1].details["version"] == version


def test_a_worse_model_is_registered_but_not_promoted(store: Store, label_tasks, train_settings: Settings) -> None:
    ids = label_tasks(30)
    good = _train(store, train_settings)
    assert good["promoted"]
    predictions_before = {t: p.model_version for t, p in store.latest_predictions(TEXT_MODEL_NAME).items()}
    # garbage: newer annotations of every training task with Problem and Medication swapped
    train_ids = set(ids) - _dev_ids(ids)
    label_tasks(30, swap_labels=True, only=train_ids, source_prefix="2:")
    worse = _train(store, train_settings)
    assert worse["version"] != good["version"]
    assert not worse["promoted"] and f"{good['version']} stays promoted" in worse["reason"]
    assert worse["metrics"]["f1"] < good["metrics"]["f1"]
    assert worse["current_metrics"]["f1"] == good["metrics"]["f1"], "the promoted version re-evaluated on the same dev split"
    assert worse["previous_version"] == good["version"]
    assert store.alias(NER_MODEL_NAME) == good["version"]
    assert store.model_version(NER_MODEL_NAME, worse["version"]).parent == good["version"]
    assert {t: p.model_version for t, p in store.latest_predictions(TEXT_MODEL_NAME).items()} == predictions_before
    listing = model_listing(store)
    assert [v["version"] for v in listing["versions"]] == [worse["version"], good["version"]]
    assert [v["promoted"] for v in listing["versions"]] == [False, True]


def test_min_delta_demands_an_improvement(store: Store, label_tasks, train_settings: Settings) -> None:
    label_tasks(30)
    first = _train(store, train_settings)
    label_tasks(40)  # more labels, same (perfect) dev score
    strict = train_settings.model_copy(update={"promotion_min_delta": 0.01})
    second = _train(store, strict)
    assert not second["promoted"] and store.alias(NER_MODEL_NAME) == first["version"]
    assert _train(store, train_settings)["promoted"], "equal is not worse with the default delta 0"


def test_a_failed_training_job_leaves_the_promoted_version(store: Store, label_tasks, train_settings: Settings) -> None:
    ids = label_tasks(30)
    good = _train(store, train_settings)
    versions = store.model_versions(NER_MODEL_NAME)
    # every training task re-annotated as "nothing here": the tagger refuses to learn from that
    for tid in set(ids) - _dev_ids(ids):
        store.upsert_annotation(AnnotationIn(task_id=tid, source_annotation_id=f"9:{tid}", regions=[]))
    job = _train_job(store, train_settings)
    assert job.status == "failed" and "hold no entity" in job.error
    assert store.alias(NER_MODEL_NAME) == good["version"]
    assert store.model_versions(NER_MODEL_NAME) == versions
    assert store.audit_events("job_finished")[-1].details["status"] == "failed"


def test_no_gold_entity_in_dev_means_no_first_promotion(store: Store, label_tasks, train_settings: Settings) -> None:
    ids = label_tasks(30)
    for tid in _dev_ids(ids):
        store.upsert_annotation(AnnotationIn(task_id=tid, source_annotation_id=f"9:{tid}", regions=[]))
    result = _train(store, train_settings)
    assert not result["promoted"] and "no gold entity" in result["reason"]
    assert store.alias(NER_MODEL_NAME) is None and store.model_versions(NER_MODEL_NAME) == [result["version"]]
    report = promote(store, train_settings, NER_MODEL_NAME, result["version"], actor="test", reason="manual")
    assert report.changed and store.alias(NER_MODEL_NAME) == result["version"]
    assert report.refresh.text_model_version.endswith("+" + result["version"])


def test_rollback_restores_the_previous_version_and_its_predictions(store: Store, label_tasks, train_settings: Settings) -> None:
    label_tasks(20)
    v1 = _train(store, train_settings)["version"]
    v1_text = f"{rule_annotator().version}+{v1}"
    label_tasks(40)
    second = _train(store, train_settings)
    v2 = second["version"]
    assert second["promoted"] and v2 != v1 and store.alias(NER_MODEL_NAME) == v2
    report = rollback(store, train_settings, NER_MODEL_NAME, actor="test", reason="regression")
    assert (report.previous_version, report.version) == (v2, v1) and report.changed
    assert store.alias(NER_MODEL_NAME) == v1
    preds = store.latest_predictions(TEXT_MODEL_NAME)
    assert len(preds) == 40 and {p.model_version for p in preds.values()} == {v1_text}, "v1's predictions are the latest again"
    assert store.alias(TEXT_MODEL_NAME) == v1_text
    event = store.audit_events("model_rollback")[-1]
    assert event.details["version"] == v1 and event.details["previous_version"] == v2 and event.actor == "test"
    with pytest.raises(NoEarlierVersion):
        rollback(store, train_settings, NER_MODEL_NAME)
    assert promote(store, train_settings, NER_MODEL_NAME, v2).version == v2
    assert store.alias(NER_MODEL_NAME) == v2


def test_unreachable_label_studio_does_not_undo_a_promotion(store: Store, label_tasks, train_settings: Settings) -> None:
    label_tasks(20)
    settings = train_settings.model_copy(update={"label_studio_api_key": "k" * 40, "label_studio_url": "http://127.0.0.1:9"})
    result = _train(store, settings)
    assert result["promoted"] and store.alias(NER_MODEL_NAME) == result["version"]
    refresh = result["refresh"]
    assert not refresh["label_studio_updated"] and refresh["label_studio"].startswith("not updated") and "127.0.0.1:9" in refresh["label_studio"]
    assert refresh["predicted"] == 20 and refresh["error"] is None


def test_stopping_rule_follows_agreement_between_successive_versions(store: Store, label_tasks, train_settings: Settings) -> None:
    from cliniloop.services.loop.train import stopping_status

    label_tasks(12)
    first = _train(store, train_settings)
    assert "stop_set_agreement" not in first["metrics"], "nothing to compare the first version with"
    assert first["stopping"]["agreements"] == [] and not first["stopping"]["should_stop"]
    label_tasks(30, seed=1)
    second = _train(store, train_settings)
    agreement = second["metrics"]["stop_set_agreement"]
    assert 0.0 <= agreement <= 1.0
    assert store.model_version(NER_MODEL_NAME, second["version"]).metrics["stop_set_agreement"] == agreement
    status = stopping_status(store, train_settings)
    assert status.agreements == [agreement] and not status.should_stop and "need 3 agreements" in status.reason
    one_round = train_settings.model_copy(update={"stop_window": 1, "stop_threshold": min(agreement, 0.99)})
    assert stopping_status(store, one_round).should_stop
