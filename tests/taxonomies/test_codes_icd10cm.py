"""ICD-10-CM from simple-icd-10-cm: codes, hierarchy, terms, normalisation and the on-disk cache."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

from cliniloop.taxonomies.codes import icd10cm
from cliniloop.taxonomies.codes.cache import read_cache
from cliniloop.taxonomies.codes.icd10cm import cache_path, dotted_icd10, load_icd10cm, normalise_icd10cm
from cliniloop.taxonomies.codes.system import CodeSystem


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("icd10cm-cache")


@pytest.fixture(scope="module")
def icd(cache_dir: Path) -> CodeSystem:
    return load_icd10cm(cache_dir)


def test_system_and_version(icd: CodeSystem) -> None:
    assert icd.name == "icd10cm"
    assert icd.version.startswith("simple-icd-10-cm 1.5")
    assert "FY2026 April" in icd.version
    assert icd.taxonomy_version == f"icd10cm@{icd.version}"
    assert len(icd) > 90_000
    assert icd.maps_to == {}


def test_e11_9_is_billable_leaf_under_e11(icd: CodeSystem) -> None:
    e119 = icd.concepts["E11.9"]
    assert e119.display == "Type 2 diabetes mellitus without complications"
    assert e119.billable
    assert e119.parents == ("E11",)
    assert e119.semantic_tag is None
    e11 = icd.concepts["E11"]
    assert e11.display == "Type 2 diabetes mellitus"
    assert not e11.billable
    assert e11.parents == ()  # its parent is the block E08-E13, not a code


def test_chapters_and_blocks_are_not_codes(icd: CodeSystem) -> None:
    for not_a_code in ("4", "E08-E13", "I10-I1A", "A00-A09"):
        assert not_a_code not in icd
    # A block named like its only category resolves to the category.
    assert "B99" in icd and not icd.concepts["B99"].billable
    assert icd.concepts["B99.9"].parents == ("B99",)
    assert all("-" not in code for code in icd.concepts)


def test_seventh_character_codes(icd: CodeSystem) -> None:
    s = icd.concepts["S14.109S"]
    assert s.billable and s.parents == ("S14.109",)
    assert s.display.endswith("sequela")
    assert not icd.concepts["S14.109"].billable


def test_inclusion_terms_and_includes_are_synonyms(icd: CodeSystem) -> None:
    assert "Congestive heart failure NOS" in icd.concepts["I50.9"].synonyms
    assert "Asthma NOS" in icd.concepts["J45.909"].synonyms
    assert "high blood pressure" in icd.concepts["I10"].synonyms  # an "includes" note of I10
    assert icd.concepts["I10"].billable
    # Notes that only point at other codes are not names.
    assert not any("classifiable" in s.lower() for c in icd.concepts.values() for s in c.synonyms)
    assert "Vitamin B12 deficiency" in {s for c in icd.concepts.values() for s in c.synonyms}
    for c in icd.concepts.values():
        assert c.display.casefold() not in {s.casefold() for s in c.synonyms}


def test_all_codes_dotted(icd: CodeSystem) -> None:
    for code in icd.concepts:
        assert code == dotted_icd10(code)
    assert all(p in icd for c in icd.concepts.values() for p in c.parents)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("E11.9", "E11.9"),
        ("E119", "E11.9"),
        ("e11.9", "E11.9"),
        (" E11.9 ", "E11.9"),
        ("e11", "E11"),
        ("I10", "I10"),
        ("j45909", "J45.909"),
        ("S14109S", "S14.109S"),
        ("E11.99", None),  # well formed, not in ICD-10-CM
        ("E08-E13", None),  # a block
        ("4", None),  # a chapter
        ("", None),
        ("diabetes", None),
        ("44054006", None),  # a SNOMED id
    ],
)
def test_normalise_icd10cm(icd: CodeSystem, text: str, expected: str | None) -> None:
    assert normalise_icd10cm(text, icd) == expected
    assert normalise_icd10cm(text) == expected  # against the last loaded system


def test_normalise_rejects_non_strings(icd: CodeSystem) -> None:
    assert normalise_icd10cm(None, icd) is None  # type: ignore[arg-type]
    assert dotted_icd10(119) is None  # type: ignore[arg-type]


def test_cache_round_trip(icd: CodeSystem, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = cache_path(cache_dir)
    assert path.is_file() and path.name.startswith("icd10cm-simple_icd_10_cm_1.5")
    assert not [p for p in cache_dir.iterdir() if p.name.endswith(".tmp")]

    def no_build() -> CodeSystem:
        raise AssertionError("should have been read from the cache")

    # read from the cache, never rebuilt (speed is an eval's business, not a timed test's)
    monkeypatch.setattr(icd10cm, "_build", no_build)
    again = load_icd10cm(cache_dir)
    assert again is not icd
    assert again.version == icd.version
    assert again.concepts == icd.concepts
    assert again.concepts["E11.9"] == icd.concepts["E11.9"]


def test_corrupt_cache_is_rebuilt(icd: CodeSystem, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = cache_path(tmp_path)
    path.write_bytes(b"\x80\x05 this is not a pickle")
    with caplog.at_level(logging.WARNING):
        rebuilt = load_icd10cm(tmp_path)
    assert any("unusable" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)
    assert rebuilt.concepts == icd.concepts
    assert read_cache(path, "icd10cm", icd.version) is not None  # rewritten, readable


@pytest.mark.parametrize(
    "payload",
    [
        b"",  # empty (e.g. a crash before the atomic rename existed)
        pickle.dumps({"format": 1, "x": Path("a class")}),  # any class or function is refused
        pickle.dumps(["not", "a", "dict"]),
    ],
)
def test_other_bad_caches_are_rebuilt(icd: CodeSystem, tmp_path: Path, payload: bytes) -> None:
    cache_path(tmp_path).write_bytes(payload)
    assert load_icd10cm(tmp_path).concepts == icd.concepts


def test_stale_cache_is_rebuilt(icd: CodeSystem, tmp_path: Path) -> None:
    cache_path(tmp_path).write_bytes(pickle.dumps({"format": -1, "name": "icd10cm", "version": icd.version}))
    assert len(load_icd10cm(tmp_path)) == len(icd)


def test_unwritable_cache_dir_still_loads(icd: CodeSystem, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING):
        system = load_icd10cm(blocker / "cache")
    assert len(system) == len(icd)
    assert any("could not write cache" in r.getMessage() for r in caplog.records)


def test_in_memory_load_is_shared() -> None:
    assert load_icd10cm() is load_icd10cm()
