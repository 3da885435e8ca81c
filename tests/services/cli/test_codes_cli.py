"""``cliniloop eval codes`` from the command line: one JSON object on stdout, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cliniloop.services.cli.main import app
from cliniloop.services.core.settings import get_settings

SNOMED_SAMPLE = Path(__file__).resolve().parents[3] / "data_samples" / "snomed_rf2_sample"


@pytest.fixture(autouse=True)
def no_configured_snomed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("CLINILOOP_SNOMED_RF2", raising=False)
    monkeypatch.setenv("CLINILOOP_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_eval_codes_icd10cm_with_baseline_prints_one_json_object(tmp_path: Path, tmp_path_factory) -> None:
    cache = tmp_path_factory.getbasetemp() / "code-candidates-cache"  # shared with the other modules
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("mention\ticd10cm\nHTN\tI10\nheart attack\tI21.9\nasthma\tJ45.909\n")
    args = ["eval", "codes", "--pairs", str(pairs), "--system", "icd10cm", "--compare-baseline", "--cache-dir", str(cache)]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["n"] == 3 and result["exact"]["recall@1"] == 1.0
    assert set(result["baseline"]["exact"]) == {"recall@1", "recall@5", "recall@10", "mrr"}
    assert result["ms_per_mention"] > 0 and "index_seconds" in result


def test_eval_codes_snomed_with_a_release_folder(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("mention\tsnomed\nhigh blood pressure\t8800004006\nshortness of breath\t8800018004\n")
    args = ["eval", "codes", "--pairs", str(pairs), "--system", "snomed", "--snomed-rf2", str(SNOMED_SAMPLE), "--cache-dir", str(tmp_path / "c")]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["system"] == "snomed" and result["exact"]["recall@1"] == 1.0 and "baseline" not in result


def test_eval_codes_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("mention\tcode\nHTN\tI10\n")
    out = CliRunner().invoke(app, ["eval", "codes", "--pairs", str(bad), "--system", "icd10cm"])
    assert out.exit_code == 1 and "bad.tsv:1: missing code column" in out.output and out.stdout == ""

    good = tmp_path / "good.tsv"
    good.write_text("mention\tsnomed\nHTN\t38341003\n")
    out = CliRunner().invoke(app, ["eval", "codes", "--pairs", str(good), "--system", "snomed"])
    assert out.exit_code == 1 and "--snomed-rf2" in out.output

    out = CliRunner().invoke(app, ["eval", "codes", "--pairs", str(good), "--system", "icd9"])
    assert out.exit_code == 2 and "icd10cm, snomed" in out.output


def test_coders_loop_commands_need_label_studio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLINILOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'c.sqlite3'}")
    monkeypatch.setenv("CLINILOOP_LABEL_STUDIO_API_KEY", "")
    get_settings.cache_clear()
    try:
        for cmd in ("push", "pull"):
            out = CliRunner().invoke(app, ["codes", cmd])
            assert out.exit_code == 2 and "CLINILOOP_LABEL_STUDIO_API_KEY" in out.output
    finally:
        get_settings.cache_clear()


def test_codes_push_refuses_an_unknown_strategy_before_anything_else() -> None:
    out = CliRunner().invoke(app, ["codes", "push", "--strategy", "bald"])
    assert out.exit_code == 2 and "uncertainty, entropy" in out.output
