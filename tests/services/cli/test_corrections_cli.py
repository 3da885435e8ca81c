"""``cliniloop deid apply-corrections``: wired into the CLI, fails clearly without Label Studio."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cliniloop.services.cli.corrections_cli import corrections_line
from cliniloop.services.cli.main import app
from cliniloop.services.loop.deid_corrections import CorrectionReport

runner = CliRunner()


def test_apply_corrections_needs_a_reachable_label_studio(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLINILOOP_LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CLINILOOP_LABEL_STUDIO_API_KEY", "k" * 40)
    result = runner.invoke(app, ["deid", "apply-corrections", "--project", "nowhere"])
    assert result.exit_code != 0 and "127.0.0.1:9" in result.output


def test_the_summary_line_counts_without_text() -> None:
    report = CorrectionReport(tasks=2, replaced={"NAME": 1, "LOCATION": 2}, deny_added=1, synced=2, sync_failed=["t9"])
    line = corrections_line(report)
    assert line.startswith("corrections: 2 task(s) corrected (identifiers replaced: 2 LOCATION, 1 NAME), 1 new deny-list entry")
    assert "1 task(s) not updated in Label Studio" in line
