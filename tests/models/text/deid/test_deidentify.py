"""De-identification of a whole note."""

from __future__ import annotations

import json
import re
from datetime import datetime

from cliniloop.models.text.deid.deidentify import deidentify
from cliniloop.models.text.deid.surrogates import SurrogateGenerator
from cliniloop.models.text.deid.types import PhiSpan

NOTE = (
    "Patient John Smith (MRN 00123456), a 92-year-old man, was seen on 03/04/2021 by Dr. Jane Doe.\n"
    "Lives at 123 Main Street, Boston. Call (617) 555-1234 or write to jsmith@gmail.com.\n"
    "Follow-up on April 8, 2021. Mr. Smith agreed."
)


def _span(text: str, phi_type: str, nth: int = 0, score: float = 1.0) -> PhiSpan:
    start = [m.start() for m in re.finditer(re.escape(text), NOTE)][nth]
    return PhiSpan(start, start + len(text), phi_type, score)


SPANS = [
    _span("John Smith", "NAME"),
    _span("00123456", "MRN"),
    _span("92", "AGE"),
    _span("03/04/2021", "DATE"),
    _span("Jane Doe", "NAME"),
    _span("123 Main Street", "LOCATION"),
    _span("Boston", "LOCATION"),
    _span("(617) 555-1234", "PHONE"),
    _span("jsmith@gmail.com", "EMAIL"),
    _span("April 8, 2021", "DATE"),
    _span("Smith", "NAME", nth=1),
    # overlapping detections, resolved before replacement
    _span("Smith", "NAME", score=0.4),
    _span("Main Street", "LOCATION", score=0.3),
]
ORIGINALS = ["John", "Smith", "00123456", "03/04/2021", "Jane", "Doe", "Main Street", "Boston", "555-1234", "jsmith",
             "gmail", "April 8"]  # fmt: skip


def test_no_original_identifier_remains() -> None:
    result = deidentify(NOTE, SPANS, SurrogateGenerator(b"k", "patient-1"))
    for original in ORIGINALS:
        assert original not in result.text
    assert "90+-year-old" in result.text
    assert "Dr. " in result.text and "Mr. " in result.text


def test_counts_and_json() -> None:
    result = deidentify(NOTE, SPANS, SurrogateGenerator(b"k", "patient-1"))
    assert result.counts == {"AGE": 1, "DATE": 2, "EMAIL": 1, "LOCATION": 2, "MRN": 1, "NAME": 3, "PHONE": 1}
    assert list(result.counts) == sorted(result.counts)
    data = result.to_json()
    assert set(data) == {"counts", "offsets"}
    assert len(data["offsets"]) == 11
    dumped = json.dumps(data)
    for original in ORIGINALS:
        assert original not in dumped


def test_offsets_map_plain_words() -> None:
    result = deidentify(NOTE, SPANS, SurrogateGenerator(b"k", "patient-1"))
    for word in ("Patient", "man", "seen", "Lives", "write", "Follow-up", "agreed"):
        start = NOTE.index(word)
        a, b = result.offsets.span_to_deid(start, start + len(word))
        assert result.text[a:b] == word
        assert result.offsets.span_to_original(a, b) == (start, start + len(word))
    name = SPANS[0]
    a, b = result.offsets.span_to_deid(name.start, name.end)
    assert result.text[a:b] == SurrogateGenerator(b"k", "patient-1").surrogate("NAME", "John Smith")


def test_consistent_names_and_intervals() -> None:
    gen = SurrogateGenerator(b"k", "patient-1")
    result = deidentify(NOTE, SPANS, gen)
    last = gen.surrogate("NAME", "John Smith").split()[-1]
    assert f"Mr. {last} agreed" in result.text
    first = re.search(r"seen on (\S+) by", result.text).group(1)
    second = re.search(r"Follow-up on (.+?)\. Mr", result.text).group(1)
    days = (datetime.strptime(second, "%B %d, %Y") - datetime.strptime(first, "%m/%d/%Y")).days
    assert days == 35


def test_empty_and_punctuation_spans() -> None:
    gen = SurrogateGenerator(b"k", "patient-1")
    assert deidentify("nothing here", [], gen).text == "nothing here"
    result = deidentify("a - b", [PhiSpan(1, 4, "MRN")], gen)
    assert result.text == "a - b"
    assert result.counts == {}
