"""Clinical note files: discovery, validation and reading.

Every problem with a file is raised as :class:`NoteFileError` naming the file and the reason,
so a batch can report it and go on with the other files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Fraction of control characters above which a decoded file counts as binary.
_MAX_CONTROL_FRACTION = 0.01
_ALLOWED_CONTROL = {"\n", "\r", "\t", "\f", "\v"}


class NoteFileError(ValueError):
    """A note file that cannot be ingested; ``path`` and ``reason`` say why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Note:
    """A readable note file.

    Attributes
    ----------
    path : Path
        Where the note was read from.
    text : str
        The note's text, decoded as UTF-8 (a leading BOM removed, line endings kept).
    """

    path: Path
    text: str

    @property
    def content_hash(self) -> str:
        """SHA-256 of the text: the note's identity, stable across re-ingestion and renames."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def iter_note_paths(root: Path) -> Iterator[Path]:
    """Yield every regular, non-hidden file under ``root`` (or ``root`` itself), sorted.

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist.
    """
    if not root.exists():
        raise FileNotFoundError(f"no such file or folder: {root}")
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts):
            yield path


def count_note_files(root: Path) -> int:
    """How many files :func:`iter_note_paths` will yield (for progress bars)."""
    return sum(1 for _ in iter_note_paths(root))


def read_note(path: Path, max_bytes: int) -> Note:
    """Read and validate one note file.

    Parameters
    ----------
    path : Path
        The file.
    max_bytes : int
        Largest accepted file size in bytes.

    Raises
    ------
    NoteFileError
        If the file is too large, empty, binary or not valid UTF-8.
    """
    size = path.stat().st_size
    if size > max_bytes:
        raise NoteFileError(path, f"too large: {size:,} bytes (limit {max_bytes:,})")
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise NoteFileError(path, "binary file (contains NUL bytes), not a text note")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise NoteFileError(path, f"not valid UTF-8 (byte 0x{raw[err.start]:02x} at offset {err.start})") from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise NoteFileError(path, "empty note (no text)")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in _ALLOWED_CONTROL)
    if controls / len(text) > _MAX_CONTROL_FRACTION:
        raise NoteFileError(path, f"binary file ({controls} control characters), not a text note")
    if not any(ch.isalnum() for ch in text):
        raise NoteFileError(path, "no letters or digits (punctuation or symbols only), not a note")
    return Note(path=path, text=text)
