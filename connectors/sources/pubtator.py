"""PubTator files (BC5CDR, NCBI-disease): documents with title, abstract and entity mentions.

Format: per document a ``PMID|t|title`` line, a ``PMID|a|abstract`` line, then one
tab-separated mention line ``PMID  start  end  text  type  [id ...]`` per entity (offsets into
``title + " " + abstract``), and a blank line. Relation lines (``PMID  CID  ...``) are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cliniloop.services.core.labelled_text import EntitySpan, LabelledText

# A sentence ends at . ! ? followed by space and a capital, digit or bracket.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


class PubTatorError(ValueError):
    """A malformed PubTator file; the message names the file and line."""


@dataclass
class PubTatorDocument:
    """One document: ``text`` is title, a space, then the abstract (PubTator offsets use this)."""

    pmid: str
    text: str
    title_end: int
    entities: list[EntitySpan] = field(default_factory=list)


def read_pubtator(path: Path) -> list[PubTatorDocument]:
    """Read every document of a PubTator file.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    PubTatorError
        On a malformed line or a mention whose offsets do not match its text.
    """
    return list(iter_pubtator(Path(path)))


def iter_pubtator(path: Path) -> Iterator[PubTatorDocument]:
    """Yield documents from a PubTator file one at a time (see :func:`read_pubtator`)."""
    doc: PubTatorDocument | None = None
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.rstrip("\n")
            where = f"{path}:{lineno}"
            if not line.strip():
                if doc is not None:
                    yield doc
                    doc = None
                continue
            head = line[:40]
            if "|t|" in head or "|a|" in head:
                pmid, kind, text = line.split("|", 2)
                if kind == "t":
                    if doc is not None:
                        yield doc
                    doc = PubTatorDocument(pmid=pmid, text=text, title_end=len(text))
                elif doc is None or doc.pmid != pmid:
                    raise PubTatorError(f"{where}: abstract line for PMID {pmid} without its title line")
                else:
                    doc.text = doc.text + " " + text
                continue
            fields = line.split("\t")
            if doc is None:
                raise PubTatorError(f"{where}: mention line before any title line")
            if len(fields) >= 4 and not fields[1].isdigit():
                continue  # relation line (PMID CID chem disease)
            if len(fields) < 5 or not fields[2].isdigit():
                raise PubTatorError(f"{where}: expected 'PMID<TAB>start<TAB>end<TAB>text<TAB>type', got {line[:80]!r}")
            start, end = int(fields[1]), int(fields[2])
            if doc.text[start:end].strip() != fields[3].strip():  # NCBI-disease pads some mention texts
                raise PubTatorError(f"{where}: offsets {start}-{end} cover {doc.text[start:end]!r}, not {fields[3]!r}")
            doc.entities.append(EntitySpan(start, end, fields[4]))
    if doc is not None:
        yield doc


def split_sentences(doc: PubTatorDocument) -> list[LabelledText]:
    """Split a document into labelled sentences (the title is its own sentence).

    A sentence boundary is never placed inside an entity. Entity offsets are made relative to
    the sentence; ``start`` on each result gives the sentence's offset in the document.
    """
    text = doc.text
    bounds = [0, doc.title_end + 1] if 0 < doc.title_end < len(text) else [0]
    for m in _SENTENCE_END.finditer(text, doc.title_end + 1):
        if not any(e.start < m.end() < e.end for e in doc.entities):
            bounds.append(m.end())
    bounds.append(len(text))
    out = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        chunk = text[a:b].rstrip()
        if not chunk.strip():
            continue
        spans = tuple(
            EntitySpan(e.start - a, e.end - a, e.label) for e in doc.entities if a <= e.start and e.end <= a + len(chunk)
        )
        out.append(LabelledText(text=chunk, spans=spans, doc_id=doc.pmid, start=a))
    return out


def read_pubtator_sentences(path: Path) -> list[LabelledText]:
    """All labelled sentences of a PubTator file, in document order."""
    return [s for doc in iter_pubtator(Path(path)) for s in split_sentences(doc)]


def read_named_pubtator_files(files: dict[str, Path]) -> dict[str, list[LabelledText]]:
    """Read several PubTator files given by option name (``{"--train": path, ...}``) into sentences.

    Raises
    ------
    FileNotFoundError
        If a file is missing; the message names the option and the path.
    PubTatorError
        On a malformed file, or one without a single sentence (option and path named).
    """
    for flag, path in files.items():
        if not Path(path).is_file():
            raise FileNotFoundError(f"{flag} {path}: no such file")
    out = {}
    for flag, path in files.items():
        out[flag] = read_pubtator_sentences(path)
        if not out[flag]:
            raise PubTatorError(f"{flag} {path}: no sentences read")
    return out
