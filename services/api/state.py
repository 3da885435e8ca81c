"""Per-application state: the store, the lazily built text model, the Label Studio client, the job worker.

Kept on ``app.state`` (not module globals), built on first use, so importing the app is cheap
and tests can build as many apps as they like.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store

if TYPE_CHECKING:
    from cliniloop.services.api.reconciler import Reconciler
    from cliniloop.connectors.label_studio.client import LabelStudioClient
    from cliniloop.services.core.access import ApiSecrets
    from cliniloop.services.loop.jobs import JobWorker
    from cliniloop.services.loop.predict import TextModel

log = logging.getLogger(__name__)

_UNLOADED = object()


@dataclass
class AppState:
    """What the routes need; heavy members are created on first use."""

    settings: Settings
    store: Store
    worker: "JobWorker | None" = None
    _model: "TextModel | None" = None
    _model_ner_version: Any = _UNLOADED
    _client: "LabelStudioClient | None" = None
    _secrets: "ApiSecrets | None" = None
    _reconciler: "Reconciler | None" = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def text_model(self) -> "TextModel":
        """The clinical-text model: rules, or rules + the promoted NER version.

        Built on first use (takes seconds: never call at import) and rebuilt when the promoted
        ``clinical-ner`` version changes (one cheap alias lookup per call). If the promoted
        version's files are missing, the rules alone serve (logged); its version says so.
        """
        from cliniloop.services.loop.predict import NER_MODEL_NAME, ModelArtifactMissing, load_text_model, rule_annotator

        promoted = self.store.alias(NER_MODEL_NAME)
        with self._lock:
            if self._model is None or self._model_ner_version != promoted:
                try:
                    self._model = load_text_model(self.store, self.settings, promoted)
                except ModelArtifactMissing as err:
                    log.error("%s; serving the rules alone", err)
                    self._model = rule_annotator()
                self._model_ner_version = promoted
                log.info("text model %s", self._model.version)
            return self._model

    def secrets(self) -> "ApiSecrets":
        """The API's tokens and webhook secret (read from settings once)."""
        with self._lock:
            if self._secrets is None:
                from cliniloop.services.core.access import api_secrets

                self._secrets = api_secrets(self.settings)
            return self._secrets

    def label_studio(self) -> "LabelStudioClient":
        """A client for the configured Label Studio server."""
        with self._lock:
            if self._client is None:
                from cliniloop.connectors.label_studio.client import LabelStudioClient

                self._client = LabelStudioClient(self.settings.label_studio_url, self.settings.label_studio_api_key)
            return self._client

    def reconciler(self) -> "Reconciler":
        """The webhook reconciler (its thread starts on the first event)."""
        with self._lock:
            if self._reconciler is None:
                from cliniloop.services.api.reconciler import Reconciler

                self._reconciler = Reconciler(self)
            return self._reconciler

    def enqueue_job(self, kind: str, params: dict[str, Any] | None = None, requested_by: str | None = None) -> int:
        """Queue a job (coalesced with a queued one of its kind), wake the worker, return the job id."""
        from cliniloop.services.loop.jobs import enqueue_job

        job_id = enqueue_job(self.store, kind, params, requested_by)
        if self.worker is not None:
            self.worker.wake()
        return job_id
