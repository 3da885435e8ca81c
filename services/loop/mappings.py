"""The validated mapping table: export (CSV, JSON) of coders' mention → code verdicts."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Literal

from cliniloop.services.core.store import Store

#: ``export mappings --format`` values.
EXPORT_FORMATS = ("csv", "json", "conceptmap", "refset")
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
    fmt: Literal["csv", "json", "conceptmap", "refset"] | None = None,
    system: str | None = None,
    validated_only: bool = False,
) -> int:
    """Write the mapping table to ``path`` (format from ``fmt`` or the file suffix); return the row count.

    ``csv`` / ``json``: every row of the table (``validated_only``: valid accept/alternative verdicts).
    ``conceptmap``: a FHIR R4 ConceptMap of the validated mappings with coder agreement per target,
    validated before it is written; ``refset``: a SNOMED CT simple-map refset of the validated
    SNOMED mappings with coder agreement per row (:mod:`cliniloop.services.loop.mapping_exports`; both
    return the number of targets / rows).

    Raises
    ------
    ValueError
        For a format other than csv or json.
    """
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"{path}: unknown export format {fmt!r}; use .csv or .json (or --format {'/'.join(EXPORT_FORMATS)})")
    if fmt in ("conceptmap", "refset"):
        from cliniloop.services.loop.mapping_exports import write_conceptmap, write_refset

        if fmt == "conceptmap":
            n = write_conceptmap(store, path, system)
        else:
            if system not in (None, "snomed"):
                raise ValueError(f"a SNOMED CT simple-map refset holds SNOMED CT mappings only, not --system {system}")
            n = write_refset(store, path)
        store.audit("cliniloop", "export", "code_mappings", str(path), rows=n, format=fmt, system=system)
        return n
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


def mapping_agreement(store: Store, system: str | None = None) -> dict[str, Any]:
    """Agreement between coders who saw the same mention (same coder task, or same mention and context).

    Returns
    -------
    dict
        ``items`` (mentions seen by at least two coders), ``coders``, ``verdict_kappa`` — Cohen's
        kappa (:func:`cliniloop.models.quality.agreement.cohen_kappa`) when exactly two coders share items,
        Fleiss' kappa (:func:`cliniloop.models.quality.agreement.fleiss_kappa`) over
        items with the most common number of coders otherwise (ties: the larger number) — ``pairwise_kappa`` per coder
        pair, ``identical_code_share`` (items where every coder ended on the same code, among items
        where at least one chose a code), and ``disagreements`` (each item with every coder's
        verdict and code). Kappa is ``None`` where it is undefined (fewer than two items).
    """
    from itertools import combinations

    from cliniloop.models.quality.agreement import cohen_kappa, fleiss_kappa

    items: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in store.code_mappings(system=system):
        key = (row.system, row.task_id or "", row.normalized_mention if row.task_id else f"{row.normalized_mention}|{row.context}")
        item = items.setdefault(key, {"system": row.system, "mention": row.mention, "context": row.context, "by": {}})
        item["by"][row.coder] = (row.verdict, row.code if row.valid else "")
    shared = [it for it in items.values() if len(it["by"]) >= 2]
    coders = sorted({c for it in shared for c in it["by"]})

    def kappa(a: list[str], b: list[str]) -> float | None:
        value = cohen_kappa(a, b) if len(a) >= 2 else None
        return None if value is None else round(value, 4)

    pairwise = {}
    for c1, c2 in combinations(coders, 2):
        both = [it for it in shared if c1 in it["by"] and c2 in it["by"]]
        pairwise[f"{c1} | {c2}"] = {"items": len(both), "kappa": kappa([it["by"][c1][0] for it in both], [it["by"][c2][0] for it in both])}
    overall: float | None = None
    method = None
    if len(coders) == 2:
        overall, method = next(iter(pairwise.values()))["kappa"], "cohen"
    elif shared:
        counts = [len(it["by"]) for it in shared]
        n_raters = max(set(counts), key=lambda n: (counts.count(n), n))  # most common count; ties: more raters
        rows = [[v for v, _ in it["by"].values()] for it in shared if len(it["by"]) == n_raters]
        if len(rows) >= 2:
            value = fleiss_kappa(rows)
            overall, method = (None if value is None else round(value, 4)), "fleiss"
    coded = [it for it in shared if any(code for _, code in it["by"].values())]
    identical = [it for it in coded if len({code for _, code in it["by"].values()}) == 1]
    disagreements = [
        {"system": it["system"], "mention": it["mention"], "context": it["context"],
         "coders": {c: {"verdict": v, "code": code} for c, (v, code) in sorted(it["by"].items())}}
        for it in shared
        if len({(v, code) for v, code in it["by"].values()}) > 1
    ]  # fmt: skip
    return {
        "system": system or "all",
        "items": len(shared),
        "coders": coders,
        "verdict_kappa": overall,
        "kappa_method": method,
        "pairwise_kappa": pairwise,
        "identical_code_share": round(len(identical) / len(coded), 4) if coded else None,
        "disagreements": disagreements,
    }
