"""A small client for the Label Studio calls the loop needs, on top of ``label_studio_sdk``.

Every failure surfaces as one of two exceptions, both carrying the server URL:
:class:`LabelStudioUnavailable` (cannot connect) and :class:`LabelStudioError` (the server
answered with an error). :class:`InvalidPrediction` is raised *before* anything is sent when
a prediction does not fit the project's label config (the server itself accepts anything and
then silently does not show it).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError
from label_studio_sdk.label_interface import LabelInterface

log = logging.getLogger(__name__)

#: Project sampling that serves tasks in ascending prediction score (then random).
UNCERTAINTY_SAMPLING = "Uncertainty sampling"
#: Webhook actions the pull needs by default.
DEFAULT_WEBHOOK_ACTIONS = (
    "ANNOTATION_CREATED",
    "ANNOTATIONS_CREATED",
    "ANNOTATION_UPDATED",
    "ANNOTATIONS_DELETED",
    "TASKS_DELETED",
)

Result = list[dict[str, Any]]


class LabelStudioError(RuntimeError):
    """Label Studio answered with an error (or the call could not be made).

    Attributes
    ----------
    url : str
        The server's base URL.
    status_code : int or None
        The HTTP status, when there was a response.
    """

    def __init__(self, message: str, url: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status_code = status_code


class LabelStudioUnavailable(LabelStudioError):
    """Label Studio could not be reached (refused, timed out, connection dropped)."""

    def __init__(self, url: str, cause: BaseException | str) -> None:
        detail = f"{type(cause).__name__}: {cause}" if isinstance(cause, BaseException) else cause
        super().__init__(f"Label Studio is not reachable at {url} ({detail})", url)
        self.cause = cause


class InvalidPrediction(LabelStudioError, ValueError):
    """A prediction's result does not fit the label config; nothing was sent.

    Attributes
    ----------
    task : str
        Which task's prediction (our id, or ``#<index>`` in the batch).
    errors : list of str
        What is wrong, as Label Studio's ``LabelInterface`` reports it.
    """

    def __init__(self, task: str, errors: list[str], url: str = "") -> None:
        shown = "; ".join(errors[:5]) + (f"; ... ({len(errors)} errors)" if len(errors) > 5 else "")
        super().__init__(f"prediction for task {task} does not fit the label config: {shown}", url)
        self.task = task
        self.errors = errors


#: Data Manager columns of machinery (ids, our task id hash, raw result JSON, storage) hidden beside the signals, so the
#: record, window start, uncertainty and the prediction's model version are in view.
_UNREAD_COLUMNS = (
    "tasks:inner_id", "tasks:annotations_results", "tasks:annotations_ids", "tasks:predictions_results",
    "tasks:file_upload", "tasks:storage_filename", "tasks:updated_by", "tasks:draft_exists",
    "tasks:comment_count", "tasks:unresolved_comment_count", "tasks:comment_authors", "tasks:created_at",
    "tasks:updated_at", "tasks:avg_lead_time", "tasks:total_predictions", "tasks:cancelled_annotations", "tasks:completed_at",
    "tasks:data.cliniloop_id",
)  # fmt: skip


def signal_data_keys(label_config: str) -> list[str]:
    """Task data keys nobody reads in a list: the ``$key`` of each JSON ``<TimeSeries>`` (and of the trace names beside
    it), of each ``<HyperText>`` (markup) and of each ``<Choices>`` whose options come from the task (JSON)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(label_config)
    except ET.ParseError:
        return []
    keys = []
    for el in root.iter("TimeSeries"):
        value = el.get("value") or ""
        if value.startswith("$") and (el.get("valueType") or "url").lower() == "json":
            keys.append(value[1:])
    if keys:  # the trace names written beside the plot (``<Text name="lead_name_0" value="$lead_1">``) repeat the header
        keys += [el.get("value", "")[1:] for el in root.iter("Text") if re.fullmatch(r"\w+_name_\d+", el.get("name") or "") and (el.get("value") or "").startswith("$")]
    # HTML shown rendered in the editor reads as markup in a list, and a task's own choice list as JSON
    keys += [el.get("value", "")[1:] for el in root.iter("HyperText") if (el.get("value") or "").startswith("$")]
    keys += [el.get("value", "")[1:] for el in root.iter("Choices") if (el.get("value") or "").startswith("$")]
    return keys


