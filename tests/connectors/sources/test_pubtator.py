"""PubTator reading and sentence splitting."""

from __future__ import annotations

from pathlib import Path

import pytest

from cliniloop.connectors.sources.pubtator import PubTatorError, read_pubtator, read_pubtator_sentences

DOC = (
    "227508|t|Naloxone reverses the antihypertensive effect of clonidine.\n"
    "227508|a|In rats the decrease in blood pressure was inhibited by naloxone. Naloxone alone did not affect heart rate.\n"
    "227508\t0\t8\tNaloxone\tChemical\tD009270\n"
    "227508\t49\t58\tclonidine\tChemical\tD003000\n"
    "227508\t116\t124\tnaloxone\tChemical\tD009270\n"
    "227508\tCID\tD008750\tD007022\n"
    "\n"
)


def test_reads_document_entities_and_skips_relations(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(DOC)
    (doc,) = read_pubtator(tmp_path / "a.txt")
    assert doc.pmid == "227508" and len(doc.entities) == 3
    assert doc.text[doc.entities[2].start : doc.entities[2].end] == "naloxone"


def test_sentences_are_split_with_relative_offsets(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(DOC)
    sents = read_pubtator_sentences(tmp_path / "a.txt")
    assert [s.text[:12] for s in sents] == ["Naloxone rev", "In rats the ", "Naloxone alo"]
    assert [len(s.spans) for s in sents] == [2, 1, 0]
    s = sents[1]
    assert s.text[s.spans[0].start : s.spans[0].end] == "naloxone"
    assert s.doc_id == "227508" and s.start == 60


def test_offsets_that_do_not_match_name_file_and_line(tmp_path: Path) -> None:
    bad = DOC.replace("227508\t49\t58\tclonidine", "227508\t48\t57\tclonidine")
    (tmp_path / "bad.txt").write_text(bad)
    with pytest.raises(PubTatorError, match=r"bad\.txt:4: offsets 48-57"):
        read_pubtator(tmp_path / "bad.txt")


def test_malformed_mention_line_is_named(tmp_path: Path) -> None:
    (tmp_path / "bad.txt").write_text(DOC.replace("227508\t0\t8\tNaloxone\tChemical\tD009270", "227508\tx\ty"))
    with pytest.raises(PubTatorError, match=r"bad\.txt:3: expected"):
        read_pubtator(tmp_path / "bad.txt")


def test_named_files_name_the_option_when_missing_or_empty(tmp_path: Path) -> None:
    from cliniloop.connectors.sources.pubtator import read_named_pubtator_files

    (tmp_path / "a.txt").write_text(DOC)
    (tmp_path / "empty.txt").write_text("\n")
    got = read_named_pubtator_files({"--train": tmp_path / "a.txt"})
    assert len(got["--train"]) == 3
    with pytest.raises(FileNotFoundError, match="--test .*nope.txt"):
        read_named_pubtator_files({"--train": tmp_path / "a.txt", "--test": tmp_path / "nope.txt"})
    with pytest.raises(PubTatorError, match="--test .*empty.txt: no sentences"):
        read_named_pubtator_files({"--train": tmp_path / "a.txt", "--test": tmp_path / "empty.txt"})


def test_padded_mention_text_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(DOC.replace("\tclonidine\tChemical", "\tclonidine  \tChemical", 1))
    (doc,) = read_pubtator(tmp_path / "a.txt")
    assert doc.text[doc.entities[1].start : doc.entities[1].end] == "clonidine"
