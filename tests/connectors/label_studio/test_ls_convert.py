"""Regions <-> Label Studio JSON, checked against JSON exported from a real Label Studio 1.23.2.

The fixtures come from ``fixtures/regenerate.py`` (see its docstring for what each holds).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from cliniloop.connectors.label_studio.client import InvalidPrediction, LabelStudioClient, validation_errors
from cliniloop.connectors.label_studio.config import ASSERTION_TAG, ENTITY_TAG, TEXT_TAG, text_label_config
from cliniloop.connectors.label_studio.convert import (
    ConversionError,
    annotation_from_ls,
    annotator_of,
    regions_to_result,
    result_to_regions,
    UnsupportedRegion,
    task_payload,
)
from cliniloop.services.core.schemas import PredictionIn, TextSpan, TimeRange
from cliniloop.taxonomies.label_schemas import load_label_schema

FIXTURES = Path(__file__).parent / "fixtures"
NOTE_2 = "Mother had breast cancer. Rule out pneumonia; chest x-ray ordered."


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def span(
    text: str, needle: str, label: str, assertion: str | None = None, p: float | None = None, rid: str | None = None
) -> TextSpan:
    start = text.index(needle)
    extra = {"id": rid} if rid else {}
    attrs = {"assertion": assertion} if assertion else {}
    return TextSpan(
        label=label, start=start, end=start + len(needle), text=needle, probability=p, attributes=attrs, **extra
    )


@pytest.fixture(scope="module")
def config() -> str:
    return text_label_config(load_label_schema("clinical_text"))


@pytest.fixture(scope="module")
def export() -> dict[str, dict[str, Any]]:
    """The JSON export, by our task id."""
    return {t["data"]["cliniloop_id"]: t for t in load("export_json.json")}


# -- regions -> result ---------------------------------------------------------------------
def test_span_with_assertion_becomes_one_labels_item_with_its_mark() -> None:
    region = span(NOTE_2, "pneumonia", "Problem", "possible", p=0.41, rid="abc123defg")
    [labels] = regions_to_result([region])
    value = {"start": 35, "end": 44, "text": "pneumonia"}
    assert labels == {
        "id": "abc123defg",
        "from_name": ENTITY_TAG,
        "to_name": TEXT_TAG,
        "type": "labels",
        "value": {**value, "labels": ["Problem", "possible"]},
        "score": 0.41,
    }
    # present is the span without a mark
    [present] = regions_to_result([span(NOTE_2, "pneumonia", "Problem", "present")])
    assert present["value"]["labels"] == ["Problem"]


def _present(region: TextSpan) -> TextSpan:
    """What a span without an assertion reads back as: present (no mark)."""
    return region if region.attributes else region.model_copy(update={"attributes": {"assertion": "present"}})


def test_span_without_assertion_or_probability_is_one_item_without_score() -> None:
    [item] = regions_to_result([span(NOTE_2, "chest x-ray", "Test")])
    assert item["type"] == "labels" and "score" not in item


def test_round_trip_keeps_ids_offsets_labels_assertions_and_probabilities() -> None:
    regions = [
        span(NOTE_2, "breast cancer", "Problem", "family", p=0.83),
        span(NOTE_2, "pneumonia", "Problem", "possible", p=0.0),
        span(NOTE_2, "chest x-ray", "Test", p=1.0),
        span(NOTE_2, "breast", "Anatomy"),
    ]
    assert result_to_regions(regions_to_result(regions)) == [_present(r) for r in regions]


def test_round_trip_survives_json_serialisation() -> None:
    regions = [span(NOTE_2, "pneumonia", "Problem", "absent", p=0.5)]
    assert result_to_regions(json.loads(json.dumps(regions_to_result(regions)))) == regions


def test_region_kinds_without_an_encoding_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from cliniloop.connectors.label_studio import convert

    monkeypatch.delitem(convert.ENCODERS, "range")
    with pytest.raises(UnsupportedRegion, match="range"):
        regions_to_result([TimeRange(label="AF", start_s=0.0, end_s=1.0)])


def test_eeg_event_ranges_round_trip_with_their_channels() -> None:
    event = TimeRange(label="seizure", start_s=3.25, end_s=11.5, probability=0.8, attributes={"channels": ["FP1-F7", "F7-T7"]})
    whole = TimeRange(label="artifact", start_s=0.0, end_s=2.0)
    result = regions_to_result([event, whole])
    assert [(i["from_name"], i["type"]) for i in result] == [("event", "timeserieslabels"), ("channel", "choices"), ("event", "timeserieslabels")]
    assert result[1]["value"]["choices"] == ["FP1-F7", "F7-T7"] and result[0]["value"]["instant"] is False
    back = result_to_regions(json.loads(json.dumps(result)))
    assert back == [event, whole]


# -- result -> regions ---------------------------------------------------------------------
def test_choices_before_their_span_are_merged_and_relations_ignored(caplog: pytest.LogCaptureFixture) -> None:
    """A per-region assertion choice (the earlier config) still sets the span's assertion, before or after it."""
    region = span(NOTE_2, "pneumonia", "Problem", "possible", rid="r1")
    [labels] = regions_to_result([span(NOTE_2, "pneumonia", "Problem", rid="r1")])
    choices = {"id": "r1", "from_name": ASSERTION_TAG, "to_name": TEXT_TAG, "type": "choices",
               "value": {**labels["value"], "choices": ["possible"]}}  # fmt: skip
    relation = {"from_id": "r1", "to_id": "r1", "type": "relation", "direction": "right"}
    with caplog.at_level(logging.WARNING):
        assert result_to_regions([choices, relation, labels]) == [region]
    assert not caplog.records


