"""Tests of the NegEx-format evaluation (tiny TSV in tmp_path; the dev set only if present)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cliniloop.models.text import ClinicalTextAnnotator
from cliniloop.services.evaluation.negex import evaluate_negex, read_negex_tsv

HEADER = "line\tCondition\tsentence\tnegation\ttemporality\texperiencer\n"
ROWS = [
    ("1", "edema", "Extremities reveal no peripheral cyanosis or EDEMA.", "Negated", "Recent", "Patient"),
    ("2", "chest pain", "He reports CHEST PAIN since this morning.", "Affirmed", "Recent", "Patient"),
    ("3", "hypertension", "History of HYPERTENSION.", "Affirmed", "Historical", "Patient"),
    ("4", "fever", "Return to the ED if FEVER develops.", "Affirmed", "Not particular", "Patient"),
    ("5", "breast cancer", "Her mother had BREAST CANCER.", "Affirmed", "Recent", "Other"),
    ("6", "pneumothorax", "No PNEUMOTHORAX is seen.", "Negated", "Recent", "Patient"),
]
DEV = Path(__file__).resolve().parents[4] / "shared" / "data" / "text" / "negex" / "negex_dev.tsv"


@pytest.fixture(scope="module")
def annotator() -> ClinicalTextAnnotator:
    return ClinicalTextAnnotator().fit()


@pytest.fixture
def tiny_tsv(tmp_path: Path) -> Path:
    path = tmp_path / "negex.tsv"
    path.write_text(HEADER + "".join("\t".join(r) + "\n" for r in ROWS), encoding="utf-8")
    return path


def test_read_negex_tsv(tiny_tsv: Path) -> None:
    rows = read_negex_tsv(tiny_tsv)
    assert len(rows) == len(ROWS)
    assert rows[0].gold.negated and rows[3].gold.temporality == "hypothetical" and rows[4].gold.other


def test_evaluate_negex_tiny(tiny_tsv: Path, annotator: ClinicalTextAnnotator) -> None:
    result = evaluate_negex(tiny_tsv, annotator=annotator)
    assert result["n"] == len(ROWS) and "peers" not in result
    ours = result["cliniloop"]
    assert ours["accuracy"] == 1.0
    assert ours["negated"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert ours["assertion_accuracy"] == 1.0
    assert ours["historical"]["f1"] == 1.0 and ours["hypothetical"]["f1"] == 1.0
    assert ours["experiencer_other"]["support"] == 1
    assert ours["sentences_per_second"] > 0 and ours["model_version"].startswith("medspacy-rules-")
    json.dumps(result)


def test_evaluate_negex_with_peers(tiny_tsv: Path, annotator: ClinicalTextAnnotator) -> None:
    result = evaluate_negex(tiny_tsv, compare_peers=True, annotator=annotator)
    peers = result["peers"]
    assert set(peers) == {"medspacy_context_default", "negspacy"}
    for metrics in peers.values():
        assert {"accuracy", "negated", "sentences_per_second", "model_version"} <= set(metrics)
    assert peers["negspacy"]["historical"] is None  # negspacy only does negation
    assert peers["medspacy_context_default"]["historical"] is not None
    json.dumps(result)


@pytest.mark.skipif(not DEV.is_file(), reason=f"NegEx dev set not available at {DEV} (shared data folder absent)")
def test_negex_dev_target(annotator: ClinicalTextAnnotator) -> None:
    ours = evaluate_negex(DEV, annotator=annotator)["cliniloop"]
    assert ours["accuracy"] >= 0.975
    assert ours["negated"]["f1"] >= 0.95
