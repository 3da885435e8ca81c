"""Per-application state: the store, the lazily built text model and the Label Studio client.

Kept on ``app.state`` (not module globals), built on first use, so importing the app is cheap
and tests can build as many apps as they like.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from services.core.settings import Settings
from services.core.store import Store

if TYPE_CHECKING:
    from connectors.label_studio.client import LabelStudioClient
    from services.loop.predict import TextModel


@dataclass
class AppState:
    """What the routes need; heavy members are created on first use."""

    settings: Settings
    store: Store
    _model: "TextModel | None" = None
    _client: "LabelStudioClient | None" = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def text_model(self) -> "TextModel":
        """The clinical-text model, built once per app (takes seconds: never call at import)."""
        with self._lock:
            if self._model is None:
                from models.text import ClinicalTextAnnotator

                self._model = ClinicalTextAnnotator().fit()
            return self._model

    def label_studio(self) -> "LabelStudioClient":
        """A client for the configured Label Studio server."""
        with self._lock:
            if self._client is None:
                from connectors.label_studio.client import LabelStudioClient

                self._client = LabelStudioClient(self.settings.label_studio_url, self.settings.label_studio_api_key)
            return self._client
