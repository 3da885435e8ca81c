"""``cliniloop eval ner`` and ``cliniloop simulate`` from the command line: JSON on stdout, files, errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cliniloop.services.cli.main import app


def test_eval_ner_prints_one_json_object(pubtator_pair) -> None:
    pool, test = pubtator_pair
    out = CliRunner().invoke(app, ["eval", "ner", "--train", str(pool), "--test", str(test)])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["f1"] > 0.9 and set(result["per_label"]) == {"Chemical", "Disease"}
    assert result["train_seconds"] > 0 and result["sentences_per_second"] > 0
    assert result["test_sentences"] == 80


def test_eval_ner_names_a_malformed_file(pubtator_pair, tmp_path: Path) -> None:
    pool, test = pubtator_pair
    bad = tmp_path / "bad.txt"
    lines = pool.read_text().splitlines()
    pmid, start, *rest = lines[2].split("\t")  # first mention line: shift its start by one
    lines[2] = "\t".join([pmid, str(int(start) + 1), *rest])
    bad.write_text("\n".join(lines) + "\n")
    out = CliRunner().invoke(app, ["eval", "ner", "--train", str(bad), "--test", str(test)])
    assert out.exit_code == 1 and "bad.txt:3: offsets" in out.output


def test_simulate_writes_files_and_prints_summary(pubtator_pair, tmp_path: Path) -> None:
    pool, test = pubtator_pair
    args = ["simulate", "--task", "ner", "--pool", str(pool), "--test", str(test), "--strategies", "random,entropy"]
    args += ["--seed-size", "10", "--batch", "20", "--rounds", "2", "--repeats", "2", "--out", str(tmp_path / "sim")]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert set(summary["strategies"]) == {"random", "entropy"} and summary["full_pool_f1"] > 0.9
    assert summary["target_f1"] == round(0.95 * summary["full_pool_f1"], 4)
    assert (tmp_path / "sim" / "learning_curves.png").is_file() and (tmp_path / "sim" / "simulation.json").is_file()
    assert "Labels to reach" in out.output


def test_simulate_refuses_unknown_task_and_missing_files(tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["simulate", "--task", "images"])
    assert out.exit_code == 1 and "choose one of ner, ecg-beats" in out.output
    out = CliRunner().invoke(app, ["simulate", "--task", "ner"])
    assert out.exit_code == 1 and "--pool FILE and --test FILE" in out.output
    out = CliRunner().invoke(app, ["simulate", "--task", "ecg-beats"])
    assert out.exit_code == 2 and "ECG" in out.output
