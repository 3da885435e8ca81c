"""The audit trail as flat records, JSON and CSV (used by ``cliniloop audit`` and ``GET /api/audit``)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from cliniloop.services.core.tables import AuditEventRow

COLUMNS = ("id", "at", "actor", "action", "entity", "entity_id", "model_version", "taxonomy_version", "details")


def audit_records(events: Sequence[AuditEventRow]) -> list[dict[str, Any]]:
    """Events as flat records; model and taxonomy versions lifted out of the details."""
    out = []
    for e in events:
        details = dict(e.details or {})
        out.append({
            "id": e.id, "at": e.at.isoformat(), "actor": e.actor, "action": e.action, "entity": e.entity,
            "entity_id": e.entity_id, "model_version": details.get("model_version") or details.get("version"),
            "taxonomy_version": details.get("taxonomy_version"), "details": details,
        })  # fmt: skip
    return out


def audit_json(records: Sequence[dict[str, Any]]) -> str:
    """``{"count": n, "events": [...]}`` as indented JSON."""
    return json.dumps({"count": len(records), "events": list(records)}, indent=1, sort_keys=True) + "\n"


def audit_csv(records: Sequence[dict[str, Any]]) -> str:
    """One row per event, :data:`COLUMNS`, details as JSON."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS))
    writer.writeheader()
    for r in records:
        writer.writerow({**r, "details": json.dumps(r["details"], sort_keys=True)})
    return buf.getvalue()
