"""Gold readers of de-identification corpora: PhysioNet deid, i2b2 XML, BRAT; tiny synthetic fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from cliniloop.connectors.sources.brat import write_brat_document
from cliniloop.connectors.sources.deid_corpora import DeidCorpusError, detect_format, read_gold, read_i2b2, read_physionet

NOTE_1 = "Pt seen by Dr Lee\non 3/4.\n"
NOTE_2 = "Call wife Ann at 555-0134\n"


def _physionet(folder: Path, phrases: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "id.text").write_text(
        f"START_OF_RECORD=1||||1||||\n{NOTE_1}||||END_OF_RECORD\n\nSTART_OF_RECORD=12||||3||||\n{NOTE_2}||||END_OF_RECORD\n",
        encoding="utf-8",
    )
    if phrases is None:
        phrases = "1 1 14 17 HCPName Lee\n1 1 21 24 Date 3/4\n12 3 10 13 RelativeProxyName Ann\n12 3 17 25 Phone 555-0134\n"
    (folder / "id-phi.phrase").write_text(phrases, encoding="utf-8")
    return folder


def test_physionet_records_and_phrases(tmp_path: Path) -> None:
    notes = read_physionet(_physionet(tmp_path / "pn"))
    assert [n.name for n in notes] == ["p001_n001", "p012_n003"]
    assert [n.text for n in notes] == [NOTE_1, NOTE_2]
    first, second = notes
    assert [(first.text[m.start : m.end], m.type) for m in first.mentions] == [("Lee", "HCPName"), ("3/4", "Date")]
    assert [(second.text[m.start : m.end], m.type) for m in second.mentions] == [("Ann", "RelativeProxyName"), ("555-0134", "Phone")]
    assert first.mentions[1].where.endswith("id-phi.phrase:2")
    # the same corpus read through either file
    assert read_physionet(tmp_path / "pn" / "id.text") == notes == read_physionet(tmp_path / "pn" / "id-phi.phrase")


def test_physionet_phrase_with_spaces_and_marker_after_text(tmp_path: Path) -> None:
    folder = tmp_path / "pn"
    folder.mkdir()
    (folder / "id.text").write_text("START_OF_RECORD=7||||2||||\nSon John  Smith here||||END_OF_RECORD\n", encoding="utf-8")
    (folder / "id-phi.phrase").write_text("7 2 4 15 RelativeProxyName John Smith\n", encoding="utf-8")
    (note,) = read_physionet(folder)
    assert note.text == "Son John  Smith here" and note.text[4:15] == "John  Smith"


@pytest.mark.parametrize(
    ("phrases", "message"),
    [
        ("1 1 14 17 HCPName Lee\n1 1 20 23 Date 3/4\n", r"id-phi.phrase:2: phrase '3/4' does not match the text of record 1\|\|\|\|1 at 20-23: ' 3/'"),
        ("1 1 14 99 HCPName Lee\n", r"id-phi.phrase:1: span 14-99 is beyond the end of record 1\|\|\|\|1 \(26 characters\)"),
        ("\n9 9 0 3 PTName Pat\n", r"id-phi.phrase:2: record 9\|\|\|\|9 is not in .*id.text"),
        ("1 1 x 3 PTName Pat\n", "id-phi.phrase:1: expected '<patient> <note> <start> <end> <type> <phrase>'"),
        ("1 1 5 5 PTName Pat\n", "id-phi.phrase:1: empty or reversed span 5-5"),
    ],
)
def test_physionet_alignment_errors_name_the_file_and_line(tmp_path: Path, phrases: str, message: str) -> None:
    with pytest.raises(DeidCorpusError, match=message):
        read_physionet(_physionet(tmp_path / "pn", phrases))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("START_OF_RECORD=1||||1||||\nno end\n", r"id.text:1: record 1\|\|\|\|1 has no '\|\|\|\|END_OF_RECORD' line"),
        ("stray text\n", "id.text:1: expected 'START_OF_RECORD=<patient>||||<note>||||'"),
        ("START_OF_RECORD=1||||1||||\na\n||||END_OF_RECORD\nSTART_OF_RECORD=1||||1||||\nb\n||||END_OF_RECORD\n", r"id.text:4: record 1\|\|\|\|1 appears twice"),
        ("START_OF_RECORD=1||||1||||\na\nSTART_OF_RECORD=1||||2||||\n", "id.text:3: new record before the end of the record started on line 1"),
    ],
)
def test_physionet_bad_records_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    folder = tmp_path / "pn"
    folder.mkdir()
    (folder / "id.text").write_text(text, encoding="utf-8")
    (folder / "id-phi.phrase").write_text("", encoding="utf-8")
    with pytest.raises(DeidCorpusError, match=message):
        read_physionet(folder)


def test_physionet_without_phrases_is_an_error(tmp_path: Path) -> None:
    folder = _physionet(tmp_path / "pn")
    (folder / "id-phi.phrase").unlink()
    with pytest.raises(DeidCorpusError, match="id-phi.phrase: no such file"):
        read_physionet(folder)


I2B2_TEXT = "\nRecord date: 2069-04-07\n\nJane Roe, 67, seen by Dr. Kay at Mercy.\n"


def _i2b2_2014(path: Path, tags: str, text: str = I2B2_TEXT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'<?xml version="1.0" encoding="UTF-8" ?>\n<deIdi2b2>\n<TEXT><![CDATA[{text}]]></TEXT>\n<TAGS>\n{tags}</TAGS>\n</deIdi2b2>\n',
        encoding="utf-8",
    )
    return path


def _tag(tag: str, ident: str, word: str, type_: str, text: str = I2B2_TEXT) -> str:
    start = text.index(word)
    return f'<{tag} id="{ident}" start="{start}" end="{start + len(word)}" text="{word}" TYPE="{type_}" comment="" />\n'


def test_i2b2_2014_folder(tmp_path: Path) -> None:
    tags = _tag("DATE", "P0", "2069-04-07", "DATE") + _tag("NAME", "P1", "Jane Roe", "PATIENT") + _tag("AGE", "P2", "67", "AGE")
    _i2b2_2014(tmp_path / "xml" / "set1" / "100-01.xml", tags)
    _i2b2_2014(tmp_path / "xml" / "200-02.xml", _tag("NAME", "P0", "Kay", "DOCTOR") + '<LOCATION id="P1" start="59" end="64" />\n')
    notes = read_i2b2(tmp_path / "xml")
    assert [n.name for n in notes] == ["200-02", "set1/100-01"]
    assert all(n.text == I2B2_TEXT for n in notes)
    assert [(I2B2_TEXT[m.start : m.end], m.type) for m in notes[1].mentions] == [("2069-04-07", "DATE"), ("Jane Roe", "PATIENT"), ("67", "AGE")]
    assert [(I2B2_TEXT[m.start : m.end], m.type) for m in notes[0].mentions] == [("Kay", "DOCTOR"), ("Mercy", "LOCATION")]  # no TYPE: the tag
    assert notes[0].mentions[0].where.endswith("200-02.xml: tag NAME P0")


def test_i2b2_2014_misaligned_tag_names_file_and_tag(tmp_path: Path) -> None:
    path = _i2b2_2014(tmp_path / "n.xml", '<NAME id="P7" start="26" end="34" text="Jane Doe" TYPE="PATIENT" comment="" />\n')
    with pytest.raises(DeidCorpusError, match=r"n.xml: tag NAME P7: text 'Jane Doe' does not match the text at 26-34: 'Jane Roe'"):
        read_i2b2(path)
    _i2b2_2014(path, '<NAME id="P8" start="27" end="999" text="x" TYPE="PATIENT" />\n')
    with pytest.raises(DeidCorpusError, match="tag NAME P8: span 27-999 is beyond the end of the text"):
        read_i2b2(path)
    _i2b2_2014(path, '<NAME id="P9" start="a" end="3" TYPE="PATIENT" />\n')
    with pytest.raises(DeidCorpusError, match="tag NAME P9: start/end must be integers"):
        read_i2b2(path)


def test_i2b2_bad_xml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.xml"
    path.write_text("<deIdi2b2>\n<TEXT>x</TEXT>\n<TAGS><NAME></TAGS>\n</deIdi2b2>\n", encoding="utf-8")
    with pytest.raises(DeidCorpusError, match=r"bad.xml:3: not well-formed XML"):
        read_i2b2(path)
    path.write_text("<other/>", encoding="utf-8")
    with pytest.raises(DeidCorpusError, match="root element <other> is neither"):
        read_i2b2(path)


def test_i2b2_2006_inline_file(tmp_path: Path) -> None:
    path = tmp_path / "deid_surrogate.xml"
    path.write_text(
        '<ROOT>\n<RECORD ID="11">\n<TEXT>\nSeen by <PHI TYPE="DOCTOR">Kay</PHI> at <PHI TYPE="HOSPITAL">Mercy</PHI> .\n</TEXT>\n</RECORD>\n'
        '<RECORD ID="12"><TEXT>No identifiers.</TEXT></RECORD>\n</ROOT>\n',
        encoding="utf-8",
    )
    first, second = read_i2b2(path)
    assert first.name == "11" and first.text == "\nSeen by Kay at Mercy .\n"
    assert [(first.text[m.start : m.end], m.type) for m in first.mentions] == [("Kay", "DOCTOR"), ("Mercy", "HOSPITAL")]
    assert second.text == "No identifiers." and second.mentions == ()


def test_format_is_told_by_what_the_path_holds(tmp_path: Path) -> None:
    pn = _physionet(tmp_path / "pn")
    xml = _i2b2_2014(tmp_path / "xml" / "a.xml", "")
    write_brat_document(tmp_path / "brat", "p1/n1", "Dr Lee", [(3, 6, "NAME")])
    assert detect_format(pn) == detect_format(pn / "id.text") == detect_format(pn / "id-phi.phrase") == "physionet"
    assert detect_format(xml.parent) == detect_format(xml) == "i2b2"
    assert detect_format(tmp_path / "brat") == "brat"
    fmt, notes = read_gold(tmp_path / "brat")
    assert fmt == "brat" and notes[0].name == "p1/n1" and notes[0].mentions[0].type == "NAME"
    assert notes[0].mentions[0].where == "p1/n1.ann: entity T1"
    assert read_gold(pn, "physionet")[0] == "physionet"
    (xml.parent / "x.txt").write_text("x", encoding="utf-8")
    with pytest.raises(DeidCorpusError, match="both .xml and .txt files; pass --format"):
        detect_format(xml.parent)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DeidCorpusError, match="no id.text, .xml or .txt files found"):
        detect_format(tmp_path / "empty")
    with pytest.raises(DeidCorpusError, match="unknown gold format 'csv'"):
        read_gold(pn, "csv")
