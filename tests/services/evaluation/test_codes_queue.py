"""``eval codes-queue``: the coders' queue of a notes folder, per mention type, with context checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import cliniloop.services.loop.coding as coding
from cliniloop.services.cli.main import app
from cliniloop.services.evaluation.codes_queue import evaluate_coder_queue
from cliniloop.taxonomies.codes.system import CodeSystem, Concept


@pytest.fixture
def tiny_icd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    concepts = [Concept("I10", "Essential (primary) hypertension"), Concept("R10.9", "Unspecified abdominal pain"),
                Concept("J18.9", "Pneumonia, unspecified organism")]  # fmt: skip
    system = CodeSystem("icd10cm", "tiny", {c.code: c for c in concepts})
    monkeypatch.setattr(coding, "code_systems", lambda settings: [system])
    monkeypatch.setenv("CLINILOOP_VAR_DIR", str(tmp_path / "var"))
    from cliniloop.services.core.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_queue_of_invented_notes(tmp_path: Path, tiny_icd: None) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("Assessment: Hypertension. Lactate was 5.2 today. Abdomen soft.\n", encoding="utf-8")
    (notes / "b.txt").write_text("Plan: treat pneumonia. Hypertension is stable. Creatinine 1.1 mg/dL.\n", encoding="utf-8")
    r = evaluate_coder_queue(notes)
    assert r["notes"] == 2 and r["mentions"] >= 4
    problem = r["per_type"]["Problem"]
    assert problem["mentions"] > problem["tasks"], "the two 'Hypertension' mentions are one task"
    assert problem["icd10cm_offered"] >= 1 and problem["queued"] == problem["tasks"]
    assert r["icd10cm_for_non_problem"] == 0
    for kind in set(r["per_type"]) - {"Problem"}:
        assert r["per_type"][kind]["queued"] == 0, "no SNOMED CT: nothing to code a Test/Anatomy with"
    assert r["context"]["not_whole_sentence"] == 0 and r["context"]["shortest_chars"] >= len("Abdomen soft.")


def test_codes_queue_command_line(tmp_path: Path, tiny_icd: None) -> None:
    out = CliRunner().invoke(app, ["eval", "codes-queue", "--notes", str(tmp_path / "none")])
    assert out.exit_code == 1 and "not a folder of notes" in out.output
    (tmp_path / "empty").mkdir()
    out = CliRunner().invoke(app, ["eval", "codes-queue", "--notes", str(tmp_path / "empty")])
    assert out.exit_code == 1 and "no *.txt notes" in out.output
