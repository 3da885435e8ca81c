"""ICD-10-CM from the ``simple-icd-10-cm`` package, as a :class:`~cliniloop.taxonomies.codes.system.CodeSystem`.

The package ships one ICD-10-CM release (1.5.0: the FY2026 April 1, 2026 update) and parses its
~10 MB tabular XML when it is *imported* (about 2 s). :func:`load_icd10cm` therefore imports it only
when it has to build the code system; the result is pickled once into ``cache_dir`` and later loads
read that file without touching the package.

What is kept
------------
* every category and subcategory (chapters such as ``"4"`` and blocks such as ``"E08-E13"`` are
  not codes and are left out), seventh-character extensions included, in the dotted form
  (``"E11.9"``, ``"S14.109S"``);
* ``display``: the tabular description;
* ``synonyms``: the code's inclusion terms and its own "includes" notes (``I10``: "high blood
  pressure"), without notes that only point at other codes ("any condition classifiable to ...");
  the package has no alphabetic index, so there are no index terms;
* ``parents``: the parent category/subcategory (a category's parent is a block: none);
* ``billable``: the code is a leaf of the tabular list.

Nothing is done at import time.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import re
import time
import warnings
from functools import lru_cache
from pathlib import Path

from cliniloop.taxonomies.codes.cache import read_cache, write_cache
from cliniloop.taxonomies.codes.system import CodeSystem, Concept

log = logging.getLogger(__name__)

__all__ = [
    "cache_path",
    "dotted_icd10",
    "icd10cm_version",
    "load_icd10cm",
    "normalise_icd10cm",
]

_DIST_NAME = "simple_icd_10_cm"
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"),
        start=1,
    )
}
# An ICD-10 code without its dot: a letter, two letters or digits ("E11", "QA0"), then up to four more.
_CODE_NO_DOT = re.compile(r"^[A-Z][0-9A-Z]{2}[0-9A-Z]{0,4}$")
# A note that only points at other codes, e.g. "any condition classifiable to I70.211 and I70.221".
_CODE_REFERENCE = re.compile(
    r"(?i:classifiable|classified to|listed conditions|\bany condition\b|\bconditions? (?:in|listed)\b|\bthis category\b)"
    r"|\b[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]*-?|-[A-Z][0-9])"
    r"|\b(?:in|under|to) [A-Z][0-9][0-9A-Z]\b"
)

# The last code system loaded in this process (from disk or built): what normalise_icd10cm checks against.
_last_loaded: CodeSystem | None = None


# -- code format -------------------------------------------------------------------------------------


def dotted_icd10(code: str) -> str | None:
    """Put an ICD-10(-CM)-shaped code into its dotted form, without checking that it exists.

    Parameters
    ----------
    code : str
        ``"E119"``, ``"e11.9"``, ``" E11.9 "``, ``"I10"``.

    Returns
    -------
    str or None
        ``"E11.9"`` / ``"I10"``; ``None`` when ``code`` does not look like an ICD-10 code
        (a letter, two digits or letters, then at most four more).
    """
    if not isinstance(code, str):
        return None
    bare = re.sub(r"[\s.]", "", code).upper()
    if not _CODE_NO_DOT.match(bare):
        return None
    return bare if len(bare) == 3 else f"{bare[:3]}.{bare[3:]}"


def normalise_icd10cm(code: str, system: CodeSystem | None = None) -> str | None:
    """Canonical dotted ICD-10-CM code for a coder's free-text code, or ``None`` if it is not one.

    Parameters
    ----------
    code : str
        ``"E119"``, ``"e11.9"``, ``" E11.9 "`` ... (case, surrounding blanks and the dot do not matter).
    system : CodeSystem or None
        The ICD-10-CM system to check against. ``None``: the one last loaded in this process by
        :func:`load_icd10cm`, or else ``load_icd10cm()`` (builds it in memory, a few seconds once).

    Returns
    -------
    str or None
        ``"E11.9"`` when the code is in the system (chapters and blocks are not codes), else ``None``.
    """
    dotted = dotted_icd10(code)
    if dotted is None:
        return None
    if system is None:
        system = _last_loaded if _last_loaded is not None else load_icd10cm()
    return dotted if dotted in system.concepts else None


# -- version -----------------------------------------------------------------------------------------


def _package_dir() -> Path:
    """Folder of the installed ``simple_icd_10_cm`` package, found without importing it."""
    spec = importlib.util.find_spec(_DIST_NAME)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "simple-icd-10-cm is not installed: ICD-10-CM codes come from it (pip install 'simple-icd-10-cm>=1.5')"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _release_label(code_list_name: str) -> str | None:
    """``"code-list-April-2026.txt"`` -> ``"FY2026 April update"`` (US fiscal years start in October)."""
    m = re.search(r"([A-Z][a-z]+)-(\d{4})", code_list_name)
    if not m or m.group(1) not in _MONTHS:
        return None
    month, year = _MONTHS[m.group(1)], int(m.group(2))
    fiscal = year + 1 if month >= 10 else year
    return f"FY{fiscal}" if month == 10 else f"FY{fiscal} {m.group(1)} update"


@lru_cache(maxsize=1)
def icd10cm_version() -> str:
    """Version of the ICD-10-CM data, read from the package metadata without importing the package.

    Returns
    -------
    str
        e.g. ``"simple-icd-10-cm 1.5.0 (FY2026 April update)"``: the package version and the release
        its bundled code list is named after; just ``"simple-icd-10-cm 1.5.0"`` if that file is not found.
    """
    version = f"simple-icd-10-cm {importlib.metadata.version(_DIST_NAME)}"
    lists = sorted((_package_dir() / "data").glob("code-list-*.txt"))
    label = _release_label(lists[0].name) if len(lists) == 1 else None
    return f"{version} ({label})" if label else version


def cache_path(cache_dir: Path, version: str | None = None) -> Path:
    """Where :func:`load_icd10cm` keeps its cache in ``cache_dir``.

    Parameters
    ----------
    cache_dir : Path
        Cache folder (the service passes ``settings.var_dir / "cache"``).
    version : str or None
        ICD-10-CM version; ``None``: :func:`icd10cm_version`.

    Returns
    -------
    Path
        ``cache_dir / "icd10cm-<version with unsafe characters as _>.pkl"``.
    """
    safe = re.sub(r"[^A-Za-z0-9.]+", "_", version or icd10cm_version()).strip("_")
    return Path(cache_dir) / f"icd10cm-{safe}.pkl"


# -- build -------------------------------------------------------------------------------------------


def _synonyms(display: str, terms: list[str]) -> tuple[str, ...]:
    seen = {display.casefold()}
    out: list[str] = []
    for term in terms:
        term = " ".join(term.split())
        key = term.casefold()
        if not term or key in seen or _CODE_REFERENCE.search(term):
            continue
        seen.add(key)
        out.append(term)
    return tuple(out)


@lru_cache(maxsize=1)
def _build() -> CodeSystem:
    """Build the code system from the package (imports it: ~2 s of XML parsing, then ~1 s)."""
    t0 = time.perf_counter()
    with warnings.catch_warnings():  # its import uses deprecated importlib.resources calls
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as cm

    concepts: dict[str, Concept] = {}
    for code in cm.get_all_codes(with_dots=True):
        # Chapters ("4") and blocks ("E08-E13") are not codes. A block named like its only category
        # ("B99") is listed once and resolves to the category.
        if not cm.is_category_or_subcategory(code):
            continue
        display = " ".join(cm.get_description(code).split())
        parents: tuple[str, ...] = ()
        if not cm.is_category(code):
            parent = cm.get_parent(code)
            if parent and cm.is_category_or_subcategory(parent):
                parents = (parent,)
        concepts[code] = Concept(
            code=code,
            display=display,
            synonyms=_synonyms(display, [*cm.get_inclusion_term(code), *cm.get_includes(code)]),
            parents=parents,
            billable=cm.is_leaf(code),
            semantic_tag=None,
        )
    system = CodeSystem(name="icd10cm", version=icd10cm_version(), concepts=concepts)
    log.info("ICD-10-CM: built %d codes from %s in %.1f s", len(concepts), system.version, time.perf_counter() - t0)
    return system


# -- public loader -----------------------------------------------------------------------------------


def load_icd10cm(cache_dir: Path | None = None) -> CodeSystem:
    """Load ICD-10-CM (the release bundled with ``simple-icd-10-cm``).

    Parameters
    ----------
    cache_dir : Path or None
        Folder of the on-disk cache (callers pass ``settings.var_dir / "cache"``). The code system is
        built once (~3 s) and pickled to :func:`cache_path`; later loads read that file (well under
        2 s) without importing the package. A corrupt or stale file is rebuilt with a warning.
        ``None``: no disk cache; the system is built once per process and kept in memory.

    Returns
    -------
    CodeSystem
        ``name="icd10cm"``, ``version`` from :func:`icd10cm_version`, ~98,000 codes keyed by dotted
        code, no cross-maps. Loads without a disk cache return the same (shared) object each time:
        do not mutate it.
    """
    global _last_loaded
    if cache_dir is None:
        system = _build()
    else:
        version = icd10cm_version()
        path = cache_path(Path(cache_dir), version)
        t0 = time.perf_counter()
        system = read_cache(path, "icd10cm", version)
        if system is not None:
            log.debug("ICD-10-CM: %d codes read from %s in %.2f s", len(system), path, time.perf_counter() - t0)
        else:
            system = _build()
            if write_cache(path, system):
                log.info("ICD-10-CM: cached in %s", path)
    _last_loaded = system
    return system
