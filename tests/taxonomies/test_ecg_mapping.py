"""MIT-BIH symbol -> AAMI class mapping (bundled, or a user's file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cliniloop.taxonomies.ecg import AAMI_CLASSES, load_beat_mapping


def test_bundled_mapping_follows_aami_ec57() -> None:
    m = load_beat_mapping()
    assert {m.to_class(s) for s in "NLRej"} == {"N"} and {m.to_class(s) for s in "AaJS"} == {"S"}
    assert m.to_class("V") == m.to_class("E") == "V" and m.to_class("F") == "F" and m.to_class("/") == "Q"
    assert m.to_class("+") is None and m.to_class("~") is None  # rhythm and noise annotations are not beats
    assert set(m.symbols.values()) == set(AAMI_CLASSES) and m.taxonomy_version.startswith("aami-ec57@")


def test_a_mapping_file_with_an_unknown_class_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"name": "mine", "version": "1", "symbols": {"N": "N", "A": "SVEB"}}))
    with pytest.raises(ValueError, match=r"mine\.json: symbol 'A' maps to 'SVEB'"):
        load_beat_mapping(path)
