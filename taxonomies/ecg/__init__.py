"""ECG label schemas: MIT-BIH beat symbols and their AAMI EC57 classes (``aami.json``).

Nothing is read at import time; :func:`load_beat_mapping` reads the file on first call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

#: AAMI classes in the order used for probability columns everywhere.
AAMI_CLASSES: tuple[str, ...] = ("N", "S", "V", "F", "Q")
#: Paced MIT-BIH records, left out of classification benchmarks by convention.
PACED_RECORDS: tuple[str, ...] = ("102", "104", "107", "217")


@dataclass(frozen=True)
class BeatMapping:
    """MIT-BIH symbol -> AAMI class, with the mapping's name and version and each class's description."""

    name: str
    version: str
    symbols: dict[str, str]
    symbol_names: dict[str, str]
    classes: dict[str, str]

    @property
    def beat_symbols(self) -> frozenset[str]:
        """Symbols that are beats (everything else in a ``.atr`` file is not)."""
        return frozenset(self.symbols)

    def to_class(self, symbol: str) -> str | None:
        """AAMI class of a symbol, ``None`` for a non-beat annotation."""
        return self.symbols.get(symbol)

    @property
    def taxonomy_version(self) -> str:
        """``name@version``: recorded with every ECG prediction and label."""
        return f"{self.name}@{self.version}"


@lru_cache(maxsize=4)
def load_beat_mapping(path: Path | None = None) -> BeatMapping:
    """Read a symbol -> class mapping (default: the bundled AAMI EC57 ``aami.json``).

    Raises
    ------
    ValueError
        If a symbol maps to a class outside :data:`AAMI_CLASSES` (naming the file and symbol).
    """
    path = path or Path(__file__).with_name("aami.json")
    spec = json.loads(path.read_text(encoding="utf-8"))
    for symbol, cls in spec["symbols"].items():
        if cls not in AAMI_CLASSES:
            raise ValueError(f"{path}: symbol {symbol!r} maps to {cls!r}, not one of {AAMI_CLASSES}")
    return BeatMapping(
        spec["name"], spec["version"], dict(spec["symbols"]), dict(spec.get("symbol_names", {})), dict(spec.get("classes", {}))
    )
