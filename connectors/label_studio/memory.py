"""An in-memory stand-in for the parts of :class:`LabelStudioClient` that a pull reads.

Used by the webhook storm (``scripts/webhook_storm.py``) and by tests, so reconciliation can be
loaded hard without a Label Studio server. It holds tasks and annotations as Label Studio's
API returns them (plain JSON dicts) and can count or slow down calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any


class InMemoryLabelStudio:
    """Tasks and annotations of projects, read the way a pull reads them.

    Parameters
    ----------
    base_url : str
        Only used in project references (``{base_url}/projects/{id}``).
    delay_s : float
        Seconds each read call sleeps (to model a slow server).
    """

    def __init__(self, base_url: str = "http://label-studio.invalid", delay_s: float = 0.0) -> None:
        self.base_url = base_url
        self.delay_s = delay_s
        self.tasks: dict[int, tuple[int, dict[str, Any]]] = {}  # ls id -> (project, data)
        self.annotations: dict[int, dict[str, Any]] = {}  # annotation id -> annotation (with "task")
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()
        self._next_id = 1

    # -- building state --------------------------------------------------------------------
    def add_task(self, project_id: int, data: dict[str, Any]) -> int:
        with self._lock:
            ls_id, self._next_id = self._next_id, self._next_id + 1
            self.tasks[ls_id] = (project_id, dict(data))
            return ls_id

    def annotate(self, ls_task_id: int, result: list[dict[str, Any]], annotator: str = "a@example.com") -> int:
        with self._lock:
            ann_id, self._next_id = self._next_id, self._next_id + 1
            self.annotations[ann_id] = {"id": ann_id, "task": ls_task_id, "result": result, "completed_by": {"email": annotator},
                                        "was_cancelled": False, "lead_time": 3.0}  # fmt: skip
            return ann_id

    def update(self, ann_id: int, result: list[dict[str, Any]]) -> None:
        with self._lock:
            self.annotations[ann_id] = {**self.annotations[ann_id], "result": result}

    def delete(self, ann_id: int) -> None:
        with self._lock:
            self.annotations.pop(ann_id, None)

    # -- what a pull calls -----------------------------------------------------------------
    def _called(self, name: str) -> None:
        with self._lock:
            self.calls[name] = self.calls.get(name, 0) + 1
        if self.delay_s:
            time.sleep(self.delay_s)

    def project_ref(self, project_id: int) -> str:
        return f"{self.base_url}/projects/{project_id}"

    def task_data(self, ls_task_id: int, project_id: int | None = None) -> dict[str, Any]:
        self._called("task_data")
        with self._lock:
            return dict(self.tasks[ls_task_id][1])

    def task_annotations(self, ls_task_id: int) -> list[dict[str, Any]]:
        self._called("task_annotations")
        with self._lock:
            return [dict(a) for a in self.annotations.values() if a["task"] == ls_task_id]

    def iter_project_annotations(self, project_id: int, page_size: int = 100) -> Iterator[tuple[int, dict[str, Any], list[dict[str, Any]]]]:
        self._called("iter_project_annotations")
        with self._lock:
            tasks = [(i, dict(d)) for i, (p, d) in self.tasks.items() if p == project_id]
            anns = [dict(a) for a in self.annotations.values()]
        for ls_id, data in tasks:
            yield ls_id, data, [a for a in anns if a["task"] == ls_id]
