"""Gold identifier spans of de-identification corpora in their own layouts.

Three layouts, each read into :class:`GoldNote` objects whose mentions keep the corpus's own type
names (a type map turns them into cliniloop types, :mod:`cliniloop.models.text.deid.type_maps`):

- ``brat``: a folder of ``<note>.txt`` + ``<note>.ann`` (:mod:`cliniloop.connectors.sources.brat`).
- ``physionet``: the PhysioNet ``deid`` gold standard. ``id.text`` holds the records::

      START_OF_RECORD=<patient>||||<note>||||
      ...note text, any number of lines...
      ||||END_OF_RECORD

  and ``id-phi.phrase`` one identifier a line, space-separated::

      <patient> <note> <start> <end> <type> <phrase...>

  ``start``/``end`` are character offsets (end exclusive) into the record's text: the characters
  after the ``START_OF_RECORD`` line's line break up to the ``||||END_OF_RECORD`` marker (the last
  line's break included). Every phrase must equal the text at its offsets (runs of white space
  compared as one space). Notes are named ``p<patient>_n<note>``, numbers padded to 3 digits.
- ``i2b2``: i2b2 XML. The 2014 track's one file per note::

      <deIdi2b2><TEXT><![CDATA[...]]></TEXT>
      <TAGS><NAME id="P0" start="16" end="26" text="..." TYPE="PATIENT" comment=""/>...</TAGS></deIdi2b2>

  (offsets into the TEXT content; the type is the ``TYPE`` attribute, else the tag name; a
  ``text`` attribute must equal the text at the offsets), and the 2006 challenge's single file of
  ``<RECORD ID="..."><TEXT>... <PHI TYPE="DOCTOR">...</PHI> ...</TEXT></RECORD>`` (inline tags;
  the offsets are counted here). Notes are named by file path (2014) or record id (2006).

Every problem is raised as :class:`DeidCorpusError` naming the file and the line or tag.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from cliniloop.connectors.sources.brat import read_brat_dir

FORMATS = ("brat", "physionet", "i2b2")
PHYSIONET_TEXT = "id.text"
PHYSIONET_PHRASES = "id-phi.phrase"

_START = re.compile(r"START_OF_RECORD=([^|\s]+)\|\|\|\|([^|\s]+)\|\|\|\|\s*\Z")
_END = "||||END_OF_RECORD"
_LINES = re.compile(r"[^\n]*\n|[^\n]+\Z")  # lines with their line break (only \n splits: offsets stay exact)


class DeidCorpusError(ValueError):
    """A gold file that cannot be read; the message is ``path:line: reason`` or ``path: tag: reason``."""


@dataclass(frozen=True)
class GoldMention:
    """One gold identifier: ``text[start:end]`` has the corpus's type ``type``.

    ``where`` says where it is written (``id-phi.phrase:12``, ``note.xml: tag P3``) for messages.
    """

    start: int
    end: int
    type: str
    where: str


@dataclass(frozen=True)
class GoldNote:
    """A note's text and its gold identifiers."""

    name: str
    text: str
    mentions: tuple[GoldMention, ...]


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DeidCorpusError(f"{path}: no such file")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DeidCorpusError(f"{path}: not valid UTF-8 (byte 0x{raw[err.start]:02x} at offset {err.start})") from None


def _note_name(patient: str, note: str) -> str:
    return f"p{patient.zfill(3)}_n{note.zfill(3)}"


# ----------------------------------------------------------------------------- BRAT
def read_brat_gold(root: Path) -> list[GoldNote]:
    """A BRAT folder's notes (discontinuous entities give one mention per fragment)."""
    notes = []
    for doc in read_brat_dir(Path(root)):
        mentions = tuple(
            GoldMention(s, e, ent.type, f"{doc.name}.ann: entity {ent.id}") for ent in doc.entities for s, e in ent.spans
        )
        notes.append(GoldNote(doc.name, doc.text, mentions))
    return notes


# ------------------------------------------------------------------------ PhysioNet
def read_physionet_records(path: Path) -> dict[tuple[str, str], str]:
    """``(patient, note) -> record text`` of an ``id.text`` file, in file order.

    Raises
    ------
    DeidCorpusError
        For text outside a record, a record that does not end, or a record id seen twice.
    """
    text = _read_text(path)
    records: dict[tuple[str, str], str] = {}
    current: tuple[str, str] | None = None
    started_at = 0
    body: list[str] = []
    for lineno, line in enumerate(_LINES.findall(text), start=1):
        stripped = line.rstrip("\r\n")
        if current is None:
            if not stripped.strip():
                continue
            m = _START.match(stripped)
            if not m:
                raise DeidCorpusError(f"{path}:{lineno}: expected 'START_OF_RECORD=<patient>||||<note>||||', got {stripped[:60]!r}")
            current, started_at, body = (m.group(1), m.group(2)), lineno, []
            if current in records:
                raise DeidCorpusError(f"{path}:{lineno}: record {current[0]}||||{current[1]} appears twice")
            continue
        if stripped.endswith(_END):
            body.append(stripped[: -len(_END)])
            records[current] = "".join(body)
            current = None
            continue
        if _START.match(stripped):
            raise DeidCorpusError(f"{path}:{lineno}: new record before the end of the record started on line {started_at}")
        body.append(line)
    if current is not None:
        raise DeidCorpusError(f"{path}:{started_at}: record {current[0]}||||{current[1]} has no '{_END}' line")
    if not records:
        raise DeidCorpusError(f"{path}: no records")
    return records


