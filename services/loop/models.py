"""Model versions in production: promote, roll back, and refresh what depends on the promoted one.

Moving the ``production`` alias of ``clinical-ner`` changes the text model the loop predicts
with (rules + that NER version, see :func:`cliniloop.services.loop.predict.load_text_model`). Every move
is recorded in the store's promotion history and as an audit event, and is followed by a
refresh: every text task gets a prediction of the new combined model, and, when Label Studio
is configured, the tasks already pushed get the new predictions and the project's
``model_version`` is set to the new version, so the annotators' queue follows the new scores.
The promotion is the commit point: a refresh that fails (Label Studio down) leaves the new
version promoted and says so in the report; ``cliniloop push`` or the next promotion catches up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.loop.predict import NER_MODEL_NAME, TEXT_MODEL_NAME, load_text_model, predict_tasks

log = logging.getLogger(__name__)

#: ``progress(fraction in [0, 1], message)``
FractionProgress = Callable[[float, str], None]


@dataclass
class RefreshReport:
    """What a refresh after a promotion did.

    Attributes
    ----------
    text_model_version : str
        The combined text model now predicting (``<rules>+<ner>``, or the rules alone).
    predicted : int
        Tasks that got a prediction of it.
    label_studio_updated : bool
        Whether Label Studio got the new predictions and model version.
    label_studio : str
        What happened with Label Studio, in words (not configured, no project, unreachable ...).
    error : str or None
        Why the refresh stopped early, if it did (the promotion stands).
    """

    text_model_version: str | None = None
    predicted: int = 0
    label_studio_updated: bool = False
    label_studio: str = ""
    pushed: int = 0
    error: str | None = None


@dataclass
class PromotionReport:
    """A move of the production alias and its refresh."""

    name: str
    action: str
    version: str
    previous_version: str | None
    changed: bool
    refresh: RefreshReport

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (job results, API)."""
        return asdict(self)


def _scaled(progress: FractionProgress | None, lo: float, hi: float) -> FractionProgress | None:
    if progress is None:
        return None
    return lambda f, msg: progress(lo + (hi - lo) * min(1.0, max(0.0, f)), msg)


def update_label_studio(store: Store, settings: Settings) -> tuple[bool, str, int]:
    """Re-push the pushed tasks' newest predictions and set the project's model version.

    Reuses :func:`cliniloop.services.loop.push.push_tasks` on the tasks the store recorded as pushed:
    for tasks already in the project it only imports predictions of a newer model version and
    then sets the project's ``model_version``. Never raises.

    Returns
    -------
    tuple
        ``(updated, what happened in words, tasks that got a new prediction)``.
    """
    if not settings.label_studio_api_key:
        return False, "not configured (no CLINILOOP_LABEL_STUDIO_API_KEY)", 0
    from cliniloop.connectors.label_studio.client import LabelStudioClient
    from cliniloop.services.loop.push import push_tasks

    try:
        client = LabelStudioClient(settings.label_studio_url, settings.label_studio_api_key, timeout_s=30.0, max_retries=1)
        project_id = client.find_project(settings.label_studio_project)
        if project_id is None:
            return False, f"no project {settings.label_studio_project!r} yet: nothing to update", 0
        pushed = sorted(store.pushed(client.project_ref(project_id)))
        if not pushed:
            return False, f"no task pushed to project {project_id} yet: nothing to update", 0
        from cliniloop.services.loop.coding import span_code_candidates_for

        report = push_tasks(
            store, client, project_id, pushed, batch_size=settings.push_batch_size,
            code_candidates=span_code_candidates_for(store, settings),
        )  # fmt: skip
    except Exception as err:  # Label Studio down or refusing must not undo a promotion
        log.warning("Label Studio was not updated after the promotion: %s", err)
        return False, f"not updated: {err}", 0
    return True, f"project {project_id}: {len(report.predictions_added)} new predictions, model_version {report.model_version}", len(
        report.predictions_added
    )


