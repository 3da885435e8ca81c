"""Shared fixtures: migrated stores on SQLite and on a throwaway PostgreSQL server."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cliniloop.services.core.net import free_port
from cliniloop.services.core.store import Store

#: Fixed de-identification key of the tests (surrogates and task ids are keyed by it).
TEST_DEID_SECRET = b"cliniloop-tests-deid-secret-0001"


@pytest.fixture(scope="session")
def phi_detector():
    """One fitted identifier detector for the whole session (loads spaCy once)."""
    from cliniloop.models.text.deid.analyzer import PhiDetector

    return PhiDetector().fit()


@pytest.fixture(scope="session")
def deidentifier(phi_detector):
    """The ingest gate with the tests' fixed key."""
    from cliniloop.services.loop.deid import NoteDeidentifier

    return NoteDeidentifier(phi_detector, TEST_DEID_SECRET)


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
        from cliniloop.services.core.tables import Base

        Base.metadata.drop_all(st.engine)
        with st.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    st.close()


@pytest.fixture
def samples_dir() -> Path:
    """The bundled synthetic notes."""
    return Path(__file__).resolve().parents[1] / "data_samples" / "notes"


# -- synthetic PubTator corpora (no ../shared needed) -------------------------------------------
_DRUGS = ["cisplatin", "haloperidol", "lithium", "cocaine", "heparin", "amiodarone", "warfarin", "digoxin"]
_DISEASES = ["nephrotoxicity", "hypotension", "seizures", "bradycardia", "hepatitis", "proteinuria", "myopathy"]
_SENTENCES = [
    "Treatment with {d} induced {x} in rats.",
    "The patients received {d} and developed {x}.",
    "No {x} was seen with placebo.",
    "Blood pressure was measured daily.",
    "We report {x} after an overdose of {d} in a child.",
]


def write_pubtator(path: Path, n_docs: int, seed: int = 0) -> Path:
    """Write a synthetic PubTator file: ``n_docs`` documents of a title and 3 abstract sentences."""
    import random

    rng = random.Random(seed)
    lines = []
    for doc in range(n_docs):
        pmid = str(900000 + seed * 10000 + doc)
        parts, ents = [], []
        offset = 0
        for k in range(4):
            tpl = rng.choice(_SENTENCES)
            d, x = rng.choice(_DRUGS), rng.choice(_DISEASES)
            text = tpl.format(d=d, x=x)
            for word, label in ((d, "Chemical"), (x, "Disease")):
                if ("{d}" if label == "Chemical" else "{x}") in tpl:
                    start = offset + text.index(word)
                    ents.append((start, start + len(word), word, label))
            parts.append(text)
            offset += len(text) + 1
        title, abstract = parts[0], " ".join(parts[1:])
        lines += [f"{pmid}|t|{title}", f"{pmid}|a|{abstract}"]
        lines += [f"{pmid}\t{a}\t{b}\t{w}\t{lab}\tD000000" for a, b, w, lab in sorted(ents)]
        lines += [f"{pmid}\tCID\tD000000\tD000001", ""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def pubtator_pair(tmp_path: Path) -> tuple[Path, Path]:
    """A synthetic PubTator pool (60 documents) and test file (20 documents)."""
    return write_pubtator(tmp_path / "pool.txt", 60, seed=1), write_pubtator(tmp_path / "test.txt", 20, seed=2)


@pytest.fixture(autouse=True)
def _restore_umask() -> Iterator[None]:
    """The CLI and the app set a private umask (0o077) in-process: give each test the one it started with."""
    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)


# -- a five-code ICD-10-CM for code-candidate tests (no package data needed) --------------------------
def tiny_icd() -> Any:
    """Hypertension, three type 2 diabetes codes under their category, and asthma (a ``CodeSystem``)."""
    from cliniloop.taxonomies.codes.system import CodeSystem, Concept

    concepts = [
        Concept("I10", "Essential (primary) hypertension"),
        Concept("E11", "Type 2 diabetes mellitus", billable=False),
        Concept("E11.9", "Type 2 diabetes mellitus without complications", parents=("E11",)),
        Concept("E11.65", "Type 2 diabetes mellitus with hyperglycemia", parents=("E11",)),
        Concept("J45.909", "Unspecified asthma, uncomplicated"),
    ]
    return CodeSystem("icd10cm", "tiny", {c.code: c for c in concepts})
