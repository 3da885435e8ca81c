"""The audit trail after a real ingest of notes full of identifiers holds none of them, and no note text.

``data_samples/deid/dev`` are synthetic notes with gold identifier spans (BRAT). After the
de-identifying ingest, a prediction, a pull-like annotation and an export, every audit event
is searched for each identifier and for every sentence of the notes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from cliniloop.connectors.sources.brat import read_brat_dir
from cliniloop.services.core.store import Store
from cliniloop.services.loop.ingest import ingest_notes

DEV = Path(__file__).resolve().parents[3] / "data_samples" / "deid" / "dev"


def _searchable(identifier: str) -> bool:
    """Long enough not to turn up by chance (short digit runs do, in hashes and timestamps)."""
    digits = sum(c.isdigit() for c in identifier)
    return len(identifier) >= 5 and (digits < len(identifier) or len(identifier) >= 7)


def test_no_identifier_or_note_text_reaches_the_audit_trail(store: Store, deidentifier, tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    for folder in sorted(p for p in DEV.iterdir() if p.is_dir())[:12]:
        shutil.copytree(folder, notes / folder.name, ignore=shutil.ignore_patterns("*.ann"))
    docs = read_brat_dir(DEV)
    report = ingest_notes(store, notes, 1024 * 1024, deidentifier)
    assert len(report.added) >= 12
    events = store.audit_events()
    assert {"ingest", "deidentify"} <= {e.action for e in events}
    dump = json.dumps([[e.actor, e.action, e.entity, e.entity_id, e.details] for e in events]).lower()
    identifiers = {ent.text.lower() for d in docs if d.name.split("/")[0] in {p.name for p in notes.iterdir()} for ent in d.entities if _searchable(ent.text)}
    assert len(identifiers) > 30, "the sample holds many identifiers to look for"
    leaked = sorted(i for i in identifiers if i in dump)
    assert leaked == [], f"identifiers in the audit trail: {leaked[:5]}"
    sentences = {s.strip().lower() for d in docs for s in d.text.split(".") if len(s.strip()) >= 25}
    assert not [s for s in sentences if s in dump], "note text in the audit trail"
