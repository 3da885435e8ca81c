"""`--modality` on the loop commands: an ECG round without Label Studio, select by a strategy, models list, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cliniloop.services.cli.main import app
from cliniloop.services.core.settings import get_settings

SAMPLES = Path(__file__).resolve().parents[3] / "data_samples"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLINILOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("CLINILOOP_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_an_ecg_round_select_and_models_list_by_modality(env: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["round", str(SAMPLES / "ecg"), "--modality", "ecg", "-n", "3", "--strategy", "margin", "--no-push"])
    assert out.exit_code == 0, out.output
    assert "3 tasks by margin (round 1)" in out.output and "skipped (no Label Studio)" in out.output
    assert "stopping rule" in out.output and "no agreement yet" in out.output
    out = runner.invoke(app, ["select", "--modality", "ecg", "-n", "2", "--strategy", "entropy", "--cost-aware"])
    assert out.exit_code == 0 and "round 2: selected 2 tasks by entropy" in out.output, out.output
    out = runner.invoke(app, ["models", "list", "--modality", "ecg"])
    assert out.exit_code == 0 and "ecg-beat-classifier" in out.output, out.output


def test_unknown_modality_and_strategy_fail_with_the_choices(env: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["select", "--modality", "ultrasound"])
    assert out.exit_code == 2 and "choose one of text, codes, ecg, eeg, image-boxes, image-masks" in out.output
    out = runner.invoke(app, ["select", "--modality", "eeg"])
    assert out.exit_code == 1 and "every predicted eeg task is labelled or none was predicted" in out.output
