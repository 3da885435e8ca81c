"""``evaluate_codes(rerank=..., rerank_fit=...)``: the encoder re-ranker measured and its weight fitted on a pairs file.

The encoder is replaced by a keyword encoder (monkeypatched), so the figures are known by hand
and the test needs no model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import cliniloop.models.text.code_encoder_rerank as encoder_rerank
from cliniloop.models.text.code_candidates import CodeCandidateGenerator
from cliniloop.services.evaluation.codes import CodesEvalError, evaluate_codes
from tests.conftest import tiny_icd


def keyword_encode(texts):
    rows = []
    for t in texts:
        t = t.lower().replace("sugar", "hyperglycemia")
        v = np.asarray([float("hyperglycemia" in t), float("hypertension" in t), 0.05], dtype=np.float32)
        rows.append(v / np.linalg.norm(v))
    return np.stack(rows)


@pytest.fixture
def keyword_reranker(monkeypatch: pytest.MonkeyPatch) -> None:
    real = encoder_rerank.EmbeddingReranker

    def make(weight: float = encoder_rerank.ENCODER_WEIGHT, **kw):
        return real(weight=weight, encode=keyword_encode, **kw)

    monkeypatch.setattr(encoder_rerank, "EmbeddingReranker", make)


def test_rerank_and_fit_on_a_pairs_file(tmp_path: Path, keyword_reranker: None) -> None:
    pairs = tmp_path / "p.tsv"
    pairs.write_text("mention\ticd10cm\ndiabetes with high sugar\tE11.65\nhypertension\tI10\n", encoding="utf-8")
    gen = CodeCandidateGenerator([tiny_icd()]).fit()
    plain = evaluate_codes(pairs, "icd10cm", generator=gen, cache_dir=tmp_path)
    assert plain["rerank"] is None and "rerank_fit" not in plain
    assert plain["exact"]["recall@1"] == 0.5  # lexically E11.65 is not first for the sugar mention

    heavy = evaluate_codes(pairs, "icd10cm", generator=gen, cache_dir=tmp_path, rerank=True, rerank_weight=0.9, rerank_fit=True)
    assert heavy["exact"] == {"recall@1": 1.0, "recall@5": 1.0, "recall@10": 1.0, "mrr": 1.0}
    assert heavy["rerank"]["weight"] == 0.9 and heavy["rerank"]["pool"] == encoder_rerank.ENCODER_POOL
    assert "cosine" in heavy["rerank"]["blend"] and heavy["rerank"]["names_embedded"] > 0
    fit = heavy["rerank_fit"]
    assert fit["n"] == 2 and set(fit["grid"]) == {str(w) for w in encoder_rerank.WEIGHT_GRID}
    assert fit["grid"]["0.0"]["exact_mrr"] == plain["exact"]["mrr"]  # the grid's w=0 is the lexical ranking
    best = max(v["exact_mrr"] for v in fit["grid"].values())
    assert best == 1.0 and fit["grid"][str(fit["chosen_weight"])]["exact_mrr"] == best
    assert gen.reranker is None  # the caller's generator is left as it was

    zero = evaluate_codes(pairs, "icd10cm", generator=gen, cache_dir=tmp_path, rerank=True, rerank_weight=0.0)
    assert zero["exact"] == plain["exact"] and zero["category"] == plain["category"]


def test_a_bad_weight_is_a_clear_error(tmp_path: Path) -> None:
    pairs = tmp_path / "p.tsv"
    pairs.write_text("mention\ticd10cm\nhypertension\tI10\n", encoding="utf-8")
    gen = CodeCandidateGenerator([tiny_icd()]).fit()
    with pytest.raises(CodesEvalError, match="--rerank: weight must be in"):
        evaluate_codes(pairs, "icd10cm", generator=gen, cache_dir=tmp_path, rerank=True, rerank_weight=1.5)
