"""Maps from other gold standards' identifier types to cliniloop's types and categories.

A type map is a UTF-8 tab-separated file, one foreign type a line::

    # comment lines and blank lines are skipped
    HCPName<TAB>NAME<TAB>clinician
    PTName<TAB>NAME
    PROFESSION<TAB>ignore

Column 1 is the type as the gold files spell it (matched case-insensitively), column 2 a key of
:data:`~cliniloop.models.text.deid.types.PHI_TYPES` or ``ignore`` (the gold spans of that type are dropped:
they are not identifiers under any profile), column 3, optional, one of
:data:`~cliniloop.models.text.deid.types.CATEGORIES` (what a policy profile needs to know; empty: a plain
identifier). Built-in maps (``taxonomies/deid/type_maps``): ``physionet``, ``i2b2-2006``,
``i2b2-2014``, and ``identity`` (each identifier type to itself, no category), the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cliniloop.taxonomies.deid.type_maps import type_maps_dir

from .types import CATEGORIES, PHI_TYPES

IGNORE = "ignore"
IDENTITY = "identity"


class TypeMapError(ValueError):
    """A type map that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class TypeTarget:
    """What a foreign type becomes: ``type`` (``None``: ignored) and ``category``."""

    type: str | None
    category: str = ""

    @property
    def ignored(self) -> bool:
        """True when gold spans of this foreign type are dropped."""
        return self.type is None


@dataclass(frozen=True)
class TypeMap:
    """A loaded type map.

    Attributes
    ----------
    name : str
        The built-in map's name, or the file's path.
    entries : Mapping[str, TypeTarget]
        Upper-cased foreign type -> target.
    """

    name: str
    entries: Mapping[str, TypeTarget]

    def get(self, foreign_type: str) -> TypeTarget | None:
        """The target of ``foreign_type`` (case-insensitive), or ``None`` when the map lacks it."""
        return self.entries.get(foreign_type.upper())

    def foreign_types(self) -> list[str]:
        """The foreign types the map knows (upper-cased, sorted)."""
        return sorted(self.entries)


def builtin_type_maps() -> list[str]:
    """Names of the built-in maps, ``identity`` first."""
    return [IDENTITY, *sorted(p.stem for p in type_maps_dir().glob("*.tsv"))]


def identity_type_map() -> TypeMap:
    """Each identifier type to itself with no category (gold types must be cliniloop types)."""
    return TypeMap(IDENTITY, {t: TypeTarget(t) for t in PHI_TYPES})


def parse_type_map(text: str, name: str) -> TypeMap:
    """Parse a type map's text (see the module docstring); ``name`` is used in error messages.

    Raises
    ------
    TypeMapError
        For a line without a target, an unknown target type or category, or a foreign type
        listed twice (``name:line: reason``).
    """
    entries: dict[str, TypeTarget] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in raw.rstrip("\r\n").split("\t")]
        if len(fields) < 2 or not fields[0] or not fields[1] or len(fields) > 3:
            raise TypeMapError(f"{name}:{lineno}: expected 'FOREIGN_TYPE<TAB>TYPE[<TAB>CATEGORY]', got {raw[:80]!r}")
        foreign, target = fields[0], fields[1]
        category = fields[2] if len(fields) == 3 else ""
        if target.lower() == IGNORE:
            if category:
                raise TypeMapError(f"{name}:{lineno}: an ignored type ({foreign}) takes no category")
            mapped = TypeTarget(None)
        elif target not in PHI_TYPES:
            raise TypeMapError(
                f"{name}:{lineno}: {foreign} maps to unknown type {target!r}; use one of {', '.join(PHI_TYPES)} or {IGNORE}"
            )
        elif category not in CATEGORIES:
            known = ", ".join(c for c in CATEGORIES if c)
            raise TypeMapError(f"{name}:{lineno}: unknown category {category!r} for {foreign}; use one of {known} or none")
        else:
            mapped = TypeTarget(target, category)
        key = foreign.upper()
        if key in entries:
            raise TypeMapError(f"{name}:{lineno}: {foreign} is listed twice")
        entries[key] = mapped
    if not entries:
        raise TypeMapError(f"{name}: no type mappings")
    return TypeMap(name, entries)


def load_type_map(spec: str | Path) -> TypeMap:
    """A built-in map by name (:func:`builtin_type_maps`) or a type map file.

    Raises
    ------
    TypeMapError
        If ``spec`` is neither a built-in name nor a readable UTF-8 file, or the file is malformed.
    """
    spec_s = str(spec)
    if spec_s == IDENTITY:
        return identity_type_map()
    builtin = type_maps_dir() / f"{spec_s}.tsv"
    if "/" not in spec_s and "\\" not in spec_s and builtin.is_file():
        return parse_type_map(builtin.read_text(encoding="utf-8"), spec_s)
    path = Path(spec)
    if not path.is_file():
        raise TypeMapError(f"{spec_s}: neither a built-in type map ({', '.join(builtin_type_maps())}) nor a file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TypeMapError(f"{path}: not valid UTF-8") from None
    return parse_type_map(text, str(path))