def test_unknown_from_name_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    region = span(NOTE_2, "pneumonia", "Problem", rid="r1")
    stranger = {
        "id": "zz",
        "from_name": "sentiment",
        "to_name": TEXT_TAG,
        "type": "choices",
        "value": {"choices": ["x"]},
    }
    with caplog.at_level(logging.WARNING, logger="cliniloop.connectors.label_studio.convert"):
        assert result_to_regions([stranger, *regions_to_result([region])]) == [_present(region)]
    assert "sentiment" in caplog.text


def test_orphan_choices_are_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    orphan = {
        "id": "gone",
        "from_name": ASSERTION_TAG,
        "to_name": TEXT_TAG,
        "type": "choices",
        "value": {"choices": ["absent"]},
    }
    with caplog.at_level(logging.WARNING, logger="cliniloop.connectors.label_studio.convert"):
        assert result_to_regions([orphan]) == []
    assert "gone" in caplog.text


def test_span_text_is_taken_from_the_task_when_missing() -> None:
    item = {
        "id": "a",
        "from_name": ENTITY_TAG,
        "to_name": TEXT_TAG,
        "type": "labels",
        "value": {"start": 35, "end": 44, "labels": ["Problem"]},
    }
    [region] = result_to_regions([item], task_text=NOTE_2)
    assert region.text == "pneumonia"
    with pytest.raises(ConversionError, match="no text"):
        result_to_regions([item])


def test_malformed_span_raises_conversion_error() -> None:
    item = {
        "id": "a",
        "from_name": ENTITY_TAG,
        "type": "labels",
        "value": {"start": 9, "end": 3, "text": "", "labels": ["Problem"]},
    }
    with pytest.raises(ConversionError, match="span a"):
        result_to_regions([item])


def test_several_labels_keep_the_first_and_empty_labels_drop(caplog: pytest.LogCaptureFixture) -> None:
    value = {"start": 35, "end": 44, "text": "pneumonia"}
    two = {"id": "a", "from_name": ENTITY_TAG, "type": "labels", "value": {**value, "labels": ["Problem", "Test"]}}
    none = {"id": "b", "from_name": ENTITY_TAG, "type": "labels", "value": {**value, "labels": []}}
    with caplog.at_level(logging.WARNING, logger="cliniloop.connectors.label_studio.convert"):
        [region] = result_to_regions([two, none])
    assert region.label == "Problem"
    assert "keeping the first" in caplog.text and "no entity label" in caplog.text


def test_scores_outside_0_1_are_not_probabilities() -> None:
    item = regions_to_result([span(NOTE_2, "pneumonia", "Problem")])[0] | {"score": 3.5}
    assert result_to_regions([item])[0].probability is None


# -- the real export -------------------------------------------------------------------------
def test_export_fixture_corrected_annotation(export: dict[str, dict[str, Any]]) -> None:
    [ann] = export["note-2"]["annotations"]
    parsed = annotation_from_ls(ann, "note-2")
    assert parsed is not None
    assert parsed.task_id == "note-2"
    assert parsed.source == "label_studio" and parsed.source_annotation_id == str(ann["id"])
    assert parsed.annotator == "1" and parsed.lead_time_s == 42.5
    got = {(r.id, r.text, r.start, r.end, r.label, r.attributes.get("assertion")) for r in parsed.regions}
    assert got == {
        ("n2-bc", "breast cancer", 11, 24, "Problem", "family"),
        ("n2-pna", "pneumonia", 35, 44, "Problem", "possible"),  # its choice came first in the result
        ("n2-cxr", "chest x-ray", 46, 57, "Procedure", "present"),  # relabelled from Test; no choice: present
        ("n2-new", "breast", 11, 17, "Anatomy", "present"),
    }
    text = export["note-2"]["data"]["text"]
    assert all(text[r.start : r.end] == r.text for r in parsed.regions)
    assert annotation_from_ls(ann, "note-2", task_text=text) == parsed
    assert all(r.probability is None for r in parsed.regions)


