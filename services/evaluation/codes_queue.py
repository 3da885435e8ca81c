"""``cliniloop eval codes-queue``: the coders' queue a notes folder would give, checked against issue 22's goals.

The notes (``*.txt``) are annotated by the rule text model (what a first demo round uses), their
mentions grouped and ranked exactly as ``cliniloop codes push`` does (:mod:`cliniloop.services.loop.coding`,
the calibrated offer threshold, the code system per mention type), in a throw-away store. Reported,
per mention type: mentions, coder tasks (identical mentions once), tasks with nothing offered,
and **tasks offered an ICD-10-CM code** (the goal: none for Test, Medication, Anatomy and
Procedure); and for the context shown to coders: the shortest context (characters), how many are
under 25 characters, and how many do not hold the whole sentence the splitter finds around the
mention. Counts only: no note text is printed.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any


def evaluate_coder_queue(notes: Path, snomed_folder: Path | None = None, k: int = 5) -> dict[str, Any]:
    """Build the coders' queue of ``notes`` and measure it (see the module docstring).

    Parameters
    ----------
    notes : Path
        Folder of ``*.txt`` notes.
    snomed_folder : Path or None
        SNOMED CT RF2 release (Procedure/Test/Medication/Anatomy codes come only from it).
    k : int
        Candidates per code system, as ``codes push -k``.

    Returns
    -------
    dict
        ``notes``, ``mentions``, ``tasks``, ``per_type`` (``mentions``, ``tasks``, ``queued`` (a
        configured system may code the type), ``nothing_offered``,
        ``icd10cm_offered``, ``snomed_offered``, and ``icd10pcs_offered`` when ``CLINILOOP_ICD10PCS``
        is set), ``icd10cm_for_non_problem`` (the goal: 0),
        ``context`` (``shortest_chars``, ``under_25_chars``, ``not_whole_sentence``) and ``seconds``.

    Raises
    ------
    ValueError
        ``notes`` is not a folder or holds no ``*.txt`` file.
    """
    from cliniloop.models.text.sentences import sentence_at
    from cliniloop.services.core.schemas import TaskIn
    from cliniloop.services.core.settings import Settings, get_settings
    from cliniloop.services.core.store import Store
    from cliniloop.services.loop.coding import candidate_generator, code_systems, coder_items, group_items
    from cliniloop.services.loop.predict import TEXT_MODEL_NAME, predict_texts, rule_annotator

    notes = Path(notes)
    if not notes.is_dir():
        raise ValueError(f"{notes}: not a folder of notes")
    files = sorted(notes.glob("*.txt"))
    if not files:
        raise ValueError(f"{notes}: no *.txt notes")
    t0 = time.perf_counter()
    texts = {f"note-{i:04d}": f.read_text(encoding="utf-8", errors="replace") for i, f in enumerate(files)}
    base = get_settings()
    settings = Settings(var_dir=base.var_dir, snomed_rf2=snomed_folder)  # its cache of code systems and indexes
    with tempfile.TemporaryDirectory(prefix="cliniloop-queue-") as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'queue.sqlite3'}")
        store.migrate()
        try:
            store.add_tasks([TaskIn(id=t, modality="text", source_uri=f"mem://{t}", data={"text": x}) for t, x in texts.items()])
            store.add_predictions(predict_texts(rule_annotator(), list(texts.items())))
            items = coder_items(store, model_name=TEXT_MODEL_NAME)
            systems = code_systems(settings)
            generator = candidate_generator(store, settings, systems)
        finally:
            store.close()
    from cliniloop.models.text.code_policy import queued

    names = [s.name for s in systems]
    groups = group_items(items)
    ranked = generator.candidates_many([(g[0].mention, g[0].context, g[0].assertion, g[0].label) for g in groups], k=k)
    per_type: dict[str, Counter] = {}
    for group, result in zip(groups, ranked, strict=True):
        c = per_type.setdefault(group[0].label or "untyped", Counter())
        c["mentions"] += len(group)
        c["tasks"] += 1
        c["queued"] += queued(group[0].label, names)
        c["nothing_offered"] += not any(result.values())
        c["icd10cm_offered"] += bool(result.get("icd10cm"))
        c["snomed_offered"] += bool(result.get("snomed"))
        if "icd10pcs" in names:  # CLINILOOP_ICD10PCS set
            c["icd10pcs_offered"] += bool(result.get("icd10pcs"))
    lengths = [len(i.context) for i in items]
    not_whole = 0
    for i in items:
        text = texts[i.task_id]
        a, b = sentence_at(text, i.start, i.end)
        not_whole += " ".join(text[a:b].split()) != i.context
    return {
        "notes": len(files),
        "systems": [s.taxonomy_version for s in systems],
        "mentions": len(items),
        "tasks": len(groups),
        "per_type": {t: dict(c) for t, c in sorted(per_type.items())},
        "icd10cm_for_non_problem": sum(c["icd10cm_offered"] for t, c in per_type.items() if t.lower() != "problem"),
        "context": {
            "shortest_chars": min(lengths) if lengths else None,
            "under_25_chars": sum(1 for n in lengths if n < 25),
            "not_whole_sentence": not_whole,
        },
        "seconds": round(time.perf_counter() - t0, 2),
    }

