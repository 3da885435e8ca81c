"""On-disk cache of a loaded :class:`~cliniloop.taxonomies.codes.system.CodeSystem` (shared by the loaders).

A cache file is a pickle of built-in containers only (no classes), read back with an unpickler that
refuses any class or function: a tampered or corrupt file can fail to load, never run code. Files are
written atomically (temporary file in the same folder, then :func:`os.replace`), so a crash or a
concurrent reader never sees half a file. A file that cannot be used (corrupt, other format, other
version or key) makes :func:`read_cache` return ``None`` with a warning and the caller rebuilds.
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from cliniloop.taxonomies.codes.system import CodeSystem, Concept

log = logging.getLogger(__name__)

__all__ = ["CACHE_FORMAT", "read_cache", "write_cache"]

#: Bump when the shape of what is cached (or how it is built) changes: older cache files are rebuilt.
CACHE_FORMAT = 1


def _to_payload(system: CodeSystem, key: str | None) -> dict[str, Any]:
    return {
        "format": CACHE_FORMAT,
        "name": system.name,
        "version": system.version,
        "key": key,
        "concepts": [
            (c.code, c.display, c.synonyms, c.parents, c.billable, c.semantic_tag) for c in system.concepts.values()
        ],
        "maps_to": {k: [(s, t) for s, t in v] for k, v in system.maps_to.items()},
    }


def _from_payload(payload: Any, name: str, version: str | None, key: str | None) -> CodeSystem:
    if not isinstance(payload, dict):
        raise ValueError("not a code-system cache")
    if payload.get("format") != CACHE_FORMAT:
        raise ValueError(f"cache format {payload.get('format')!r}, expected {CACHE_FORMAT}")
    if payload.get("name") != name or (version is not None and payload.get("version") != version):
        raise ValueError(f"cache holds {payload.get('name')}@{payload.get('version')}, expected {name}@{version}")
    if payload.get("key") != key:
        raise ValueError("cache was built from other files")
    concepts: dict[str, Concept] = {}
    for code, display, synonyms, parents, billable, tag in payload["concepts"]:
        if not (isinstance(code, str) and isinstance(display, str)):
            raise ValueError(f"bad concept entry {code!r}")
        concepts[code] = Concept(code, display, tuple(synonyms), tuple(parents), bool(billable), tag)
    maps_to = {str(k): [(str(s), str(t)) for s, t in v] for k, v in payload["maps_to"].items()}
    return CodeSystem(name=name, version=str(payload["version"]), concepts=concepts, maps_to=maps_to)


class _PlainUnpickler(pickle.Unpickler):
    """Unpickler that refuses every class or function: a cache holds built-in containers only."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in cache")


def read_cache(path: Path, name: str, version: str | None = None, key: str | None = None) -> CodeSystem | None:
    """Read a code system written by :func:`write_cache`.

    Parameters
    ----------
    path : Path
        Cache file.
    name : str
        Code system name the file must hold (``"icd10cm"``, ``"snomed"``).
    version : str or None
        Version the file must hold; ``None``: any.
    key : str or None
        Fingerprint of the source the file must have been built from (``None`` for none).

    Returns
    -------
    CodeSystem or None
        The cached system; ``None`` when the file is absent, and ``None`` with a warning when it is
        unreadable, corrupt, of another format or built from something else (the caller rebuilds).
    """
    try:
        with open(path, "rb") as fh:
            payload = _PlainUnpickler(fh).load()
        return _from_payload(payload, name, version, key)
    except FileNotFoundError:
        return None
    except Exception as exc:  # any corruption: rebuild, never crash
        log.warning("%s: cache %s is unusable (%s: %s); rebuilding it", name, path, type(exc).__name__, exc)
        return None


def write_cache(path: Path, system: CodeSystem, key: str | None = None) -> bool:
    """Write ``system`` to ``path`` atomically (temporary file in the same folder, then rename).

    Parameters
    ----------
    path : Path
        Cache file; its folder is created if needed.
    system : CodeSystem
        What to cache.
    key : str or None
        Fingerprint of the source, checked by :func:`read_cache`.

    Returns
    -------
    bool
        ``True`` when written; ``False``, with a warning, when it could not be (read-only folder,
        full disk): the caller goes on with the system it has.
    """
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a code-system cache is no secret
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(_to_payload(system, key), fh, protocol=pickle.HIGHEST_PROTOCOL)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
        return True
    except OSError as exc:
        log.warning("%s: could not write cache %s (%s); it will be rebuilt next time", system.name, path, exc)
        return False
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
