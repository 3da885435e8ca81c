"""ICD-10-PCS axes said by a procedure mention's sentence (approach, diagnostic) and how they move codes."""

from __future__ import annotations

import numpy as np
import pytest

from cliniloop.models.text.code_candidates import CodeCandidateGenerator
from cliniloop.models.text.code_pcs import APPROACH_PENALTY, DIAGNOSTIC_PENALTY, pcs_approaches, pcs_axes, pcs_factors
from cliniloop.taxonomies.codes.system import CodeSystem, Concept


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("Laparoscopic appendectomy was uneventful.", {"4"}),
        ("VATS right upper lobe lobectomy", {"4"}),
        ("An open sigmoid colectomy was performed.", {"0"}),
        ("CT-guided right lung biopsy", {"3"}),
        ("Therapeutic paracentesis removed 4 L", {"3"}),  # a needle procedure with no approach said
        ("Screening colonoscopy showed no polyps.", {"8"}),
        ("She had a tonsillectomy as a child.", set()),
    ],
)
def test_approaches_said(text: str, said: set[str]) -> None:
    assert pcs_approaches([text]) == said


def test_factors_demote_other_approaches_and_unsaid_diagnostic() -> None:
    codes = ["0DTJ0ZZ", "0DTJ4ZZ", "0DBJ4ZX", "0DBJ4ZZ"]
    f = pcs_factors(pcs_axes(codes), "appendectomy", "Laparoscopic appendectomy.")
    assert f is not None
    np.testing.assert_allclose(f, [APPROACH_PENALTY, 1.0, DIAGNOSTIC_PENALTY, 1.0], rtol=1e-6)
    f = pcs_factors(pcs_axes(codes), "biopsy of appendix", "Laparoscopic biopsy of the appendix.")
    np.testing.assert_allclose(f, [APPROACH_PENALTY, 1.0, 1.0, 1.0], rtol=1e-6)  # diagnostic said: X kept
    assert pcs_factors(pcs_axes(["0DTJ0ZZ", "0DTJ4ZZ"]), "appendectomy", None) is None  # nothing said


def test_generator_breaks_a_table_row_tie_by_the_approach_said() -> None:
    names = ("Appendectomy",)
    pcs = CodeSystem(
        "icd10pcs",
        "test",
        {
            "0DTJ0ZZ": Concept("0DTJ0ZZ", "Resection of Appendix, Open Approach", names),
            "0DTJ4ZZ": Concept("0DTJ4ZZ", "Resection of Appendix, Percutaneous Endoscopic Approach", names),
            "0DTJ8ZZ": Concept("0DTJ8ZZ", "Resection of Appendix, Via Natural or Artificial Opening Endoscopic", names),
        },
    )
    gen = CodeCandidateGenerator([pcs], k=3).fit()
    plain = gen.candidates("appendectomy", "He had an appendectomy.", mention_type="Procedure")["icd10pcs"]
    assert [c.score for c in plain] == [1.0, 1.0, 1.0]  # a tie, broken by code
    lap = gen.candidates("appendectomy", "He had a laparoscopic appendectomy.", mention_type="Procedure")["icd10pcs"]
    assert lap[0].code == "0DTJ4ZZ" and lap[1].score == pytest.approx(APPROACH_PENALTY, abs=1e-6)