def refresh_after_promotion(store: Store, settings: Settings, progress: FractionProgress | None = None) -> RefreshReport:
    """Predict every text task with the now-current text model, then update Label Studio.

    The combined model's version also becomes the ``production`` alias of ``clinical-text``
    (what the ML backend's ``/setup`` reports). Never raises: a failure is in ``error``.
    """
    report = RefreshReport()
    try:
        model = load_text_model(store, settings)
        report.text_model_version = model.version
        total = max(store.count_tasks("text"), 1)
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress(0.8 * done / total, f"predicting with {model.version}: {done}/{total} tasks")

        if progress:
            progress(0.0, f"predicting with {model.version}")
        report.predicted = predict_tasks(store, model, progress=advance).predicted
        store.register_model_version(TEXT_MODEL_NAME, model.version, metrics={})
        store.promote(TEXT_MODEL_NAME, model.version, reason="text model after a clinical-ner alias move")
    except Exception as err:
        log.exception("refreshing predictions after the promotion failed")
        report.error = f"{type(err).__name__}: {err}"
        report.label_studio = "not updated: predictions were not refreshed"
        return report
    if progress:
        progress(0.85, "updating Label Studio")
    report.label_studio_updated, report.label_studio, report.pushed = update_label_studio(store, settings)
    if progress:
        progress(1.0, "refreshed")
    return report


def _audit_and_refresh(
    store: Store,
    settings: Settings,
    *,
    name: str,
    action: str,
    version: str,
    previous: str | None,
    actor: str,
    reason: str | None,
    progress: FractionProgress | None,
    refresh: bool,
) -> PromotionReport:
    changed = previous != version
    store.audit(actor, f"model_{action}", "model", name, version=version, previous_version=previous, reason=reason, changed=changed)
    rep = RefreshReport()
    if refresh and changed and name == NER_MODEL_NAME:  # only the NER alias changes the text model
        rep = refresh_after_promotion(store, settings, progress)
    return PromotionReport(name=name, action=action, version=version, previous_version=previous, changed=changed, refresh=rep)


def promote(
    store: Store,
    settings: Settings,
    name: str,
    version: str,
    *,
    actor: str = "cliniloop",
    reason: str | None = None,
    progress: FractionProgress | None = None,
    refresh: bool = True,
) -> PromotionReport:
    """Point the ``production`` alias of ``name`` at ``version``, audit it, refresh predictions.

    Raises
    ------
    KeyError
        If ``version`` is not registered.
    """
    previous = store.promote(name, version, actor=actor, reason=reason)
    return _audit_and_refresh(
        store, settings, name=name, action="promote", version=version, previous=previous, actor=actor,
        reason=reason, progress=progress, refresh=refresh,
    )  # fmt: skip


def rollback(
    store: Store,
    settings: Settings,
    name: str = NER_MODEL_NAME,
    *,
    actor: str = "cliniloop",
    reason: str | None = None,
    progress: FractionProgress | None = None,
    refresh: bool = True,
) -> PromotionReport:
    """Move the ``production`` alias of ``name`` back to the version promoted before the current one.

    Raises
    ------
    cliniloop.services.core.store.NoEarlierVersion
        When there is nothing to go back to.
    """
    previous, version = store.rollback(name, actor=actor, reason=reason)
    return _audit_and_refresh(
        store, settings, name=name, action="rollback", version=version, previous=previous, actor=actor,
        reason=reason, progress=progress, refresh=refresh,
    )  # fmt: skip


def model_listing(store: Store, name: str = NER_MODEL_NAME) -> dict[str, Any]:
    """Registered versions of ``name`` (newest first) with metrics, lineage and which one is promoted."""
    promoted = store.alias(name)
    versions = [
        {
            "version": row.version,
            "promoted": row.version == promoted,
            "parent": row.parent,
            "training_set_hash": row.training_set_hash,
            "label_count": row.label_count,
            "metrics": {k: v for k, v in (row.metrics or {}).items() if k != "per_label"},
            "per_label": (row.metrics or {}).get("per_label", {}),
            "artifact_uri": row.artifact_uri,
            "created_at": row.created_at.isoformat() if row.created_at else None,
        }
        for row in reversed(store.model_version_rows(name))
    ]
    history = [
        {"action": p.action, "version": p.version, "previous_version": p.previous_version, "actor": p.actor,
         "reason": p.reason, "at": p.at.isoformat() if p.at else None}
        for p in store.promotions(name)
    ]  # fmt: skip
    out = {"name": name, "promoted": promoted, "versions": versions, "history": history}
    if name == NER_MODEL_NAME:
        from cliniloop.services.loop.ner_choice import deployment

        out["deployment"] = deployment()
    return out
