"""Access control of the API: a role's token on every route but ``/health``, a secret on webhooks.

Credentials are a bearer token (``Authorization: Bearer <token>``) or HTTP Basic with the token
as password (how Label Studio's ML-backend connection and browsers send them). Refusals answer
``401`` (no or unknown credentials) or ``403`` (a valid token of too low a role, a wrong webhook
secret), touch nothing else, and leave one ``access_denied`` audit event (method, path, reason:
never the credentials).

:class:`CredentialsFirst` (a pure ASGI middleware) enforces this before anything else runs: it
finds the route a request is for, checks the credentials from the headers alone, and only then
reads the body, at most ``CLINILOOP_MAX_BODY_BYTES`` of it (``413`` beyond). No body of a refused
request is ever read or parsed. Routes say what they need through the ``require``/
``require_webhook_secret`` dependencies, which also run (a second check) inside the route;
:data:`OPEN_PATHS` need nothing, and every other path (``/docs``, ``/openapi.json``, unknown
paths) needs a token of any role.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cliniloop.services.api.deps import get_state
from cliniloop.services.core.access import ROLES, WEBHOOK_SECRET_HEADER, allows
from cliniloop.services.core.audit import bounded

log = logging.getLogger(__name__)

#: Paths that need no credentials.
OPEN_PATHS = frozenset({"/health"})
#: What a path no route claims needs (``/docs``, ``/redoc``, ``/openapi.json``, unknown paths).
DEFAULT_ROLE = "annotator"
#: Marker of the webhook-secret requirement (a role name is any other requirement).
WEBHOOK = "webhook"
#: Longest request path and method kept in an ``access_denied`` event (the rest is cut, marked).
MAX_AUDITED_PATH = 120
#: The 401 challenges, one ``WWW-Authenticate`` header per scheme: Chromium ignores a Basic challenge
#: listed with another scheme in one header (``Basic realm="cliniloop", Bearer``) and never asks for
#: the password; as separate headers it prompts.
CHALLENGES: tuple[tuple[str, str], ...] = (("WWW-Authenticate", 'Basic realm="cliniloop"'), ("WWW-Authenticate", "Bearer"))
#: The challenge of a refusal raised inside a route (an ``HTTPException`` takes one value per header).
CHALLENGE = {"WWW-Authenticate": 'Basic realm="cliniloop"'}


def _token(request: HTTPConnection) -> str | None:
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


def audit_refusal(state, method: str, path: str, code: int, reason: str, role: str | None = None) -> None:
    """Log and audit one refused request: bounded method, path and reason, never credentials."""
    method, path = bounded(method, 16), bounded(path, MAX_AUDITED_PATH)
    log.warning("refused %s %s: %s", method, path, reason)
    try:
        state.store.audit(role or "anonymous", "access_denied", "api", path, method=method, status=code, reason=bounded(reason, 200))
    except Exception:  # refusing must not depend on the store being writable
        log.exception("could not audit a refused request")


def refuse(request: Request, code: int, reason: str, role: str | None = None) -> HTTPException:
    audit_refusal(get_state(request), request.method, request.url.path, code, reason, role)
    headers = CHALLENGE if code == status.HTTP_401_UNAUTHORIZED else None
    return HTTPException(status_code=code, detail=reason, headers=headers)


def credentials_verdict(conn: HTTPConnection, needed: str) -> tuple[int, str, str | None] | str:
    """Check a request's credentials (headers only) against what its route needs.

    Returns the caller's role (``"label_studio"`` for the webhook secret) when it may go on, else
    ``(status, reason, role)`` of the refusal.
    """
    secrets = get_state(conn).secrets()
    token = _token(conn)
    if needed == WEBHOOK:
        given = conn.headers.get(WEBHOOK_SECRET_HEADER)
        if given is None:
            role = secrets.role_of(token)
            if role is not None:
                return role
            return (status.HTTP_401_UNAUTHORIZED, f"the {WEBHOOK_SECRET_HEADER} header is required", None)
        if not secrets.webhook_secret_ok(given):
            return (status.HTTP_403_FORBIDDEN, "wrong webhook secret", None)
        return "label_studio"
    if token is None:
        return (status.HTTP_401_UNAUTHORIZED, "a token is required", None)
    role = secrets.role_of(token)
    if role is None:
        return (status.HTTP_401_UNAUTHORIZED, "unknown token", None)
    if not allows(role, needed):
        return (status.HTTP_403_FORBIDDEN, f"the {role} role may not do this ({needed} or above)", role)
    return role


def require(needed: str) -> Callable[[Request], str]:
    """A dependency that lets a request through with a token of ``needed``'s role or above.

    It returns the caller's role (e.g. for audit actors: ``api:engineer``).
    """

    def check(request: Request) -> str:
        verdict = credentials_verdict(request, needed)
        if isinstance(verdict, tuple):
            raise refuse(request, *verdict)
        return verdict

    check.__name__ = f"require_{needed}"
    check.cliniloop_needs = needed  # type: ignore[attr-defined]
    return check


def require_webhook_secret(request: Request) -> str:
    """Accept a webhook only with the shared secret in :data:`WEBHOOK_SECRET_HEADER`; return the caller.

    Label Studio's ML-backend connection posts its events (``START_TRAINING``) to the same
    ``/webhook`` with the backend's HTTP Basic credentials instead: a valid token is accepted in
    place of the secret, and the caller is then that token's role (the route checks each action
    against it: ``START_TRAINING`` needs the engineer role, as ``POST /api/train`` does). With
    the secret, the caller is ``"label_studio"``.
    """
    verdict = credentials_verdict(request, WEBHOOK)
    if isinstance(verdict, tuple):
        raise refuse(request, *verdict)
    return verdict


require_webhook_secret.cliniloop_needs = WEBHOOK  # type: ignore[attr-defined]


def route_needs(route: object) -> str | None:
    """What a route needs: the highest role its dependencies require, :data:`WEBHOOK`, or ``None``."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return DEFAULT_ROLE
    found: list[str] = []
    stack = [dependant]
    while stack:
        d = stack.pop()
        needs = getattr(d.call, "cliniloop_needs", None)
        if needs is not None:
            found.append(needs)
        stack.extend(d.dependencies)
    if WEBHOOK in found:
        return WEBHOOK
    if found:
        return max(found, key=ROLES.index)
    return None


