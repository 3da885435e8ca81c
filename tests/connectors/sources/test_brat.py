from __future__ import annotations

from pathlib import Path

import pytest

from cliniloop.connectors.sources.brat import (
    BratDocument,
    BratEntity,
    BratError,
    read_brat_dir,
    read_brat_document,
    write_brat_document,
)


def _write(folder: Path, name: str, text: str, ann: str) -> Path:
    txt = folder / f"{name}.txt"
    txt.parent.mkdir(parents=True, exist_ok=True)
    txt.write_bytes(text.encode("utf-8"))
    txt.with_suffix(".ann").write_bytes(ann.encode("utf-8"))
    return txt


def test_round_trip_keeps_offsets_exact(tmp_path: Path) -> None:
    text = "Pt: José Núñez\r\nDOB 03/04/1931, Boston MA 02118.\nSeen by Dr. Wong.\n"
    wong, dob = text.index("Wong"), text.index("03/04")
    ents = [(wong, wong + 4, "NAME"), (4, 14, "NAME"), (dob, dob + 10, "DATE")]
    path = write_brat_document(tmp_path, "patient-001/note-1", text, ents)
    assert path == tmp_path / "patient-001" / "note-1.txt"
    assert path.read_bytes() == text.encode("utf-8")  # no newline translation
    doc = read_brat_document(path, tmp_path)
    assert doc.name == "patient-001/note-1"
    assert doc.text == text
    assert [e.id for e in doc.entities] == ["T1", "T2", "T3"]  # numbered in offset order
    assert [(e.spans, e.type) for e in doc.entities] == [(((s, e),), t) for s, e, t in sorted(ents)]
    assert [e.text for e in doc.entities] == ["José Núñez", "03/04/1931", "Wong"]
    assert all(doc.text[e.start : e.end] == e.text for e in doc.entities)


def test_write_then_read_dir_is_sorted_and_recursive(tmp_path: Path) -> None:
    write_brat_document(tmp_path, "b/note-1", "Bob Jones", [(0, 3, "NAME")])
    write_brat_document(tmp_path, "a/note-2", "nothing here", [])
    write_brat_document(tmp_path, "a/note-10", "Ann", [(0, 3, "NAME")])
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.txt").write_text("ignored")
    (tmp_path / "a" / ".swap.txt").write_text("ignored")
    docs = read_brat_dir(tmp_path)
    assert [d.name for d in docs] == ["a/note-10", "a/note-2", "b/note-1"]
    assert docs[1].entities == ()
    assert docs[2].entities == (BratEntity("T1", "NAME", ((0, 3),), "Bob"),)


def test_empty_ann_is_no_entities(tmp_path: Path) -> None:
    txt = _write(tmp_path, "n", "No identifiers.", "")
    assert read_brat_document(txt) == BratDocument("n", "No identifiers.", ())


def test_discontinuous_spans(tmp_path: Path) -> None:
    text = "Smith\nJohn and more"
    txt = _write(tmp_path, "d", text, "T1\tNAME 0 5;6 10\tSmith John\n")
    (ent,) = read_brat_document(txt).entities
    assert ent.spans == ((0, 5), (6, 10))
    assert ent.text == "Smith John"
    assert (ent.start, ent.end) == (0, 10)


def test_non_entity_lines_are_ignored(tmp_path: Path) -> None:
    ann = (
        "T1\tNAME 0 4\tJohn\n"
        "A1\tNegated T1\n"
        "R1\tRel Arg1:T1 Arg2:T2\n"
        "E1\tEvent:T1\n"
        "#1\tAnnotatorNotes T1\tchecked\n"
        "N1\tReference T1 Wikipedia:123\tJohn\n"
        "\n"
        "T2\tDATE 9 13\t2021\r\n"
    )
    txt = _write(tmp_path, "x", "John, in 2021", ann)
    doc = read_brat_document(txt)
    assert [(e.id, e.type, e.text) for e in doc.entities] == [("T1", "NAME", "John"), ("T2", "DATE", "2021")]


