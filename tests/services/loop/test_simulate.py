"""The replay harness: curves, labels-to-target, savings, determinism, bad settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cliniloop.services.loop.simulate import (
    RoundPoint,
    RunResult,
    SimulationConfig,
    SimulationError,
    choose,
    headline,
    needed_to_reach,
    simulate_ner,
    summarise,
)

TAGGER = {"max_iterations": 25}


def test_needed_to_reach_interpolates_linearly() -> None:
    assert needed_to_reach([100, 200, 300], [0.5, 0.7, 0.9], 0.8) == pytest.approx(250.0)
    assert needed_to_reach([100, 200], [0.85, 0.9], 0.8) == 100.0
    assert needed_to_reach([100, 200], [0.5, 0.6], 0.8) is None


def _run(strategy: str, repeat: int, f1s: list[float]) -> RunResult:
    pts = [RoundPoint(i, 100 * (i + 1), 2500 * (i + 1), f, f, f, {}, 0.1, None, False) for i, f in enumerate(f1s)]
    return RunResult(strategy, repeat, pts, None, 1.0)


def test_summary_reports_saving_against_random() -> None:
    config = SimulationConfig(strategies=("random", "entropy"), repeats=2)
    runs = [
        _run("random", 0, [0.5, 0.6, 0.7, 0.8]),
        _run("random", 1, [0.5, 0.6, 0.7, 0.8]),
        _run("entropy", 0, [0.5, 0.8, 0.85, 0.9]),
        _run("entropy", 1, [0.5, 0.7, 0.85, 0.9]),
    ]
    out = summarise(runs, full_f1=0.8, config=config)
    assert out["target_f1"] == 0.76
    rnd, ent = out["strategies"]["random"], out["strategies"]["entropy"]
    assert rnd["sentences_to_target"] == pytest.approx(360.0)  # 300 + 0.06/0.1 * 100
    assert ent["sentences_to_target"] == pytest.approx(210.0)  # mean curve 0.5, 0.75, 0.85: 200 + 0.01/0.1 * 100
    assert ent["f1_sd"][1] == pytest.approx(0.05)
    assert ent["sentences_ratio_to_random"] == pytest.approx(210 / 360, abs=1e-4)
    assert ent["sentences_saving_vs_random"] == pytest.approx(1 - 210 / 360, abs=1e-4)


def test_choose_is_deterministic_and_never_repeats() -> None:
    ids = [f"{i:03d}" for i in range(20)]
    labelled = ids[:5]
    a = choose("random", ids, labelled, 5, seed=3)
    assert a == choose("random", ids, labelled, 5, seed=3) and len(set(a)) == 5
    assert not set(a) & set(labelled)
    assert a != choose("random", ids, labelled, 5, seed=4)
    scores = np.array([0.1] * 18 + [0.9, 0.9])
    assert choose("entropy", ids, labelled, 3, seed=0, scores=scores) == ["018", "019", "005"]
    assert choose("sequential", ids, labelled, 2, seed=0) == ["005", "006"]


def test_simulation_end_to_end_writes_json_and_plot(pubtator_pair, tmp_path) -> None:
    pool, test = pubtator_pair
    config = SimulationConfig(
        strategies=("random", "entropy", "least_confidence"), seed_size=10, batch=10, rounds=2, repeats=2, tagger_params=TAGGER
    )
    result = simulate_ner(pool, test, config, out_dir=tmp_path / "out")
    assert result["pool_sentences"] == 240 and result["full_pool"]["f1"] > 0.9
    for name in config.strategies:
        res = result["strategies"][name]
        assert res["sentences"] == [10.0, 20.0, 30.0]
        assert len(res["f1_mean"]) == 3 and all(0 <= f <= 1 for f in res["f1_mean"])
    runs = [r for r in result["runs"] if r["repeat"] == 0]
    seeds = {r["strategy"]: r["points"][0]["f1"] for r in runs}
    assert len(set(seeds.values())) == 1, "strategies share the seed set within a repeat"
    assert all(p["kappa"] is None for p in (r["points"][0] for r in runs))
    assert all(r["points"][1]["kappa"] is not None for r in runs)
    saved = json.loads((tmp_path / "out" / "simulation.json").read_text())
    assert saved["full_pool"]["model_version"] == result["full_pool"]["model_version"]
    png = (tmp_path / "out" / "learning_curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    again = simulate_ner(pool, test, config)
    def curve(res: dict) -> list:
        return [[(p["sentences"], p["tokens"], p["f1"]) for p in r["points"]] for r in res["runs"]]

    assert curve(again) == curve(result), "same seed, same curves"
    assert set(headline(result)["strategies"]) == set(config.strategies)


def test_bad_settings_are_named(pubtator_pair, tmp_path) -> None:
    pool, test = pubtator_pair
    with pytest.raises(SimulationError, match="unknown"):
        simulate_ner(pool, test, SimulationConfig(strategies=("psychic",)))
    with pytest.raises(SimulationError, match="--seed-size 500"):
        simulate_ner(pool, test, SimulationConfig(seed_size=500))
    with pytest.raises(SimulationError, match="--pool .*missing.txt"):
        simulate_ner(tmp_path / "missing.txt", test, SimulationConfig())
