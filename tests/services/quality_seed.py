"""A small store of quality data shared by the API and CLI tests of the quality features.

Task ``task-disputed``: alice and bob disagree (bob flips the assertion of "chest pain" and
misses "aspirin"), both starting from the ``rules-1`` suggestion (alice's version).
Task ``task-gold``: a gold check; alice gives the known answer, bob mislabels "asthma".
Task ``task-single`` (optional): carol alone.
"""

from __future__ import annotations

from cliniloop.services.core.schemas import AnnotationIn, PredictionIn, TaskIn, TextSpan
from cliniloop.services.core.store import Store

DISPUTED = "Patient denies chest pain. Takes aspirin daily."
GOLD = "History of asthma; takes albuterol at night."
SINGLE = "Admitted with fever and given heparin."


def span(text: str, word: str, label: str, assertion: str = "present") -> TextSpan:
    """The span of ``word`` in ``text``."""
    start = text.index(word)
    return TextSpan(start=start, end=start + len(word), text=word, label=label, attributes={"assertion": assertion})


def seed_quality(store: Store, *, single: bool = False) -> dict[str, str]:
    """Seed ``store`` (see the module docstring); return the task ids by role."""
    tasks = [
        TaskIn(id="task-disputed", modality="text", source_uri="mem://1", data={"text": DISPUTED}),
        TaskIn(id="task-gold", modality="text", source_uri="mem://2", data={"text": GOLD}),
    ]
    if single:
        tasks.append(TaskIn(id="task-single", modality="text", source_uri="mem://3", data={"text": SINGLE}))
    store.add_tasks(tasks)
    alice = [span(DISPUTED, "chest pain", "Problem", "absent"), span(DISPUTED, "aspirin", "Medication")]
    bob = [span(DISPUTED, "chest pain", "Problem", "present")]  # other assertion, aspirin missed
    store.add_predictions([
        PredictionIn(task_id="task-disputed", model_name="clinical-text", model_version="rules-1", taxonomy_version="t1",
                     regions=alice, score=0.5, uncertainty=0.5),
    ])  # fmt: skip
    store.upsert_annotation(AnnotationIn(task_id="task-disputed", source_annotation_id="1:101", annotator="alice", regions=alice, model_version="rules-1"))
    store.upsert_annotation(AnnotationIn(task_id="task-disputed", source_annotation_id="1:102", annotator="bob", regions=bob, model_version="rules-1"))
    known = [span(GOLD, "asthma", "Problem"), span(GOLD, "albuterol", "Medication")]
    store.set_gold_answer("task-gold", known, "test", "test")
    store.upsert_annotation(AnnotationIn(task_id="task-gold", source_annotation_id="1:103", annotator="alice", regions=known))
    wrong = [span(GOLD, "asthma", "Medication"), span(GOLD, "albuterol", "Medication")]
    store.upsert_annotation(AnnotationIn(task_id="task-gold", source_annotation_id="1:104", annotator="bob", regions=wrong))
    ids = {"disputed": "task-disputed", "gold": "task-gold"}
    if single:
        store.upsert_annotation(AnnotationIn(task_id="task-single", source_annotation_id="1:105", annotator="carol",
                                             regions=[span(SINGLE, "fever", "Problem"), span(SINGLE, "heparin", "Medication")]))  # fmt: skip
        ids["single"] = "task-single"
    return ids