def route_table(routes: list[Any]) -> list[tuple[Any, frozenset[str] | None, str | None]]:
    """``(path regex, methods, needs)`` of every route, included routers flattened."""
    table = []
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)  # FastAPI >= 0.16x included routers
        if contexts is not None:
            items = list(contexts())
        elif hasattr(route, "routes") and not hasattr(route, "path_regex"):
            table += route_table(route.routes)
            continue
        else:
            items = [route]
        for item in items:
            regex = getattr(item, "path_regex", None)
            if regex is not None:
                methods = getattr(item, "methods", None)
                table.append((regex, frozenset(methods) if methods else None, route_needs(item)))
    return table


class BodyTooLarge(Exception):
    """The request body is longer than the limit."""


class CredentialsFirst:
    """ASGI middleware: credentials are checked before the body is read; bodies are bounded.

    Parameters
    ----------
    app : ASGI app
        The FastAPI app's inner stack.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._table: list[tuple[Any, frozenset[str] | None, str | None]] | None = None

    def _route_needs(self, scope: Scope) -> str | None:
        path = scope.get("path", "")
        if path in OPEN_PATHS:
            return None
        if self._table is None:
            self._table = route_table(scope["app"].router.routes)
        method = scope.get("method", "")
        for regex, methods, needs in self._table:
            if regex.match(path) and (methods is None or method in methods):
                # a route with no requirement is open only when listed in OPEN_PATHS
                return needs if needs is not None else DEFAULT_ROLE
        return DEFAULT_ROLE

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        needs = self._route_needs(scope)
        if needs is not None:
            conn = HTTPConnection(scope)
            verdict = credentials_verdict(conn, needs)
            if isinstance(verdict, tuple):
                code, reason, role = verdict
                state = get_state(conn)
                await run_in_threadpool(audit_refusal, state, scope.get("method", ""), scope.get("path", ""), code, reason, role)
                await _send_json(send, code, {"detail": reason}, CHALLENGES if code == status.HTTP_401_UNAUTHORIZED else ())
                return
        limit = get_state(HTTPConnection(scope)).settings.max_body_bytes
        try:
            body = await _read_body(scope, receive, limit)
        except BodyTooLarge:
            await _send_json(send, 413, {"detail": f"the request body is larger than {limit} bytes"}, ())
            return
        await self.app(scope, _replay(body, receive), send)


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole body, read only after the credentials passed; :class:`BodyTooLarge` beyond ``limit``."""
    declared = dict(scope.get("headers") or []).get(b"content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BodyTooLarge
        except ValueError:
            pass
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # http.disconnect, when it comes

    return replay


async def _send_json(send: Send, code: int, payload: dict, headers: tuple[tuple[str, str], ...]) -> None:
    import json

    data = json.dumps(payload).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    await send({"type": "http.response.start", "status": code, "headers": raw})
    await send({"type": "http.response.body", "body": data})


AnnotatorRole = Annotated[str, Depends(require("annotator"))]
EngineerRole = Annotated[str, Depends(require("engineer"))]
AdminRole = Annotated[str, Depends(require("admin"))]