def _detail(body: Any) -> str:
    if isinstance(body, Mapping):
        parts = [str(body.get("detail") or "")]
        if body.get("validation_errors"):
            parts.append(str(body["validation_errors"]))
        text = " ".join(p for p in parts if p) or str(dict(body))
    else:
        text = str(body)
    return text if len(text) <= 600 else text[:600] + "..."


def validation_errors(label_config: str | LabelInterface, result: Sequence[Mapping[str, Any]]) -> list[str]:
    """Everything wrong with one prediction result under ``label_config`` (empty if fine).

    Uses ``LabelInterface.validate_prediction`` (unknown ``from_name``/``to_name``, labels or
    choices not in the config) plus a check that span offsets are ordered, which it skips.
    """
    li = label_config if isinstance(label_config, LabelInterface) else LabelInterface(label_config)
    errors = list(li.validate_prediction({"result": list(result)}, return_errors=True) or [])
    for i, item in enumerate(result):
        value = item.get("value") or {}
        start, end = value.get("start"), value.get("end")
        if isinstance(start, int) and isinstance(end, int) and not 0 <= start < end:
            errors.append(f"Region {i}: span offsets start={start}, end={end} are not 0 <= start < end")
    return errors


class LabelStudioClient:
    """The Label Studio operations of the loop, with errors that say where and what failed.

    Parameters
    ----------
    base_url : str
        E.g. ``http://127.0.0.1:8080``.
    api_key : str
        A legacy token or a personal access token (a JWT refresh token: the SDK exchanges it
        at ``/api/token/refresh/`` and refreshes the access token when it expires).
    timeout_s : float, default 60
        Per-request timeout.
    max_retries : int, default 2
        SDK retries for connection errors and 408/409/429/5xx answers (never used for
        imports and annotation creation, which are not idempotent).
    http_client : httpx.Client, optional
        A preconfigured client (proxies, certificates, or ``httpx.MockTransport`` in tests);
        its own timeout applies then.

    Raises
    ------
    LabelStudioError
        If ``api_key`` is empty or an expired personal access token.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout_s: float = 60.0,
        max_retries: int = 2,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        if not api_key:
            raise LabelStudioError(f"no API key given for Label Studio at {self.base_url}", self.base_url)
        self.timeout_s = timeout_s
        self._api_key = api_key
        with self._guard("authenticating"):
            # Pass the key explicitly: the SDK would otherwise default to $LABEL_STUDIO_API_KEY.
            self._sdk = LabelStudio(
                base_url=self.base_url,
                api_key=api_key,
                timeout=timeout_s,
                max_retries=max_retries,
                httpx_client=http_client,
            )

    @property
    def api_key(self) -> str:
        """The key this client was made with (legacy token or personal access token)."""
        return self._api_key

    @property
    def sdk(self) -> LabelStudio:
        """The underlying SDK client (for calls not wrapped here)."""
        return self._sdk

    def __repr__(self) -> str:
        return f"LabelStudioClient({self.base_url!r})"

    # -- plumbing --------------------------------------------------------------------------
    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except httpx.TransportError as err:
            raise LabelStudioUnavailable(self.base_url, err) from err
        except ApiError as err:
            raise LabelStudioError(
                f"{action} failed at {self.base_url}: HTTP {err.status_code}: {_detail(err.body)}",
                self.base_url,
                err.status_code,
            ) from err

    def _raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An authenticated request through the SDK's HTTP client (no retries)."""
        return self._sdk._client_wrapper.httpx_client.request(
            path, method=method, request_options={"max_retries": 0}, **kwargs
        )

    def project_ref(self, project_id: int) -> str:
        """A stable reference to a project: its URL, ``{base_url}/projects/{id}``."""
        return f"{self.base_url}/projects/{project_id}"

    # -- server ----------------------------------------------------------------------------
    def health(self) -> bool:
        """Whether the server answers ``/health`` with ``UP`` (``False`` if unreachable)."""
        try:
            http: httpx.Client = self._sdk._client_wrapper.httpx_client.httpx_client
            r = http.get(f"{self.base_url}/health", timeout=min(self.timeout_s, 5.0))
            return r.status_code == 200 and r.json().get("status") == "UP"
        except (httpx.HTTPError, ValueError):
            return False

    def whoami(self) -> dict[str, Any]:
        """The authenticated user (checks that the API key works)."""
        with self._guard("whoami"):
            return self._sdk.users.whoami().model_dump(mode="json")

    def create_personal_access_token(self) -> str:
        """Create a personal access token for the authenticated user (``POST /api/token/``).

        Raises
        ------
        LabelStudioError
            HTTP 409 when the user already has one (Label Studio allows one; revoke it first).
        """
        with self._guard("creating a personal access token"):
            return str(self._sdk.tokens.create(request_options={"max_retries": 0}).token)

    # -- projects --------------------------------------------------------------------------
    def find_project(self, title: str) -> int | None:
        """Id of the project with exactly this title (the lowest id if several), else ``None``."""
        with self._guard(f"listing projects titled {title!r}"):
            projects: Iterable[Any] = self._sdk.projects.list(title=title)  # ``title`` filters by substring
            ids = sorted(int(p.id) for p in projects if p.title == title and p.id is not None)
        if len(ids) > 1:
            log.warning("%d Label Studio projects are titled %r; using %d", len(ids), title, ids[0])
        return ids[0] if ids else None

    def ensure_project(self, title: str, label_config: str) -> int:
        """Create the project, or bring an existing one (same title) up to date; return its id.

        Idempotent: the label config is updated only when it differs, and the sampling is set
        to ``"Uncertainty sampling"`` (ascending prediction score first).

        Raises
        ------
        LabelStudioError
            E.g. when a new config drops a label that existing annotations use (checked with
            Label Studio's config validation first: its update alone would accept it), or a
            title outside 3-50 characters.
        """
        project_id = self.find_project(title)
        if project_id is None:
            with self._guard(f"creating project {title!r}"):
                created = self._sdk.projects.create(
                    title=title, label_config=label_config, sampling=UNCERTAINTY_SAMPLING
                )
            log.info("created Label Studio project %s (%r)", created.id, title)
            self.ensure_readable_columns(int(created.id), label_config)  # type: ignore[arg-type]
            return int(created.id)  # type: ignore[arg-type]
        with self._guard(f"reading project {project_id}"):
            project = self._sdk.projects.get(project_id)
        changes: dict[str, Any] = {}
        if project.label_config != label_config:
            changes["label_config"] = label_config
        if project.sampling != UNCERTAINTY_SAMPLING:
            changes["sampling"] = UNCERTAINTY_SAMPLING
        if "label_config" in changes:
            # PATCH alone accepts a config that drops labels existing annotations use (and
            # orphans them); the validation endpoint refuses it, naming the labels.
            with self._guard(f"validating the new label config of project {project_id}"):
                self._sdk.projects.validate_label_config(project_id, label_config=label_config)
        if changes:
            with self._guard(f"updating project {project_id} ({', '.join(changes)})"):
                self._sdk.projects.update(project_id, **changes)
            log.info("updated Label Studio project %s: %s", project_id, ", ".join(changes))
        self.ensure_readable_columns(project_id, label_config)
        return project_id

    def ensure_readable_columns(self, project_id: int, label_config: str) -> list[str]:
        """Hide the Data Manager columns nobody reads: the raw signal arrays of time-series tasks.

        The Data Manager shows one column per task data key; a time series sent inline (``<TimeSeries
        value="$ecg" valueType="json">``) would show as a column of ``{"t":[0,0.00278,...`` JSON. Every
        tab (view) of the project gets those columns hidden, in the list and in the labelling
        side list, and a project without tabs gets one; the columns people read (record, window
        start, uncertainty, the prediction's model version) stay. Returns the hidden column ids.
        """
        signals = [f"tasks:data.{key}" for key in signal_data_keys(label_config)]
        if not signals:
            return []
        hidden = signals + list(_UNREAD_COLUMNS)
        with self._guard(f"reading the Data Manager tabs of project {project_id}"):
            r = self._raw("GET", "api/dm/views/", params={"project": project_id})
        if r.status_code != 200:  # cosmetic: never fail a push over it
            log.warning("could not read the Data Manager tabs of project %s: HTTP %s", project_id, r.status_code)
            return []
        views = r.json()
        for view in views or [{"id": None, "data": {"title": "Tasks"}}]:
            data = dict(view.get("data") or {})
            columns = dict(data.get("hiddenColumns") or {})
            changed = False
            for mode, hide in (("explore", hidden), ("labeling", signals)):
                have = list(columns.get(mode) or [])
                missing = [c for c in hide if c not in have]
                if missing or mode not in columns:
                    columns[mode] = have + missing
                    changed = True
            if not changed:
                continue
            data["hiddenColumns"] = columns
            with self._guard(f"hiding the signal columns of project {project_id}"):
                if view.get("id") is None:
                    r = self._raw("POST", "api/dm/views/", json={"project": project_id, "data": data})
                else:
                    r = self._raw("PATCH", f"api/dm/views/{view['id']}/", json={"project": project_id, "data": data})
            if r.status_code >= 300:
                log.warning("could not hide the signal columns of project %s: HTTP %s", project_id, r.status_code)
        return hidden

    def project_settings(self, project_id: int) -> dict[str, Any]:
        """The project's ``title``, ``label_config``, ``maximum_annotations`` and ``overlap_cohort_percentage``."""
        with self._guard(f"reading project {project_id}"):
            p = self._sdk.projects.get(project_id)
        return {
            "title": p.title,
            "label_config": p.label_config,
            "maximum_annotations": p.maximum_annotations,
            "overlap_cohort_percentage": p.overlap_cohort_percentage,
        }

    def set_overlap(self, project_id: int, annotators: int, percentage: int) -> bool:
        """Send ``percentage`` % of the project's tasks to ``annotators`` annotators each; return whether it changed.

        These are Label Studio's ``maximum_annotations`` and ``overlap_cohort_percentage``;
        Label Studio reassigns the overlapping cohort of existing tasks when they change.
        """
        if annotators < 1 or not 0 <= percentage <= 100:
            raise ValueError(f"overlap: annotators must be >= 1 and percentage 0-100 (got {annotators}, {percentage})")
        current = self.project_settings(project_id)
        if (current["maximum_annotations"], current["overlap_cohort_percentage"]) == (annotators, percentage):
            return False
        with self._guard(f"setting the overlap of project {project_id}"):
            self._sdk.projects.update(project_id, maximum_annotations=annotators, overlap_cohort_percentage=percentage)
        return True

    def set_model_version(self, project_id: int, version: str) -> None:
        """Set the project's ``model_version``: only predictions of this version order the queue."""
        with self._guard(f"setting model_version of project {project_id}"):
            self._sdk.projects.update(project_id, model_version=version)

    def project_model_version(self, project_id: int) -> str | None:
        """The project's current ``model_version`` (``None`` when empty)."""
        with self._guard(f"reading project {project_id}"):
            return self._sdk.projects.get(project_id).model_version or None

    # -- validation ------------------------------------------------------------------------
    def validate(
        self,
        label_config: str,
        results: Sequence[Sequence[Mapping[str, Any]]] | Mapping[str, Sequence[Mapping[str, Any]]],
    ) -> None:
        """Check prediction results against a label config before sending them.

        Parameters
        ----------
        label_config : str
            The project's config XML.
        results : list of results, or mapping of task id -> result
            With a mapping, errors name the task id; with a list, its index (``#3``).

        Raises
        ------
        InvalidPrediction
            For the first result that does not fit, naming the task.
        """
        li = LabelInterface(label_config)
        items: Iterable[tuple[str, Sequence[Mapping[str, Any]]]] = (
            results.items() if isinstance(results, Mapping) else ((f"#{i}", r) for i, r in enumerate(results))
        )
        for task, result in items:
            errors = validation_errors(li, result)
            if errors:
                raise InvalidPrediction(str(task), errors, self.base_url)

    # -- tasks and predictions -------------------------------------------------------------
    def existing_task_ids(self, project_id: int, key: str = "cliniloop_id", page_size: int = 1000) -> dict[str, int]:
        """Map our task id (``data[key]``) to the Label Studio task id, over all pages.

        Tasks without ``data[key]`` are left out; when two tasks carry the same id the lower
        Label Studio id wins (and a warning is logged).
        """
        found: dict[str, int] = {}
        with self._guard(f"listing tasks of project {project_id}"):
            tasks: Iterable[Any] = self._sdk.tasks.list(
                project=project_id, fields="task_only", include="id,data", page_size=page_size
            )
            for task in tasks:
                ours = (task.data or {}).get(key)
                if ours is None or task.id is None:
                    continue
                ours, ls_id = str(ours), int(task.id)
                if ours in found:
                    log.warning("project %s holds task %r twice (ids %d, %d)", project_id, ours, found[ours], ls_id)
                    ls_id = min(ls_id, found[ours])
                found[ours] = ls_id
        return found

    def import_tasks(self, project_id: int, payloads: Sequence[Mapping[str, Any]]) -> list[int]:
        """Import tasks (with their predictions); return the new task ids in payload order.

        Not retried: a retried import that the server had already committed would duplicate
        tasks. Callers find what a failed call imported with :meth:`existing_task_ids`.
        """
        if not payloads:
            return []
        with self._guard(f"importing {len(payloads)} tasks into project {project_id}"):
            response = self._sdk.projects.import_tasks(
                project_id,
                request=cast(list[Any], list(payloads)),
                return_task_ids=True,
                request_options={"max_retries": 0},
            )
        # ``task_ids`` is an extra field of the response model (present with return_task_ids)
        ids = [int(i) for i in (getattr(response, "task_ids", None) or [])]
        if len(ids) != len(payloads):
            raise LabelStudioError(
                f"importing into project {project_id} at {self.base_url} returned {len(ids)} task ids "
                f"for {len(payloads)} tasks",
                self.base_url,
            )
        return ids

    def import_predictions(self, project_id: int, items: Sequence[Mapping[str, Any]]) -> int:
        """Add predictions to existing tasks: items ``{"task", "model_version", "score", "result"}``.

        Returns
        -------
        int
            How many predictions Label Studio created.
        """
        if not items:
            return 0
        with self._guard(f"importing {len(items)} predictions into project {project_id}"):
            response = self._sdk.projects.import_predictions(
                project_id, request=cast(list[Any], list(items)), request_options={"max_retries": 0}
            )
        created = getattr(response, "created", None)
        return int(created) if created is not None else len(items)

    def task_data(self, ls_task_id: int, project_id: int | None = None) -> dict[str, Any]:
        """The ``data`` of one Label Studio task.

        Give ``project_id`` when you can: the task-detail endpoint used without it makes Label
        Studio fetch a prediction from a connected ML backend first (synchronously, for a task
        that has none, whenever the project "uses predictions to pre-label", the default); the
        project's task list used with it has no such side effect.

        Raises
        ------
        LabelStudioError
            If the task does not exist (in that project).
        """
        if project_id is None:
            with self._guard(f"reading task {ls_task_id}"):
                return dict(self._sdk.tasks.get(str(ls_task_id)).data or {})
        query = {
            "filters": {
                "conjunction": "and",
                "items": [
                    {"filter": "filter:tasks:id", "operator": "equal", "type": "Number", "value": int(ls_task_id)}
                ],
            }
        }
        with self._guard(f"reading task {ls_task_id} of project {project_id}"):
            found: Iterable[Any] = self._sdk.tasks.list(
                project=project_id, query=json.dumps(query), fields="task_only", include="id,data", page_size=1
            )
            for task in found:
                if task.id == ls_task_id:
                    return dict(task.data or {})
        raise LabelStudioError(
            f"task {ls_task_id} is not in project {project_id} at {self.base_url}", self.base_url, 404
        )

    def task_annotations(self, ls_task_id: int) -> list[dict[str, Any]]:
        """All annotations of one task (submitted and skipped), as plain JSON dicts."""
        with self._guard(f"listing annotations of task {ls_task_id}"):
            return [a.model_dump(mode="json") for a in self._sdk.annotations.list(id=ls_task_id)]

    def iter_project_annotations(
        self, project_id: int, page_size: int = 100
    ) -> Iterator[tuple[int, dict[str, Any], list[dict[str, Any]]]]:
        """Yield ``(ls_task_id, task data, annotations)`` for every task of a project.

        Tasks without annotations are included, so a caller can notice deletions.
        """
        with self._guard(f"listing tasks with annotations of project {project_id}"):
            # No ``include=`` here: with it, nested annotations shrink to ``{"id": ...}``.
            pager: Iterable[Any] = self._sdk.tasks.list(project=project_id, fields="all", page_size=page_size)
            for task in pager:
                annotations = [a if isinstance(a, dict) else a.model_dump(mode="json") for a in task.annotations or []]
                yield int(task.id), dict(task.data or {}), annotations  # type: ignore[arg-type]

    def export_json(self, project_id: int) -> list[dict[str, Any]]:
        """The project's JSON export: every task with its annotations (region ids intact).

        Unlike JSON_MIN/CSV, this keeps the link between a span and its per-region choices.
        """
        with self._guard(f"exporting project {project_id} as JSON"):
            return list(self._sdk.projects.exports.as_json(project_id))

    def next_task(self, project_id: int) -> dict[str, Any] | None:
        """The task Label Studio's queue serves the authenticated user next, or ``None``.

        This is ``GET /api/projects/{id}/next``: with uncertainty sampling, unannotated tasks in
        ascending score of predictions whose ``model_version`` is the project's. The served
        task stays locked to the user (served again) until annotated or skipped.
        """
        action = f"getting the next task of project {project_id}"
        with self._guard(action):
            r = self._raw("GET", f"api/projects/{project_id}/next")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            body: Any
            try:
                body = r.json()
            except ValueError:
                body = r.text
            raise LabelStudioError(
                f"{action} failed at {self.base_url}: HTTP {r.status_code}: {_detail(body)}",
                self.base_url,
                r.status_code,
            )
        return dict(r.json())

    def create_annotation(
        self, ls_task_id: int, result: Sequence[Mapping[str, Any]], lead_time: float | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Create an annotation as the authenticated user; return it (``["id"]`` is its id).

        ``extra`` goes to ``annotations.create`` (e.g. ``was_cancelled=True`` for a skip).
        """
        kwargs: dict[str, Any] = dict(extra)
        if lead_time is not None:
            kwargs["lead_time"] = lead_time
        with self._guard(f"creating an annotation on task {ls_task_id}"):
            ann = self._sdk.annotations.create(
                id=ls_task_id, result=list(result), request_options={"max_retries": 0}, **kwargs
            )
        return ann.model_dump(mode="json")

    def update_annotation(
        self, annotation_id: int, result: Sequence[Mapping[str, Any]], lead_time: float | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Replace an annotation's result (and optionally its lead time); return it."""
        kwargs: dict[str, Any] = dict(extra)
        if lead_time is not None:
            kwargs["lead_time"] = lead_time
        with self._guard(f"updating annotation {annotation_id}"):
            ann = self._sdk.annotations.update(annotation_id, result=list(result), **kwargs)
        return ann.model_dump(mode="json")

    def task_predictions(self, ls_task_id: int) -> list[dict[str, Any]]:
        """All predictions of one task, as plain JSON dicts."""
        with self._guard(f"listing predictions of task {ls_task_id}"):
            return [p.model_dump(mode="json") for p in self._sdk.predictions.list(task=ls_task_id)]

    def update_prediction(self, prediction_id: int, result: Sequence[Mapping[str, Any]]) -> None:
        """Replace a prediction's result (its model version and score stay)."""
        with self._guard(f"updating prediction {prediction_id}"):
            self._sdk.predictions.update(prediction_id, result=[dict(r) for r in result])

    def update_task_data(self, ls_task_id: int, data: Mapping[str, Any]) -> None:
        """Replace a task's ``data`` (annotations and predictions are kept as they are)."""
        with self._guard(f"updating task {ls_task_id}"):
            self._sdk.tasks.update(str(ls_task_id), data=dict(data))

    def project_title(self, project_id: int) -> str:
        """A project's title."""
        with self._guard(f"reading project {project_id}"):
            return str(self._sdk.projects.get(project_id).title or "")

    def delete_annotation(self, annotation_id: int) -> None:
        """Delete one annotation."""
        with self._guard(f"deleting annotation {annotation_id}"):
            self._sdk.annotations.delete(annotation_id)

    # -- webhooks and ML backend -----------------------------------------------------------
    def ensure_webhook(
        self,
        project_id: int,
        url: str,
        actions: Sequence[str] = DEFAULT_WEBHOOK_ACTIONS,
        headers: Mapping[str, str] | None = None,
    ) -> int:
        """Create (or update) the project's webhook to ``url`` for ``actions``; return its id.

        Idempotent by URL. Label Studio's default ``send_for_all_actions=True`` would ignore
        ``actions``: it is set to ``False`` here. ``headers`` are sent with every delivery
        (e.g. a shared secret). Deliveries have a 1 s timeout and no retries.
        """
        wanted = sorted(set(actions))
        with self._guard(f"listing webhooks of project {project_id}"):
            hooks = [
                h for h in self._sdk.webhooks.list(project=str(project_id)) if h.project == project_id and h.url == url
            ]
        settings: dict[str, Any] = {
            "actions": wanted,
            "send_payload": True,
            "send_for_all_actions": False,
            "is_active": True,
            "headers": dict(headers or {}),
        }
        if hooks:
            hook = min(hooks, key=lambda h: h.id or 0)
            current = {
                "actions": sorted(hook.actions or []),
                "send_payload": hook.send_payload,
                "send_for_all_actions": hook.send_for_all_actions,
                "is_active": hook.is_active,
                "headers": dict(hook.headers or {}),
            }
            if current != settings:
                with self._guard(f"updating webhook {hook.id}"):
                    self._sdk.webhooks.update(hook.id, url=url, **settings)  # type: ignore[arg-type]
            return int(hook.id)  # type: ignore[arg-type]
        with self._guard(f"creating a webhook to {url} for project {project_id}"):
            hook = self._sdk.webhooks.create(url=url, project=project_id, **settings)
        return int(hook.id)  # type: ignore[arg-type]

    def delete_webhooks(self, project_id: int, url: str | None = None) -> int:
        """Delete the project's webhooks (only those to ``url`` when given); return how many."""
        with self._guard(f"listing webhooks of project {project_id}"):
            hooks = [
                h for h in self._sdk.webhooks.list(project=str(project_id))
                if h.project == project_id and (url is None or h.url == url)
            ]  # fmt: skip
        for hook in hooks:
            with self._guard(f"deleting webhook {hook.id}"):
                self._sdk.webhooks.delete(hook.id)  # type: ignore[arg-type]
        return len(hooks)

    def connect_ml_backend(
        self,
        project_id: int,
        url: str,
        title: str,
        keep_model_version: bool = True,
        basic_auth: tuple[str, str] | None = None,
    ) -> int:
        """Connect an ML backend to the project (idempotent by URL); return its id.

        Label Studio calls the backend's ``/health`` and ``/setup`` while connecting, so it must
        be up. Connecting sets the project's ``model_version`` to the backend's title; with
        ``keep_model_version`` the previous non-empty version is restored (the queue order
        depends on it). ``basic_auth`` = ``(user, password)`` Label Studio sends with every
        call to the backend (an existing connection gets it too).
        """
        auth: dict[str, Any] = (
            {"auth_method": "BASIC_AUTH", "basic_auth_user": basic_auth[0], "basic_auth_pass": basic_auth[1]}
            if basic_auth
            else {}
        )
        norm = url.rstrip("/")
        with self._guard(f"listing ML backends of project {project_id}"):
            backends = [b for b in self._sdk.ml.list(project=project_id) if (b.url or "").rstrip("/") == norm]
        if backends:
            backend = min(backends, key=lambda b: b.id or 0)
            if backend.title != title or auth:
                with self._guard(f"updating ML backend {backend.id}"):
                    self._sdk.ml.update(backend.id, title=title, **auth)  # type: ignore[arg-type]
            return int(backend.id)  # type: ignore[arg-type]
        before = self.project_model_version(project_id) if keep_model_version else None
        with self._guard(f"connecting ML backend {url} to project {project_id}"):
            backend = self._sdk.ml.create(url=url, project=project_id, title=title, **auth)
        if before and self.project_model_version(project_id) != before:
            self.set_model_version(project_id, before)
        return int(backend.id)  # type: ignore[arg-type]

    def retrieve_predictions(self, project_id: int, ls_task_ids: Sequence[int] | None = None) -> None:
        """Ask Label Studio to fetch predictions from the connected ML backend.

        For all tasks of the project, or only ``ls_task_ids``. (``ml.predict_all_tasks`` is
        404 in the open-source server; this is the Data Manager action.)
        """
        selected: dict[str, Any] = (
            {"all": True, "excluded": []} if ls_task_ids is None else {"all": False, "included": list(ls_task_ids)}
        )
        with self._guard(f"retrieving predictions for project {project_id}"):
            self._sdk.actions.create(id="retrieve_tasks_predictions", project=project_id, selected_items=selected)
