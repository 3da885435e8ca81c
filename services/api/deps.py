"""FastAPI dependencies (``Annotated`` aliases used by the routes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cliniloop.services.api.state import AppState
from cliniloop.services.core.store import Store


def get_state(request: Request) -> AppState:
    """The application's :class:`AppState`."""
    return request.app.state.cliniloop


def get_store(request: Request) -> Store:
    """The application's store."""
    return get_state(request).store


StateDep = Annotated[AppState, Depends(get_state)]
StoreDep = Annotated[Store, Depends(get_store)]
