"""BRAT standoff files: a ``name.txt`` with the text and a ``name.ann`` with its annotations.

Only text-bound annotations (``T`` lines) are read::

    T1<TAB>NAME 0 10<TAB>John Smith
    T2<TAB>LOCATION 25 31;32 37<TAB>Boston Street

Offsets are character offsets (end exclusive) into the ``.txt`` file read as UTF-8 with no
newline translation; fragments of a discontinuous entity are separated by ``;`` and their
texts joined by a single space in the text field, as BRAT writes them. Attribute, relation,
event, note and comment lines (``A``, ``R``, ``E``, ``#``, ``N``, ...) are skipped.

Every problem with a file is raised as :class:`BratError` naming the file and, where there is
one, the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_ID = re.compile(r"T\d+\Z")
_TYPE = re.compile(r"[^\s;]+\Z")
_FRAGMENT = re.compile(r"(\d+) (\d+)\Z")


class BratError(ValueError):
    """A malformed BRAT document; the message is ``path:line: reason`` (``path: reason`` without a line).

    Attributes
    ----------
    path : Path
        The offending file (``.txt``, ``.ann`` or folder).
    line : int or None
        1-based line number in ``path``, or ``None`` when the problem is not on one line.
    reason : str
        What is wrong.
    """

    def __init__(self, path: Path, line: int | None, reason: str) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class BratEntity:
    """One text-bound annotation.

    Attributes
    ----------
    id : str
        The annotation id (``T1``, ``T2``, ...).
    type : str
        The entity type (for de-identification, a key of ``PHI_TYPES``).
    spans : tuple of (int, int)
        Character offsets ``(start, end)`` of each fragment, end exclusive, in file order.
    text : str
        The annotated text: the fragments' texts joined by single spaces.
    """

    id: str
    type: str
    spans: tuple[tuple[int, int], ...]
    text: str

    @property
    def start(self) -> int:
        """Offset of the first character covered by any fragment."""
        return min(s for s, _ in self.spans)

    @property
    def end(self) -> int:
        """Offset just after the last character covered by any fragment."""
        return max(e for _, e in self.spans)


@dataclass(frozen=True)
class BratDocument:
    """A text with its entities.

    Attributes
    ----------
    name : str
        Path of the ``.txt`` relative to the corpus root, without suffix, ``/``-separated
        (``patient-007/note-2``); the bare stem when read without a root.
    text : str
        The whole ``.txt`` file as UTF-8 text, line endings kept.
    entities : tuple of BratEntity
        The ``T`` annotations in ``.ann`` file order.
    """

    name: str
    text: str
    entities: tuple[BratEntity, ...]


def _read_utf8(path: Path) -> str:
    """Read ``path`` as UTF-8 with no newline translation; :class:`BratError` if it is not UTF-8."""
    if not path.is_file():
        raise BratError(path, None, "no such file")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BratError(path, None, f"not valid UTF-8 (byte 0x{raw[err.start]:02x} at offset {err.start})") from None


def _parse_entity(line: str, ann_path: Path, lineno: int, text: str) -> BratEntity:
    """Parse and validate one ``T`` line against ``text``."""
    fields = line.split("\t", 2)
    if len(fields) != 3:
        raise BratError(ann_path, lineno, f"expected 'T<n><TAB>TYPE START END<TAB>text', got {line[:80]!r}")
    ident, type_and_offsets, covered = fields
    if not _ID.match(ident):
        raise BratError(ann_path, lineno, f"bad annotation id {ident!r}")
    type_name, _, offsets = type_and_offsets.partition(" ")
    if not _TYPE.match(type_name):
        raise BratError(ann_path, lineno, f"bad entity type {type_name!r}")
    spans = []
    for fragment in offsets.split(";"):
        m = _FRAGMENT.match(fragment.strip())
        if not m:
            raise BratError(ann_path, lineno, f"bad offsets {offsets!r} (expected 'START END[;START END...]')")
        start, end = int(m.group(1)), int(m.group(2))
        if not start < end:
            raise BratError(ann_path, lineno, f"empty or reversed span {start}-{end}")
        if end > len(text):
            raise BratError(
                ann_path, lineno, f"span {start}-{end} is beyond the end of the text ({len(text)} characters)"
            )
        spans.append((start, end))
    expected = " ".join(text[s:e] for s, e in spans)
    if covered != expected:
        raise BratError(ann_path, lineno, f"text field {covered!r} does not match the text at {offsets}: {expected!r}")
    return BratEntity(id=ident, type=type_name, spans=tuple(spans), text=covered)


def read_brat_document(txt_path: Path, root: Path | None = None) -> BratDocument:
    """Read ``x.txt`` and its ``x.ann`` and check every entity against the text.

    Parameters
    ----------
    txt_path : Path
        The ``.txt`` file; the ``.ann`` file next to it must exist (it may be empty).
    root : Path, optional
        Corpus root that :attr:`BratDocument.name` is relative to; without it the name is the
        file's stem.

    Raises
    ------
    BratError
        If either file is missing or not UTF-8, or an entity line is malformed, has offsets
        outside the text, or a text field that differs from the text at its offsets (the
        ``.ann`` file and line are named).
    """
    txt_path = Path(txt_path)
    ann_path = txt_path.with_suffix(".ann")
    text = _read_utf8(txt_path)
    if not ann_path.is_file():
        raise BratError(ann_path, None, f"no annotation file for {txt_path.name}")
    ann = _read_utf8(ann_path)
    entities: list[BratEntity] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(ann.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if not line.startswith("T"):
            continue  # blank, attribute, relation, event, note or comment line
        entity = _parse_entity(line, ann_path, lineno, text)
        if entity.id in seen:
            raise BratError(ann_path, lineno, f"duplicate annotation id {entity.id}")
        seen.add(entity.id)
        entities.append(entity)
    if root is None:
        name = txt_path.stem
    else:
        name = txt_path.relative_to(root).with_suffix("").as_posix()
    return BratDocument(name=name, text=text, entities=tuple(entities))


def read_brat_dir(root: Path) -> list[BratDocument]:
    """Read every ``.txt`` (with its ``.ann``) under ``root``, recursively, sorted by name.

    Hidden files and files in hidden folders are skipped.

    Raises
    ------
    FileNotFoundError
        If ``root`` is not a folder.
    BratError
        If there is no ``.txt`` file under ``root``, or a document is malformed.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    paths = sorted(
        p
        for p in root.rglob("*.txt")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not paths:
        raise BratError(root, None, "no .txt files found")
    return [read_brat_document(p, root) for p in paths]


def write_brat_document(root: Path, name: str, text: str, entities: Iterable[tuple[int, int, str]]) -> Path:
    """Write ``root/name.txt`` and ``root/name.ann``, creating subfolders.

    Files are UTF-8 with no newline translation so offsets stay exact. Entities get ids
    ``T1``, ``T2``, ... in offset order.

    Parameters
    ----------
    root : Path
        Corpus root.
    name : str
        Document name relative to ``root``, ``/``-separated, without suffix.
    text : str
        The document text.
    entities : iterable of (int, int, str)
        ``(start, end, type)`` character offsets (end exclusive) into ``text``.

    Returns
    -------
    Path
        The ``.txt`` file written.

    Raises
    ------
    ValueError
        If ``name`` is absolute or leaves ``root``, a span is empty or outside ``text``, a
        type is not a single token, or a span contains a line break (it could not be
        written on one ``.ann`` line).
    """
    rel = Path(name)
    if not name or rel.is_absolute() or ".." in rel.parts or rel.suffix in {".txt", ".ann"}:
        raise ValueError(f"bad document name {name!r}: give a relative path without suffix")
    lines = []
    for i, (start, end, type_name) in enumerate(sorted(entities), start=1):
        if not 0 <= start < end <= len(text):
            raise ValueError(f"{name}: bad span {start}-{end} for a text of {len(text)} characters")
        if not _TYPE.match(type_name):
            raise ValueError(f"{name}: bad entity type {type_name!r}")
        covered = text[start:end]
        if "\n" in covered or "\r" in covered:
            raise ValueError(f"{name}: span {start}-{end} ({covered!r}) contains a line break")
        lines.append(f"T{i}\t{type_name} {start} {end}\t{covered}\n")
    txt_path = Path(root) / f"{name}.txt"
    txt_path.parent.mkdir(parents=True, exist_ok=True)
    with txt_path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    with txt_path.with_suffix(".ann").open("w", encoding="utf-8", newline="") as fh:
        fh.write("".join(lines))
    return txt_path
