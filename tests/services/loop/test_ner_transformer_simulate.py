"""simulate --task ner --model transformer on synthetic PubTator files with a tiny random transformer (CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cliniloop.services.loop.simulate import SimulationConfig, SimulationError

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


def test_bald_badge_and_crf_entropy_runs_give_curves_and_savings(pubtator_pair, tmp_path: Path) -> None:
    from cliniloop.connectors.sources.pubtator import read_pubtator_sentences
    from cliniloop.models.text.ner_transformer import tiny_config, write_word_vocab
    from cliniloop.services.loop.ner_transformer_simulate import simulate_ner_transformer

    pool, test = pubtator_pair
    vocab = write_word_vocab([s.text for s in read_pubtator_sentences(pool)], tmp_path / "v")
    params = {"config": tiny_config(vocab), "tokenizer": str(vocab), "epochs": 1, "max_length": 48, "stride": 8, "device": "cpu", "batch_size": 16}
    config = SimulationConfig(strategies=("random", "bald", "badge", "crf_entropy", "crf"), seed_size=8, batch=8, rounds=1, repeats=1, tagger_params={"max_iterations": 10})
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = simulate_ner_transformer(pool, test, config, transformer_params=params, mc_samples=3, max_pool=40, max_test=20)
    finally:
        torch.set_num_threads(before)
    assert result["model"] == "transformer" and result["pool_sentences"] == 40 and result["test_sentences"] == 20
    for name in config.strategies:
        row = result["strategies"][name]
        assert row["sentences"] == [8.0, 16.0] and len(row["f1_mean"]) == 2
    picked = {r["strategy"]: r["points"][-1]["sentences"] for r in result["runs"]}
    assert set(picked) == set(config.strategies)
    with pytest.raises(SimulationError, match="choose from random, entropy, bald"):
        simulate_ner_transformer(pool, test, SimulationConfig(strategies=("margin",)), transformer_params=params)
