"""RxNorm and LOINC from releases the user points to (each off when not configured).

RxNorm (``CLINILOOP_RXNORM_RRF``)
    A folder holding ``RXNCONSO.RRF`` (a full RxNorm release folder, its ``rrf/`` subfolder, or the
    file's own folder). Rows of source ``RXNORM`` that are not suppressed (``SUPPRESS`` ``N``) and
    of a drug term type (ingredients, brands, clinical and branded drugs and dose forms: :data:`RXNORM_TTYS`)
    become concepts keyed by RXCUI; the display is the name of the most general term type
    (ingredient first), the other names are synonyms.
LOINC (``CLINILOOP_LOINC``)
    A folder holding ``Loinc.csv`` (the release root, or its ``LoincTable/``). ``ACTIVE`` terms become
    concepts keyed by ``LOINC_NUM``: display ``LONG_COMMON_NAME``, synonyms the short name, the
    component and (newer releases) the display name.

Both are code systems like SNOMED CT (:class:`~cliniloop.taxonomies.codes.system.CodeSystem`, cached under
``var/cache`` keyed by the file's size and modification time). A configured release that cannot be
read raises :class:`ReleaseError` naming the file and line (or column); an unset one logs one info
line and the system is off.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from pathlib import Path

from cliniloop.taxonomies.codes.cache import read_cache, write_cache
from cliniloop.taxonomies.codes.system import CodeSystem, Concept

log = logging.getLogger(__name__)

__all__ = ["ReleaseError", "RXNORM_TTYS", "load_rxnorm_rrf", "load_loinc", "rxnorm_from_settings", "loinc_from_settings"]

#: RxNorm term types kept, most general first (that order picks the display name).
RXNORM_TTYS = ("IN", "PIN", "MIN", "BN", "SCDF", "SBDF", "SCDG", "SBDG", "SCD", "SBD", "GPCK", "BPCK", "SY", "TMSY")
_RRF_COLUMNS = 18  # RXCUI|LAT|TS|LUI|STT|SUI|ISPREF|RXAUI|SAUI|SCUI|SDUI|SAB|TTY|CODE|STR|SRL|SUPPRESS|CVF
_LOINC_REQUIRED = ("LOINC_NUM", "LONG_COMMON_NAME", "STATUS")
MAX_SYNONYMS = 12


class ReleaseError(ValueError):
    """A configured release that cannot be read (the message names the file and line or column)."""


def _find(folder: Path, name: str, subfolders: tuple[str, ...]) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise ReleaseError(f"{folder}: release folder does not exist")
    for sub in ("", *subfolders):
        candidate = folder / sub / name if sub else folder / name
        if candidate.is_file():
            return candidate
    found = sorted(folder.rglob(name))
    if found:
        return found[0]
    raise ReleaseError(f"{folder}: no {name} in this folder or below")


def _key(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:24]


def load_rxnorm_rrf(folder: Path, cache_dir: Path | None = None) -> CodeSystem:
    """RxNorm concepts from ``RXNCONSO.RRF`` (see the module docstring).

    Parameters
    ----------
    folder : Path
        The release folder (or its ``rrf/``).
    cache_dir : Path or None
        Folder of the on-disk cache; ``None``: none.

    Returns
    -------
    CodeSystem
        ``name`` ``rxnorm``, ``version`` the release folder name.

    Raises
    ------
    ReleaseError
        No ``RXNCONSO.RRF``, a row with the wrong number of fields, or no usable row.
    """
    path = _find(folder, "RXNCONSO.RRF", ("rrf",))
    release = path.parent.parent.name if path.parent.name.lower() == "rrf" else path.parent.name
    key = _key(path)
    if cache_dir is not None:
        cached = read_cache(Path(cache_dir) / f"rxnorm-{key}.pkl", "rxnorm", None, key)
        if cached is not None:
            return cached
    names: dict[str, list[tuple[int, str]]] = {}
    rank = {t: i for i, t in enumerate(RXNORM_TTYS)}
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        for lineno, line in enumerate(fh, start=1):
            fields = line.rstrip("\r\n").split("|")
            if fields and fields[-1] == "":
                fields = fields[:-1]  # RRF rows end with a '|'
            if len(fields) != _RRF_COLUMNS:
                raise ReleaseError(f"{path}:{lineno}: expected {_RRF_COLUMNS} '|'-separated fields, found {len(fields)}")
            rxcui, sab, tty, text, suppress = fields[0], fields[11], fields[12], fields[14], fields[16]
            if sab != "RXNORM" or suppress != "N" or tty not in rank or not text.strip():
                continue
            names.setdefault(rxcui, []).append((rank[tty], " ".join(text.split())))
    if not names:
        raise ReleaseError(f"{path}: no unsuppressed RXNORM drug rows")
    concepts: dict[str, Concept] = {}
    for rxcui, found in names.items():
        ordered = [n for _, n in sorted(found)]
        unique = list(dict.fromkeys(ordered))
        concepts[rxcui] = Concept(rxcui, unique[0], tuple(unique[1 : 1 + MAX_SYNONYMS]))
    system = CodeSystem(name="rxnorm", version=release, concepts=concepts)
    log.info("RxNorm %s: %d concepts from %s", release, len(concepts), path.name)
    if cache_dir is not None:
        write_cache(Path(cache_dir) / f"rxnorm-{key}.pkl", system, key)
    return system


def load_loinc(folder: Path, cache_dir: Path | None = None) -> CodeSystem:
    """LOINC terms from ``Loinc.csv`` (see the module docstring).

    Raises
    ------
    ReleaseError
        No ``Loinc.csv``, a missing column, or no active term.
    """
    path = _find(folder, "Loinc.csv", ("LoincTable",))
    release = path.parent.parent.name if path.parent.name == "LoincTable" else path.parent.name
    key = _key(path)
    if cache_dir is not None:
        cached = read_cache(Path(cache_dir) / f"loinc-{key}.pkl", "loinc", None, key)
        if cached is not None:
            return cached
    concepts: dict[str, Concept] = {}
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in _LOINC_REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise ReleaseError(f"{path}:1: missing column(s) {', '.join(missing)}")
        for lineno, row in enumerate(reader, start=2):
            if (row.get("STATUS") or "").strip().upper() != "ACTIVE":
                continue
            code = (row.get("LOINC_NUM") or "").strip()
            display = " ".join((row.get("LONG_COMMON_NAME") or "").split())
            if not code or not display:
                raise ReleaseError(f"{path}:{lineno}: empty LOINC_NUM or LONG_COMMON_NAME")
            others = [" ".join((row.get(c) or "").split()) for c in ("SHORTNAME", "DisplayName", "COMPONENT")]
            synonyms = tuple(dict.fromkeys(o for o in others if o and o != display))
            concepts[code] = Concept(code, display, synonyms)
    if not concepts:
        raise ReleaseError(f"{path}: no ACTIVE LOINC term")
    system = CodeSystem(name="loinc", version=release, concepts=concepts)
    log.info("LOINC %s: %d terms from %s", release, len(concepts), path.name)
    if cache_dir is not None:
        write_cache(Path(cache_dir) / f"loinc-{key}.pkl", system, key)
    return system


def _configured(value: Path | None) -> bool:
    return value is not None and str(value).strip() not in ("", ".")


def rxnorm_from_settings(folder: Path | None, cache_dir: Path | None) -> CodeSystem | None:
    """RxNorm for the service (``CLINILOOP_RXNORM_RRF``), or ``None`` with one info line when unset."""
    if not _configured(folder):
        log.info("no RxNorm release configured (CLINILOOP_RXNORM_RRF): Medication mentions get SNOMED CT codes only")
        return None
    return load_rxnorm_rrf(Path(folder), cache_dir)  # type: ignore[arg-type]


def loinc_from_settings(folder: Path | None, cache_dir: Path | None) -> CodeSystem | None:
    """LOINC for the service (``CLINILOOP_LOINC``), or ``None`` with one info line when unset."""
    if not _configured(folder):
        log.info("no LOINC release configured (CLINILOOP_LOINC): Test mentions get SNOMED CT codes only")
        return None
    return load_loinc(Path(folder), cache_dir)  # type: ignore[arg-type]
