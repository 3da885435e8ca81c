"""Ingest: read raw note files, de-identify them, store them as tasks.

Idempotent: a task id is a keyed hash of the note's original text, so re-ingesting a note (even
after a detector upgrade) finds the task already stored. The original text is stored only when
``keep_original`` is on, in its own table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cliniloop.connectors.sources.notes import NoteFileError, iter_note_paths, read_note
from cliniloop.services.core.store import Store
from cliniloop.services.loop.deid import ACTOR, NoteDeidentifier, deny_entries

Progress = Callable[[int], None]


@dataclass
class IngestReport:
    """What an ingest did: new task ids, ids already stored, and per-file errors."""

    root: Path
    added: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    errors: list[NoteFileError] = field(default_factory=list)
    #: Identifiers replaced in the new notes, per type.
    identifiers: dict[str, int] = field(default_factory=dict)
    #: Version of the detector that de-identified them.
    detector: str = ""

    @property
    def task_ids(self) -> list[str]:
        """Every good file's task id, new or not, in file order."""
        return self.added + self.existing


def ingest_notes(
    store: Store,
    root: Path,
    max_bytes: int,
    deidentifier: NoteDeidentifier,
    progress: Progress | None = None,
    keep_original: bool = False,
    paths: Sequence[Path] | None = None,
) -> IngestReport:
    """De-identify every note file under ``root`` and store it as a text task.

    The gate also replaces the identifiers on its scope's deny-list (corrections pulled earlier,
    see :mod:`cliniloop.services.loop.deid_corrections`), read from ``store`` once per call.

    Bad files (too large, empty, binary, not UTF-8, or failing de-identification) are reported
    in ``errors`` and never touch the store; the good ones are stored in one transaction,
    together with one ``deidentify`` audit event per new note (counts per identifier type,
    never the identifiers) and, with ``keep_original``, the original texts.

    Parameters
    ----------
    store : Store
        Where tasks go.
    root : Path
        A note file or a folder of them (searched recursively, hidden files skipped).
    max_bytes : int
        Largest accepted note size in bytes.
    deidentifier : NoteDeidentifier
        The gate (see :meth:`NoteDeidentifier.from_settings`).
    progress : callable, optional
        Called with 1 after each file.
    keep_original : bool
        Keep the original text in ``original_notes`` (setting ``CLINILOOP_DEID_KEEP_ORIGINAL``).
    paths : sequence of Path, optional
        Only these note files under ``root`` (one shard of a distributed ingest, see
        :mod:`cliniloop.services.scale.ray_engine`); default every note file under ``root``.
    """
    report = IngestReport(root=root)
    if deidentifier.deny_scope is not None:
        deidentifier = deidentifier.with_deny_list(deny_entries(store, deidentifier.deny_scope))
    notes = []
    seen: set[str] = set()
    base = root if root.is_dir() else root.parent
    for path in iter_note_paths(root) if paths is None else paths:
        try:
            note = read_note(path, max_bytes)
            done = deidentifier.deidentify_note(note, base)
        except NoteFileError as err:
            report.errors.append(err)
        except OSError as err:
            report.errors.append(NoteFileError(path, f"cannot read: {err.strerror or err}"))
        except Exception as err:  # noqa: BLE001 - a detector failure must not stop the batch
            report.errors.append(NoteFileError(path, f"de-identification failed: {type(err).__name__}"))
        else:
            if done.task.id not in seen:
                seen.add(done.task.id)
                notes.append(done)
        if progress:
            progress(1)
    originals = {n.task.id: (n.source_path, n.original_text) for n in notes} if keep_original else None
    audits = {n.task.id: (ACTOR, "deidentify", {**n.audit_details, "original_kept": keep_original}) for n in notes}
    new = set(store.add_tasks([n.task for n in notes], originals=originals, audit_events=audits))
    report.detector = deidentifier.detector.version
    for n in notes:
        (report.added if n.task.id in new else report.existing).append(n.task.id)
        if n.task.id in new:
            for phi_type, count in n.result.counts.items():
                report.identifiers[phi_type] = report.identifiers.get(phi_type, 0) + count
    if new:
        # no folder or file name: they may hold identifiers, and the trail is kept for years (issue 19)
        store.audit("cliniloop", "ingest", "task", None, count=len(new), rejected=len(report.errors))
    return report
