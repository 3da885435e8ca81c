"""Label schemas: which labels and per-region attributes each modality's tasks use."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field

SCHEMA_DIR = Path(__file__).parent


class LabelValue(BaseModel):
    """One label or choice value with display hints."""

    value: str
    background: str | None = None
    hint: str | None = None


class LabelSchema(BaseModel):
    """A modality's label schema (see ``clinical_text.json``)."""

    name: str
    version: str
    modality: str
    description: str = ""
    entity_labels: list[LabelValue] = Field(min_length=1)
    assertions: list[LabelValue] = Field(default_factory=list)

    @property
    def label_values(self) -> list[str]:
        """Entity label names, in display order."""
        return [lab.value for lab in self.entity_labels]

    @property
    def assertion_values(self) -> list[str]:
        """Assertion choice names, in display order."""
        return [a.value for a in self.assertions]

    @property
    def taxonomy_version(self) -> str:
        """Version string recorded with every prediction and label: ``name@version+sha``."""
        digest = hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:8]
        return f"{self.name}@{self.version}+{digest}"


@lru_cache(maxsize=8)
def load_label_schema(name: str = "clinical_text") -> LabelSchema:
    """Load a bundled label schema by name.

    Raises
    ------
    FileNotFoundError
        If no ``<name>.json`` exists next to this module.
    """
    path = SCHEMA_DIR / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no label schema {name!r} at {path}")
    return LabelSchema.model_validate(json.loads(path.read_text(encoding="utf-8")))
