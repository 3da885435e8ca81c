from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cliniloop.models.sampling.selection import EmptyPoolError
from cliniloop.services.core.schemas import AnnotationIn, PredictionIn, TextSpan
from cliniloop.services.core.store import Store
from cliniloop.services.loop.ingest import ingest_notes
from cliniloop.services.loop.select import select_tasks


def _bad_folder(tmp_path: Path, samples_dir: Path) -> Path:
    root = tmp_path / "notes"
    root.mkdir()
    for p in sorted(samples_dir.glob("*.txt"))[:3]:
        shutil.copy(p, root / p.name)
    (root / "latin1.txt").write_bytes("Patient denies fi\xe8vre".encode("latin-1"))
    (root / "empty.txt").write_bytes(b"")
    (root / "scan.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    big = root / "huge.txt"
    with big.open("w") as fh:
        fh.write("No acute distress. " * (5 * 1024 * 1024 // 19 + 10))
    return root


def test_bad_files_are_reported_and_leave_store_untouched(tmp_path: Path, samples_dir: Path, store: Store, deidentifier) -> None:
    root = _bad_folder(tmp_path, samples_dir)
    report = ingest_notes(store, root, 5 * 1024 * 1024, deidentifier)
    reasons = {e.path.name: e.reason for e in report.errors}
    assert set(reasons) == {"latin1.txt", "empty.txt", "scan.png", "huge.txt"}
    assert "UTF-8" in reasons["latin1.txt"] and "empty" in reasons["empty.txt"]
    assert "binary" in reasons["scan.png"] and "too large" in reasons["huge.txt"]
    assert len(report.added) == 3
    tasks = store.list_tasks()
    assert sorted(t.id for t in tasks) == sorted(deidentifier.task_id(p.read_text(encoding="utf-8")) for p in sorted(samples_dir.glob("*.txt"))[:3])
    # stored names are neutral (issue 19): a keyed hash of the note and the extension
    assert {t.data["note_name"] for t in tasks} == {f"note-{t.id[:12]}.txt" for t in tasks}


def test_reingest_is_idempotent(tmp_path: Path, samples_dir: Path, store: Store, deidentifier) -> None:
    first = ingest_notes(store, samples_dir, 10**7, deidentifier)
    assert len(first.added) >= 30 and not first.errors
    second = ingest_notes(store, samples_dir, 10**7, deidentifier)
    assert second.added == [] and sorted(second.existing) == sorted(first.added)
    assert len(store.list_tasks()) == len(first.added)


def test_select_takes_most_uncertain_unlabelled(store: Store, tmp_path: Path, deidentifier) -> None:
    (tmp_path / "n").mkdir()
    for i in range(4):
        (tmp_path / "n" / f"{i}.txt").write_text(f"note number {i}")
    ids = ingest_notes(store, tmp_path / "n", 1000, deidentifier).added
    span = TextSpan(start=0, end=4, text="note", label="Problem", probability=0.5)
    store.add_predictions(
        [
            PredictionIn(task_id=t, model_name="clinical-text", model_version="v1", taxonomy_version="x", regions=[span], score=1 - u, uncertainty=u)
            for t, u in zip(ids, [0.1, 0.9, 0.5, 0.7], strict=True)
        ]
    )
    store.upsert_annotation(AnnotationIn(task_id=ids[1], source_annotation_id="1:1", regions=[span]))
    sel = select_tasks(store, 2)
    assert sel.task_ids == [ids[3], ids[2]]
    assert store.rounds()[-1].selected_task_ids == sel.task_ids
    with pytest.raises(ValueError, match="unknown strategy"):
        select_tasks(store, 2, "random-ish")


def test_select_on_empty_pool_raises(store: Store) -> None:
    with pytest.raises(EmptyPoolError):
        select_tasks(store, 3)
