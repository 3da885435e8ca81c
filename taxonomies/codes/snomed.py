"""SNOMED CT from a user-supplied RF2 release (Snapshot files), as a :class:`~cliniloop.taxonomies.codes.system.CodeSystem`.

SNOMED CT is licensed: cliniloop ships no SNOMED content. Users point ``CLINILOOP_SNOMED_RF2`` at the
folder of their own release (the unzipped ``SnomedCT_...RF2_PRODUCTION_...`` folder, or its
``Snapshot`` folder); without one, :func:`snomed_from_settings` logs one line and SNOMED candidates
are off. ``data_samples/snomed_rf2_sample`` holds a tiny synthetic release for tests.

Files read (found by their RF2 names anywhere under the folder; several matching files, e.g. an
edition and its extension, are merged, the row with the latest ``effectiveTime`` winning per id):

=================================================  ==========================================
``sct2_Concept_Snapshot*``                         active concepts
``sct2_Description_Snapshot-en*``                  FSNs (semantic tag) and synonyms
``der2_cRefset_LanguageSnapshot-en*``              US English preferred / acceptable terms
``sct2_Relationship_Snapshot*``                    active IS-A (116680003) parents
``der2_iisssccRefset_ExtendedMapSnapshot*``        ICD-10 map (optional)
=================================================  ==========================================

Every row is checked: the header must hold the columns read, each row the header's number of
fields, ``active`` must be 0/1, ``effectiveTime`` 8 digits, map groups/priorities integers, and each
SCTID read must be 6-18 digits with a valid Verhoeff check digit and the partition of its component
type (concept ``00``/``10``, description ``01``/``11``, relationship ``02``/``12``). A failure raises
:class:`RF2Error` naming the file and line. Nothing is done at import time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from functools import lru_cache
from operator import itemgetter
from pathlib import Path

from cliniloop.taxonomies.codes.cache import CACHE_FORMAT, read_cache, write_cache
from cliniloop.taxonomies.codes.icd10cm import dotted_icd10
from cliniloop.taxonomies.codes.system import CodeSystem, Concept

log = logging.getLogger(__name__)

__all__ = [
    "RF2Error",
    "find_rf2_files",
    "load_snomed_rf2",
    "snomed_from_settings",
    "verhoeff_valid",
]

US_ENGLISH_REFSET = "900000000000509007"
PREFERRED = "900000000000548007"
ACCEPTABLE = "900000000000549004"
FSN_TYPE = "900000000000003001"
SYNONYM_TYPE = "900000000000013009"
IS_A = "116680003"
#: Extended map refsets read for ``maps_to``: the US Edition's ICD-10-CM map is used when the release
#: has one; otherwise the International ICD-10 (WHO) map, whose targets mostly exist in ICD-10-CM too.
ICD10CM_MAP_REFSET = "6011000124106"
ICD10_MAP_REFSET = "447562003"

NO_RELEASE_MESSAGE = "SNOMED CT: no RF2 release configured (CLINILOOP_SNOMED_RF2); SNOMED candidates are off"

# kind -> (file-name pattern, required?)
PATTERNS: dict[str, tuple[str, bool]] = {
    "concept": ("sct2_Concept_Snapshot*", True),
    "description": ("sct2_Description_Snapshot-en*", True),
    "relationship": ("sct2_Relationship_Snapshot*", True),
    "language": ("der2_cRefset_LanguageSnapshot-en*", True),
    "map": ("der2_iisssccRefset_ExtendedMapSnapshot*", False),
}

_BASE = ("id", "effectiveTime", "active", "moduleId")
# kind -> columns read (all required in the header)
_COLUMNS: dict[str, tuple[str, ...]] = {
    "concept": _BASE,
    "description": (*_BASE, "conceptId", "typeId", "term"),
    "relationship": (*_BASE, "sourceId", "destinationId", "typeId"),
    "language": (*_BASE, "refsetId", "referencedComponentId", "acceptabilityId"),
    "map": (*_BASE, "refsetId", "referencedComponentId", "mapGroup", "mapPriority", "mapTarget"),
}
# kind -> {SCTID column: partition kind or None}; refset row ids are UUIDs, not SCTIDs.
_SCTID_COLUMNS: dict[str, dict[str, str | None]] = {
    "concept": {"id": "concept", "moduleId": "concept"},
    "description": {"id": "description", "moduleId": "concept", "conceptId": "concept", "typeId": "concept"},
    "relationship": {
        "id": "relationship",
        "moduleId": "concept",
        "sourceId": "concept",
        "destinationId": "concept",
        "typeId": "concept",
    },
    "language": {
        "moduleId": "concept",
        "refsetId": "concept",
        "referencedComponentId": "description",
        "acceptabilityId": "concept",
    },
    "map": {"moduleId": "concept", "refsetId": "concept", "referencedComponentId": "concept"},
}
_INT_COLUMNS: dict[str, tuple[str, ...]] = {"map": ("mapGroup", "mapPriority")}
_PARTITIONS = {"concept": ("00", "10"), "description": ("01", "11"), "relationship": ("02", "12")}
_CHUNK = 50_000
_TAG = re.compile(r"^(.*\S)\s*\(([^()]+)\)\s*$")


class RF2Error(ValueError):
    """An RF2 release that cannot be read; the message is ``"<path>:<line>: <what is wrong>"``.

    Parameters
    ----------
    path : Path or str
        File (or folder) at fault.
    line : int or None
        1-based line number (1 is the header); ``None`` for a folder-level problem, and the message
        is then ``"<path>: <what is wrong>"``.
    message : str
        What is wrong.

    Attributes
    ----------
    path : Path
    line : int or None
    problem : str
    """

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = message
        super().__init__(f"{path}:{line}: {message}" if line is not None else f"{path}: {message}")


# -- SCTID check digits ------------------------------------------------------------------------------

# Verhoeff's dihedral-group tables: multiplication in D5 and the position permutations (powers of p1).
_D5 = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P1 = (1, 5, 7, 6, 2, 8, 3, 0, 9, 4)


def _perm_table() -> tuple[tuple[int, ...], ...]:
    rows = [tuple(range(10))]
    for _ in range(7):
        rows.append(tuple(_P1[x] for x in rows[-1]))
    return tuple(rows)


_PERM = _perm_table()


def verhoeff_valid(sctid: str) -> bool:
    """Whether a digit string ends in a valid Verhoeff check digit (as every SCTID does).

    Parameters
    ----------
    sctid : str
        Digits only, check digit last (``"116680003"``).

    Returns
    -------
    bool
        ``False`` also for an empty or non-numeric string.
    """
    if not sctid or not sctid.isdigit() or not sctid.isascii():
        return False
    c = 0
    for i, ch in enumerate(reversed(sctid)):
        c = _D5[c][_PERM[i % 8][ord(ch) - 48]]
    return c == 0


def _verhoeff_many(ids: list[str]) -> list[bool]:
    """:func:`verhoeff_valid` for many digit strings of 6-18 digits at once (numpy, vectorised)."""
    if len(ids) < 64:
        return [verhoeff_valid(s) for s in ids]
    import numpy as np

    n = len(ids)
    arr = np.array(ids, dtype="<U18")
    lengths = np.char.str_len(arr)
    digits = arr.view(np.uint32).reshape(n, 18).astype(np.int64) - 48  # left-aligned, padding < 0
    d5 = np.array(_D5, dtype=np.int64)
    perm = np.array(_PERM, dtype=np.int64)
    rows = np.arange(n)
    c = np.zeros(n, dtype=np.int64)
    for i in range(18):  # i-th digit from the right
        pos = lengths - 1 - i
        live = pos >= 0
        digit = np.where(live, digits[rows, np.clip(pos, 0, 17)], 0)
        c = np.where(live, d5[c, perm[i % 8, digit]], c)
    return (c == 0).tolist()


def _sctid_problems(values: set[str], partition: str | None) -> dict[str, str]:
    """``value -> what is wrong`` for the values of one SCTID column that are not valid."""
    bad: dict[str, str] = {}
    candidates = []
    for v in values:
        if not (v.isascii() and v.isdigit()):
            bad[v] = f"{v!r} is not a numeric SCTID"
        elif not 6 <= len(v) <= 18:
            bad[v] = f"SCTID {v!r} has {len(v)} digits (6-18 expected)"
        elif v[0] == "0":
            bad[v] = f"SCTID {v!r} has a leading zero"
        else:
            candidates.append(v)
    for v, ok in zip(candidates, _verhoeff_many(candidates), strict=True):
        if not ok:
            bad[v] = f"SCTID {v} fails its Verhoeff check digit"
        elif partition is not None and v[-3:-1] not in _PARTITIONS[partition]:
            bad[v] = f"SCTID {v} has partition {v[-3:-1]}, not a {partition} id ({'/'.join(_PARTITIONS[partition])})"
    return bad


# -- reading one RF2 file ----------------------------------------------------------------------------


def _read_rf2(path: Path, kind: str) -> Iterator[tuple[int, tuple[str, ...]]]:
    """Yield ``(line number, projected fields)`` of a checked RF2 file, fields in ``_COLUMNS[kind]`` order."""
    wanted = _COLUMNS[kind]
    sctid_cols = _SCTID_COLUMNS[kind]
    int_cols = _INT_COLUMNS.get(kind, ())
    lineno = 0
    try:
        with open(path, encoding="utf-8", newline="\n") as fh:
            header_line = fh.readline()
            lineno = 1
            if not header_line.strip():
                raise RF2Error(path, 1, "empty file: expected a tab-separated RF2 header")
            header = header_line.rstrip("\r\n").lstrip("\ufeff").split("\t")
            missing = [c for c in wanted if c not in header]
            if missing:
                raise RF2Error(
                    path,
                    1,
                    f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                    f"(header: {' | '.join(header)})",
                )
            ncols = len(header)
            project = itemgetter(*[header.index(c) for c in wanted])
            i_active = wanted.index("active")
            i_time = wanted.index("effectiveTime")
            checks = [(wanted.index(c), c, p) for c, p in sctid_cols.items()]
            int_checks = [(wanted.index(c), c) for c in int_cols]
            chunk: list[tuple[int, tuple[str, ...]]] = []
            for lineno, line in enumerate(fh, start=2):
                line = line.rstrip("\r\n")
                if not line:
                    continue
                fields = line.split("\t")
                if len(fields) != ncols:
                    raise RF2Error(path, lineno, f"{len(fields)} tab-separated fields, the header has {ncols}")
                row = project(fields)
                if row[i_active] not in ("0", "1"):
                    raise RF2Error(path, lineno, f"active is {row[i_active]!r}, expected 0 or 1")
                chunk.append((lineno, row))
                if len(chunk) >= _CHUNK:
                    _check_chunk(path, chunk, checks, int_checks, i_time)
                    yield from chunk
                    chunk = []
            _check_chunk(path, chunk, checks, int_checks, i_time)
            yield from chunk
    except UnicodeDecodeError as exc:
        raise RF2Error(path, lineno + 1, f"not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise RF2Error(path, None, f"cannot read ({exc.strerror or exc})") from exc


def _check_chunk(
    path: Path,
    chunk: list[tuple[int, tuple[str, ...]]],
    checks: list[tuple[int, str, str | None]],
    int_checks: list[tuple[int, str]],
    i_time: int,
) -> None:
    """Raise :class:`RF2Error` at the first line of ``chunk`` holding a bad SCTID, integer or date."""
    if not chunk:
        return
    problems: list[dict[str, str]] = []
    for i, _col, partition in checks:
        problems.append(_sctid_problems({row[i] for _, row in chunk}, partition))
    bad_ints = {
        i: {v for v in {row[i] for _, row in chunk} if not re.fullmatch(r"-?[0-9]+", v)} for i, _ in int_checks
    }
    bad_times = {v for v in {row[i_time] for _, row in chunk} if not re.fullmatch(r"[0-9]{8}", v)}
    if not any(problems) and not any(bad_ints.values()) and not bad_times:
        return
    for lineno, row in chunk:
        if row[i_time] in bad_times:
            raise RF2Error(path, lineno, f"effectiveTime {row[i_time]!r} is not a YYYYMMDD date")
        for (i, col, _), bad in zip(checks, problems, strict=True):
            if row[i] in bad:
                raise RF2Error(path, lineno, f"{col}: {bad[row[i]]}")
        for i, col in int_checks:
            if row[i] in bad_ints[i]:
                raise RF2Error(path, lineno, f"{col}: {row[i]!r} is not an integer")


def _latest(files: list[Path], kind: str, keep: Callable[[tuple[str, ...]], tuple | None]) -> dict[str, tuple]:
    """``id -> kept payload`` over ``files``: per id the row with the latest effectiveTime wins.

    ``keep(row)`` returns the payload to keep for an active row, or ``None`` to ignore the row; an
    inactive row that wins removes the id.
    """
    newest: dict[str, tuple[str, tuple | None]] = {}
    single = len(files) == 1
    for path in files:
        for _lineno, row in _read_rf2(path, kind):
            rid, etime, active = row[0], row[1], row[2]
            if not single:
                seen = newest.get(rid)
                if seen is not None and seen[0] > etime:
                    continue
            payload = keep(row) if active == "1" else None
            if payload is not None or not single:
                newest[rid] = (etime, payload)
    return {rid: payload for rid, (_t, payload) in newest.items() if payload is not None}


# -- locating a release ------------------------------------------------------------------------------


def find_rf2_files(folder: Path) -> dict[str, list[Path]]:
    """The Snapshot files of an RF2 release, found by name anywhere under ``folder``.

    Parameters
    ----------
    folder : Path
        Release folder (or any folder above its ``Snapshot`` files).

    Returns
    -------
    dict
        ``kind -> sorted list of files`` for ``concept``, ``description``, ``relationship``,
        ``language`` and ``map`` (the map list may be empty).

    Raises
    ------
    RF2Error
        ``folder`` is not a folder, or a required kind of file is missing.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RF2Error(folder, None, "not a folder (CLINILOOP_SNOMED_RF2 must name an unzipped RF2 release)")
    found: dict[str, list[Path]] = {}
    for kind, (pattern, required) in PATTERNS.items():
        files = sorted(p for p in folder.rglob(pattern) if p.is_file() and not p.name.startswith("."))
        if required and not files:
            raise RF2Error(folder, None, f"no {pattern} file under this folder (is it an RF2 release with Snapshot files?)")
        found[kind] = files
    return found


