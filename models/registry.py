"""On-disk model registry: immutable, versioned model artifacts with their metadata.

Layout::

    <root>/<name>/<version>/            read-only once written
        <artifact files>                whatever the writer put there
        metadata.json                   name, version, parent, training_set_hash, label_count,
                                        metrics, taxonomy_version, created_at, params, files

A version is written into a temporary folder under ``<root>/<name>/`` and renamed into place in
one step, so a reader sees either no version or a complete one, never a half-written folder.
The version id is the caller's (``metadata["version"]``, e.g. a model's own content hash) or
``v-<12 hex>`` of the artifact files' content. Creating a version that exists is a no-op that
returns the stored one: versions are never overwritten.

Examples
--------
>>> reg = ModelRegistry(tmp_path)                                            # doctest: +SKIP
>>> info = reg.create("clinical-ner", lambda d: tagger.save(d), {"metrics": {"f1": 0.8}})  # doctest: +SKIP
>>> NerTagger.load(reg.path("clinical-ner", info.version))                   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

METADATA_FILE = "metadata.json"
TMP_PREFIX = ".tmp-"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
_READ_ONLY_FILE = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
_READ_ONLY_DIR = _READ_ONLY_FILE | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
METADATA_KEYS = ("parent", "training_set_hash", "label_count", "metrics", "taxonomy_version", "params")


class DefaultModelError(RuntimeError):
    """A default model shipped in the package is missing or does not match this version of the code."""


class VersionNotFound(KeyError):
    """The registry holds no such model version."""


@dataclass(frozen=True)
class VersionInfo:
    """A stored model version.

    Attributes
    ----------
    name, version : str
        Model name and version id.
    path : Path
        The version's folder (read-only).
    metadata : dict
        The content of ``metadata.json``.
    created : bool
        Whether this call wrote the version (``False``: it existed already).
    """

    name: str
    version: str
    path: Path
    metadata: dict[str, Any]
    created: bool = False


def _check_name(kind: str, value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"invalid model {kind} {value!r}: use letters, digits and . _ + - (at most 128)")
    return value


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != METADATA_FILE)


def content_hash(directory: Path) -> str:
    """SHA-256 over the relative paths and bytes of every file under ``directory`` (metadata excluded)."""
    h = hashlib.sha256()
    for path in _files(directory):
        h.update(path.relative_to(directory).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _make_read_only(directory: Path) -> None:
    for path in sorted(directory.rglob("*"), reverse=True):  # files before their folders
        path.chmod(_READ_ONLY_DIR if path.is_dir() else _READ_ONLY_FILE)
    directory.chmod(_READ_ONLY_DIR)


def _remove_tree(directory: Path) -> None:
    def make_writable(func: Callable[..., Any], path: str, _exc: object) -> None:
        os.chmod(path, stat.S_IRWXU)
        func(path)

    shutil.rmtree(directory, onexc=make_writable)


class ModelRegistry:
    """Versioned, immutable model artifacts under ``root``.

    Parameters
    ----------
    root : Path
        Registry folder (created on first write), e.g. ``<settings.var_dir>/models``.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ModelRegistry({str(self.root)!r})"

    def path(self, name: str, version: str) -> Path:
        """The folder of a stored version.

        Raises
        ------
        VersionNotFound
            If the version does not exist (or is not complete).
        """
        path = self.root / _check_name("name", name) / _check_name("version", version)
        if not (path / METADATA_FILE).is_file():
            raise VersionNotFound(f"no version {version!r} of model {name!r} in {self.root}")
        return path

    def metadata(self, name: str, version: str) -> dict[str, Any]:
        """The version's ``metadata.json``.

        Raises
        ------
        VersionNotFound
            If the version does not exist.
        """
        return json.loads((self.path(name, version) / METADATA_FILE).read_text(encoding="utf-8"))

    def exists(self, name: str, version: str) -> bool:
        """Whether the version is stored."""
        try:
            self.path(name, version)
        except VersionNotFound:
            return False
        return True

    def versions(self, name: str) -> list[str]:
        """Stored versions of ``name``, oldest first (by ``created_at``, then id)."""
        folder = self.root / _check_name("name", name)
        if not folder.is_dir():
            return []
        found = []
        for child in folder.iterdir():
            meta = child / METADATA_FILE
            if child.name.startswith(TMP_PREFIX) or not meta.is_file():
                continue
            found.append((json.loads(meta.read_text(encoding="utf-8")).get("created_at", ""), child.name))
        return [version for _, version in sorted(found)]

    def _info(self, name: str, version: str, created: bool) -> VersionInfo:
        return VersionInfo(name, version, self.path(name, version), self.metadata(name, version), created)

    def create(self, name: str, writer: Callable[[Path], object], metadata: Mapping[str, Any]) -> VersionInfo:
        """Write a new version (or return the stored one with the same id).

        Parameters
        ----------
        name : str
            Model name, e.g. ``"clinical-ner"``.
        writer : callable
            ``writer(folder)`` writes the artifact files into the (empty) folder it is given.
        metadata : mapping
            ``version`` (optional: default ``v-<12 hex>`` of the written files), ``parent``,
            ``training_set_hash``, ``label_count``, ``metrics``, ``taxonomy_version``, ``params``;
            other keys are kept as they are. ``name``, ``created_at`` and ``files`` (SHA-256 per
            file) are set here.

        Returns
        -------
        VersionInfo
            ``created`` is ``False`` when the version existed: nothing was overwritten.

        Raises
        ------
        ValueError
            If the writer wrote nothing, or for an invalid name or version.
        """
        _check_name("name", name)
        version = metadata.get("version")
        if version is not None and self.exists(name, _check_name("version", str(version))):
            return self._info(name, str(version), created=False)
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=folder))
        try:
            writer(tmp)
            files = _files(tmp)
            if not files:
                raise ValueError(f"the writer for model {name!r} wrote no file")
            version = _check_name("version", str(version or f"v-{content_hash(tmp)[:12]}"))
            if self.exists(name, version):
                return self._info(name, version, created=False)
            meta: dict[str, Any] = {
                "name": name,
                "version": version,
                "parent": None,
                "training_set_hash": None,
                "label_count": 0,
                "metrics": {},
                "taxonomy_version": None,
                "params": {},
                **{k: v for k, v in metadata.items() if k not in ("name", "version", "created_at", "files")},
                "created_at": datetime.now(UTC).isoformat(),
                "files": {p.relative_to(tmp).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
            }
            (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
            _make_read_only(tmp)
            try:
                tmp.rename(folder / version)  # atomic; fails if the target exists (a concurrent writer won)
            except OSError:
                if self.exists(name, version):
                    return self._info(name, version, created=False)
                raise
            log.info("model registry: wrote %s %s", name, version)
            return self._info(name, version, created=True)
        finally:
            if tmp.exists():
                _remove_tree(tmp)

    def verify(self, name: str, version: str) -> list[str]:
        """Files whose content no longer matches the hashes in ``metadata.json`` (empty: intact)."""
        path = self.path(name, version)
        expected: dict[str, str] = self.metadata(name, version).get("files", {})
        bad = []
        for rel, digest in expected.items():
            f = path / rel
            if not f.is_file() or hashlib.sha256(f.read_bytes()).hexdigest() != digest:
                bad.append(rel)
        return bad
