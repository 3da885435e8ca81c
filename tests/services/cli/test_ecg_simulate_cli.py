"""``cliniloop simulate --task ecg-beats`` on three MIT-BIH records (skipped without ../shared/data/ecg/mitdb)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("lightgbm")
pytest.importorskip("wfdb")

from cliniloop.services.cli.main import app  # noqa: E402

MITDB = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "ecg" / "mitdb"


@pytest.mark.skipif(not (MITDB / "RECORDS").is_file(), reason=f"MIT-BIH records not found at {MITDB} (shared data folder absent)")
def test_simulate_ecg_beats_prints_curves_and_writes_the_plot(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    for name in ("112", "119", "122"):
        for suffix in (".hea", ".dat", ".atr"):
            shutil.copy(MITDB / f"{name}{suffix}", folder)
    (folder / "RECORDS").write_text("112\n119\n122\n")
    args = ["simulate", "--task", "ecg-beats", "--wfdb-dir", str(folder), "--strategies", "random,rare_boost",
            "--ks", "0,10", "--folds", "3", "--out", str(tmp_path / "sim")]  # fmt: skip
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout[out.stdout.index("{") :])
    assert set(summary["strategies"]) == {"random", "rare_boost"}
    assert list(summary["strategies"]["random"]) == ["0", "10"] and summary["records"] == ["112", "119", "122"]
    assert (tmp_path / "sim" / "ecg_adaptation.png").is_file() and (tmp_path / "sim" / "ecg_simulation.json").is_file()
    bad = CliRunner().invoke(app, ["simulate", "--task", "ecg-beats", "--wfdb-dir", str(folder), "--strategies", "magic"])
    assert bad.exit_code == 1 and "magic" in bad.output
