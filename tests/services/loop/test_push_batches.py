"""Issue 20, defect 5: push computes code candidates per batch (one ranking call each, repeats cached),
imports in large batches, and skips (and reports) a task whose data cannot be built."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cliniloop.services.core.store import Store
from cliniloop.services.evaluation.bench import synthetic_text_tasks
from cliniloop.services.loop.coding import span_code_candidates
from cliniloop.services.loop.push import push_tasks


class _FakeLabelStudio:
    base_url = "http://ls.invalid"

    def __init__(self, log: list[str]) -> None:
        self.log, self.tasks = log, {}

    def project_ref(self, pid: int) -> str:
        return f"{self.base_url}/projects/{pid}"

    def existing_task_ids(self, pid: int) -> dict[str, int]:
        return {}

    def validate(self, config: str, results: Mapping[str, Any]) -> None:
        self.log.append(f"validate {len(results)}")

    def import_tasks(self, pid: int, payloads: Sequence[Mapping[str, Any]]) -> list[int]:
        self.log.append(f"import {len(payloads)}")
        start = len(self.tasks) + 1
        for i, p in enumerate(payloads):
            self.tasks[start + i] = p
        return list(range(start, start + len(payloads)))

    def set_model_version(self, pid: int, version: str) -> None:
        pass


class _Generator:
    def __init__(self, log: list[str]) -> None:
        self.log, self.queries = log, 0

    @staticmethod
    def _qualifier_mask(context: str | None, mention: str) -> int:
        return 0

    def candidates_many(self, queries: Sequence[tuple], k: int = 3) -> list[dict[str, list[Any]]]:
        from types import SimpleNamespace

        self.log.append(f"codes {len(queries)}")
        self.queries += len(queries)
        return [{"icd10cm": [SimpleNamespace(system="icd10cm", code="X00", display=q[0], score=0.5)]} for q in queries]


def test_codes_are_ranked_per_batch_once_per_distinct_query_and_bad_items_skipped(store: Store) -> None:
    pairs = synthetic_text_tasks(25)
    store.add_tasks([t for t, _ in pairs])
    store.add_predictions([p for _, p in pairs], make_latest=True)
    log: list[str] = []
    client, generator = _FakeLabelStudio(log), _Generator(log)

    def task_data(task: Any) -> dict[str, Any]:
        if task.id.endswith("000007"):
            raise ValueError("recording changed since ingest")
        return {"text": task.data["text"]}

    report = push_tasks(store, client, 1, [t.id for t, _ in pairs], batch_size=10,  # type: ignore[arg-type]
                        code_candidates=span_code_candidates(generator), task_data=task_data)  # fmt: skip
    assert len(report.created) == 24 and [tid for tid, _ in report.failed] == ["bench-0-000007"]
    kinds = [entry.split()[0] for entry in log]
    assert kinds == ["validate", "codes", "import", "codes", "import", "codes", "import"], log
    assert [int(e.split()[1]) for e in log if e.startswith("import")] == [10, 10, 4]
    spans = sum(len(p.regions) for t, p in pairs if not t.id.endswith("000007"))
    assert generator.queries < spans, "repeated mentions are ranked once"
    first = client.tasks[1]["predictions"][0]["result"][0]
    assert "X00" in first["meta"]["text"][0]
    assert {"validate", "codes", "import", "record"} <= set(report.timings)


def test_interrupted_push_says_how_many_were_recorded(store: Store) -> None:
    """Issue 20, defect 6: after a crash the message counts what was recorded, not "nothing"."""
    from cliniloop.services.cli.render import interrupted_push_note

    pairs = synthetic_text_tasks(5)
    store.add_tasks([t for t, _ in pairs])
    ids = [t.id for t, _ in pairs]
    assert interrupted_push_note(store, None, ids).startswith("Nothing was recorded")
    store.record_pushes("http://ls.invalid/projects/1", {tid: i for i, tid in enumerate(ids[:3], 1)}, None)
    assert interrupted_push_note(store, None, ids).startswith("3 of 5 task(s) were recorded as pushed")
