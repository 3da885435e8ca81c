"""Storing the tasks an ingest made, with the added/existing bookkeeping every modality's report keeps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cliniloop.services.core.schemas import TaskIn
from cliniloop.services.core.store import Store


def store_tasks(store: Store, tasks: Sequence[TaskIn], report: Any, modality: str, **audit: Any) -> None:
    """Add ``tasks`` in one transaction; fill ``report.added`` / ``report.existing``; audit the new ones.

    ``report`` is any ingest report with ``added`` and ``existing`` lists; ``audit`` keywords are
    recorded with the audit entry (e.g. ``records=3``).
    """
    new = set(store.add_tasks(list(tasks)))
    for task in tasks:
        (report.added if task.id in new else report.existing).append(task.id)
    if new:
        store.audit("cliniloop", "ingest", "task", None, modality=modality, count=len(new), **audit)
