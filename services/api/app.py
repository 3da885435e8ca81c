"""The FastAPI application: status, webhooks and the Label Studio ML-backend endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from services.api.deps import StoreDep
from services.api.routes import ml_backend, webhooks
from services.api.state import AppState
from services.core.settings import Settings, get_settings
from services.core.store import Store, open_store


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    """Build the app; the store is opened (and migrated) when the app starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        s = settings or get_settings()
        st = store or open_store(s.resolved_database_url)
        app.state.cliniloop = AppState(settings=s, store=st)
        yield
        if store is None:
            st.close()

    app = FastAPI(title="cliniloop", version="0.1.0", lifespan=lifespan)
    app.include_router(ml_backend.router)
    app.include_router(webhooks.router)

    @app.get("/api/status", tags=["status"])
    def status(store: StoreDep) -> dict[str, Any]:
        """Row counts of the store."""
        return {"counts": store.counts()}

    return app