def read_physionet(path: Path) -> list[GoldNote]:
    """The notes of a PhysioNet ``deid`` gold standard, every phrase checked against its text.

    Parameters
    ----------
    path : Path
        A folder holding ``id.text`` and ``id-phi.phrase``, or either file (the other one is
        looked for next to it).

    Raises
    ------
    DeidCorpusError
        For a missing file, a malformed record or phrase line, a phrase of an unknown record, or
        offsets that do not fit the record's text (file and line named).
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    text_path, phrase_path = folder / PHYSIONET_TEXT, folder / PHYSIONET_PHRASES
    if path.is_file() and path.name not in (PHYSIONET_TEXT, PHYSIONET_PHRASES):
        text_path = path  # a differently named .text file: its phrases next to it
    if not phrase_path.is_file():
        raise DeidCorpusError(f"{phrase_path}: no such file (the gold identifiers of {text_path})")
    records = read_physionet_records(text_path)
    mentions: dict[tuple[str, str], list[GoldMention]] = {key: [] for key in records}
    for lineno, raw in enumerate(_read_text(phrase_path).split("\n"), start=1):
        if not raw.strip():
            continue
        fields = raw.split(None, 5)
        where = f"{phrase_path}:{lineno}"
        if len(fields) < 5 or not fields[2].isdigit() or not fields[3].isdigit():
            raise DeidCorpusError(f"{where}: expected '<patient> <note> <start> <end> <type> <phrase>', got {raw[:80]!r}")
        key, start, end, phi_type = (fields[0], fields[1]), int(fields[2]), int(fields[3]), fields[4]
        phrase = fields[5] if len(fields) == 6 else ""
        if key not in records:
            raise DeidCorpusError(f"{where}: record {key[0]}||||{key[1]} is not in {text_path}")
        record = records[key]
        if not start < end:
            raise DeidCorpusError(f"{where}: empty or reversed span {start}-{end}")
        if end > len(record):
            raise DeidCorpusError(
                f"{where}: span {start}-{end} is beyond the end of record {key[0]}||||{key[1]} ({len(record)} characters)"
            )
        if phrase and not _same_text(record[start:end], phrase):
            raise DeidCorpusError(
                f"{where}: phrase {phrase!r} does not match the text of record {key[0]}||||{key[1]} at {start}-{end}: {record[start:end]!r}"
            )
        mentions[key].append(GoldMention(start, end, phi_type, where))
    return [GoldNote(_note_name(*key), text, tuple(mentions[key])) for key, text in records.items()]


# ----------------------------------------------------------------------------- i2b2
def _parse_xml(path: Path) -> ET.Element:
    text = _read_text(path)  # UTF-8 checked with a clear message before the parser sees it
    try:
        return ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as err:
        line, column = err.position
        raise DeidCorpusError(f"{path}:{line}: not well-formed XML (column {column + 1}): {err}") from None


def _i2b2_2014_note(path: Path, root: ET.Element, name: str) -> GoldNote:
    text_el = root.find("TEXT")
    if text_el is None:
        raise DeidCorpusError(f"{path}: no <TEXT> element")
    text = text_el.text or ""
    tags = root.find("TAGS")
    mentions = []
    for i, tag in enumerate(tags if tags is not None else [], start=1):
        ident = tag.get("id") or f"#{i}"
        where = f"{path}: tag {tag.tag} {ident}"
        try:
            start, end = int(tag.get("start", "")), int(tag.get("end", ""))
        except ValueError:
            raise DeidCorpusError(f"{where}: start/end must be integers, got {tag.get('start')!r}/{tag.get('end')!r}") from None
        if not 0 <= start < end:
            raise DeidCorpusError(f"{where}: empty or reversed span {start}-{end}")
        if end > len(text):
            raise DeidCorpusError(f"{where}: span {start}-{end} is beyond the end of the text ({len(text)} characters)")
        written = tag.get("text")
        if written is not None and not _same_text(text[start:end], written):
            raise DeidCorpusError(f"{where}: text {written!r} does not match the text at {start}-{end}: {text[start:end]!r}")
        mentions.append(GoldMention(start, end, tag.get("TYPE") or tag.tag, where))
    return GoldNote(name, text, tuple(mentions))


def _i2b2_2006_notes(path: Path, root: ET.Element) -> list[GoldNote]:
    notes = []
    for r, record in enumerate(root.iter("RECORD"), start=1):
        ident = record.get("ID") or str(r)
        text_el = record.find("TEXT")
        if text_el is None:
            raise DeidCorpusError(f"{path}: RECORD {ident}: no <TEXT> element")
        parts, mentions = [text_el.text or ""], []
        offset = len(parts[0])
        for k, child in enumerate(text_el, start=1):
            inner = "".join(child.itertext())
            if child.tag == "PHI":
                phi_type = child.get("TYPE")
                if not phi_type:
                    raise DeidCorpusError(f"{path}: RECORD {ident}: PHI #{k} has no TYPE")
                if inner:
                    mentions.append(GoldMention(offset, offset + len(inner), phi_type, f"{path}: RECORD {ident} PHI #{k}"))
            parts += [inner, child.tail or ""]
            offset += len(inner) + len(child.tail or "")
        notes.append(GoldNote(ident, "".join(parts), tuple(mentions)))
    if not notes:
        raise DeidCorpusError(f"{path}: no <RECORD> elements")
    if len({n.name for n in notes}) != len(notes):
        raise DeidCorpusError(f"{path}: RECORD ids are not unique")
    return notes


def _xml_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.xml") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))


def read_i2b2(path: Path) -> list[GoldNote]:
    """i2b2 XML notes: a 2014-style ``.xml`` file or folder of them (recursive), or a 2006 file.

    Raises
    ------
    DeidCorpusError
        For a folder without ``.xml`` files, XML that is not well-formed, a root element other than
        ``deIdi2b2`` or ``ROOT``, or a tag whose offsets do not fit the text (file and tag named).
    """
    path = Path(path)
    if path.is_dir():
        files, base = _xml_files(path), path
        if not files:
            raise DeidCorpusError(f"{path}: no .xml files found")
    else:
        files, base = [path], path.parent
    notes = []
    for file in files:
        root = _parse_xml(file)
        if root.tag == "deIdi2b2":
            notes.append(_i2b2_2014_note(file, root, file.relative_to(base).with_suffix("").as_posix()))
        elif root.find("RECORD") is not None:
            notes += _i2b2_2006_notes(file, root)
        else:
            raise DeidCorpusError(f"{file}: root element <{root.tag}> is neither <deIdi2b2> (2014) nor a <ROOT> of <RECORD>s (2006)")
    if len({n.name for n in notes}) != len(notes):
        raise DeidCorpusError(f"{path}: note names are not unique across the files")
    return notes


# --------------------------------------------------------------------- dispatching
def detect_format(path: Path) -> str:
    """Which layout ``path`` holds: ``physionet``, ``i2b2`` or ``brat``.

    A file: ``id-phi.phrase`` or ``*.text`` is PhysioNet, ``*.xml`` is i2b2. A folder: ``id.text``
    in it is PhysioNet; otherwise ``.xml`` files (recursive) make i2b2 and ``.txt`` files BRAT.

    Raises
    ------
    DeidCorpusError
        When nothing fits or a folder holds both ``.xml`` and ``.txt`` files (pass the format).
    """
    path = Path(path)
    if path.is_file():
        if path.name == PHYSIONET_PHRASES or path.suffix == ".text":
            return "physionet"
        if path.suffix == ".xml":
            return "i2b2"
        raise DeidCorpusError(f"{path}: cannot tell the gold format from the file name; pass --format ({', '.join(FORMATS)})")
    if not path.is_dir():
        raise DeidCorpusError(f"{path}: no such file or folder")
    if (path / PHYSIONET_TEXT).is_file():
        return "physionet"
    has_xml = bool(_xml_files(path))
    has_txt = any(p.is_file() and not any(s.startswith(".") for s in p.relative_to(path).parts) for p in path.rglob("*.txt"))
    if has_xml and has_txt:
        raise DeidCorpusError(f"{path}: holds both .xml and .txt files; pass --format ({', '.join(FORMATS)})")
    if has_xml:
        return "i2b2"
    if has_txt:
        return "brat"
    raise DeidCorpusError(f"{path}: no {PHYSIONET_TEXT}, .xml or .txt files found")


def read_gold(path: Path, data_format: str | None = None) -> tuple[str, list[GoldNote]]:
    """``(format, notes)`` of the gold corpus at ``path`` (format detected when not given).

    Raises
    ------
    DeidCorpusError
        For an unknown format or a bad file; :class:`~cliniloop.connectors.sources.brat.BratError` for a
        bad BRAT file.
    """
    fmt = data_format or detect_format(path)
    if fmt == "brat":
        if not Path(path).is_dir():
            raise DeidCorpusError(f"{path}: BRAT gold is a folder of .txt + .ann files")
        return fmt, read_brat_gold(path)
    if fmt == "physionet":
        return fmt, read_physionet(path)
    if fmt == "i2b2":
        return fmt, read_i2b2(path)
    raise DeidCorpusError(f"unknown gold format {fmt!r}; use one of {', '.join(FORMATS)}")