def _fingerprint(folder: Path, files: dict[str, list[Path]]) -> str:
    entries = []
    for kind in sorted(files):
        for p in files[kind]:
            st = p.stat()
            entries.append([kind, str(p.relative_to(folder)), st.st_size, st.st_mtime_ns])
    blob = json.dumps({"format": CACHE_FORMAT, "files": entries}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _release_version(files: list[Path]) -> str:
    """The release folder's name (``SnomedCT_..._20250101T120000Z``), else the file-name tag (``INT_20250101``)."""
    names: list[str] = []
    for path in files:
        release = next((p.name for p in path.parents if p.name.startswith("SnomedCT_")), None)
        if release is None:
            m = re.search(r"Snapshot(?:-[a-z]{2})?_(.+?)(?:\.txt)?$", path.name)
            release = m.group(1) if m else path.stem
        if release not in names:
            names.append(release)
    return "+".join(names)


# -- building ----------------------------------------------------------------------------------------


def _build(folder: Path, files: dict[str, list[Path]]) -> CodeSystem:
    t0 = time.perf_counter()
    active = _latest(files["concept"], "concept", lambda row: ())
    # description id -> (conceptId, typeId, term), active descriptions of active concepts only
    descriptions = _latest(
        files["description"],
        "description",
        lambda row: (row[4], row[5], row[6]) if row[4] in active else None,
    )
    # US English acceptability per description (preferred wins over acceptable)
    acceptability: dict[str, str] = {}
    for desc_id, accept in _latest(
        files["language"],
        "language",
        lambda row: (row[5], row[6]) if row[4] == US_ENGLISH_REFSET else None,
    ).values():
        if acceptability.get(desc_id) != PREFERRED:
            acceptability[desc_id] = accept
    parents: dict[str, set[str]] = {}
    for source, dest in _latest(
        files["relationship"],
        "relationship",
        lambda row: (row[4], row[5]) if row[6] == IS_A else None,
    ).values():
        if source in active and dest in active and source != dest:
            parents.setdefault(source, set()).add(dest)
    maps_to = _read_maps(files["map"], active)

    by_concept: dict[str, list[tuple[str, str, str]]] = {}
    for desc_id, (concept_id, type_id, term) in descriptions.items():
        by_concept.setdefault(concept_id, []).append((desc_id, type_id, term))

    concepts: dict[str, Concept] = {}
    no_terms = 0
    for code in active:
        concept, had_terms = _concept(code, by_concept.get(code, []), acceptability, parents.get(code, ()))
        concepts[code] = concept
        no_terms += not had_terms
    if no_terms:
        log.warning("SNOMED CT: %d active concepts have no active description; shown by their id", no_terms)
    system = CodeSystem(name="snomed", version=_release_version(files["concept"]), concepts=concepts, maps_to=maps_to)
    log.info(
        "SNOMED CT: %d active concepts, %d with ICD-10 maps, read from %s in %.1f s",
        len(concepts),
        len(maps_to),
        folder,
        time.perf_counter() - t0,
    )
    return system


def _concept(
    code: str, descs: list[tuple[str, str, str]], acceptability: dict[str, str], parents: set[str] | tuple
) -> tuple[Concept, bool]:
    """One concept from its active descriptions: ``(Concept, whether it had any)``."""
    descs = sorted(descs, key=lambda d: int(d[0]))
    fsns = [d for d in descs if d[1] == FSN_TYPE]
    synonyms = [d for d in descs if d[1] == SYNONYM_TYPE]
    fsns.sort(key=lambda d: acceptability.get(d[0]) != PREFERRED)
    tag: str | None = None
    fsn_term: str | None = None
    if fsns:
        fsn = fsns[0][2].strip()
        m = _TAG.match(fsn)
        fsn_term, tag = (m.group(1), m.group(2).strip()) if m else (fsn, None)
    rank = {PREFERRED: 0, ACCEPTABLE: 1}
    # Stable: US preferred first, then US acceptable, then other synonyms (e.g. GB-only), in id order.
    synonyms.sort(key=lambda d: rank.get(acceptability.get(d[0], ""), 2))
    terms = [d[2].strip() for d in synonyms]
    if fsn_term:
        terms.append(fsn_term)
    terms = [t for t in terms if t]
    display = terms[0] if terms else code
    seen = {display.casefold()}
    others: list[str] = []
    for t in terms[1:]:
        if t.casefold() not in seen:
            seen.add(t.casefold())
            others.append(t)
    concept = Concept(
        code=code,
        display=display,
        synonyms=tuple(others),
        parents=tuple(sorted(parents, key=int)),
        billable=True,
        semantic_tag=tag,
    )
    return concept, bool(terms)


def _read_maps(files: list[Path], active: dict[str, tuple]) -> dict[str, list[tuple[str, str]]]:
    """``concept -> [("icd10cm", dotted code), ...]`` in (mapGroup, mapPriority) order."""
    if not files:
        return {}
    rows = _latest(
        files,
        "map",
        lambda row: (row[4], row[5], int(row[6]), int(row[7]), row[8])
        if row[4] in (ICD10CM_MAP_REFSET, ICD10_MAP_REFSET) and row[5] in active
        else None,
    ).values()
    refsets = {r[0] for r in rows}
    refset = ICD10CM_MAP_REFSET if ICD10CM_MAP_REFSET in refsets else ICD10_MAP_REFSET
    targets: dict[str, list[tuple[int, int, str]]] = {}
    for rs, concept, group, priority, target in rows:
        if rs != refset:
            continue
        # Empty targets are the "cannot be classified" / "context dependent" rows; strip the
        # dagger/asterisk some ICD-10 maps carry.
        code = dotted_icd10(target.strip().rstrip("†*+"))
        if code is None:
            continue
        targets.setdefault(concept, []).append((group, priority, code))
    maps_to: dict[str, list[tuple[str, str]]] = {}
    for concept, entries in targets.items():
        ordered: list[tuple[str, str]] = []
        for _g, _p, code in sorted(entries):
            if ("icd10cm", code) not in ordered:
                ordered.append(("icd10cm", code))
        maps_to[concept] = ordered
    return maps_to


# -- public loaders ----------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _build_in_memory(folder: str, fingerprint: str) -> CodeSystem:
    return _build(Path(folder), find_rf2_files(Path(folder)))


def cache_file(cache_dir: Path, version: str, fingerprint: str) -> Path:
    """Cache file of a release: ``cache_dir / "snomed-<version>-<fingerprint>.pkl"``.

    Parameters
    ----------
    cache_dir : Path
        Cache folder.
    version : str
        Release version (unsafe characters become ``_``).
    fingerprint : str
        Hash of the release's file names, sizes and modification times.

    Returns
    -------
    Path
    """
    safe = re.sub(r"[^A-Za-z0-9.]+", "_", version).strip("_")
    return Path(cache_dir) / f"snomed-{safe}-{fingerprint}.pkl"


def load_snomed_rf2(folder: Path, cache_dir: Path | None = None) -> CodeSystem:
    """Load the active content of a SNOMED CT RF2 release.

    Parameters
    ----------
    folder : Path
        Folder holding the release's Snapshot files, at any depth (see :data:`PATTERNS`).
    cache_dir : Path or None
        Folder of the on-disk cache (callers pass ``settings.var_dir / "cache"``): the release is
        read once and pickled to ``snomed-<version>-<fingerprint>.pkl``, the fingerprint hashing the
        files' names, sizes and modification times, so a changed release is read again. A corrupt
        cache file is rebuilt with a warning. ``None``: no disk cache; kept in memory per process.

    Returns
    -------
    CodeSystem
        ``name="snomed"``; ``version``: the release folder name (``SnomedCT_..._20250101T120000Z``)
        or the files' release tag (``INT_20250101``). One :class:`Concept` per active concept:
        ``display`` the US English preferred synonym (else a US acceptable one, else any active
        synonym, else the FSN without its tag), ``synonyms`` the other active synonyms and the FSN
        without its tag, ``semantic_tag`` from the FSN, ``parents`` the active IS-A targets.
        ``maps_to``: concept -> ``[("icd10cm", "E11.9"), ...]`` from the active ICD-10 extended map
        rows, by map group then priority, empty targets skipped, codes in dotted form. Without a disk
        cache the same (shared) object is returned for an unchanged release: do not mutate it.

    Raises
    ------
    RF2Error
        Missing folder or required file, or a file that is not valid RF2 (message
        ``"<file>:<line>: <what is wrong>"``).
    """
    folder = Path(folder).resolve()
    files = find_rf2_files(folder)
    fingerprint = _fingerprint(folder, files)
    if cache_dir is None:
        return _build_in_memory(str(folder), fingerprint)
    version = _release_version(files["concept"])
    path = cache_file(Path(cache_dir), version, fingerprint)
    t0 = time.perf_counter()
    system = read_cache(path, "snomed", version, key=fingerprint)
    if system is not None:
        log.info("SNOMED CT: %d active concepts (%s) read from cache in %.2f s", len(system), version, time.perf_counter() - t0)
        return system
    system = _build(folder, files)
    if write_cache(path, system, key=fingerprint):
        log.info("SNOMED CT: cached in %s", path)
    return system


def snomed_from_settings(rf2_folder: Path | None, cache_dir: Path | None) -> CodeSystem | None:
    """SNOMED CT for the service: the configured release, or ``None`` when there is none.

    Parameters
    ----------
    rf2_folder : Path or None
        ``settings.snomed_rf2`` (``CLINILOOP_SNOMED_RF2``). ``None`` (or an empty value): logs one
        info line, :data:`NO_RELEASE_MESSAGE`, and SNOMED candidates are off.
    cache_dir : Path or None
        See :func:`load_snomed_rf2`.

    Returns
    -------
    CodeSystem or None

    Raises
    ------
    RF2Error
        A release is configured but cannot be read: a configuration error, reported rather than
        silently switching SNOMED off.
    """
    if rf2_folder is None or str(rf2_folder).strip() in ("", "."):
        log.info(NO_RELEASE_MESSAGE)
        return None
    return load_snomed_rf2(Path(rf2_folder), cache_dir)
