"""Issue 19, defect 10: the demo never prints the Label Studio password or token; they go to private files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rich.console import Console

from cliniloop.services.cli.demo import DEMO_PASSWORD, DEMO_TOKEN, demo_panel, write_demo_env


def test_demo_prints_where_secrets_are_not_the_secrets(tmp_path: Path) -> None:
    os.umask(0o022)  # restored by tests/conftest.py
    env_file = write_demo_env(tmp_path, "http://127.0.0.1:8080", DEMO_TOKEN)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert f"CLINILOOP_LABEL_STUDIO_API_KEY={DEMO_TOKEN}" in env_file.read_text()
    console = Console(record=True, width=300)
    console.print(demo_panel("http://127.0.0.1:8080", 1, "admin@cliniloop.local", tmp_path / "label-studio", "http://127.0.0.1:8000", env_file))
    shown = console.export_text()
    assert DEMO_PASSWORD not in shown and DEMO_TOKEN not in shown
    assert str(env_file) in shown and "admin@cliniloop.local" in shown


def test_demo_env_points_every_printed_command_at_the_demos_state(tmp_path: Path) -> None:
    """Issue 23: the hints (`cliniloop tokens`, `cliniloop pull`) source demo.env, which names the demo's
    var folder, store and project, so they read the demo's state from any folder."""
    import subprocess

    var = tmp_path / "my state"
    var.mkdir()
    db = f"sqlite:///{var / 'cliniloop.sqlite3'}"
    env_file = write_demo_env(var, "http://127.0.0.1:8080", DEMO_TOKEN, database_url=db, project="cliniloop clinical text")
    out = subprocess.run(["sh", "-c", f". '{env_file}'; echo \"$CLINILOOP_VAR_DIR|$CLINILOOP_DATABASE_URL|$CLINILOOP_LABEL_STUDIO_PROJECT\""],
                         capture_output=True, text=True, check=True, cwd="/")  # fmt: skip
    assert out.stdout.strip() == f"{var}|{db}|cliniloop clinical text"
    console = Console(record=True, width=300)
    console.print(demo_panel("http://127.0.0.1:8080", 1, "admin@cliniloop.local", var / "label-studio", "http://127.0.0.1:8000", env_file))
    shown = console.export_text()
    assert shown.count(f". {env_file}; set +a; .venv/bin/cliniloop") == 2  # tokens and pull
