"""The de-identification gate at ingest and push: no identifier is stored or leaves cliniloop."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import text as sql

from cliniloop.services.core.schemas import TaskIn
from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.loop.deid import DEID_KEY, NotDeidentifiedError, NoteDeidentifier, deid_secret, require_deidentified
from cliniloop.services.loop.ingest import ingest_notes

IDENTIFIERS = [
    "Jonathan Whitfield",
    "Whitfield",
    "00482913",
    "03/14/2021",
    "(617) 555-0142",
    "617-555-0199",
    "jwhitfield@gmail.com",
    "123-45-6789",
    "44 Elmwood Avenue",
    "Brookline",
    "02446",
    "https://portal.example-hospital.org/jw",
    "10.20.30.40",
    "1HGCM82633A004352",
]
NOTE = """Patient: Jonathan Whitfield   MRN: 00482913   DOB: 03/14/2021
Mr. Whitfield is a 94-year-old man seen on 03/14/2021 for chest pain. BP 130/85, pain 4/10.
Phone (617) 555-0142, fax 617-555-0199, e-mail jwhitfield@gmail.com, SSN 123-45-6789.
Address: 44 Elmwood Avenue, Brookline, MA 02446. Portal https://portal.example-hospital.org/jw from 10.20.30.40.
His car (VIN 1HGCM82633A004352) was towed. Plan: aspirin 81 mg daily. Whitfield agrees.
"""


def _write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _all_stored_text(store: Store) -> str:
    """Every text column of every table, concatenated: what a database dump would show."""
    out = []
    with store.engine.connect() as conn:
        for table in ("tasks", "audit_events", "predictions", "annotations", "original_notes", "phi_corrections"):
            for row in conn.execute(sql(f"SELECT * FROM {table}")):
                out.append(" ".join(str(v) for v in row))
    return "\n".join(out)


def test_ingest_stores_only_deidentified_text_and_counts(store: Store, tmp_path: Path, deidentifier) -> None:
    _write(tmp_path / "notes", "whitfield_note.txt", NOTE)
    report = ingest_notes(store, tmp_path / "notes", 10**6, deidentifier)
    assert len(report.added) == 1 and not report.errors
    (task,) = store.list_tasks()
    dump = _all_stored_text(store)
    for identifier in IDENTIFIERS:
        assert identifier not in dump, identifier
    assert task.data["note_name"] == f"note-{task.id[:12]}.txt"  # neutral file names (issue 19)
    text = task.data["text"]
    assert "90+-year-old" in text and "BP 130/85, pain 4/10" in text and "aspirin 81 mg daily" in text
    record = task.data[DEID_KEY]
    assert record["counts"]["NAME"] >= 3 and record["counts"]["DATE"] == 2 and record["counts"]["AGE"] == 1
    assert store.count_original_notes() == 0
    (event,) = store.audit_events("deidentify")
    assert event.entity_id == task.id and event.details["counts"] == record["counts"]
    assert set(event.details) == {"detector", "counts", "identifiers", "patient_ref", "original_kept"}


def test_offset_map_maps_clinical_words_between_texts(store: Store, tmp_path: Path, deidentifier) -> None:
    from cliniloop.models.text.deid.offsets import OffsetMap

    _write(tmp_path / "n", "a.txt", NOTE)
    ingest_notes(store, tmp_path / "n", 10**6, deidentifier)
    (task,) = store.list_tasks()
    offsets = OffsetMap.from_json(task.data[DEID_KEY]["offsets"])
    for word in ("chest pain", "aspirin 81 mg", "towed"):
        start = NOTE.index(word)
        a, b = offsets.span_to_deid(start, start + len(word))
        assert task.data["text"][a:b] == word
        assert offsets.span_to_original(a, b) == (start, start + len(word))


def test_keep_original_stores_it_apart(store: Store, tmp_path: Path, deidentifier) -> None:
    _write(tmp_path / "n", "a.txt", NOTE)
    report = ingest_notes(store, tmp_path / "n", 10**6, deidentifier, keep_original=True)
    (tid,) = report.added
    original = store.original_note(tid)
    assert original is not None and original.text == NOTE and original.source_path.endswith("a.txt")
    assert "Whitfield" not in store.get_task(tid).data["text"]
    assert store.audit_events("deidentify")[0].details["original_kept"] is True


def test_surrogates_are_consistent_per_patient_and_dates_keep_intervals(store: Store, tmp_path: Path, deidentifier) -> None:
    first = "Jonathan Whitfield was admitted on 03/01/2021.\n"
    second = "Follow-up for Mr. Whitfield on 03/15/2021, fourteen days after admission.\n"
    other = "Jonathan Whitfield (another person) was seen on 03/01/2021.\n"
    _write(tmp_path / "n", "patient-a/1.txt", first)
    _write(tmp_path / "n", "patient-a/2.txt", second)
    _write(tmp_path / "n", "patient-b/1.txt", other)
    ingest_notes(store, tmp_path / "n", 10**6, deidentifier)
    texts = {t.data["text"].split()[0]: t for t in store.list_tasks()}
    by_ref: dict[str, list[str]] = {}
    for task in store.list_tasks():
        by_ref.setdefault(task.data[DEID_KEY]["patient_ref"], []).append(task.data["text"])
    assert sorted(len(v) for v in by_ref.values()) == [1, 2]
    (pair,) = [v for v in by_ref.values() if len(v) == 2]
    (single,) = [v[0] for v in by_ref.values() if len(v) == 1]
    one = next(t for t in pair if "admitted" in t)
    two = next(t for t in pair if "Follow-up" in t)
    surname = one.split()[1]
    assert surname != "Whitfield" and f"Mr. {surname} on" in two
    assert single.split()[1] != surname  # another patient, another surrogate
    from datetime import datetime

    d1 = datetime.strptime(one.split(" on ")[1][:10], "%m/%d/%Y")  # " on ": a surrogate may end in "on"
    d2 = datetime.strptime(two.split(" on ")[1][:10], "%m/%d/%Y")
    assert (d2 - d1).days == 14 and d1 != datetime(2021, 3, 1)
    assert texts  # every note stored


def test_reingest_with_a_new_detector_version_finds_the_same_task(store: Store, tmp_path: Path, deidentifier) -> None:
    _write(tmp_path / "n", "a.txt", NOTE)
    first = ingest_notes(store, tmp_path / "n", 10**6, deidentifier)
    stricter = NoteDeidentifier(type(deidentifier.detector)(threshold=0.9).fit(), deidentifier.secret)
    again = ingest_notes(store, tmp_path / "n", 10**6, stricter)
    assert again.added == [] and again.existing == first.added


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"   \n", "empty"),
        ("latin1.txt", "Patient Jos\xe9 Garc\xeda".encode("latin-1"), "UTF-8"),
        ("huge.txt", b"x" * 2048, "too large"),
    ],
)
def test_bad_input_gives_clear_errors_and_no_partial_records(
    store: Store, tmp_path: Path, deidentifier, name: str, content: bytes, reason: str
) -> None:
    root = tmp_path / "n"
    _write(root, "good.txt", "Seen by Dr. Alice Wong on 4 March 2021.")
    (root / name).write_bytes(content)
    report = ingest_notes(store, root, 1024, deidentifier)
    (error,) = report.errors
    assert error.path.name == name and reason in error.reason
    assert len(report.added) == 1 and store.count_tasks() == 1
    assert len(store.audit_events("deidentify")) == 1


def test_detector_failure_rejects_the_note_without_partial_records(store: Store, tmp_path: Path, deidentifier, monkeypatch) -> None:
    root = tmp_path / "n"
    _write(root, "a.txt", NOTE)
    _write(root, "b.txt", "Seen by Dr. Alice Wong.")
    real = deidentifier.detector.detect

    def flaky(text: str):
        if "Whitfield" in text:
            raise RuntimeError(text)  # the message holds note text: it must not reach the report
        return real(text)

    monkeypatch.setattr(deidentifier.detector, "detect", flaky)
    report = ingest_notes(store, root, 10**6, deidentifier)
    (error,) = report.errors
    assert error.path.name == "a.txt" and "de-identification failed" in error.reason and "Whitfield" not in str(error)
    assert store.count_tasks() == 1


def test_long_note_is_detected_in_chunks(phi_detector) -> None:
    filler = "No acute distress. Lungs clear.\n" * 3000  # ~96k characters, several chunks
    text = filler + "Call Jonathan Whitfield at (617) 555-0142.\n" + filler + "Whitfield agrees.\n"
    spans = phi_detector.detect(text)
    found = {text[s.start : s.end] for s in spans}
    assert {"Jonathan Whitfield", "(617) 555-0142", "Whitfield"} <= found
    assert len(spans) == 3


def test_push_refuses_tasks_not_marked_deidentified() -> None:
    raw = TaskIn(id="t1", modality="text", source_uri="x", data={"text": "John Smith"})
    with pytest.raises(NotDeidentifiedError, match="1 text task"):
        require_deidentified([raw])
    require_deidentified([TaskIn(id="e1", modality="ecg", source_uri="x", data={"signal": "s"})])


def test_no_log_line_contains_note_text(store: Store, tmp_path: Path, deidentifier, caplog) -> None:
    _write(tmp_path / "n", "a.txt", NOTE)
    with caplog.at_level(logging.DEBUG):
        ingest_notes(store, tmp_path / "n", 10**6, deidentifier)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for identifier in IDENTIFIERS:
        assert identifier not in logged


def test_secret_file_is_created_once_owner_only(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var")
    key = deid_secret(settings)
    assert key == deid_secret(settings) and len(key) == 64
    assert (tmp_path / "var" / "deid.key").stat().st_mode & 0o777 == 0o600
    assert deid_secret(Settings(var_dir=tmp_path, deid_secret="a-configured-secret-123")) == b"a-configured-secret-123"
    with pytest.raises(ValueError, match="16 characters"):
        deid_secret(Settings(var_dir=tmp_path, deid_secret="short"))


def test_ingest_report_sums_replaced_identifiers_of_new_notes(store: Store, tmp_path: Path, deidentifier) -> None:
    _write(tmp_path / "n", "a.txt", NOTE)
    first = ingest_notes(store, tmp_path / "n", 10**6, deidentifier)
    assert first.identifiers == store.list_tasks()[0].data[DEID_KEY]["counts"] and first.detector.startswith("deid-")
    assert ingest_notes(store, tmp_path / "n", 10**6, deidentifier).identifiers == {}
