"""Issue 20: one malformed Label Studio annotation never stops a pull; it is named and retried."""

from __future__ import annotations

from cliniloop.connectors.label_studio.memory import InMemoryLabelStudio
from cliniloop.services.cli.render import pull_line
from cliniloop.services.core.schemas import TaskIn
from cliniloop.services.core.store import Store
from cliniloop.services.loop.pull import pull_annotations

TEXT = "Patient has pneumonia."
RESULT = [{"id": "r1", "from_name": "entity", "to_name": "text", "type": "labels",
           "value": {"start": 12, "end": 21, "text": "pneumonia", "labels": ["Problem"]}}]  # fmt: skip


def test_a_malformed_annotation_is_skipped_and_the_rest_pulled(store: Store) -> None:
    ls = InMemoryLabelStudio()
    store.add_tasks([TaskIn(id=f"t{i}", modality="text", source_uri=f"n{i}", data={"text": TEXT}) for i in range(3)])
    ids = [ls.add_task(3, {"cliniloop_id": f"t{i}", "text": TEXT}) for i in range(3)]
    for ls_id in ids:
        ls.annotate(ls_id, RESULT)
    bad = ls.annotate(ids[1], RESULT)
    ls.annotations[bad]["lead_time"] = "not a number"
    report = pull_annotations(store, ls, 3)  # type: ignore[arg-type]
    assert [tid for tid, _ in report.failed] == [ids[1]] and "ValueError" in report.failed[0][1]
    assert {a.task_id for a in store.annotations()} >= {"t0", "t2"}
    assert f"#{ids[1]} (ValueError)" in pull_line(report)
    ls.annotations[bad]["lead_time"] = 2.0
    again = pull_annotations(store, ls, 3)  # type: ignore[arg-type]
    assert again.failed == [] and len(store.annotations("t1")) == 2
