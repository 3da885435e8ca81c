from __future__ import annotations

import pytest
from pydantic import ValidationError

from cliniloop.services.core.schemas import Mask, Rectangle, TextSpan, TimeInstant, TimeRange, regions_from_json, regions_to_json


def test_every_region_kind_round_trips() -> None:
    regions = [
        TextSpan(start=3, end=9, text="asthma", label="Problem", probability=0.8, attributes={"assertion": "family"}),
        TimeRange(start_s=1.0, end_s=2.5, label="seizure"),
        TimeInstant(time_s=0.42, label="N"),
        Rectangle(x=1, y=2, width=3, height=4, image_width=640, image_height=480, label="WBC"),
        Mask(counts=[0, 4, 12], image_width=4, image_height=4, label="nucleus"),
    ]
    assert regions_from_json(regions_to_json(regions)) == regions


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "span", "start": 5, "end": 5, "text": "", "label": "Problem"},
        {"kind": "range", "start_s": 2.0, "end_s": 1.0, "label": "x"},
        {"kind": "span", "start": 0, "end": 2, "text": "ab", "label": "Problem", "probability": 1.5},
        {"kind": "circle", "label": "x"},
    ],
)
def test_invalid_regions_are_rejected(bad: dict) -> None:
    with pytest.raises(ValidationError):
        regions_from_json([bad])
