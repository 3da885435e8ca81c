"""The text label config: well-formed, complete, parsed by the SDK's LabelInterface."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from label_studio_sdk.label_interface import LabelInterface

from cliniloop.connectors.label_studio.config import ASSERTION_MARKS, DEFAULT_ASSERTION, ENTITY_TAG, TEXT_TAG, text_label_config
from cliniloop.taxonomies.label_schemas import LabelSchema, LabelValue, load_label_schema

FIXTURES = Path(__file__).parent / "fixtures"


def test_config_lists_every_label_with_its_colour_and_every_assertion() -> None:
    schema = load_label_schema("clinical_text")
    root = ET.fromstring(text_label_config(schema))

    labels = root.find(f"Labels[@name='{ENTITY_TAG}']")
    assert labels is not None and labels.get("toName") == TEXT_TAG
    marks = [a for a in schema.assertion_values if a != DEFAULT_ASSERTION]
    assert [(lab.get("value"), lab.get("background")) for lab in labels.findall("Label")] == [
        (lab.value, lab.background) for lab in schema.entity_labels
    ] + [(m, ASSERTION_MARKS[m][0]) for m in marks]
    assert labels.get("choice") == "multiple"  # an entity label and, when not present, its assertion mark
    assert set(marks) == set(ASSERTION_MARKS), "every non-default assertion of the schema has a mark"
    text = root.find(f"Text[@name='{TEXT_TAG}']")
    assert text is not None and text.get("value") == "$text"
    assert text.get("granularity") == "symbol"  # exact character offsets (see config docstring)
    assert text.get("showLabels") == "true"  # each span's labels (and mark) right after it
    # the marks are drawn on the span: one style rule per mark; no control below the note
    style = root.find("Style")
    assert style is not None and all(f'[data-label*=",{m}"]' in (style.text or "") for m in marks)
    assert root.find("View") is None and root.find("Choices") is None
    assert list(root).index(labels) < list(root).index(text)


def test_label_interface_parses_the_config() -> None:
    li = LabelInterface(text_label_config(load_label_schema("clinical_text")))
    entity = li.get_control(ENTITY_TAG)
    schema = load_label_schema("clinical_text")
    assert set(entity.labels) == set(schema.label_values) | set(schema.assertion_values) - {DEFAULT_ASSERTION}
    assert entity.to_name == [TEXT_TAG]
    assert li.get_object(TEXT_TAG).value == "$text"


def test_special_characters_are_escaped_and_assertions_are_optional() -> None:
    schema = LabelSchema(
        name="t",
        version="1",
        modality="text",
        entity_labels=[LabelValue(value='A&B "quoted" <x>', hint="it's")],
    )
    xml = text_label_config(schema, granularity="word")
    root = ET.fromstring(xml)
    assert root.find("Labels/Label").get("value") == 'A&B "quoted" <x>'
    assert root.find(f"Text[@name='{TEXT_TAG}']").get("granularity") == "word"
    assert root.find("Style") is None and root.find("Labels").get("choice") is None  # no marks without assertions


def test_fixture_config_is_the_earlier_config() -> None:
    """The fixtures were exported under the earlier config (assertion as a per-region choice below the
    note): they stand for annotations made before the assertion marks, which must still be read."""
    fixture = (FIXTURES / "label_config.xml").read_text(encoding="utf-8")
    assert '<Choices name="assertion" toName="text" perRegion="true"' in fixture


def test_phi_control_lists_every_identifier_type() -> None:
    from cliniloop.connectors.label_studio.config import PHI_TAG
    from cliniloop.models.text.deid.types import PHI_TYPES

    phi = load_label_schema("phi")
    assert phi.label_values == list(PHI_TYPES)
    li = LabelInterface(text_label_config(load_label_schema("clinical_text"), phi_schema=phi))
    control = li.get_control(PHI_TAG)
    assert control.to_name == [TEXT_TAG] and list(control.labels) == list(PHI_TYPES)
    assert set(load_label_schema("clinical_text").label_values) <= set(li.get_control(ENTITY_TAG).labels)