def test_mismatched_text_field_names_file_and_line(tmp_path: Path) -> None:
    txt = _write(tmp_path, "m", "John Smith was seen.", "T1\tNAME 0 4\tJohn\n#1\tnote\nT2\tNAME 5 10\tSmyth\n")
    with pytest.raises(BratError) as err:
        read_brat_document(txt)
    assert err.value.path == txt.with_suffix(".ann")
    assert err.value.line == 3
    assert str(err.value).startswith(f"{txt.with_suffix('.ann')}:3: ")
    assert "Smyth" in str(err.value) and "Smith" in str(err.value)


def test_discontinuous_text_must_join_with_one_space(tmp_path: Path) -> None:
    txt = _write(tmp_path, "d", "Smith\nJohn", "T1\tNAME 0 5;6 10\tSmith\nJohn\n")
    with pytest.raises(BratError, match=r"d\.ann:1: "):
        read_brat_document(txt)


@pytest.mark.parametrize(
    ("ann", "reason"),
    [
        ("T1\tNAME 0 99\tJohn\n", "beyond the end"),
        ("T1\tNAME 4 2\tJo\n", "empty or reversed"),
        ("T1\tNAME 0 x\tJohn\n", "bad offsets"),
        ("T1\tNAME 0 4\n", "expected"),
        ("T1\tNAME 0 4\tJohn\nT1\tNAME 0 4\tJohn\n", "duplicate"),
        ("Tx\tNAME 0 4\tJohn\n", "bad annotation id"),
    ],
)
def test_malformed_entity_lines(tmp_path: Path, ann: str, reason: str) -> None:
    txt = _write(tmp_path, "bad", "John Smith", ann)
    with pytest.raises(BratError) as err:
        read_brat_document(txt)
    assert reason in err.value.reason
    assert err.value.line is not None
    assert str(txt.with_suffix(".ann")) in str(err.value)


def test_missing_ann_is_an_error_naming_it(tmp_path: Path) -> None:
    txt = tmp_path / "lonely.txt"
    txt.write_text("text")
    with pytest.raises(BratError) as err:
        read_brat_document(txt)
    assert err.value.path == tmp_path / "lonely.ann"
    assert err.value.line is None
    assert "lonely.ann" in str(err.value)


@pytest.mark.parametrize("which", ["txt", "ann"])
def test_non_utf8_is_an_error_naming_the_file(tmp_path: Path, which: str) -> None:
    txt = _write(tmp_path, "latin", "cafe", "")
    bad = txt if which == "txt" else txt.with_suffix(".ann")
    bad.write_bytes(b"caf\xe9")
    with pytest.raises(BratError) as err:
        read_brat_document(txt)
    assert err.value.path == bad
    assert "not valid UTF-8" in err.value.reason


def test_read_dir_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_brat_dir(tmp_path / "nope")
    (tmp_path / "x.ann").write_text("")
    with pytest.raises(BratError, match="no .txt files"):
        read_brat_dir(tmp_path)


def test_write_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="line break"):
        write_brat_document(tmp_path, "n", "12 Oak St\nBoston", [(0, 16, "LOCATION")])
    with pytest.raises(ValueError, match="bad span"):
        write_brat_document(tmp_path, "n", "abc", [(1, 9, "NAME")])
    with pytest.raises(ValueError, match="bad span"):
        write_brat_document(tmp_path, "n", "abc", [(2, 2, "NAME")])
    with pytest.raises(ValueError, match="entity type"):
        write_brat_document(tmp_path, "n", "abc", [(0, 1, "TWO WORDS")])
    for name in ("../escape", "/abs/path", "n.txt", ""):
        with pytest.raises(ValueError, match="document name"):
            write_brat_document(tmp_path, name, "abc", [])
    assert not list(tmp_path.rglob("*"))
