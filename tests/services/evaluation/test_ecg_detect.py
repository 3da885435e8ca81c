"""``evaluate_detection`` on a real MIT-BIH record (skipped when the shared data is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cliniloop.services.evaluation.ecg_detect import evaluate_detection

MITDB = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "ecg" / "mitdb"


def test_missing_folder_or_record_names_the_path(tmp_path):
    with pytest.raises(ValueError, match="no such folder"):
        evaluate_detection(tmp_path / "absent")
    with pytest.raises(ValueError, match="RECORDS"):
        evaluate_detection(tmp_path)
    with pytest.raises(ValueError, match=r"999\.hea"):
        evaluate_detection(tmp_path, records=["999"])


@pytest.mark.skipif(not (MITDB / "101.hea").is_file(), reason=f"MIT-BIH record 101 not found under {MITDB}")
def test_record_101_scores_sensibly():
    result = evaluate_detection(MITDB, records=["101"])
    json.dumps(result)  # JSON-able
    assert result["records"] == 1 and result["window_ms"] == 150
    assert result["hours"] == pytest.approx(650000 / 360 / 3600, rel=1e-3)
    assert result["leads"]["101"][0] == "MLII"
    rec = result["per_record"]["101"]
    assert rec["beats"] == rec["tp"] + rec["fn"] > 1800
    assert rec["sensitivity"] > 0.99 and rec["ppv"] > 0.99
    assert result["gross"]["tp"] == rec["tp"]
    assert result["detector"].startswith("beats-")
    assert 0 < result["cpu_s_per_hour"] < 10
