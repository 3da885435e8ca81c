"""``cliniloop codes push --budget``: the queue's size on the command line (issue 22)."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

import cliniloop.services.cli.codes_cli as codes_cli
import cliniloop.services.loop.coding as coding
from cliniloop.models.text.code_candidates import CodeCandidateGenerator
from cliniloop.services.cli.main import app
from cliniloop.services.core.schemas import PredictionIn, TaskIn, TextSpan
from cliniloop.services.core.settings import get_settings
from cliniloop.services.core.store import Store
from cliniloop.taxonomies.codes.system import CodeSystem, Concept

TEXT = "Hypertension. Asthma. Chest pain. hypertension again."


class _FakeLS:
    def __init__(self) -> None:
        self.imported: list[dict[str, Any]] = []

    def ensure_project(self, title: str, config: str) -> int:
        return 3

    def existing_task_ids(self, project_id: int, key: str) -> dict[str, int]:
        return {p["data"][key]: n for n, p in enumerate(self.imported)}

    def import_tasks(self, project_id: int, payloads: list[dict[str, Any]]) -> None:
        self.imported.extend(payloads)


def test_codes_push_budget(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.add_tasks([TaskIn(id="n1", modality="text", source_uri="mem://n1", data={"text": TEXT})])
    words = [(0, "Hypertension"), (14, "Asthma"), (22, "Chest pain"), (34, "hypertension")]
    spans = [TextSpan(start=a, end=a + len(w), text=w, label="Problem") for a, w in words]
    assert all(TEXT[s.start : s.end] == s.text for s in spans)
    store.add_predictions([PredictionIn(task_id="n1", model_name="clinical-text", model_version="v", taxonomy_version="t", regions=spans, score=0.5, uncertainty=0.5)])
    icd = CodeSystem("icd10cm", "tiny", {"I10": Concept("I10", "Essential (primary) hypertension"), "J45.909": Concept("J45.909", "Unspecified asthma"),
                                         "R07.9": Concept("R07.9", "Chest pain, unspecified")})  # fmt: skip
    ls = _FakeLS()
    monkeypatch.setattr(codes_cli, "_coder_context", lambda: (store, get_settings(), ls))
    monkeypatch.setattr(coding, "candidate_generator", lambda store, settings: CodeCandidateGenerator([icd], k=3).fit())
    out = CliRunner().invoke(app, ["codes", "push", "--budget", "2"])
    assert out.exit_code == 0, out.output
    assert len(ls.imported) == 2 and "2 mentions queued (4 occurrences read)" in " ".join(out.output.split())
    assert "1 left for a later push" in " ".join(out.output.split())
    assert "round 1, uncertainty first" in " ".join(out.output.split())
    out = CliRunner().invoke(app, ["codes", "push"])
    assert out.exit_code == 0 and len(ls.imported) == 3, "default budget 50: the rest; the two hypertensions are one task"