def test_export_fixture_predictions_parse_back_to_what_we_sent(export: dict[str, dict[str, Any]]) -> None:
    ann = export["note-1"]["annotations"][0]
    prediction = ann["prediction"]  # the JSON export inlines the task's prediction here
    assert prediction["model_version"] == "clinical-text@fixture" and prediction["score"] == pytest.approx(0.64)
    regions = result_to_regions(prediction["result"])
    assert [(r.id, r.label, r.attributes, r.probability) for r in regions] == [
        ("n1-cp", "Problem", {"assertion": "absent"}, 0.91),
        ("n1-met", "Medication", {"assertion": "present"}, 0.88),
        ("n1-dm", "Problem", {"assertion": "present"}, 0.64),
    ]


def test_export_fixture_boundary_correction(export: dict[str, dict[str, Any]]) -> None:
    accepted, widened = (annotation_from_ls(a, "note-1") for a in export["note-1"]["annotations"])
    assert accepted is not None and widened is not None
    met = {r.id: r for r in widened.regions}["n1-met"]
    assert (met.text, met.start, met.end) == ("metformin 500 mg", 35, 51)
    assert {r.id: r.text for r in accepted.regions}["n1-met"] == "metformin"
    # not started from the prediction (created by API), so no model version is claimed
    assert accepted.model_version is None


def test_export_fixture_skipped_is_none_and_empty_submit_is_kept(export: dict[str, dict[str, Any]]) -> None:
    anns = export["note-3"]["annotations"]
    skipped = [a for a in anns if a["was_cancelled"]]
    submitted = [a for a in anns if not a["was_cancelled"]]
    assert len(skipped) == 1 and len(submitted) == 1
    assert annotation_from_ls(skipped[0], "note-3") is None
    empty = annotation_from_ls(submitted[0], "note-3")
    assert empty is not None and empty.regions == []


def test_api_and_tasks_list_fixtures_parse_like_the_export(export: dict[str, dict[str, Any]]) -> None:
    from_export = annotation_from_ls(export["note-2"]["annotations"][0], "note-2")
    [from_api] = load("task_annotations.json")
    rows = {row["data"]["cliniloop_id"]: row for row in load("tasks_with_annotations.json")}
    [from_list] = rows["note-2"]["annotations"]
    assert annotation_from_ls(from_api, "note-2") == from_export
    assert annotation_from_ls(from_list, "note-2") == from_export
    assert [annotation_from_ls(a, "note-3") is None for a in rows["note-3"]["annotations"]] == [False, True]


def test_task_data_in_the_export_is_what_task_payload_built(export: dict[str, dict[str, Any]]) -> None:
    data = export["note-2"]["data"]
    assert data["cliniloop_id"] == "note-2" and data["uncertainty"] == pytest.approx(0.59)
    assert data["text"] == NOTE_2


# -- annotations, tasks ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("completed_by", "expected"),
    [
        (7, "7"),
        ({"id": 7, "email": "ann@example.org", "first_name": ""}, "ann@example.org"),
        ({"id": 7, "email": ""}, "7"),
        (None, None),
    ],
)
def test_annotator_is_the_email_or_the_id(completed_by: Any, expected: str | None) -> None:
    assert annotator_of(completed_by) == expected


def test_annotation_started_from_a_prediction_records_its_model_version() -> None:
    ann = {
        "id": 9,
        "result": [],
        "was_cancelled": False,
        "parent_prediction": 4,
        "prediction": {"id": 4, "model_version": "v7"},
        "completed_by": {"id": 2, "email": "a@b.org"},
        "lead_time": None,
    }
    parsed = annotation_from_ls(ann, "t")
    assert parsed is not None and parsed.model_version == "v7" and parsed.annotator == "a@b.org"
    assert parsed.lead_time_s is None


def test_task_payload_carries_our_id_uncertainty_and_scored_prediction() -> None:
    region = span(NOTE_2, "pneumonia", "Problem", "possible", p=0.4)
    pred = PredictionIn(
        task_id="t1",
        model_name="m",
        model_version="m@2",
        taxonomy_version="x",
        regions=[region],
        score=0.4,
        uncertainty=0.9,
    )
    payload = task_payload("t1", {"text": NOTE_2, "cliniloop_id": "overwritten"}, pred)
    assert payload == {
        "data": {"text": NOTE_2, "cliniloop_id": "t1", "uncertainty": 0.9},
        "predictions": [{"model_version": "m@2", "score": 0.4, "result": regions_to_result([region])}],
    }
    assert task_payload("t2", {"text": "x"}) == {"data": {"text": "x", "cliniloop_id": "t2"}}
    tiny = pred.model_copy(update={"uncertainty": 5.398969583347197e-08, "score": 1.0})
    assert task_payload("t3", {"text": "x"}, tiny)["data"]["uncertainty"] == 0.0  # a readable Data Manager column


