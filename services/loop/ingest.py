"""Ingest: read raw files into tasks (idempotent: task ids are content hashes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from connectors.sources.notes import Note, NoteFileError, iter_note_paths, read_note
from services.core.schemas import TaskIn
from services.core.store import Store

Progress = Callable[[int], None]


@dataclass
class IngestReport:
    """What an ingest did: new task ids, ids already stored, and per-file errors."""

    root: Path
    added: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    errors: list[NoteFileError] = field(default_factory=list)

    @property
    def task_ids(self) -> list[str]:
        """Every good file's task id, new or not, in file order."""
        return self.added + self.existing


def note_task(note: Note) -> TaskIn:
    """Build the text task for a note; its id is the SHA-256 of the text."""
    return TaskIn(
        id=note.content_hash,
        modality="text",
        source_uri=note.path.resolve().as_uri(),
        data={"text": note.text, "note_name": note.path.name},
    )


def ingest_notes(store: Store, root: Path, max_bytes: int, progress: Progress | None = None) -> IngestReport:
    """Read every note file under ``root`` into the store.

    Bad files (too large, empty, binary, not UTF-8) are reported in ``errors`` and never
    touch the store; the good ones are stored in one transaction.

    Parameters
    ----------
    store : Store
        Where tasks go.
    root : Path
        A note file or a folder of them (searched recursively, hidden files skipped).
    max_bytes : int
        Largest accepted note size in bytes.
    progress : callable, optional
        Called with 1 after each file.
    """
    report = IngestReport(root=root)
    tasks: list[TaskIn] = []
    seen: set[str] = set()
    for path in iter_note_paths(root):
        try:
            note = read_note(path, max_bytes)
        except NoteFileError as err:
            report.errors.append(err)
        except OSError as err:
            report.errors.append(NoteFileError(path, f"cannot read: {err.strerror or err}"))
        else:
            task = note_task(note)
            if task.id not in seen:
                seen.add(task.id)
                tasks.append(task)
        if progress:
            progress(1)
    new = set(store.add_tasks(tasks))
    for t in tasks:
        (report.added if t.id in new else report.existing).append(t.id)
    if new:
        store.audit("cliniloop", "ingest", "task", None, count=len(new), root=str(root))
    return report
