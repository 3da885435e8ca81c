"""What CLI commands share: the migrated store and a Label Studio client from settings."""

from __future__ import annotations

from typing import Any

from cliniloop.services.cli.render import fail


def cli_store() -> Any:
    """The store at ``CLINILOOP_DATABASE_URL`` (default SQLite under ``var/``), migrated."""
    from cliniloop.services.core.store import open_store

    return open_store()


def label_studio_client() -> Any:
    """A Label Studio client from settings; exits with status 2 when no API key is set."""
    from cliniloop.connectors.label_studio.client import LabelStudioClient
    from cliniloop.services.core.settings import get_settings

    settings = get_settings()
    if not settings.label_studio_api_key:
        fail("set CLINILOOP_LABEL_STUDIO_API_KEY (a legacy token or a personal access token)", 2)
    return LabelStudioClient(settings.label_studio_url, settings.label_studio_api_key)


def quality_push_options() -> dict[str, Any]:
    """``push_tasks`` options from the settings (:func:`cliniloop.services.loop.push.quality_push_options`)."""
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.loop.push import quality_push_options as options

    return options(get_settings())
