"""Shared fixtures: a fresh migrated SQLite store per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.core.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A migrated store in a temporary SQLite file."""
    st = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    st.migrate()
    yield st
    st.close()


@pytest.fixture
def samples_dir() -> Path:
    """The bundled synthetic notes."""
    return Path(__file__).resolve().parents[1] / "data_samples" / "notes"
