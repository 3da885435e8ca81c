"""Issue 19, defect 7: what cliniloop creates is owner-only (files 0600, folders 0700) whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    before = os.umask(0o022)
    yield
    os.umask(before)


def test_sqlite_store_and_its_side_files_are_private(tmp_path: Path, permissive_umask: None) -> None:
    db = tmp_path / "new" / "deeper" / "cliniloop.sqlite3"
    store = Store(f"sqlite:///{db}")
    store.migrate()
    store.audit("cli", "export", "task", "t1")
    with store.engine.connect() as conn:  # WAL and shared memory exist while a connection is open
        conn.exec_driver_sql("SELECT 1")
        assert (db.parent / (db.name + "-wal")).exists() and (db.parent / (db.name + "-shm")).exists()
        for suffix in ("", "-wal", "-shm"):
            assert mode(db.parent / (db.name + suffix)) == 0o600, suffix
    store.close()
    assert mode(db.parent) == 0o700 and mode(db.parent.parent) == 0o700


def test_an_old_world_readable_store_is_made_private(tmp_path: Path, permissive_umask: None) -> None:
    db = tmp_path / "old.sqlite3"
    Store(f"sqlite:///{db}").close()
    for suffix in ("", "-wal", "-shm"):
        p = tmp_path / (db.name + suffix)
        p.touch()
        os.chmod(p, 0o644)
    store = Store(f"sqlite:///{db}")
    store.migrate()
    store.close()
    for suffix in ("", "-wal", "-shm"):
        p = tmp_path / (db.name + suffix)
        if p.exists():
            assert mode(p) == 0o600, suffix


def test_the_app_makes_its_var_dir_and_store_private(tmp_path: Path, permissive_umask: None) -> None:
    from cliniloop.services.api.app import create_app
    from tests.services.api.conftest import with_secrets

    var = tmp_path / "var"
    settings = with_secrets(Settings(_env_file=None, var_dir=var, label_studio_api_key=None, job_worker=False))
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        assert os.umask(0o077) == 0o077  # the app's umask while it runs
        (var / "written-by-the-app.txt").write_text("x")
    assert mode(var) == 0o700
    assert mode(var / "cliniloop.sqlite3") == 0o600 and mode(var / "written-by-the-app.txt") == 0o600
    assert os.umask(0o022) == 0o022, "the app gives the umask back when it stops"


def test_local_label_studio_data_is_private(tmp_path: Path, permissive_umask: None) -> None:
    """Label Studio's data folder (its sqlite3 holds the webhook secret and tokens) and what it writes are owner-only."""
    from cliniloop.connectors.label_studio.server import LabelStudioStartError, LocalLabelStudio

    data = tmp_path / "label-studio"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    old = data / "media.txt"
    old.write_text("made before")
    os.chmod(old, 0o644)
    fake = tmp_path / "label-studio-bin"  # a stand-in that writes its database and exits
    fake.write_text('#!/bin/sh\necho "fake" > "$PWD/label_studio.sqlite3"\nmkdir -p "$PWD/export"\nexit 3\n')
    os.chmod(fake, 0o755)
    ls = LocalLabelStudio(data, binary=fake, port=1, username="u@example.org", password="p" * 12, api_key="k" * 40)
    with pytest.raises(LabelStudioStartError):
        ls.start(timeout_s=10)
    assert mode(data) == 0o700 and mode(old) == 0o600
    assert mode(data / "label_studio.sqlite3") == 0o600 and mode(data / "export") == 0o700
    assert mode(ls.log_path) == 0o600
