"""SNOMED CT RF2 loader on the synthetic sample in data_samples/ (and ../shared's, when present)."""

from __future__ import annotations

import logging
import random
import shutil
from pathlib import Path

import pytest

from cliniloop.taxonomies.codes import snomed
from cliniloop.taxonomies.codes.icd10cm import load_icd10cm, normalise_icd10cm
from cliniloop.taxonomies.codes.snomed import (
    NO_RELEASE_MESSAGE,
    RF2Error,
    find_rf2_files,
    load_snomed_rf2,
    snomed_from_settings,
    verhoeff_valid,
)
from cliniloop.taxonomies.codes.system import CodeSystem

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data_samples" / "snomed_rf2_sample"
RELEASE = "SnomedCT_CliniloopSampleRF2_TEST_20250301T120000Z"
SHARED_RF2 = (REPO / ".." / "shared" / "data" / "text" / "snomed_rf2_synthetic").resolve()

# Concept ids of the sample (see data_samples/snomed_rf2_sample/generate.py).
CLINICAL_FINDING = "8800001003"
DISEASE = "8800002005"
CARDIOVASCULAR = "8800003000"
HYPERTENSION = "8800004006"
ESSENTIAL_HT = "8800005007"
HEART_FAILURE = "8800006008"
HT_HEART_FAILURE = "8800007004"
ENDOCRINE = "8800008009"
DIABETES = "8800009001"
T1DM = "8800010006"
T2DM = "8800011005"
T2DM_KIDNEY = "8800012003"
KIDNEY = "8800013008"
RESPIRATORY = "8800014002"
ASTHMA = "8800015001"
PNEUMONIA = "8800016000"
DYSPNEA = "8800018004"
COUGH = "8800021002"
LUNG = "8800022009"
WHEEZING = "8800023004"
RETIRED_T2DM = "8800024005"
RETIRED_HEART = "8800025006"


@pytest.fixture(scope="module")
def sct() -> CodeSystem:
    return load_snomed_rf2(SAMPLE)


@pytest.fixture()
def release(tmp_path: Path) -> Path:
    """A writable copy of the sample release."""
    dest = tmp_path / "rf2"
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns("*.py", "*.md"))
    for p in dest.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dest


def rf2_file(root: Path, pattern: str) -> Path:
    (path,) = root.rglob(pattern)
    return path


def edit_line(path: Path, lineno: int, edit) -> None:
    lines = path.read_bytes().decode("utf-8").split("\r\n")
    fields = lines[lineno - 1].split("\t")
    lines[lineno - 1] = "\t".join(edit(fields))
    path.write_bytes("\r\n".join(lines).encode("utf-8"))


# -- the sample ------------------------------------------------------------------------------------------


def test_sample_system(sct: CodeSystem) -> None:
    assert sct.name == "snomed"
    assert sct.version == RELEASE
    assert sct.taxonomy_version == f"snomed@{RELEASE}"
    assert len(sct) == 23  # 25 concept rows, 2 inactive


def test_inactive_concepts_are_left_out(sct: CodeSystem) -> None:
    assert RETIRED_T2DM not in sct and RETIRED_HEART not in sct
    assert RETIRED_T2DM not in sct.maps_to  # its (active) map row goes with it
    assert all(p in sct for c in sct.concepts.values() for p in c.parents)


def test_us_preferred_term_over_fsn(sct: CodeSystem) -> None:
    ht = sct.concepts[HYPERTENSION]
    assert ht.display == "Hypertensive disorder"
    assert ht.semantic_tag == "disorder"
    assert ht.billable
    # Other synonyms, then the FSN without its tag.
    assert ht.synonyms == ("Hypertension", "High blood pressure", "HTN", "Hypertensive disorder, systemic arterial")
    assert not any("(disorder)" in s for c in sct.concepts.values() for s in c.synonyms)
    assert sct.concepts[T1DM].display == "Type 1 diabetes mellitus"
    assert "Diabetes mellitus type 1" in sct.concepts[T1DM].synonyms


