"""`cliniloop demo --once` end to end, as `make demo ONCE=1` runs it (Label Studio from a template copy): one round of
every modality (text, coders, ECG, EEG, image boxes), each in its own project."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cliniloop.connectors.label_studio.server import clone_data_dir

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_demo_once_runs_a_round_prints_the_summary_and_exits(label_studio_template, tmp_path: Path) -> None:
    var = tmp_path / "var"
    clone_data_dir(label_studio_template.data_dir, var / "label-studio")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINILOOP_")}
    env.update({"CLINILOOP_VAR_DIR": str(var), "COLUMNS": "160"})
    proc = subprocess.run(
        [sys.executable, "-m", "cliniloop.services.cli.main", "demo", "--once", "--budget", "5", "--notes", str(ROOT / "data_samples" / "notes")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Round summary" in out and "5 tasks by uncertainty" in out
    assert "5 created, 0 already in Label Studio" in out
    assert "Entities in 5 selected tasks" in out and "Task uncertainty" in out
    assert f"login: {label_studio_template.credentials.username}" in out
    assert (var / "cliniloop.sqlite3").is_file()
    # every modality's round went into its own project, each URL printed
    assert "Label Studio projects, one per modality" in out
    for modality in ("text", "codes", "ecg", "eeg", "image-boxes"):
        assert f"│ {modality} " in out, modality
    assert len(set(re.findall(r"/projects/(\d+)/data", out))) >= 5
    assert "round failed" not in out
    assert "Stopping servers" in out
