"""Modality-neutral domain schemas: regions, predictions and annotations.

A *region* is one labelled piece of a task: a character span of a note, a time range or
instant of a signal, or a rectangle or mask on an image. Predictions and annotations are
lists of regions, so every modality shares the store, the sampler and the connectors.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Modality = Literal["text", "ecg", "eeg", "image"]


def new_region_id() -> str:
    """Return a short random region id (Label Studio uses 10-character ids)."""
    return uuid.uuid4().hex[:10]


class _RegionBase(BaseModel):
    """Fields shared by every region kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=new_region_id)
    label: str
    probability: float | None = Field(default=None, ge=0.0, le=1.0)
    attributes: dict[str, Any] = Field(default_factory=dict)


class TextSpan(_RegionBase):
    """A character span ``[start, end)`` of a text task."""

    kind: Literal["span"] = "span"
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str

    @model_validator(mode="after")
    def _ordered(self) -> "TextSpan":
        if self.end <= self.start:
            raise ValueError(f"span end ({self.end}) must be after start ({self.start})")
        return self


class TimeRange(_RegionBase):
    """A time range of a signal task, in seconds from the start of the task's window."""

    kind: Literal["range"] = "range"
    start_s: float = Field(ge=0.0)
    end_s: float = Field(ge=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> "TimeRange":
        if self.end_s < self.start_s:
            raise ValueError(f"range end_s ({self.end_s}) is before start_s ({self.start_s})")
        return self


class TimeInstant(_RegionBase):
    """A single instant of a signal task (e.g. an R peak), in seconds."""

    kind: Literal["instant"] = "instant"
    time_s: float = Field(ge=0.0)


class Rectangle(_RegionBase):
    """An axis-aligned box on an image, in pixels of the original image."""

    kind: Literal["rect"] = "rect"
    x: float = Field(ge=0.0)
    y: float = Field(ge=0.0)
    width: float = Field(gt=0.0)
    height: float = Field(gt=0.0)
    image_width: int = Field(gt=0)
    image_height: int = Field(gt=0)


class Mask(_RegionBase):
    """A binary mask on an image, run-length encoded (COCO-style counts, column-major)."""

    kind: Literal["mask"] = "mask"
    counts: list[int]
    image_width: int = Field(gt=0)
    image_height: int = Field(gt=0)


Region = Annotated[TextSpan | TimeRange | TimeInstant | Rectangle | Mask, Field(discriminator="kind")]


class RegionList(BaseModel):
    """Wrapper used to validate and (de)serialise a list of regions."""

    regions: list[Region] = Field(default_factory=list)


def regions_to_json(regions: list[Region]) -> list[dict[str, Any]]:
    """Serialise regions to plain JSON-able dicts."""
    return [r.model_dump(mode="json") for r in regions]


def regions_from_json(items: list[dict[str, Any]]) -> list[Region]:
    """Validate plain dicts back into region objects."""
    return list(RegionList.model_validate({"regions": items}).regions)


class TaskIn(BaseModel):
    """A task before it is stored: what ingest produces."""

    id: str
    modality: Modality
    source_uri: str
    data: dict[str, Any]


class PredictionIn(BaseModel):
    """A model's output for one task.

    Attributes
    ----------
    score : float
        Model confidence for the whole task in [0, 1] (low = uncertain); sent to Label Studio.
    uncertainty : float
        The sampler's value in [0, 1] (high = ask a human first).
    """

    task_id: str
    model_name: str
    model_version: str
    taxonomy_version: str
    regions: list[Region]
    score: float = Field(ge=0.0, le=1.0)
    uncertainty: float = Field(ge=0.0, le=1.0)


class AnnotationIn(BaseModel):
    """A human annotation as pulled from a labelling tool."""

    task_id: str
    source: str = "label_studio"
    source_annotation_id: str
    annotator: str | None = None
    regions: list[Region]
    lead_time_s: float | None = None
    model_version: str | None = None
    taxonomy_version: str | None = None


VERDICTS = ("accept", "alternative", "reject", "needs_review")


class CodeVerdictIn(BaseModel):
    """A coder's verdict on one mention for one code system (a row of the validated mapping table).

    ``code`` is the accepted candidate (``accept``) or the coder's own code (``alternative``),
    empty for ``reject`` and ``needs_review``. ``valid=False`` marks an alternative code the
    code system does not know (``problem`` says why); it is stored but never counts as validated.
    """

    task_id: str | None = None
    mention: str
    normalized_mention: str
    context: str = ""
    system: str
    code: str = ""
    display: str = ""
    coder: str
    verdict: Literal["accept", "alternative", "reject", "needs_review"]
    valid: bool = True
    problem: str | None = None
    source_annotation_id: str
    taxonomy_version: str