def test_us_english_not_gb(sct: CodeSystem) -> None:
    dyspnea = sct.concepts[DYSPNEA]
    assert dyspnea.display == "Dyspnea"
    assert dyspnea.semantic_tag == "finding"
    assert dyspnea.synonyms == ("Shortness of breath", "Breathlessness", "Dyspnoea")  # GB-only term last


def test_display_fallbacks(sct: CodeSystem) -> None:
    assert sct.concepts[COUGH].display == "Cough"  # US acceptable, no US preferred synonym
    assert sct.concepts[COUGH].synonyms == ("Coughing",)
    assert sct.concepts[WHEEZING].display == "Wheezing"  # FSN only, tag removed
    assert sct.concepts[WHEEZING].synonyms == ()
    assert sct.concepts[LUNG].semantic_tag == "body structure"


def test_inactive_descriptions_and_language_rows(sct: CodeSystem) -> None:
    essential = sct.concepts[ESSENTIAL_HT]
    assert essential.display == "Essential hypertension"  # "Primary hypertension"'s preferred row is inactive
    assert "Primary hypertension" in essential.synonyms
    assert "Idiopathic hypertension" not in essential.synonyms  # inactive description
    assert "Weak heart" not in sct.concepts[HEART_FAILURE].synonyms


def test_is_a_parents(sct: CodeSystem) -> None:
    assert sct.concepts[CLINICAL_FINDING].parents == ()
    assert sct.concepts[DISEASE].parents == (CLINICAL_FINDING,)
    assert sct.concepts[HT_HEART_FAILURE].parents == (HYPERTENSION, HEART_FAILURE)
    assert sct.concepts[T2DM_KIDNEY].parents == (T2DM, KIDNEY)
    assert sct.concepts[T2DM].parents == (DIABETES,)  # the inactive IS-A to ENDOCRINE is dropped
    assert sct.concepts[ASTHMA].parents == (RESPIRATORY,)  # its finding-site relationship is no parent
    assert sct.concepts[LUNG].parents == ()
    assert sct.concepts[ENDOCRINE].parents == (DISEASE,)


def test_icd10_map(sct: CodeSystem) -> None:
    assert sct.maps_to[HT_HEART_FAILURE] == [("icd10cm", "I11.0"), ("icd10cm", "I50.9")]  # map group order
    assert sct.maps_to[PNEUMONIA] == [("icd10cm", "J13"), ("icd10cm", "J18.9")]  # priority order
    assert sct.maps_to[T2DM_KIDNEY] == [("icd10cm", "E11.21")]  # "e1121" normalised
    assert sct.maps_to[T1DM] == [("icd10cm", "E10.9")]  # inactive row dropped
    assert sct.maps_to[DYSPNEA] == [("icd10cm", "R06.00")]  # WHO ICD-10 map ignored next to ICD-10-CM's
    assert CARDIOVASCULAR not in sct.maps_to  # empty target ("cannot be classified")
    assert LUNG not in sct.maps_to
    assert len(sct.maps_to) == 18


def test_map_targets_are_icd10cm_codes(sct: CodeSystem) -> None:
    icd = load_icd10cm()
    for targets in sct.maps_to.values():
        for system, code in targets:
            assert system == "icd10cm"
            assert normalise_icd10cm(code, icd) == code


def test_files_found_at_any_depth(sct: CodeSystem) -> None:
    snapshot = SAMPLE / RELEASE / "Snapshot"
    assert load_snomed_rf2(snapshot).concepts == sct.concepts
    files = find_rf2_files(SAMPLE)
    assert [p.name for p in files["concept"]] == ["sct2_Concept_Snapshot_CLINILOOP_20250301.txt"]
    assert len(files["map"]) == 1


def test_map_file_is_optional(release: Path) -> None:
    rf2_file(release, "der2_iisssccRefset_ExtendedMapSnapshot*").unlink()
    system = load_snomed_rf2(release)
    assert len(system) == 23 and system.maps_to == {}


