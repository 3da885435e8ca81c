"""The coders' project: config, task payload with dynamic candidates, reading verdicts back."""

from __future__ import annotations

import pytest

from cliniloop.connectors.label_studio.client import validation_errors
from cliniloop.connectors.label_studio.coding import (
    CodingResultError,
    coder_label_config,
    coder_result,
    coder_result_json,
    coder_task_payload,
    parse_alternative,
)

CANDIDATES = [
    {"system": "icd10cm", "code": "I10", "display": "Essential (primary) hypertension", "score": 0.93},
    {"system": "snomed", "code": "38341003", "display": "Hypertensive disorder", "score": 0.88},
    {"system": "icd10cm", "code": "I11.9", "display": "Hypertensive heart disease <without> heart failure", "score": 0.4},
]


def test_payload_has_dynamic_choices_with_escaped_html() -> None:
    task = coder_task_payload("HTN", "PMH: HTN, on lisinopril.", CANDIDATES, {"task_id": "abc", "start": 5})
    data = task["data"]
    assert [c["value"] for c in data["candidates"]] == ["icd10cm:I10", "snomed:38341003", "icd10cm:I11.9"]
    assert "<b>I10</b>" in data["candidates"][0]["html"] and "SNOMED CT" in data["candidates"][1]["html"]
    assert "&lt;without&gt;" in data["candidates"][2]["html"]
    assert data["meta"] == {"task_id": "abc", "start": 5}
    assert 'value="$candidates"' in coder_label_config()


def test_results_fit_the_config_and_read_back() -> None:
    result = coder_result_json("accept", [("icd10cm", "I10"), ("snomed", "38341003")], "icd10cm:I11.9")
    assert validation_errors(coder_label_config(), result) == []
    got = coder_result(result)
    assert got.verdict == "accept" and got.chosen == [("icd10cm", "I10"), ("snomed", "38341003")]
    assert got.alternative == ("icd10cm", "I11.9")
    assert coder_result(coder_result_json("reject")).verdict == "reject"
    assert coder_result(coder_result_json("needs_review")).chosen == []


def test_missing_or_unknown_verdict_is_named() -> None:
    with pytest.raises(CodingResultError, match="no verdict"):
        coder_result(coder_result_json("accept")[1:])
    bad = [{"from_name": "verdict", "to_name": "context", "type": "choices", "value": {"choices": ["maybe"]}}]
    with pytest.raises(CodingResultError, match="verdict: expected one of"):
        coder_result(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("  ", None),
        ("icd10cm:E11.65", ("icd10cm", "E11.65")),
        ("ICD-10:e1165", ("icd10cm", "e1165")),
        ("SNOMED CT:44054006", ("snomed", "44054006")),
        ("44054006", ("snomed", "44054006")),
        ("E11.65", ("icd10cm", "E11.65")),
        ("diabetes", ("unknown", "diabetes")),
    ],
)
def test_alternative_codes_are_split_by_system(text: str, expected: tuple[str, str] | None) -> None:
    assert parse_alternative(text) == expected


def test_span_code_candidates_travel_as_region_meta() -> None:
    from cliniloop.connectors.label_studio.config import text_label_config
    from cliniloop.connectors.label_studio.convert import CODES_ATTRIBUTE, regions_to_result, result_to_regions
    from cliniloop.services.core.schemas import TextSpan
    from cliniloop.taxonomies.label_schemas import load_label_schema

    span = TextSpan(start=5, end=8, text="HTN", label="Problem", probability=0.9,
                    attributes={"assertion": "present", CODES_ATTRIBUTE: CANDIDATES[:2]})  # fmt: skip
    result = regions_to_result([span])
    assert result[0]["meta"]["text"] == [
        "ICD-10-CM I10 Essential (primary) hypertension (0.93)\nSNOMED CT 38341003 Hypertensive disorder (0.88)"
    ]
    assert validation_errors(text_label_config(load_label_schema("clinical_text")), result) == []
    (back,) = result_to_regions(result)
    assert (back.start, back.end, back.label) == (5, 8, "Problem") and CODES_ATTRIBUTE not in back.attributes
