"""The FastAPI application: status, webhooks, training jobs, models and the Label Studio ML-backend endpoints.

The app's lifespan opens the store and starts the job worker (a daemon thread that runs queued
jobs such as training, see :mod:`cliniloop.services.loop.jobs`), so routes only enqueue and answer.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from cliniloop.services.api.auth import CredentialsFirst, require
from cliniloop.services.api.deps import StoreDep
from cliniloop.services.api.routes import ml_backend, quality, training, webhooks
from cliniloop.services.api.state import AppState
from cliniloop.services.core.private import private_dir, private_umask
from cliniloop.services.core.settings import Settings, get_settings
from cliniloop.services.core.store import Store, open_store


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    """Build the app; the store is opened (and migrated) when the app starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        s = settings or get_settings()
        previous_umask = private_umask()  # the store, secrets and logs the app writes are owner-only
        private_dir(s.var_dir)
        st = store or open_store(s.resolved_database_url)
        state = AppState(settings=s, store=st)
        if s.job_worker and s.engine == "ray":  # jobs as Ray tasks (issue 25)
            from cliniloop.services.scale.ray_jobs import RayJobWorker

            state.worker = RayJobWorker(st, s)
            state.worker.start()
        elif s.job_worker:
            from cliniloop.services.loop.jobs import JobWorker

            state.worker = JobWorker(st, s)
            state.worker.start()
        app.state.cliniloop = state
        try:
            yield
        finally:
            if state._reconciler is not None:  # finish what was acknowledged, briefly
                state._reconciler.drain(timeout=5.0)
                state._reconciler.stop()
            if state.worker is not None:
                state.worker.stop()
            if store is None:
                st.close()
            os.umask(previous_umask)

    app = FastAPI(title="cliniloop", version="0.1.0", lifespan=lifespan)
    # credentials before body: refused requests are never read or parsed, bodies are bounded
    app.add_middleware(CredentialsFirst)
    app.include_router(ml_backend.router)
    app.include_router(webhooks.router)
    app.include_router(training.router)
    app.include_router(quality.router)

    @app.get("/api/status", tags=["status"], dependencies=[Depends(require("annotator"))])
    def status(store: StoreDep) -> dict[str, Any]:
        """Row counts of the store."""
        return {"counts": store.counts()}

    return app
