"""The webhook reconciler: one background thread that applies Label Studio events off the request threads.

``/webhook`` only checks the caller, writes one audit row and :meth:`Reconciler.submit`\\ s the
event (constant time), so Label Studio's 1-second delivery window is never at risk and
``/health`` never waits behind reconciliation.

The queue coalesces: an event is keyed by what it asks for (``task`` pull of one Label Studio
task, ``annotation`` deletion by id, ``tasks`` deletion, or a ``project`` pull when an event
names nothing more precise); a key already waiting is not queued twice. One thread works the
queue, so reconciliation runs one event at a time (and so one at a time per project). Each
step re-reads Label Studio or removes by id, so repeated, shuffled or late deliveries converge
on Label Studio's state; ``cliniloop pull`` still catches what a lost delivery missed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cliniloop.services.api.state import AppState

log = logging.getLogger(__name__)

#: Label Studio webhook actions that create or change annotations, and those that delete them.
ANNOTATION_ACTIONS = frozenset({"ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED"})
DELETE_ACTIONS = frozenset({"ANNOTATIONS_DELETED", "ANNOTATION_DELETED", "TASKS_DELETED"})

#: (kind, project id, Label Studio id or None)
Key = tuple[str, int, int | None]


@dataclass
class ReconcilerStats:
    """Counts since the reconciler started (read by ``GET /api/status`` and the storm script)."""

    submitted: int = 0
    coalesced: int = 0
    done: int = 0
    failed: int = 0
    pending: int = 0
    actions: dict[str, int] = field(default_factory=dict)


class Reconciler:
    """A coalescing queue of webhook work and the daemon thread that runs it.

    Parameters
    ----------
    state : AppState
        Gives the store, settings and the Label Studio client.
    """

    def __init__(self, state: "AppState") -> None:
        self.state = state
        self._pending: OrderedDict[Key, str] = OrderedDict()
        self._cond = threading.Condition()
        self._busy = False
        self._stop = False
        self._thread: threading.Thread | None = None
        self._training_check = False
        self._training_trigger = ""
        self.stats = ReconcilerStats()

    # -- producer side ---------------------------------------------------------------------
    def submit(self, action: str, keys: list[Key]) -> None:
        """Queue the keys of one event (repeats of a waiting key coalesce); never blocks on I/O."""
        with self._cond:
            for key in keys:
                self.stats.submitted += 1
                if key in self._pending:
                    self.stats.coalesced += 1
                    continue
                self._pending[key] = action
            if action in ANNOTATION_ACTIONS and keys:
                self._training_check = True
                self._training_trigger = f"{action} (project {keys[0][1]})"
            self.stats.pending = len(self._pending)
            self._cond.notify()
        if self._thread is None:
            self.start()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="cliniloop-reconciler", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until nothing is queued or running; ``False`` if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy or self._training_check:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    # -- worker ----------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._training_check and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                if self._pending:
                    key, action = self._pending.popitem(last=False)
                    check = False
                else:
                    key, action, check = None, self._training_trigger, True
                    self._training_check = False
                self.stats.pending = len(self._pending)
                self._busy = True
            try:
                if key is not None:
                    self._apply(key, action)
                elif check:
                    self._queue_training_if_due(action)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _apply(self, key: Key, action: str) -> None:
        from cliniloop.services.loop.pull import pull_annotations, remove_annotations_by_id, remove_task_annotations

        kind, project_id, ls_id = key
        try:
            client = self.state.label_studio()
            store = self.state.store
            if kind == "task":
                report: Any = pull_annotations(store, client, project_id, [ls_id])  # type: ignore[list-item]
            elif kind == "annotation":
                report = remove_annotations_by_id(store, client, project_id, [ls_id])  # type: ignore[list-item]
            elif kind == "tasks":
                report = remove_task_annotations(store, client, project_id, [ls_id])  # type: ignore[list-item]
            else:
                report = pull_annotations(store, client, project_id)
            log.debug("webhook %s project %s (%s %s): %s", action, project_id, kind, ls_id, report)
            with self._cond:
                self.stats.done += 1
                self.stats.actions[kind] = self.stats.actions.get(kind, 0) + 1
        except Exception:  # the thread must survive anything; a later pull catches up
            with self._cond:
                self.stats.failed += 1
            log.exception("reconciling webhook %s for project %s failed; the next pull will catch up", action, project_id)

    def _queue_training_if_due(self, trigger: str) -> None:
        from cliniloop.services.loop.jobs import TRAIN_TEXT, training_due

        try:
            if training_due(self.state.store, self.state.settings):
                job_id = self.state.enqueue_job(TRAIN_TEXT, {}, requested_by=f"label_studio {trigger}")
                project = trigger.rsplit("project ", 1)[-1].rstrip(")") if "project " in trigger else None
                self.state.store.audit("label_studio", "train_requested", "project", project, job_id=job_id, trigger="annotations")
        except Exception:
            log.exception("queueing training after annotation webhooks failed")


def event_keys(action: str, project_id: int, ls_task_id: int | None, body: dict[str, Any], id_of: Callable[[Any], int | None]) -> list[Key]:
    """What one event asks the reconciler to do (empty: nothing)."""
    if action in ANNOTATION_ACTIONS:
        return [("task", project_id, ls_task_id)] if ls_task_id is not None else [("project", project_id, None)]
    if action in {"ANNOTATIONS_DELETED", "ANNOTATION_DELETED"}:
        listed = body.get("annotations")
        items = listed if isinstance(listed, list) else [body.get("annotation")]
        ids = [id_of(a) for a in items[:10_000]]
        if items and all(i is not None for i in ids):
            return [("annotation", project_id, i) for i in ids]  # type: ignore[misc]
        return [("project", project_id, None)]
    if action == "TASKS_DELETED":
        listed = body.get("tasks")
        items = listed if isinstance(listed, list) else [body.get("task")]
        ids = [id_of(t) for t in items[:10_000]]
        if items and all(i is not None for i in ids):
            return [("tasks", project_id, i) for i in ids]  # type: ignore[misc]
        return []  # a task deletion names nothing we can find: a pull would not see it either
    return []
