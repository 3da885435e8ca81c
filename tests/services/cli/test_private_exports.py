"""Issue 19, defect 7: exports the CLI writes are owner-only whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from typer.testing import CliRunner

from cliniloop.services.cli.main import app


def test_audit_export_and_store_are_private(env: Path) -> None:
    os.umask(0o022)  # the autouse fixture gives the test's umask back afterwards
    out = env / "exports" / "audit.csv"
    result = CliRunner().invoke(app, ["audit", "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE((env / "cli.sqlite3").stat().st_mode) == 0o600
    assert os.umask(0o022) == 0o077, "the CLI runs with a private umask"
