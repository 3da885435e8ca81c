"""Label Studio labelling configs (XML) built from our label schemas.

The tag names below are the contract between the config, :mod:`connectors.label_studio.convert`
and every prediction we send: a result's ``from_name``/``to_name`` must name these tags.

Text granularity
----------------
Label Studio's ``granularity`` attribute on ``<Text>`` only changes how a *new* selection (or a
drag of a region's edge handle) is snapped in the browser; imported predictions are drawn and
saved at their exact character offsets whatever the granularity (Label Studio 1.23.2 frontend
sources ``RichText/view.jsx``, ``utils/selection-tools.js``; checked in headless Chromium: a
predicted ``metformin`` ending mid-word in ``metformin500mg`` renders and serialises as
``[6, 15)`` under both). ``"word"`` does, however, snap human selections to the browser's word
breaks: selecting ``500`` in ``metformin500mg`` saved ``metformin500mg``, ``CABG`` in ``CABGx3``
saved ``CABGx3``, so annotators could not draw or correct sub-word spans and human spans would
follow another convention than the model's. We use ``"symbol"`` (character granularity, Label
Studio's default): every offset, predicted or human, is exactly the characters selected.
"""

from __future__ import annotations

from typing import Literal
from xml.sax.saxutils import quoteattr

from taxonomies.label_schemas import LabelSchema

#: ``name`` of the ``<Text>`` object tag; ``to_name`` of every text result.
TEXT_TAG = "text"
#: Task data key holding the note text (``value="$text"``).
TEXT_DATA_KEY = "text"
#: ``name`` of the ``<Labels>`` control holding entity labels; ``from_name`` of span results.
ENTITY_TAG = "entity"
#: ``name`` of the per-span ``<Choices>`` control holding the assertion.
ASSERTION_TAG = "assertion"
#: ``name`` of the ``<Labels>`` control where annotators mark identifiers de-identification missed.
PHI_TAG = "phi"
#: Region attribute key that the assertion choice maps to (``Region.attributes[...]``).
ASSERTION_ATTRIBUTE = "assertion"

Granularity = Literal["symbol", "word"]


def _attrs(**attrs: str | None) -> str:
    """Render XML attributes (``None`` values are left out, values are escaped)."""
    return " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items() if v is not None)


def text_label_config(
    schema: LabelSchema, granularity: Granularity = "symbol", phi_schema: LabelSchema | None = None
) -> str:
    """Build the NER + per-span assertion config for a text label schema.

    Parameters
    ----------
    schema : LabelSchema
        The schema whose ``entity_labels`` become ``<Label>`` values (with their background
        colours and hints) and whose ``assertions`` become per-region ``<Choice>`` values.
    granularity : {"symbol", "word"}, default "symbol"
        Selection granularity of the ``<Text>`` tag; see the module docstring for why
        ``"symbol"`` is the default.
    phi_schema : LabelSchema, optional
        The ``phi`` schema: adds a second ``<Labels>`` control (:data:`PHI_TAG`) so annotators
        can mark identifiers that de-identification missed, typed by identifier kind.

    Returns
    -------
    str
        The ``<View>`` XML to use as a project's ``label_config``.
    """
    labels = "\n".join(
        f"    <Label {_attrs(value=lab.value, background=lab.background, hint=lab.hint)}/>"
        for lab in schema.entity_labels
    )
    parts = [
        "<View>",
        f'  <Labels name="{ENTITY_TAG}" toName="{TEXT_TAG}">',
        labels,
        "  </Labels>",
    ]
    if phi_schema is not None:
        phi_labels = "\n".join(
            f"    <Label {_attrs(value=lab.value, background=lab.background, hint=lab.hint)}/>"
            for lab in phi_schema.entity_labels
        )
        parts += [
            '  <Header value="Missed identifier? Mark it with its type (it is removed before anyone else sees the note)" size="6"/>',
            f'  <Labels name="{PHI_TAG}" toName="{TEXT_TAG}">',
            phi_labels,
            "  </Labels>",
        ]
    parts.append(f'  <Text name="{TEXT_TAG}" value="${TEXT_DATA_KEY}" granularity="{granularity}"/>')
    if schema.assertions:
        choices = "\n".join(f"      <Choice {_attrs(value=a.value, hint=a.hint)}/>" for a in schema.assertions)
        parts += [
            f'  <View visibleWhen="region-selected" whenTagName="{ENTITY_TAG}">',
            '    <Header value="Assertion"/>',
            f'    <Choices name="{ASSERTION_TAG}" toName="{TEXT_TAG}" perRegion="true" choice="single">',
            choices,
            "    </Choices>",
            "  </View>",
        ]
    parts.append("</View>")
    return "\n".join(parts)