# -- validation ----------------------------------------------------------------------------
def test_label_interface_accepts_our_results_and_the_exported_ones(
    config: str, export: dict[str, dict[str, Any]]
) -> None:
    regions = [span(NOTE_2, "breast cancer", "Problem", "family", p=0.8), span(NOTE_2, "chest x-ray", "Test")]
    assert validation_errors(config, regions_to_result(regions)) == []
    earlier = (FIXTURES / "label_config.xml").read_text(encoding="utf-8")  # what the export was made under
    for task in export.values():
        for ann in task["annotations"]:
            assert validation_errors(earlier, [r for r in ann["result"] if r.get("type") != "relation"]) == []


def test_validate_rejects_an_unknown_label_naming_the_task(config: str) -> None:
    good = regions_to_result([span(NOTE_2, "pneumonia", "Problem", "possible")])
    bad_label = regions_to_result([span(NOTE_2, "pneumonia", "Disease")])
    bad_choice = regions_to_result([span(NOTE_2, "pneumonia", "Problem", "maybe")])
    client = LabelStudioClient("http://127.0.0.1:9", "not-used-offline")
    client.validate(config, [good])
    with pytest.raises(InvalidPrediction, match="task note-7") as err:
        client.validate(config, {"note-1": good, "note-7": bad_label})
    assert err.value.task == "note-7" and "Disease" in str(err.value)
    with pytest.raises(InvalidPrediction, match=r"task #1 .*maybe"):
        client.validate(config, [good, bad_choice])


def test_validate_rejects_unknown_tags_and_unordered_offsets(config: str) -> None:
    [item] = regions_to_result([span(NOTE_2, "pneumonia", "Problem")])
    assert validation_errors(config, [item | {"from_name": "ner"}])
    assert validation_errors(config, [item | {"to_name": "note"}])
    assert validation_errors(config, [item | {"value": {**item["value"], "start": 50}}])


def test_ui_shaped_result_with_origin_and_leftover_score() -> None:
    """What the labelling UI saved (headless Chromium, Label Studio 1.23.2): ``origin`` keys, and
    the accepted prediction's span keeps its ``score``; the annotation must not claim it."""
    result = [
        {"value": {"start": 6, "end": 15, "text": "metformin", "labels": ["Medication"]}, "id": "pred1",
         "from_name": "entity", "to_name": "text", "type": "labels", "origin": "prediction", "score": 0.7},
        {"value": {"start": 15, "end": 18, "text": "500", "labels": ["Test"]}, "id": "8AqPEQ8x4g",
         "from_name": "entity", "to_name": "text", "type": "labels", "origin": "manual"},
    ]  # fmt: skip
    assert [r.probability for r in result_to_regions(result)] == [0.7, None]
    ann = annotation_from_ls({"id": 3, "result": result, "was_cancelled": False, "completed_by": 1}, "t")
    assert ann is not None
    assert [(r.id, r.text, r.probability) for r in ann.regions] == [
        ("pred1", "metformin", None),
        ("8AqPEQ8x4g", "500", None),
    ]


def test_line_breaks_in_ui_span_text_come_back_from_the_task_text(caplog: pytest.LogCaptureFixture) -> None:
    """The UI saved a selection over a line break as text ``'chest\\\\npain '`` (a literal
    backslash-n; checked in headless Chromium), with exact code-point offsets."""
    text = "HPI: chest\npain since 2 days."
    item = {"id": "a", "from_name": ENTITY_TAG, "to_name": TEXT_TAG, "type": "labels",
            "value": {"start": 5, "end": 16, "text": "chest\\npain ", "labels": ["Problem"]}}  # fmt: skip
    assert result_to_regions([item])[0].text == "chest\\npain "  # without the task text: as saved
    with caplog.at_level(logging.WARNING, logger="cliniloop.connectors.label_studio.convert"):
        [region] = result_to_regions([item], task_text=text)
    assert region.text == "chest\npain " and not caplog.records
    ann = annotation_from_ls({"id": 1, "result": [item], "completed_by": 1}, "t", task_text=text)
    assert ann is not None and ann.regions[0].text == "chest\npain "


def test_span_text_disagreeing_with_the_task_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    item = regions_to_result([span(NOTE_2, "pneumonia", "Problem")])[0]
    with caplog.at_level(logging.WARNING, logger="cliniloop.connectors.label_studio.convert"):
        [region] = result_to_regions([item], task_text="x" * 50)
    assert region.text == "x" * 9 and "differs from the task text" in caplog.text
