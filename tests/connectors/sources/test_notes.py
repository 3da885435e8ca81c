from __future__ import annotations

from pathlib import Path

import pytest

from cliniloop.connectors.sources.notes import NoteFileError, iter_note_paths, read_note


def test_reads_utf8_and_strips_bom(tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_bytes("\ufeffFièvre absent.\n".encode())
    note = read_note(p, 1000)
    assert note.text == "Fièvre absent.\n"
    assert note.content_hash == read_note(p, 1000).content_hash


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"  \n\t ", "empty"),
        (b"caf\xe9 au lait", "not valid UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (bytes(range(1, 32)) * 10, "binary"),
    ],
)
def test_bad_files_raise_with_path_and_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    p = tmp_path / "bad.txt"
    p.write_bytes(content)
    with pytest.raises(NoteFileError) as err:
        read_note(p, 10_000)
    assert reason in err.value.reason
    assert str(p) in str(err.value)


def test_too_large_is_rejected_before_reading(tmp_path: Path) -> None:
    p = tmp_path / "big.txt"
    p.write_text("x" * 101)
    with pytest.raises(NoteFileError, match="too large: 101 bytes"):
        read_note(p, 100)


def test_iter_skips_hidden_and_sorts(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("b")
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / ".hidden").write_text("h")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("c")
    assert [p.name for p in iter_note_paths(tmp_path)] == ["a.txt", "b.txt", "c.txt"]
    with pytest.raises(FileNotFoundError):
        list(iter_note_paths(tmp_path / "nope"))


def test_punctuation_only_note_is_refused(tmp_path: Path) -> None:
    """Issue 20, defect 4: a note of punctuation alone is no note."""
    p = tmp_path / "dots.txt"
    p.write_text("... --- !!! ***\n;;;\n")
    with pytest.raises(NoteFileError, match="punctuation or symbols only"):
        read_note(p, 10_000)
