"""Type maps from other gold standards' types to identifier types and categories."""

from __future__ import annotations

from pathlib import Path

import pytest

from cliniloop.models.text.deid.type_maps import TypeMapError, TypeTarget, builtin_type_maps, load_type_map
from cliniloop.models.text.deid.types import PHI_TYPES

PHYSIONET_TYPES = ["HCPName", "PTName", "PTNameInitial", "RelativeProxyName", "Date", "DateYear", "Location", "Phone", "Age", "Other"]
I2B2_2014_TYPES = [
    "PATIENT", "DOCTOR", "USERNAME", "PROFESSION", "ROOM", "DEPARTMENT", "HOSPITAL", "ORGANIZATION", "STREET", "CITY",
    "STATE", "COUNTRY", "ZIP", "LOCATION-OTHER", "AGE", "DATE", "PHONE", "FAX", "EMAIL", "URL", "IPADDR", "SSN",
    "MEDICALRECORD", "HEALTHPLAN", "ACCOUNT", "LICENSE", "VEHICLE", "DEVICE", "BIOID", "IDNUM",
]  # fmt: skip


def test_builtin_maps_are_listed_and_load() -> None:
    assert builtin_type_maps() == ["identity", "i2b2-2006", "i2b2-2014", "physionet"]
    for name in builtin_type_maps():
        assert load_type_map(name).name == name


def test_identity_map_is_every_identifier_type_to_itself() -> None:
    tmap = load_type_map("identity")
    assert {t: tmap.get(t) for t in PHI_TYPES} == {t: TypeTarget(t) for t in PHI_TYPES}
    assert tmap.get("PATIENT") is None


def test_physionet_map_covers_the_corpus_categories() -> None:
    tmap = load_type_map("physionet")
    assert sorted(tmap.foreign_types()) == sorted(t.upper() for t in PHYSIONET_TYPES)
    assert tmap.get("HCPName") == TypeTarget("NAME", "clinician")
    assert tmap.get("PTName") == tmap.get("PTNameInitial") == tmap.get("RelativeProxyName") == TypeTarget("NAME")
    assert tmap.get("DateYear") == TypeTarget("DATE", "year") and tmap.get("Date") == TypeTarget("DATE")
    assert tmap.get("Location") == TypeTarget("LOCATION") and tmap.get("Other") == TypeTarget("MRN")
    assert tmap.get("hcpname") == tmap.get("HCPNAME")  # case-insensitive


def test_i2b2_maps_cover_their_types() -> None:
    old = load_type_map("i2b2-2006")
    assert sorted(old.foreign_types()) == sorted(["PATIENT", "DOCTOR", "HOSPITAL", "LOCATION", "DATE", "ID", "PHONE", "AGE"])
    assert old.get("DOCTOR") == TypeTarget("NAME", "clinician") and old.get("HOSPITAL") == TypeTarget("LOCATION", "facility")
    new = load_type_map("i2b2-2014")
    assert sorted(new.foreign_types()) == sorted(I2B2_2014_TYPES)
    assert all(new.get(t).ignored for t in ("PROFESSION", "STATE", "COUNTRY"))
    assert new.get("MEDICALRECORD") == TypeTarget("MRN") and new.get("IPADDR") == TypeTarget("IP_ADDRESS")
    assert new.get("DEPARTMENT") == TypeTarget("LOCATION", "ward") and new.get("ORGANIZATION") == TypeTarget("LOCATION", "organization")
    assert new.get("VEHICLE") == TypeTarget("VEHICLE_ID") and new.get("HEALTHPLAN") == TypeTarget("HEALTH_PLAN")


def test_a_user_map_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.tsv"
    path.write_text("# my corpus\n\nPERSON\tNAME\nMD\tNAME\tclinician\nCOUNTY\tignore\n", encoding="utf-8")
    tmap = load_type_map(path)
    assert tmap.name == str(path) and tmap.get("person") == TypeTarget("NAME")
    assert tmap.get("MD") == TypeTarget("NAME", "clinician") and tmap.get("COUNTY").ignored


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("PERSON\tNAME\nWARD\tUNIT\n", "mine.tsv:2: WARD maps to unknown type 'UNIT'"),
        ("PERSON\tNAME\tboss\n", "mine.tsv:1: unknown category 'boss'"),
        ("PERSON\tNAME\nperson\tNAME\n", "mine.tsv:2: person is listed twice"),
        ("PERSON NAME\n", "mine.tsv:1: expected"),
        ("STATE\tignore\tyear\n", "mine.tsv:1: an ignored type"),
        ("# nothing\n", "no type mappings"),
    ],
)
def test_bad_user_maps_name_the_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "mine.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TypeMapError, match=message):
        load_type_map(path)


def test_neither_builtin_nor_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TypeMapError, match="neither a built-in type map .*physionet"):
        load_type_map("i2b2-2099")
    with pytest.raises(TypeMapError, match="neither"):
        load_type_map(tmp_path / "missing.tsv")
