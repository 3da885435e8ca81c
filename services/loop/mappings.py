"""The validated mapping table: export (CSV, JSON) of coders' mention → code verdicts."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Literal

from services.core.store import Store

COLUMNS = (
    "mention",
    "normalized_mention",
    "context",
    "system",
    "code",
    "display",
    "coder",
    "verdict",
    "valid",
    "problem",
    "time",
    "taxonomy_version",
    "task_id",
    "source_annotation_id",
)


def mapping_records(store: Store, system: str | None = None, validated_only: bool = False) -> list[dict[str, Any]]:
    """Rows of the mapping table as plain dicts with :data:`COLUMNS` (``time`` in ISO 8601 UTC)."""
    out = []
    for row in store.code_mappings(system=system, validated_only=validated_only):
        rec = {c: getattr(row, c) for c in COLUMNS if c != "time"}
        rec["time"] = row.created_at.isoformat()
        out.append({c: rec[c] for c in COLUMNS})
    return out


def export_mappings(
    store: Store,
    path: Path,
    fmt: Literal["csv", "json"] | None = None,
    system: str | None = None,
    validated_only: bool = False,
) -> int:
    """Write the mapping table to ``path`` (format from ``fmt`` or the file suffix); return the row count.

    Raises
    ------
    ValueError
        For a format other than csv or json.
    """
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    if fmt not in ("csv", "json"):
        raise ValueError(f"{path}: unknown export format {fmt!r}; use .csv or .json (or --format)")
    records = mapping_records(store, system, validated_only)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if fmt == "json":
        tmp.write_text(json.dumps(records, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    else:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(records)
    tmp.replace(path)
    store.audit("cliniloop", "export", "code_mappings", str(path), rows=len(records), format=fmt, system=system)
    return len(records)
