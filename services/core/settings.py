"""Settings, read once from the environment (prefix ``CLINILOOP_``) and a ``.env`` file.

Use :func:`get_settings` everywhere; never read ``os.environ`` directly.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration.

    Attributes
    ----------
    var_dir : Path
        Folder for local state (SQLite file, Label Studio data, model artifacts).
    database_url : str | None
        SQLAlchemy URL. ``None`` means a SQLite file ``<var_dir>/cliniloop.sqlite3``;
        PostgreSQL works with ``postgresql+psycopg://user:pw@host/db``.
    label_studio_url : str
        Base URL of the Label Studio server.
    label_studio_api_key : str | None
        Legacy token or personal access token (JWT refresh token).
    label_studio_project : str
        Title of the Label Studio project cliniloop manages for clinical text.
    api_url : str
        Public base URL of the cliniloop API as Label Studio must reach it (webhooks, ML backend).
    max_note_bytes : int
        Notes larger than this (bytes) are rejected at ingest.
    """

    model_config = SettingsConfigDict(env_prefix="CLINILOOP_", env_file=".env", extra="ignore")

    var_dir: Path = Path("var")
    database_url: str | None = None
    label_studio_url: str = "http://127.0.0.1:8080"
    label_studio_api_key: str | None = None
    label_studio_project: str = "cliniloop clinical text"
    api_url: str = "http://127.0.0.1:8000"
    max_note_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    push_batch_size: int = Field(default=100, gt=0)

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under ``var_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'cliniloop.sqlite3').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (cached; call ``get_settings.cache_clear()`` in tests)."""
    return Settings()
