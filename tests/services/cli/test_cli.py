from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cliniloop.services.cli.main import app
from cliniloop.services.core.settings import get_settings


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLINILOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("CLINILOOP_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CLINILOOP_LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CLINILOOP_LABEL_STUDIO_API_KEY", "k" * 40)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_steps_run_from_the_command_line(env: Path, samples_dir: Path) -> None:
    runner = CliRunner()
    notes = env / "notes"
    notes.mkdir()
    for p in sorted(samples_dir.glob("*.txt"))[:6]:
        (notes / p.name).write_text(p.read_text())
    (notes / "bad.txt").write_bytes(b"\xff\xfe\x00\x01")
    out = runner.invoke(app, ["ingest", str(notes)])
    assert out.exit_code == 0, out.output
    assert "6 new" in out.output and "1 rejected" in out.output
    assert "bad.txt" not in out.output and ".txt" in out.output  # rejected files by number, never by name (issue 19)
    assert "de-identified with deid-" in out.output and "original text not stored" in out.output
    out = runner.invoke(app, ["predict"])
    assert out.exit_code == 0 and "predicted 6 tasks" in out.output, out.output
    out = runner.invoke(app, ["select", "--budget", "4"])
    assert out.exit_code == 0 and "selected 4 tasks" in out.output, out.output
    out = runner.invoke(app, ["round", str(notes), "--budget", "3", "--no-push"])
    assert out.exit_code == 0, out.output
    assert "0 new, 6 already stored, 1 rejected" in out.output
    assert "Entities in 3 selected tasks" in out.output and "Problem" in out.output
    out = runner.invoke(app, ["status"])
    assert out.exit_code == 0 and "rounds" in out.output


def test_push_to_unreachable_label_studio_fails_clearly(env: Path, samples_dir: Path) -> None:
    runner = CliRunner()
    note = sorted(samples_dir.glob("*.txt"))[0]
    assert runner.invoke(app, ["round", str(note), "--budget", "1", "--no-push"]).exit_code == 0
    out = runner.invoke(app, ["push"])
    assert out.exit_code == 1
    assert "127.0.0.1:9" in out.output and "Nothing was recorded as pushed" in out.output


def test_eval_assertion_prints_one_json_object(env: Path) -> None:
    tsv = env / "negex.tsv"
    tsv.write_text(
        "line\tcondition\tsentence\tnegation\ttemporality\texperiencer\n"
        "1\tedema\tExtremities reveal no edema.\tNegated\tRecent\tPatient\n"
        "2\tpneumonia\tFindings consistent with pneumonia.\tAffirmed\tRecent\tPatient\n"
    )
    out = CliRunner().invoke(app, ["eval", "assertion", "--negex", str(tsv)])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["n"] == 2 and result["cliniloop"]["accuracy"] == 1.0


def test_eval_assertion_names_file_and_line_of_a_malformed_row(env: Path) -> None:
    tsv = env / "broken.tsv"
    tsv.write_text(
        "line\tcondition\tsentence\tnegation\ttemporality\texperiencer\n"
        "1\tedema\tExtremities reveal no edema.\tNegated\tRecent\tPatient\n"
        "2\tpneumonia\tFindings consistent with pneumonia.\n"
    )
    out = CliRunner().invoke(app, ["eval", "assertion", "--negex", str(tsv)])
    assert out.exit_code == 1
    message = " ".join(out.output.split())  # rich wraps long lines
    assert "broken.tsv, line 3" in message and "found 3" in message
