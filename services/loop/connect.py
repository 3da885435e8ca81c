"""Connect a Label Studio project to the cliniloop API: webhooks with the shared secret, the ML backend with a token."""

from __future__ import annotations

from cliniloop.connectors.label_studio.client import DEFAULT_WEBHOOK_ACTIONS, LabelStudioClient
from cliniloop.services.core.access import WEBHOOK_SECRET_HEADER, api_secrets
from cliniloop.services.core.settings import Settings

#: User name Label Studio sends with the annotator token (HTTP Basic) to the ML backend.
ML_BACKEND_USER = "label-studio"


def connect_project(
    client: LabelStudioClient,
    project_id: int,
    api_url: str,
    settings: Settings,
    *,
    webhook_actions: tuple[str, ...] = DEFAULT_WEBHOOK_ACTIONS,
    ml_backend: bool = True,
) -> None:
    """Point the project's webhook at ``{api_url}/webhook`` (carrying the webhook secret) and,
    with ``ml_backend``, connect the API as its ML backend (HTTP Basic, the annotator token)."""
    secrets = api_secrets(settings)
    url = api_url.rstrip("/")
    client.ensure_webhook(project_id, f"{url}/webhook", webhook_actions, headers={WEBHOOK_SECRET_HEADER: secrets.webhook_secret})
    if ml_backend:
        client.connect_ml_backend(project_id, url, "cliniloop", basic_auth=(ML_BACKEND_USER, secrets.tokens["annotator"]))
