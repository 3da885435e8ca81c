"""The train-text job with the transformer tagger (tiny random BERT on CPU): model choice per device, the same gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.loop import ner_choice
from cliniloop.services.loop.models import model_listing
from cliniloop.services.loop.predict import NER_MODEL_NAME, load_ner_tagger
from cliniloop.services.loop.train import train_text_job

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tiny(store: Store, folder: Path) -> dict[str, Any]:
    from cliniloop.models.text.ner_transformer import tiny_config, write_word_vocab

    vocab = write_word_vocab([t.data["text"] for t in store.list_tasks(modality="text")], folder)
    return {"config": tiny_config(vocab), "tokenizer": str(vocab), "epochs": 1, "max_length": 64, "stride": 8, "device": "cpu", "batch_size": 16}


def test_the_device_decides_which_taggers_auto_trains() -> None:
    assert ner_choice.candidate_kinds("auto", gpu=False) == ["crf"]
    assert ner_choice.candidate_kinds("auto", gpu=True) == ["crf", "transformer"]
    assert ner_choice.candidate_kinds("transformer", gpu=False) == ["transformer"]
    with pytest.raises(ValueError, match="choose one of auto, crf, transformer"):
        ner_choice.candidate_kinds("bert", gpu=True)


def test_gate_refuses_a_worse_transformer_and_the_listing_names_model_and_device(
    store: Store, label_tasks, train_settings: Settings, tmp_path: Path, one_thread
) -> None:
    label_tasks(30)
    crf = train_text_job(store, train_settings, lambda f, m: None, params={"model": "crf"})
    assert crf["promoted"] and crf["metrics"]["model"] == "crf" and crf["metrics"]["device"] == "cpu"
    tfm = train_text_job(store, train_settings, lambda f, m: None, params={"model": "transformer", "transformer": _tiny(store, tmp_path / "v")})
    assert tfm["version"].startswith("tfm-") and tfm["metrics"]["model"] == "transformer"
    assert tfm["metrics"]["f1"] < crf["metrics"]["f1"]
    assert not tfm["promoted"] and f"{crf['version']} stays promoted" in tfm["reason"]
    assert store.alias(NER_MODEL_NAME) == crf["version"]
    loaded = load_ner_tagger(store, train_settings, tfm["version"])  # the registry's folder loads as a transformer
    assert loaded.version == tfm["version"]
    rows = {v["version"]: v for v in model_listing(store)["versions"]}
    assert rows[tfm["version"]]["metrics"]["model"] == "transformer" and rows[crf["version"]]["metrics"]["model"] == "crf"
    # select --strategy bald|badge for notes: MC-dropout samples and gradient embeddings of the promoted transformer only
    from cliniloop.services.loop.modalities import TEXT

    tasks = store.list_tasks(modality="text")[:4]
    assert TEXT.model_outputs(store, train_settings, tasks, {}, 0) is None  # the CRF is promoted: nothing to sample
    store.promote(NER_MODEL_NAME, tfm["version"], actor="test", reason="test")
    out = TEXT.model_outputs(store, train_settings, tasks, {}, 0)
    k, d = len(loaded.labels_), loaded.net_.config.hidden_size
    assert out["proba_samples"].shape == (10, 4, k) and out["grad_embeddings"].shape == (4, k * d)


def test_auto_on_a_gpu_machine_trains_both_and_keeps_the_better(
    store: Store, label_tasks, train_settings: Settings, tmp_path: Path, monkeypatch, one_thread
) -> None:
    label_tasks(30)
    monkeypatch.setattr(ner_choice, "gpu_available", lambda: True)
    result = train_text_job(store, train_settings, lambda f, m: None, params={"transformer": _tiny(store, tmp_path / "v")})
    from cliniloop.models.registry import ModelRegistry

    choice = ModelRegistry(train_settings.resolved_models_dir).metadata(NER_MODEL_NAME, result["version"])["ner_choice"]
    assert set(choice["candidates"]) == {"crf", "transformer"} and choice["model"] == "crf" == result["metrics"]["model"]
    assert choice["candidates"]["crf"]["f1"] > choice["candidates"]["transformer"]["f1"]


def test_models_list_says_what_this_deployment_picks(store: Store, label_tasks, train_settings: Settings) -> None:
    from rich.console import Console

    from cliniloop.services.cli.render import models_table

    label_tasks(12)
    train_text_job(store, train_settings, lambda f, m: None, params={"model": "crf"})
    listing = model_listing(store)
    assert listing["deployment"] == ner_choice.deployment("auto", gpu=torch.cuda.is_available())
    assert ner_choice.deployment("auto", gpu=True)["rule"] == "auto on a GPU: trains the CRF and the transformer, keeps the better dev metric"
    console = Console(width=200, record=True)
    console.print(models_table(listing))
    text = console.export_text()
    assert "crf · cpu" in text and "This deployment: auto on a" in text
