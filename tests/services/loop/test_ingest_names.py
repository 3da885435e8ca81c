"""Issue 19, defect 2: identifiers in file and folder names never reach the store, the audit trail,
Label Studio's task data or the console table of rejected files."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from cliniloop.services.cli.render import ingest_table
from cliniloop.services.core.store import Store
from cliniloop.services.loop.deid import shareable_data
from cliniloop.services.loop.ingest import ingest_notes

NAME_PARTS = ["garcia", "maria", "4471234", "2021-03-04", "2020-08-09"]


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "incoming"
    patient = root / "Garcia_Maria_MRN4471234"
    patient.mkdir(parents=True)
    (patient / "garcia_maria_2021-03-04_discharge.txt").write_text(
        "Discharge summary. Patient seen for chest pain, started aspirin 81 mg daily.\n", encoding="utf-8"
    )
    (patient / "garcia_maria_2021-03-04_scan.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    return root


def test_names_of_files_and_folders_are_not_kept(tmp_path: Path, store: Store, deidentifier) -> None:
    root = _tree(tmp_path)
    report = ingest_notes(store, root / "Garcia_Maria_MRN4471234", 10**6, deidentifier)
    assert len(report.added) == 1 and len(report.errors) == 1
    (task,) = store.list_tasks()
    assert task.data["note_name"] == f"note-{task.id[:12]}.txt"
    stored = json.dumps([task.source_uri, shareable_data(task.data), task.data["deid"]["patient_ref"]]).lower()
    events = json.dumps([[e.actor, e.action, e.entity, e.entity_id, e.details] for e in store.audit_events()]).lower()
    for part in NAME_PARTS:
        assert part not in stored, part
        assert part not in events, part
    [ingest] = store.audit_events("ingest")
    assert ingest.details == {"count": 1, "rejected": 1}


def test_rejected_files_table_shows_no_names(tmp_path: Path, store: Store, deidentifier) -> None:
    root = _tree(tmp_path)
    report = ingest_notes(store, root, 10**6, deidentifier)
    console = Console(record=True, width=200)
    console.print(ingest_table(report))
    shown = console.export_text().lower()
    assert ".png" in shown and "nul bytes" in shown, shown
    for part in NAME_PARTS:
        assert part not in shown, part
