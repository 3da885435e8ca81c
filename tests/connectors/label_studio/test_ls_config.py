"""The text label config: well-formed, complete, parsed by the SDK's LabelInterface."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from label_studio_sdk.label_interface import LabelInterface

from connectors.label_studio.config import ASSERTION_TAG, ENTITY_TAG, TEXT_TAG, text_label_config
from taxonomies.label_schemas import LabelSchema, LabelValue, load_label_schema

FIXTURES = Path(__file__).parent / "fixtures"


def test_config_lists_every_label_with_its_colour_and_every_assertion() -> None:
    schema = load_label_schema("clinical_text")
    root = ET.fromstring(text_label_config(schema))

    labels = root.find(f"Labels[@name='{ENTITY_TAG}']")
    assert labels is not None and labels.get("toName") == TEXT_TAG
    assert [(lab.get("value"), lab.get("background")) for lab in labels.findall("Label")] == [
        (lab.value, lab.background) for lab in schema.entity_labels
    ]
    text = root.find(f"Text[@name='{TEXT_TAG}']")
    assert text is not None and text.get("value") == "$text"
    assert text.get("granularity") == "symbol"  # exact character offsets (see config docstring)

    view = root.find("View[@visibleWhen='region-selected']")
    assert view is not None and view.get("whenTagName") == ENTITY_TAG
    choices = view.find(f"Choices[@name='{ASSERTION_TAG}']")
    assert choices is not None
    assert (choices.get("toName"), choices.get("perRegion"), choices.get("choice")) == (TEXT_TAG, "true", "single")
    assert [c.get("value") for c in choices.findall("Choice")] == schema.assertion_values


def test_label_interface_parses_the_config() -> None:
    li = LabelInterface(text_label_config(load_label_schema("clinical_text")))
    entity = li.get_control(ENTITY_TAG)
    assert set(entity.labels) == set(load_label_schema("clinical_text").label_values)
    assert li.get_control(ASSERTION_TAG).to_name == [TEXT_TAG]
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
    assert root.find("View") is None  # no assertion block without assertions


def test_fixture_config_is_the_current_config() -> None:
    """The fixtures were exported under this config; regenerate them when it changes."""
    current = text_label_config(load_label_schema("clinical_text"))
    assert (FIXTURES / "label_config.xml").read_text(encoding="utf-8").strip() == current.strip(), (
        "config changed: run tests/connectors/label_studio/fixtures/regenerate.py"
    )


def test_phi_control_lists_every_identifier_type() -> None:
    from connectors.label_studio.config import PHI_TAG
    from models.text.deid.types import PHI_TYPES

    phi = load_label_schema("phi")
    assert phi.label_values == list(PHI_TYPES)
    li = LabelInterface(text_label_config(load_label_schema("clinical_text"), phi_schema=phi))
    control = li.get_control(PHI_TAG)
    assert control.to_name == [TEXT_TAG] and list(control.labels) == list(PHI_TYPES)
    assert set(li.get_control(ENTITY_TAG).labels) == set(load_label_schema("clinical_text").label_values)
