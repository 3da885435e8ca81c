"""API roles and the secrets that grant them: bearer tokens per role and the webhook secret.

Roles are ordered: ``annotator`` (what Label Studio's ML backend and annotator-facing calls
need) < ``engineer`` (training, jobs, reports, the dashboard) < ``admin`` (promotion, rollback,
the audit trail). A token grants its role and every role below it.

Secrets come only from settings (``CLINILOOP_API_*_TOKEN``, ``CLINILOOP_WEBHOOK_SECRET``); one
that is not set is made once at random and kept in ``<var_dir>/api-secrets.json`` (mode 0600),
so a local demo needs no set-up. They are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cliniloop.services.core.settings import Settings

ROLES = ("annotator", "engineer", "admin")
#: Header that carries the webhook secret (set on the webhook in Label Studio).
WEBHOOK_SECRET_HEADER = "X-Cliniloop-Webhook-Secret"
SECRETS_FILE = "api-secrets.json"
#: Settings field of each secret (its environment variable is ``CLINILOOP_`` + the name upper-cased).
SECRET_FIELDS = {"annotator": "api_annotator_token", "engineer": "api_engineer_token", "admin": "api_admin_token", "webhook": "webhook_secret"}


def secret_env_var(key: str) -> str:
    """The environment variable of a secret (a role, or ``"webhook"``): ``CLINILOOP_API_ADMIN_TOKEN``, ..."""
    return f"CLINILOOP_{SECRET_FIELDS[key].upper()}"


@dataclass(frozen=True, repr=False)
class ApiSecrets:
    """The tokens of the three roles and the webhook secret (``repr`` hides them)."""

    tokens: dict[str, str]
    webhook_secret: str

    def __repr__(self) -> str:
        return f"ApiSecrets(roles={sorted(self.tokens)}, webhook_secret=***)"

    def role_of(self, token: str | None) -> str | None:
        """The role a token grants (the highest when tokens repeat), else ``None``."""
        if not token:
            return None
        found = None
        for role in ROLES:
            if hmac.compare_digest(token.encode("utf-8"), self.tokens[role].encode("utf-8")):
                found = role
        return found

    def webhook_secret_ok(self, given: str | None) -> bool:
        """Whether ``given`` is the webhook secret (constant-time)."""
        return given is not None and hmac.compare_digest(given.encode("utf-8"), self.webhook_secret.encode("utf-8"))


def allows(role: str, needed: str) -> bool:
    """Whether ``role`` may do what ``needed`` may."""
    return ROLES.index(role) >= ROLES.index(needed)


def _stored(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); delete it to make new secrets") from err
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def api_secrets(settings: Settings) -> ApiSecrets:
    """The secrets in force: those set in settings, the rest from (or made into) the secrets file."""
    given = {key: getattr(settings, name) for key, name in SECRET_FIELDS.items()}
    values = {k: v.get_secret_value() for k, v in given.items() if v is not None}
    for key, value in values.items():
        if len(value) < 16:
            raise ValueError(f"the {key} secret ({secret_env_var(key)}) needs at least 16 characters")
    missing = [k for k in given if k not in values]
    if missing:
        path = settings.var_dir / SECRETS_FILE
        stored = _stored(path)
        if any(k not in stored for k in missing):
            stored |= {k: secrets.token_urlsafe(32) for k in missing if k not in stored}
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(stored, handle)
            os.replace(tmp, path)
        values |= {k: stored[k] for k in missing}
    return ApiSecrets(tokens={r: values[r] for r in ROLES}, webhook_secret=values["webhook"])
