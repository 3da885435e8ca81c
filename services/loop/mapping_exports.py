"""Exports coding teams load elsewhere: a FHIR R4 ``ConceptMap`` and a SNOMED CT simple-map refset.

Both are built from the validated mapping table (coders' ``accept`` / valid ``alternative``
verdicts) with **coder agreement per row**: for one normalised mention, ``agreeing`` is the number
of coders whose validated verdicts include this code and ``coders`` the number of coders who gave
any verdict on the mention (accept, alternative, reject or needs review, any code system). A grouped
coder task stores one row per occurrence of the mention: a coder is counted once.

ConceptMap (FHIR R4)
    One ``group`` per target code system (ICD-10-CM ``http://hl7.org/fhir/sid/icd-10-cm``, SNOMED CT
    ``http://snomed.info/sct``) whose source is the project's mention vocabulary
    (:data:`MENTION_SYSTEM`); an ``element`` per normalised mention (``code`` = the normalised text,
    ``display`` = the most frequent written form) and a ``target`` per validated code with
    ``equivalence`` ``equivalent`` when every coder who saw the mention chose it and ``relatedto``
    otherwise, the agreement written in ``comment`` ("2 of 3 coders; kappa n/a") and as an
    extension (:data:`AGREEMENT_EXTENSION`, ``valueDecimal``). :func:`validate_conceptmap` checks a
    resource against the structure: the ``fhir.resources`` R4B ConceptMap model (R4B left ConceptMap
    as R4 defined it) plus the bindings and data-type rules that model does not enforce.
Simple-map refset (SNOMED CT RF2)
    ``der2_sii...Refset_SimpleMapSnapshot`` rows: ``referencedComponentId`` = the SNOMED CT concept,
    ``mapTarget`` = the normalised mention, then the two integer attributes ``agreeingCoders`` and
    ``coders`` (the ``sii`` of the file name says so, as RF2 names attribute types). The ids are
    UUIDs derived from the row content (stable across exports); module and refset ids are
    options, placeholders by default (a real refset needs ids in your namespace).
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cliniloop.services.core.store import Store

#: Source "code system" of the ConceptMap: the project's normalised mention texts.
MENTION_SYSTEM = "urn:cliniloop:mention"
SYSTEM_URIS = {
    "icd10cm": "http://hl7.org/fhir/sid/icd-10-cm",
    "snomed": "http://snomed.info/sct",
    "rxnorm": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "loinc": "http://loinc.org",
    "icd10pcs": "http://www.cms.gov/Medicare/Coding/ICD10",
}
AGREEMENT_EXTENSION = "urn:cliniloop:fhir:StructureDefinition:coder-agreement"
#: R4 ConceptMapEquivalence (http://hl7.org/fhir/R4/valueset-concept-map-equivalence.html).
R4_EQUIVALENCE = frozenset(
    "relatedto equivalent equal wider subsumes narrower specializes inexact unmatched disjoint".split()
)
R4_STATUS = frozenset({"draft", "active", "retired", "unknown"})
_FHIR_CODE = re.compile(r"^[^\s]+( [^\s]+)*$")
#: RF2 placeholders (core module / a made-up refset id); pass your own namespace's ids.
DEFAULT_MODULE_ID = "900000000000207008"
DEFAULT_REFSET_ID = "900000000000000000"
REFSET_COLUMNS = (
    "id", "effectiveTime", "active", "moduleId", "refsetId", "referencedComponentId", "mapTarget",
    "agreeingCoders", "coders",
)  # fmt: skip


class ConceptMapError(ValueError):
    """A ConceptMap that does not fit the FHIR R4 structure (the message names the element)."""


def agreement_rows(store: Store, system: str | None = None) -> list[dict[str, Any]]:
    """Validated (mention, system, code) rows with coder agreement.

    Parameters
    ----------
    store : Store
        Holds the mapping table.
    system : str or None
        Only this code system (``icd10cm``, ``snomed``).

    Returns
    -------
    list of dict
        ``normalized_mention``, ``mention`` (most frequent written form), ``system``, ``code``,
        ``display``, ``taxonomy_version``, ``agreeing`` (coders who validated this code),
        ``coders`` (coders with any verdict on the mention), ``agreement`` (their ratio, 4
        decimals); sorted by mention, system, then most agreeing first, then code.
    """
    seen: dict[str, set[str]] = {}
    written: dict[str, Counter] = {}
    chosen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in store.code_mappings():
        seen.setdefault(row.normalized_mention, set()).add(row.coder)
        written.setdefault(row.normalized_mention, Counter())[row.mention] += 1
        if not (row.valid and row.code and row.verdict in ("accept", "alternative")):
            continue
        if system and row.system != system:
            continue
        rec = chosen.setdefault(
            (row.normalized_mention, row.system, row.code),
            {"display": row.display, "taxonomy_version": row.taxonomy_version, "by": set()},
        )
        rec["by"].add(row.coder)
        rec["display"] = rec["display"] or row.display
    out = []
    for (norm, sys_name, code), rec in chosen.items():
        n = len(seen[norm])
        out.append({
            "normalized_mention": norm, "mention": written[norm].most_common(1)[0][0], "system": sys_name, "code": code,
            "display": rec["display"], "taxonomy_version": rec["taxonomy_version"], "agreeing": len(rec["by"]),
            "coders": n, "agreement": round(len(rec["by"]) / n, 4),
        })  # fmt: skip
    return sorted(out, key=lambda r: (r["normalized_mention"], r["system"], -r["agreeing"], r["code"]))


def _fhir_code(text: str) -> str:
    return " ".join(str(text).split())


def build_conceptmap(store: Store, system: str | None = None, *, name: str = "CliniloopCoderMappings", now: datetime | None = None) -> dict[str, Any]:
    """The validated mappings as a FHIR R4 ``ConceptMap`` (a JSON-ready dict; see the module docstring).

    Parameters
    ----------
    store : Store
        Holds the mapping table.
    system : str or None
        Only this code system.
    name : str
        ``ConceptMap.name`` (computer friendly).
    now : datetime or None
        ``ConceptMap.date`` (default: the current UTC time).

    Returns
    -------
    dict
        ``resourceType`` ``ConceptMap``, ``status`` ``draft``, one group per target system.
    """
    now = now or datetime.now(UTC)
    groups: dict[str, dict[str, Any]] = {}
    elements: dict[tuple[str, str], dict[str, Any]] = {}
    for r in agreement_rows(store, system):
        uri = SYSTEM_URIS.get(r["system"], f"urn:cliniloop:codesystem:{r['system']}")
        group = groups.setdefault(uri, {"source": MENTION_SYSTEM, "target": uri, "targetVersion": r["taxonomy_version"], "element": []})
        key = (uri, r["normalized_mention"])
        if key not in elements:
            elements[key] = {"code": _fhir_code(r["normalized_mention"]), "display": r["mention"], "target": []}
            group["element"].append(elements[key])
        target: dict[str, Any] = {
            "code": r["code"],
            "equivalence": "equivalent" if r["agreeing"] == r["coders"] else "relatedto",
            "comment": f"{r['agreeing']} of {r['coders']} coders chose this code",
            "extension": [{"url": AGREEMENT_EXTENSION, "valueDecimal": r["agreement"]}],
        }
        if r["display"]:
            target["display"] = r["display"]
        elements[key]["target"].append(target)
    return {
        "resourceType": "ConceptMap",
        "url": "urn:cliniloop:conceptmap:coder-mappings",
        "name": name,
        "title": "Clinical mention to code mappings validated by coders",
        "status": "draft",
        "experimental": False,
        "date": now.replace(microsecond=0).isoformat(),
        "publisher": "cliniloop",
        "description": "Mention texts mapped to codes by coders in cliniloop's coders' queue, with coder agreement per target.",
        "sourceUri": MENTION_SYSTEM,
        "group": list(groups.values()),
    }


def validate_conceptmap(resource: dict[str, Any]) -> None:
    """Check a ConceptMap against the FHIR R4 structure; raise :class:`ConceptMapError` if it does not fit.

    The ``fhir.resources`` R4B ``ConceptMap`` model checks element names, cardinalities and data
    types (``target.equivalence`` required, ...); added here: ``resourceType``, the required
    ``status`` and its R4 value set, ``equivalence`` from the R4 ConceptMapEquivalence value set,
    the ``code`` data type (no leading, trailing or double white space) and constraint cmd-1
    (a ``narrower`` or ``inexact`` target needs a ``comment``).
    """
    from fhir.resources.R4B.conceptmap import ConceptMap

    if resource.get("resourceType") != "ConceptMap":
        raise ConceptMapError(f"resourceType is {resource.get('resourceType')!r}, not 'ConceptMap'")
    if resource.get("status") not in R4_STATUS:
        raise ConceptMapError(f"ConceptMap.status {resource.get('status')!r} is not one of {sorted(R4_STATUS)}")
    try:
        ConceptMap.model_validate(resource)
    except Exception as err:  # pydantic's ValidationError lists every element that does not fit
        raise ConceptMapError(f"not a FHIR ConceptMap: {err}") from err
    for g, group in enumerate(resource.get("group") or []):
        for e, element in enumerate(group.get("element") or []):
            where = f"ConceptMap.group[{g}].element[{e}]"
            code = element.get("code")
            if code is not None and not _FHIR_CODE.match(code):
                raise ConceptMapError(f"{where}.code {code!r} is not a FHIR code (white space)")
            for t, target in enumerate(element.get("target") or []):
                eq = target.get("equivalence")
                if eq not in R4_EQUIVALENCE:
                    raise ConceptMapError(f"{where}.target[{t}].equivalence {eq!r} is not an R4 ConceptMapEquivalence")
                if eq in ("narrower", "inexact") and not target.get("comment"):
                    raise ConceptMapError(f"{where}.target[{t}]: cmd-1, a {eq} target needs a comment")
                if target.get("code") is not None and not _FHIR_CODE.match(target["code"]):
                    raise ConceptMapError(f"{where}.target[{t}].code {target['code']!r} is not a FHIR code")


def refset_rows(
    store: Store, *, module_id: str = DEFAULT_MODULE_ID, refset_id: str = DEFAULT_REFSET_ID, effective_time: str | None = None
) -> list[dict[str, str]]:
    """SNOMED CT simple-map refset rows (:data:`REFSET_COLUMNS`) of the validated SNOMED mappings."""
    effective_time = effective_time or datetime.now(UTC).strftime("%Y%m%d")
    if not re.fullmatch(r"\d{8}", effective_time):
        raise ValueError(f"effective time {effective_time!r}: expected YYYYMMDD")
    for label, value in (("module id", module_id), ("refset id", refset_id)):
        if not re.fullmatch(r"\d{6,18}", value):
            raise ValueError(f"{label} {value!r}: expected a SNOMED CT identifier (6-18 digits)")
    rows = []
    for r in agreement_rows(store, "snomed"):
        target = " ".join(r["normalized_mention"].split())
        rows.append({
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"cliniloop:{refset_id}:{r['code']}:{target}")),
            "effectiveTime": effective_time, "active": "1", "moduleId": module_id, "refsetId": refset_id,
            "referencedComponentId": r["code"], "mapTarget": target,
            "agreeingCoders": str(r["agreeing"]), "coders": str(r["coders"]),
        })  # fmt: skip
    return rows


def write_conceptmap(store: Store, path: Path, system: str | None = None) -> int:
    """Write (after :func:`validate_conceptmap`) the ConceptMap JSON; return the number of targets."""
    resource = build_conceptmap(store, system)
    validate_conceptmap(resource)
    _write(path, json.dumps(resource, indent=2, ensure_ascii=False) + "\n")
    return sum(len(e["target"]) for g in resource["group"] for e in g["element"])


def write_refset(store: Store, path: Path, **kw: Any) -> int:
    """Write the simple-map refset (tab-separated, CRLF line ends as RF2 files have); return the row count."""
    rows = refset_rows(store, **kw)
    lines = ["\t".join(REFSET_COLUMNS)] + ["\t".join(r[c] for c in REFSET_COLUMNS) for r in rows]
    _write(path, "\r\n".join(lines) + "\r\n")
    return len(rows)


def refset_file_name(effective_time: str | None = None, namespace: str = "INT") -> str:
    """The RF2 file name of the refset (``der2_siiRefset_SimpleMapSnapshot_<ns>_<date>.txt``)."""
    effective_time = effective_time or datetime.now(UTC).strftime("%Y%m%d")
    return f"der2_siiRefset_SimpleMapSnapshot_{namespace}_{effective_time}.txt"


def _write(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", newline="")
    tmp.replace(path)