def test_in_memory_load_is_shared(sct: CodeSystem) -> None:
    assert load_snomed_rf2(SAMPLE) is sct


# -- disk cache ----------------------------------------------------------------------------------------


def test_cache_round_trip(
    sct: CodeSystem, release: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    first = load_snomed_rf2(release, cache)
    (path,) = cache.glob("snomed-*.pkl")
    assert path.name.startswith(f"snomed-{RELEASE}-")
    assert first.concepts == sct.concepts and first.maps_to == sct.maps_to

    def no_build(*args: object) -> CodeSystem:
        raise AssertionError("should have been read from the cache")

    with monkeypatch.context() as m:
        m.setattr(snomed, "_build", no_build)
        second = load_snomed_rf2(release, cache)
    assert second.concepts == first.concepts
    assert second.maps_to == first.maps_to
    assert second.version == first.version

    path.write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        third = load_snomed_rf2(release, cache)
    assert third.concepts == first.concepts
    assert any("unusable" in r.getMessage() for r in caplog.records)


def test_changed_release_invalidates_cache(release: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load_snomed_rf2(release, cache)
    concepts = rf2_file(release, "sct2_Concept_Snapshot*")
    edit_line(concepts, 2, lambda f: [f[0], f[1], "0", *f[3:]])  # retire Clinical finding
    system = load_snomed_rf2(release, cache)
    assert CLINICAL_FINDING not in system
    assert system.concepts[DISEASE].parents == ()  # IS-A to an inactive concept dropped
    assert len(list(cache.glob("snomed-*.pkl"))) == 2


# -- corrupt releases ----------------------------------------------------------------------------------


def test_missing_column(release: Path) -> None:
    path = rf2_file(release, "sct2_Description_Snapshot-en*")
    edit_line(path, 1, lambda f: ["words" if c == "term" else c for c in f])
    with pytest.raises(RF2Error) as err:
        load_snomed_rf2(release)
    assert str(err.value).startswith(f"{path}:1: missing column term")
    assert err.value.path == path and err.value.line == 1
    assert isinstance(err.value, ValueError)


def test_bad_check_digit(release: Path) -> None:
    path = rf2_file(release, "sct2_Concept_Snapshot*")
    edit_line(path, 3, lambda f: ["8800002006", *f[1:]])  # 8800002005 with a wrong check digit
    with pytest.raises(RF2Error, match=r"Verhoeff") as err:
        load_snomed_rf2(release)
    assert str(err.value).startswith(f"{path}:3: id: SCTID 8800002006 fails its Verhoeff check digit")


def test_non_numeric_id(release: Path) -> None:
    path = rf2_file(release, "sct2_Relationship_Snapshot*")
    edit_line(path, 4, lambda f: [*f[:5], "88000O2005", *f[6:]])  # letter O for zero
    with pytest.raises(RF2Error) as err:
        load_snomed_rf2(release)
    assert str(err.value) == f"{path}:4: destinationId: '88000O2005' is not a numeric SCTID"


def test_wrong_partition(release: Path) -> None:
    path = rf2_file(release, "sct2_Concept_Snapshot*")
    edit_line(path, 5, lambda f: ["8810001010", *f[1:]])  # a (valid) description id
    with pytest.raises(RF2Error, match=r"partition 01, not a concept id") as err:
        load_snomed_rf2(release)
    assert err.value.line == 5


def test_wrong_field_count(release: Path) -> None:
    path = rf2_file(release, "der2_cRefset_LanguageSnapshot-en*")
    edit_line(path, 6, lambda f: f[:-1])
    with pytest.raises(RF2Error) as err:
        load_snomed_rf2(release)
    assert str(err.value) == f"{path}:6: 6 tab-separated fields, the header has 7"


def test_bad_active_flag_and_map_priority(release: Path) -> None:
    path = rf2_file(release, "der2_iisssccRefset_ExtendedMapSnapshot*")
    edit_line(path, 3, lambda f: [*f[:7], "first", *f[8:]])
    with pytest.raises(RF2Error, match=r"mapPriority: 'first' is not an integer") as err:
        load_snomed_rf2(release)
    assert err.value.path == path and err.value.line == 3
    edit_line(path, 3, lambda f: [*f[:2], "yes", *f[3:]])
    with pytest.raises(RF2Error, match=r":3: active is 'yes'"):
        load_snomed_rf2(release)


def test_error_line_numbers_across_chunks(release: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snomed, "_CHUNK", 4)
    path = rf2_file(release, "sct2_Description_Snapshot-en*")
    edit_line(path, 42, lambda f: [*f[:4], "12345", *f[5:]])
    with pytest.raises(RF2Error, match=r"conceptId: SCTID '12345' has 5 digits") as err:
        load_snomed_rf2(release)
    assert err.value.line == 42


def test_missing_required_file(release: Path) -> None:
    rf2_file(release, "sct2_Relationship_Snapshot*").unlink()
    with pytest.raises(RF2Error, match=r"no sct2_Relationship_Snapshot\* file") as err:
        load_snomed_rf2(release)
    assert err.value.line is None and str(err.value).startswith(f"{release}: ")


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(RF2Error, match="not a folder"):
        load_snomed_rf2(tmp_path / "absent")


# -- check digits --------------------------------------------------------------------------------------


def test_verhoeff() -> None:
    for real in ("116680003", "900000000000509007", "900000000000548007", "22298006", "6011000124106"):
        assert verhoeff_valid(real)
    for bad in ("116680004", "900000000000509008", "", "12a45", "22298060"):
        assert not verhoeff_valid(bad)


def test_vectorised_verhoeff_agrees() -> None:
    rng = random.Random(7)
    ids = [str(rng.randrange(10 ** (n - 1), 10**n)) for n in rng.choices(range(6, 19), k=3000)]
    assert snomed._verhoeff_many(ids) == [verhoeff_valid(i) for i in ids]
    assert 0 < sum(map(verhoeff_valid, ids)) < len(ids)


# -- settings ------------------------------------------------------------------------------------------


def test_no_release_configured(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="cliniloop.taxonomies.codes.snomed"):
        assert snomed_from_settings(None, tmp_path) is None
    records = [r for r in caplog.records if r.name == "cliniloop.taxonomies.codes.snomed"]
    assert len(records) == 1
    assert records[0].levelno == logging.INFO
    assert records[0].getMessage() == NO_RELEASE_MESSAGE
    assert "CLINILOOP_SNOMED_RF2" in NO_RELEASE_MESSAGE
    assert list(tmp_path.iterdir()) == []


def test_release_configured(sct: CodeSystem, tmp_path: Path) -> None:
    system = snomed_from_settings(SAMPLE, tmp_path / "cache")
    assert system is not None and system.concepts == sct.concepts


# -- ../shared's synthetic release ---------------------------------------------------------------------


@pytest.mark.skipif(
    not SHARED_RF2.is_dir(), reason=f"shared synthetic RF2 release not available at {SHARED_RF2} (../shared absent)"
)
def test_shared_synthetic_release() -> None:
    system = load_snomed_rf2(SHARED_RF2)
    assert system.version == "SnomedCT_SyntheticRF2_TEST_20250101T120000Z"
    assert set(system.concepts) == {"9000000002", "9000001003", "9000002005", "9000003000"}
    failure = system.concepts["9000001003"]
    assert failure.display == "Synthetic cardiac pump failure"
    assert failure.semantic_tag == "disorder"
    assert set(failure.synonyms) == {"Synthetic heart failure", "SHF"}
    assert failure.parents == ("9000000002",)
    assert system.concepts["9000000002"].semantic_tag == "finding"
    assert system.maps_to == {
        "9000001003": [("icd10cm", "I50.9")],
        "9000002005": [("icd10cm", "E11.9")],
        "9000003000": [("icd10cm", "R06.0")],
    }
