"""``eval ner --model crf|transformer|hybrid`` on synthetic PubTator files (tiny random transformer, CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cliniloop.services.cli.main import app

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_transformer_and_hybrid_report_scores_speed_memory_and_device(pubtator_pair, tmp_path: Path, one_thread) -> None:
    from cliniloop.connectors.sources.pubtator import read_pubtator_sentences
    from cliniloop.models.text.ner_transformer import tiny_config, write_word_vocab
    from cliniloop.services.evaluation.ner import evaluate_ner

    pool, test = pubtator_pair
    vocab = write_word_vocab([s.text for s in read_pubtator_sentences(pool)], tmp_path / "vocab")
    params = {"config": tiny_config(vocab), "tokenizer": vocab, "epochs": 2, "learning_rate": 3e-3, "device": "cpu", "batch_size": 16}
    for model in ("transformer", "hybrid"):
        result = evaluate_ner(pool, test, model=model, transformer_params=params, max_train_sentences=60)
        assert result["model"] == model and result["train_sentences"] == 60 and result["test_sentences"] == 80
        assert result["device"] == "cpu" and result["peak_rss_mb"] > 0 and result["sentences_per_second"] > 0
        assert result["train_info"]["steps"] >= 2 and 0 <= result["f1"] <= 1
    bench = evaluate_ner(pool, test, model="crf", max_train_sentences=20, bench_sentences=200)["bench"]
    assert bench["sentences"] == 200 and bench["sentences_per_second"] > 0
    assert result["model_version"].startswith("hyb-crf-")


def test_unknown_model_is_refused(pubtator_pair) -> None:
    pool, test = pubtator_pair
    out = CliRunner().invoke(app, ["eval", "ner", "--train", str(pool), "--test", str(test), "--model", "bert"])
    assert out.exit_code == 2 and "choose one of crf, transformer, hybrid" in out.output
