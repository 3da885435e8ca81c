"""Shared fixtures: migrated stores on SQLite and on a throwaway PostgreSQL server."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.core.net import free_port
from services.core.store import Store


def postgres_bin() -> Path | None:
    """Folder with ``initdb`` and ``pg_ctl`` (newest installed major version), or ``None``."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class TempPostgres:
    """Start ``initdb`` + ``pg_ctl`` in ``root``; as root, the server runs as the ``postgres`` user."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = postgres_bin()
        self.port = free_port()
        self.data = root / "data"
        self._as: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> str:
        """Initialise and start; return a SQLAlchemy URL for database ``cliniloop``."""
        assert self.bin is not None
        self.root.mkdir(parents=True, exist_ok=True)
        if self._as:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.root / "pg.log"), "-w", "start")
        self._run(str(self.bin / "createdb"), "-h", str(self.root), "-p", str(self.port), "-U", "postgres", "cliniloop")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/cliniloop"

    def stop(self) -> None:
        """Stop the server (fast shutdown)."""
        if self.bin is not None and self.data.exists():
            subprocess.run([*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"], capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a throwaway PostgreSQL server started for this test session."""
    if postgres_bin() is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed: apt-get install postgresql")
    # not under pytest's tmp dir: that one is private to root, and the server runs as `postgres`
    server = TempPostgres(Path(tempfile.mkdtemp(prefix="cliniloop-pg-")))
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A migrated store in a temporary SQLite file."""
    st = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    st.migrate()
    yield st
    st.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty store on SQLite and on a real PostgreSQL server."""
    if request.param == "sqlite":
        st = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    else:
        st = Store(request.getfixturevalue("postgres_url"))
    st.migrate()
    yield st
    if request.param == "postgresql":
        from services.core.tables import Base

        Base.metadata.drop_all(st.engine)
        with st.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    st.close()


@pytest.fixture
def samples_dir() -> Path:
    """The bundled synthetic notes."""
    return Path(__file__).resolve().parents[1] / "data_samples" / "notes"
