"""Secrets of the API tests: fixed tokens per role and a webhook secret, set through settings."""

from __future__ import annotations

from pydantic import SecretStr

from cliniloop.services.core.access import WEBHOOK_SECRET_HEADER
from cliniloop.services.core.settings import Settings

TOKENS = {
    "admin": "test-admin-token-0123456789abcdef",
    "engineer": "test-engineer-token-0123456789ab",
    "annotator": "test-annotator-token-0123456789a",
}
WEBHOOK_SECRET = "test-webhook-secret-0123456789abc"


def with_secrets(settings: Settings) -> Settings:
    """``settings`` with the tests' tokens and webhook secret (no secrets file is made)."""
    return settings.model_copy(
        update={
            "api_admin_token": SecretStr(TOKENS["admin"]),
            "api_engineer_token": SecretStr(TOKENS["engineer"]),
            "api_annotator_token": SecretStr(TOKENS["annotator"]),
            "webhook_secret": SecretStr(WEBHOOK_SECRET),
        }
    )


def auth_headers(role: str = "admin") -> dict[str, str]:
    """A bearer token of ``role`` plus the webhook secret."""
    return {"Authorization": f"Bearer {TOKENS[role]}", WEBHOOK_SECRET_HEADER: WEBHOOK_SECRET}
