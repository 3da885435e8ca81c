"""``cliniloop eval deid``, ``deid synth`` and ``report phi`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from connectors.sources.brat import write_brat_document
from services.cli.main import app

TEXT = "Seen by Dr. Alice Wong on 4 March 2021. BP 120/80. Call 617-555-0134."


def _span(word: str, phi_type: str) -> tuple[int, int, str]:
    return TEXT.index(word), TEXT.index(word) + len(word), phi_type


def test_eval_deid_prints_scores_per_type(env: Path) -> None:
    data = env / "brat"
    write_brat_document(data, "p1/n1", TEXT, [_span("Alice Wong", "NAME"), _span("4 March 2021", "DATE"), _span("617-555-0134", "PHONE")])
    out = CliRunner().invoke(app, ["eval", "deid", "--data", str(data), "--errors", str(env / "errors.jsonl")])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["notes"] == 1 and result["overall"]["recall"] == 1.0 and result["overall"]["precision"] == 1.0
    assert set(result["per_type"]) == {"NAME", "DATE", "PHONE"} and result["notes_per_second"] > 0
    assert result["overall"]["token_recall"] == 1.0 and result["detector"].startswith("deid-")
    assert (env / "errors.jsonl").read_text() == ""


def test_eval_deid_names_the_file_with_an_unknown_type(env: Path) -> None:
    data = env / "brat"
    write_brat_document(data, "n1", TEXT, [_span("Alice Wong", "PATIENT")])
    out = CliRunner().invoke(app, ["eval", "deid", "--data", str(data)])
    assert out.exit_code == 1 and "n1.ann" in out.output and "PATIENT" in out.output


def test_synth_writes_a_brat_corpus_and_refuses_a_full_folder(env: Path) -> None:
    out_dir = env / "corpus"
    out = CliRunner().invoke(app, ["deid", "synth", "--out", str(out_dir), "--notes", "5", "--seed", "3"])
    assert out.exit_code == 0, out.output
    assert len(list(out_dir.rglob("*.txt"))) == 5 and len(list(out_dir.rglob("*.ann"))) == 5
    again = CliRunner().invoke(app, ["deid", "synth", "--out", str(out_dir), "--notes", "5"])
    assert again.exit_code == 1 and "not empty" in again.output


def test_report_phi_on_an_empty_store(env: Path) -> None:
    out = CliRunner().invoke(app, ["report", "phi"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["corrections"] == 0
