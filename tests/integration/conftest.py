"""Fixtures that run a real Label Studio on 127.0.0.1 (every test here is ``integration``).

- ``label_studio_template`` (session): a data dir initialised once (migrations, admin user,
  legacy token), then stopped. The first run of a session pays the ~30 s cold start; the
  initialised dir is cached in pytest's cache (``.pytest_cache``), keyed by the Label Studio
  version, so later sessions skip it. ``CLINILOOP_LS_TEMPLATE_CACHE=0`` disables the cache.
- ``label_studio`` (module): a clean server started on a copy of the template (~3 s).
- ``ls_client`` (module): a :class:`LabelStudioClient` for that server.
- ``clone_label_studio`` (session): a factory for more servers on fresh copies.

A missing Label Studio executable FAILS the tests (CI must run them): ``make test`` creates
``.venv-ls``; ``CLINILOOP_LABEL_STUDIO_BIN`` points elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cliniloop.connectors.label_studio.client import LabelStudioClient
from cliniloop.connectors.label_studio.server import (
    BIN_ENV,
    DEFAULT_BIN,
    Credentials,
    LocalLabelStudio,
    clone_data_dir,
    is_initialised,
)

HERE = Path(__file__).resolve().parent
#: Bump when the way templates are built changes, to invalidate cached ones.
TEMPLATE_FORMAT = "1"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under ``tests/integration`` as ``integration`` (before ``-m`` filters)."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@dataclass(frozen=True)
class LabelStudioTemplate:
    """An initialised, stopped data dir to clone, and its admin credentials."""

    data_dir: Path
    credentials: Credentials
    binary: Path
    cold_start_s: float | None  # None when it came from the cache


def _binary() -> Path:
    binary = Path(os.environ.get(BIN_ENV) or DEFAULT_BIN)
    if not binary.is_file():
        pytest.fail(
            f"Label Studio executable not found at {binary}. Run `make test` (it creates the .venv-ls "
            f"environment with label-studio==1.23.2) or set {BIN_ENV}.",
            pytrace=False,
        )
    return binary


def _cache_key(binary: Path) -> str | None:
    """Key of a cached template: the executable and the installed Label Studio version."""
    venv = binary.resolve().parent.parent
    dists = sorted(p.name for p in venv.glob("lib/python*/site-packages/label_studio-*.dist-info"))
    if not dists:
        return None
    return hashlib.sha256(f"{binary.resolve()}|{dists[0]}|{TEMPLATE_FORMAT}".encode()).hexdigest()[:16]


def _cache_dir(config: pytest.Config, binary: Path) -> Path | None:
    if os.environ.get("CLINILOOP_LS_TEMPLATE_CACHE", "1") == "0" or getattr(config, "cache", None) is None:
        return None
    key = _cache_key(binary)
    return config.cache.mkdir("label-studio-template") / key if key else None


@pytest.fixture(scope="session")
def label_studio_template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> LabelStudioTemplate:
    """An initialised Label Studio data dir (server stopped), built once per session or cached."""
    binary = _binary()
    cached = _cache_dir(request.config, binary)
    if cached is not None and is_initialised(cached) and Credentials.load(cached) is not None:
        return LabelStudioTemplate(cached, Credentials.load(cached), binary, None)  # type: ignore[arg-type]

    data_dir = tmp_path_factory.mktemp("ls-template") / "data"
    server = LocalLabelStudio(data_dir, binary=binary)
    try:
        server.start(timeout_s=240)
    finally:
        server.stop()
    template = LabelStudioTemplate(data_dir, server.credentials, binary, server.startup_s)
    if cached is not None:
        staging = cached.with_name(f"{cached.name}.{uuid.uuid4().hex[:8]}.tmp")
        clone_data_dir(data_dir, staging)
        try:
            staging.rename(cached)  # atomic; loses harmlessly to a concurrent session
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    return template


@pytest.fixture(scope="session")
def clone_label_studio(
    label_studio_template: LabelStudioTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], LocalLabelStudio]:
    """Factory: ``clone_label_studio(name)`` -> a not-yet-started server on a fresh template copy."""

    def make(name: str = "ls") -> LocalLabelStudio:
        dest = tmp_path_factory.mktemp(name) / "data"
        clone_data_dir(label_studio_template.data_dir, dest)
        return LocalLabelStudio(dest, binary=label_studio_template.binary)

    return make


@pytest.fixture(scope="module")
def label_studio(clone_label_studio: Callable[[str], LocalLabelStudio]) -> Iterator[LocalLabelStudio]:
    """A clean Label Studio for this test module (``url``, ``api_key``, ``username``, ``password``)."""
    server = clone_label_studio("label-studio")
    server.start(timeout_s=120)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def ls_client(label_studio: LocalLabelStudio) -> LabelStudioClient:
    """A client for this module's server, authenticated with the legacy token."""
    return LabelStudioClient(label_studio.url, label_studio.api_key)
