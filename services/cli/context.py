"""What CLI commands share: the migrated store and a Label Studio client from settings."""

from __future__ import annotations

from typing import Any

from services.cli.render import fail


def cli_store() -> Any:
    """The store at ``CLINILOOP_DATABASE_URL`` (default SQLite under ``var/``), migrated."""
    from services.core.store import open_store

    return open_store()


def label_studio_client() -> Any:
    """A Label Studio client from settings; exits with status 2 when no API key is set."""
    from connectors.label_studio.client import LabelStudioClient
    from services.core.settings import get_settings

    settings = get_settings()
    if not settings.label_studio_api_key:
        fail("set CLINILOOP_LABEL_STUDIO_API_KEY (a legacy token or a personal access token)", 2)
    return LabelStudioClient(settings.label_studio_url, settings.label_studio_api_key)


def quality_push_options() -> dict[str, Any]:
    """``push_tasks`` options from the settings (:func:`services.loop.push.quality_push_options`)."""
    from services.core.settings import get_settings
    from services.loop.push import quality_push_options as options

    return options(get_settings())


def pull_project(project: str, push_command: str) -> None:
    """Pull the annotations of the Label Studio project titled ``project`` and print the counts."""
    from services.cli.render import console, pull_line
    from services.loop.pull import pull_annotations

    client = label_studio_client()
    project_id = client.find_project(project)
    if project_id is None:
        fail(f"no Label Studio project {project!r}: run `{push_command}` first")
    r = pull_annotations(cli_store(), client, project_id)
    console.print("pulled: " + pull_line(r))  # the text pull's wording: unchanged and skipped annotations said apart


def uncertain_unlabelled(store: Any, model_name: str, budget: int) -> list[Any]:
    """The ``budget`` most uncertain latest predictions of ``model_name`` on tasks nobody annotated yet."""
    preds = store.latest_predictions(model_name)
    labelled = store.annotated_task_ids()
    return sorted((p for t, p in preds.items() if t not in labelled), key=lambda p: -p.uncertainty)[:budget]
