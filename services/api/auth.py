"""Access control of the API: a role's token on every route but ``/health``, a secret on webhooks.

Credentials are a bearer token (``Authorization: Bearer <token>``) or HTTP Basic with the token
as password (how Label Studio's ML-backend connection and browsers send them). Refusals answer
``401`` (no or unknown credentials) or ``403`` (a valid token of too low a role, a wrong webhook
secret), touch nothing else, and leave one ``access_denied`` audit event (method, path, reason:
never the credentials).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from services.api.deps import get_state
from services.core.access import WEBHOOK_SECRET_HEADER, allows

log = logging.getLogger(__name__)


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def _refuse(request: Request, code: int, reason: str, role: str | None = None) -> HTTPException:
    state = get_state(request)
    path = request.url.path
    log.warning("refused %s %s: %s", request.method, path, reason)
    try:
        state.store.audit(role or "anonymous", "access_denied", "api", path, method=request.method, status=code, reason=reason)
    except Exception:  # refusing must not depend on the store being writable
        log.exception("could not audit a refused request")
    headers = {"WWW-Authenticate": 'Basic realm="cliniloop", Bearer'} if code == status.HTTP_401_UNAUTHORIZED else None
    return HTTPException(status_code=code, detail=reason, headers=headers)


def require(needed: str) -> Callable[[Request], str]:
    """A dependency that lets a request through with a token of ``needed``'s role or above.

    It returns the caller's role (e.g. for audit actors: ``api:engineer``).
    """

    def check(request: Request) -> str:
        secrets = get_state(request).secrets()
        token = _token(request)
        if token is None:
            raise _refuse(request, status.HTTP_401_UNAUTHORIZED, "a token is required")
        role = secrets.role_of(token)
        if role is None:
            raise _refuse(request, status.HTTP_401_UNAUTHORIZED, "unknown token")
        if not allows(role, needed):
            raise _refuse(request, status.HTTP_403_FORBIDDEN, f"the {role} role may not do this ({needed} or above)", role)
        return role

    check.__name__ = f"require_{needed}"
    return check


def require_webhook_secret(request: Request) -> None:
    """Accept a webhook only with the shared secret in :data:`WEBHOOK_SECRET_HEADER`.

    Label Studio's ML-backend connection posts its events (``START_TRAINING``) to the same
    ``/webhook`` with the backend's HTTP Basic credentials instead: a valid token of any role is
    accepted in place of the secret (only from that connection do requests carry one).
    """
    given = request.headers.get(WEBHOOK_SECRET_HEADER)
    secrets = get_state(request).secrets()
    if given is None:
        if secrets.role_of(_token(request)) is not None:
            return
        raise _refuse(request, status.HTTP_401_UNAUTHORIZED, f"the {WEBHOOK_SECRET_HEADER} header is required")
    if not secrets.webhook_secret_ok(given):
        raise _refuse(request, status.HTTP_403_FORBIDDEN, "wrong webhook secret")


AnnotatorRole = Annotated[str, Depends(require("annotator"))]
EngineerRole = Annotated[str, Depends(require("engineer"))]
AdminRole = Annotated[str, Depends(require("admin"))]
