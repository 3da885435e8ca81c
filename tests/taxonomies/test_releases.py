"""RxNorm (RXNCONSO.RRF) and LOINC (Loinc.csv) releases: loading, errors, caching, and the type policy.

The release files here are invented, a few rows in each release's own format.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cliniloop.models.text.code_candidates import CodeCandidateGenerator
from cliniloop.models.text.code_policy import system_allowed
from cliniloop.taxonomies.codes.releases import ReleaseError, load_loinc, load_rxnorm_rrf, loinc_from_settings, rxnorm_from_settings
from cliniloop.taxonomies.codes.system import CodeSystem, Concept


def _rrf(rxcui: str, tty: str, text: str, sab: str = "RXNORM", suppress: str = "N") -> str:
    fields = [rxcui, "ENG", "", "", "", "", "", f"A{rxcui}{tty}", "", "", "", sab, tty, rxcui, text, "0", suppress, "4096"]
    return "|".join(fields) + "|\n"


@pytest.fixture
def rxnorm_dir(tmp_path: Path) -> Path:
    rrf = tmp_path / "RxNorm_full_01012099" / "rrf"
    rrf.mkdir(parents=True)
    (rrf / "RXNCONSO.RRF").write_text(
        _rrf("1191", "IN", "aspirin") + _rrf("1191", "SY", "acetylsalicylic acid") + _rrf("243670", "SCD", "aspirin 81 MG Oral Tablet")
        + _rrf("5487", "IN", "hydrochlorothiazide") + _rrf("9999", "IN", "withdrawn drug", suppress="O")
        + _rrf("1191", "PT", "Aspirin (other source)", sab="MTHSPL"),
        encoding="utf-8",
    )  # fmt: skip
    return rrf.parent


@pytest.fixture
def loinc_dir(tmp_path: Path) -> Path:
    table = tmp_path / "Loinc_9.99" / "LoincTable"
    table.mkdir(parents=True)
    (table / "Loinc.csv").write_text(
        '"LOINC_NUM","COMPONENT","STATUS","SHORTNAME","LONG_COMMON_NAME"\n'
        '"2160-0","Creatinine","ACTIVE","Creat SerPl-mCnc","Creatinine [Mass/volume] in Serum or Plasma"\n'
        '"2524-7","Lactate","ACTIVE","Lactate SerPl-sCnc","Lactate [Moles/volume] in Serum or Plasma"\n'
        '"1111-1","Old thing","DEPRECATED","Old","Old thing in Blood"\n',
        encoding="utf-8",
    )
    return table.parent


def test_rxnorm_concepts_names_and_cache(rxnorm_dir: Path, tmp_path: Path) -> None:
    rx = load_rxnorm_rrf(rxnorm_dir, cache_dir=tmp_path / "cache")
    assert rx.name == "rxnorm" and rx.version == "RxNorm_full_01012099"
    assert set(rx.concepts) == {"1191", "243670", "5487"}, "suppressed rows and other sources are left out"
    assert rx.concepts["1191"].display == "aspirin" and rx.concepts["1191"].synonyms == ("acetylsalicylic acid",)
    again = load_rxnorm_rrf(rxnorm_dir / "rrf", cache_dir=tmp_path / "cache")
    assert again.concepts == rx.concepts, "the rrf/ folder works too; read from the cache"


def test_loinc_active_terms(loinc_dir: Path) -> None:
    lo = load_loinc(loinc_dir)
    assert lo.name == "loinc" and lo.version == "Loinc_9.99" and set(lo.concepts) == {"2160-0", "2524-7"}
    assert lo.concepts["2160-0"].display == "Creatinine [Mass/volume] in Serum or Plasma"
    assert "Creatinine" in lo.concepts["2160-0"].synonyms


def test_release_errors_name_the_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ReleaseError, match="does not exist"):
        load_rxnorm_rrf(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReleaseError, match="no RXNCONSO.RRF"):
        load_rxnorm_rrf(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "RXNCONSO.RRF").write_text("1191|ENG|aspirin|\n", encoding="utf-8")
    with pytest.raises(ReleaseError, match=r"RXNCONSO\.RRF:1: expected 18"):
        load_rxnorm_rrf(tmp_path / "bad")
    (tmp_path / "badloinc").mkdir()
    (tmp_path / "badloinc" / "Loinc.csv").write_text('"LOINC_NUM","STATUS"\n"1-1","ACTIVE"\n', encoding="utf-8")
    with pytest.raises(ReleaseError, match=r"Loinc\.csv:1: missing column\(s\) LONG_COMMON_NAME"):
        load_loinc(tmp_path / "badloinc")
    with caplog.at_level(logging.INFO, logger="cliniloop.taxonomies.codes.releases"):
        assert rxnorm_from_settings(None, None) is None and loinc_from_settings(None, None) is None
    assert "CLINILOOP_RXNORM_RRF" in caplog.text and "CLINILOOP_LOINC" in caplog.text


def test_typed_systems_code_their_type_only(rxnorm_dir: Path, loinc_dir: Path) -> None:
    assert system_allowed("Medication", "rxnorm") and not system_allowed("Problem", "rxnorm")
    assert system_allowed("Test", "loinc") and not system_allowed("Medication", "loinc")
    assert system_allowed("Procedure", "icd10pcs") and not system_allowed("Problem", "icd10pcs")
    icd = CodeSystem("icd10cm", "tiny", {"T39.011A": Concept("T39.011A", "Poisoning by aspirin, accidental, initial encounter")})
    gen = CodeCandidateGenerator([icd, load_rxnorm_rrf(rxnorm_dir), load_loinc(loinc_dir)]).fit()
    med = gen.candidates("ASA", mention_type="Medication")
    assert med["icd10cm"] == [] and med["loinc"] == [] and med["rxnorm"][0].code == "1191", "ASA of a Medication is aspirin"
    test = gen.candidates("Creatinine", mention_type="Test")
    assert test["rxnorm"] == [] and test["icd10cm"] == [] and test["loinc"][0].code == "2160-0"
