"""Label Studio labelling configs (XML) built from our label schemas.

The tag names below are the contract between the config, :mod:`cliniloop.connectors.label_studio.convert`
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

from cliniloop.taxonomies.label_schemas import LabelSchema

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
#: The assertion a span has when it carries no assertion mark.
DEFAULT_ASSERTION = "present"
#: Assertion marks: extra ``<Label>`` values of the entity control (the schema's assertions but the
#: default), with the background of their button and how the marked span's text is drawn. A span's
#: labels are ``[entity]`` or ``[entity, mark]``; the highlight's ``data-label`` then reads e.g.
#: ``"3:Problem,absent"``, which the ``<Style>`` rules below select on.
ASSERTION_MARKS: dict[str, tuple[str, str]] = {
    "absent": ("#343a40", "text-decoration: line-through 2px #212529"),
    "possible": ("#f08c00", "text-decoration: underline wavy 2px #f08c00"),
    "hypothetical": ("#1098ad", "text-decoration: underline dashed 2px #1098ad"),
    "historical": ("#5c940d", "text-decoration: underline dotted 3px #5c940d"),
    "family": ("#ae3ec9", "text-decoration: underline double 3px #ae3ec9"),
}

Granularity = Literal["symbol", "word"]


def _attrs(**attrs: str | None) -> str:
    """Render XML attributes (``None`` values are left out, values are escaped)."""
    return " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items() if v is not None)


def assertion_style() -> str:
    """The ``<Style>`` rules that draw each assertion mark on the highlighted span (and its inline label)."""
    rules = [
        f'.htx-highlight[data-label*=",{mark}"] {{ {css}; text-decoration-skip-ink: none; }}'
        for mark, (_bg, css) in ASSERTION_MARKS.items()
    ]
    # the inline label after each span (``showLabels``): readable, not the 9-px monospace default
    rules.append(".htx-highlight[data-label]::after { font-size: 11px !important; font-family: sans-serif !important; }")
    return "\n".join(f"    {r}" for r in rules)


def text_label_config(
    schema: LabelSchema, granularity: Granularity = "symbol", phi_schema: LabelSchema | None = None
) -> str:
    """Build the NER + assertion config for a text label schema.

    Every span shows its labels inline (``<Text showLabels="true">``). The assertion is a mark on
    the span, not a control below the note: the entity control takes several labels
    (``choice="multiple"``) and offers, after the entity labels, one label per non-default
    assertion (:data:`ASSERTION_MARKS`). A span reads ``Problem`` (present) or ``Problem,absent``
    right after its text, and a ``<Style>`` rule draws each mark differently (absent struck
    through, possible wavy, hypothetical dashed, historical dotted, family double underline). An
    annotator changes a span's assertion by selecting the span and clicking the mark at the top,
    next to the entity labels (clicking it again clears it: present). Results of the earlier
    config (a per-region ``assertion`` choice) are still read by :mod:`cliniloop.connectors.label_studio.convert`.

    Parameters
    ----------
    schema : LabelSchema
        The schema whose ``entity_labels`` become ``<Label>`` values (with their background
        colours and hints) and whose ``assertions`` (but :data:`DEFAULT_ASSERTION`) become marks.
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
    labels = [
        f"    <Label {_attrs(value=lab.value, background=lab.background, hint=lab.hint)}/>"
        for lab in schema.entity_labels
    ]
    marks = [a for a in schema.assertions if a.value != DEFAULT_ASSERTION]
    labels += [
        f"    <Label {_attrs(value=a.value, background=ASSERTION_MARKS.get(a.value, ('#495057', ''))[0], hint=f'assertion: {a.hint}' if a.hint else 'assertion')}/>"
        for a in marks
    ]
    parts = ["<View>"]
    if marks:
        parts += ["  <Style>", assertion_style(), "  </Style>"]
    parts += [
        f'  <Labels {_attrs(name=ENTITY_TAG, toName=TEXT_TAG, choice="multiple" if marks else None)}>',
        "\n".join(labels),
        "  </Labels>",
    ]
    if marks:
        parts.append(
            '  <Header value="Assertion: select a span, then click absent, possible, hypothetical, historical or family '
            '(again to clear: present)" size="6"/>'
        )
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
    parts.append(f'  <Text name="{TEXT_TAG}" value="${TEXT_DATA_KEY}" granularity="{granularity}" showLabels="true"/>')
    parts.append("</View>")
    return "\n".join(parts)
