"""Conversion between our regions/predictions/annotations and Label Studio JSON.

All Label Studio result JSON of the project is built and parsed here. A Label Studio *result*
is a list of items, each ``{"id", "from_name", "to_name", "type", "value", ...}``; several
items may share one region ``id`` (a span and its per-region choices).

Region kinds are handled by small per-kind encoders (:data:`ENCODERS`, keyed by
``Region.kind``) and decoders (:data:`DECODERS`, keyed by the control's ``from_name``), so
time-series and image kinds can be added beside the text span without touching the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from pydantic import ValidationError

from cliniloop.connectors.label_studio.coding import SYSTEM_NAMES
from cliniloop.connectors.label_studio.config import (
    ASSERTION_ATTRIBUTE,
    ASSERTION_MARKS,
    ASSERTION_TAG,
    DEFAULT_ASSERTION,
    ENTITY_TAG,
    PHI_TAG,
    TEXT_TAG,
)
from cliniloop.connectors.label_studio.ecg import BEAT_TAG, ECG_OBJECT
from cliniloop.connectors.label_studio.eeg import CHANNEL_TAG, CHANNELS_ATTRIBUTE, EEG_OBJECT, EVENT_TAG
from cliniloop.connectors.label_studio.errors import ConversionError, UnsupportedRegion
from cliniloop.connectors.label_studio.image import BOX_TAG, MASK_TAG, box_item, decode_box, decode_mask, mask_item
from cliniloop.services.core.schemas import AnnotationIn, Region, TextSpan, TimeInstant, TimeRange

log = logging.getLogger(__name__)

Result = list[dict[str, Any]]

#: Per-region ``<Choices>`` controls: ``from_name`` -> region attribute key.
PER_REGION_CHOICES: dict[str, str] = {ASSERTION_TAG: ASSERTION_ATTRIBUTE, CHANNEL_TAG: CHANNELS_ATTRIBUTE}
#: Per-region choices that keep every chosen value (a list), not just the first.
MULTIPLE_CHOICES = frozenset({CHANNEL_TAG})
#: Result types that carry no region of ours and are dropped without a warning.
IGNORED_TYPES = frozenset({"relation"})
#: Controls whose items are not entity regions (read by their own functions, e.g. :func:`phi_corrections`).
NON_REGION_CONTROLS = frozenset({PHI_TAG})


class PredictionLike(Protocol):
    """What :func:`task_payload` needs of a prediction (e.g. ``PredictionIn``)."""

    regions: Sequence[Region]
    score: float
    uncertainty: float
    model_version: str


#: Region attribute holding ranked code candidates: ``[{"system", "code", "display", "score"}]``.
CODES_ATTRIBUTE = "codes"


def code_candidates_text(codes: Sequence[Mapping[str, Any]]) -> str:
    """One line per candidate, ``"ICD-10-CM I10 Essential (primary) hypertension (0.93)"``, best first."""
    return "\n".join(
        f"{SYSTEM_NAMES.get(c.get('system', ''), c.get('system', ''))} {c.get('code', '')} {c.get('display', '')} "
        f"({float(c.get('score', 0.0)):.2f})"
        for c in codes
    )


# -- regions -> result ---------------------------------------------------------------------
def _text_span_items(region: TextSpan) -> Result:
    """A span: one ``labels`` item, ``[label]`` or ``[label, assertion mark]`` (the mark shows on the span)."""
    value = {"start": region.start, "end": region.end, "text": region.text}
    assertion = region.attributes.get(ASSERTION_ATTRIBUTE)
    labels = [region.label]
    if assertion is not None and str(assertion) != DEFAULT_ASSERTION:
        labels.append(str(assertion))  # an unknown one fails validation against the config
    item: dict[str, Any] = {
        "id": region.id,
        "from_name": ENTITY_TAG,
        "to_name": TEXT_TAG,
        "type": "labels",
        "value": {**value, "labels": labels},
    }
    if region.probability is not None:
        item["score"] = region.probability
    codes = region.attributes.get(CODES_ATTRIBUTE)
    if codes:
        # shown in the region's Info panel ("meta" text) when the annotator selects the span
        item["meta"] = {"text": [code_candidates_text(codes)]}
    return [item]


def _beat_items(region: TimeInstant) -> Result:
    """An ECG beat: an instant ``timeserieslabels`` region at ``time_s`` (s from the window start)."""
    item: dict[str, Any] = {
        "id": region.id,
        "from_name": BEAT_TAG,
        "to_name": ECG_OBJECT,
        "type": "timeserieslabels",
        "value": {"start": region.time_s, "end": region.time_s, "instant": True, "timeserieslabels": [region.label]},
    }
    if region.probability is not None:
        item["score"] = region.probability
    # shown in the Info panel when the annotator selects the beat: its time and class probabilities
    item["meta"] = {"text": [beat_summary(region)]}
    return [item]


def beat_summary(region: TimeInstant) -> str:
    """``"beat at 2.483 s of the window · N 0.97 · S 0.02 · V 0.01 · F 0.00 · Q 0.00"`` (probabilities best first)."""
    parts = [f"beat at {region.time_s:.3f} s of the window"]
    probs = region.attributes.get("probs")
    if isinstance(probs, Mapping) and probs:
        parts += [f"{c} {float(v):.2f}" for c, v in sorted(probs.items(), key=lambda kv: -float(kv[1]))]
    elif region.probability is not None:
        parts.append(f"{region.label} {region.probability:.2f} (detector only, not classified)")
    return " · ".join(parts)


def _event_items(region: TimeRange) -> Result:
    """An EEG event: a ``timeserieslabels`` range in s from the window start, plus its channel choices."""
    value = {"start": region.start_s, "end": region.end_s, "instant": False}
    item: dict[str, Any] = {
        "id": region.id,
        "from_name": EVENT_TAG,
        "to_name": EEG_OBJECT,
        "type": "timeserieslabels",
        "value": {**value, "timeserieslabels": [region.label]},
    }
    if region.probability is not None:
        item["score"] = region.probability
    items = [item]
    channels = region.attributes.get(CHANNELS_ATTRIBUTE)
    if channels:
        items.append(
            {"id": region.id, "from_name": CHANNEL_TAG, "to_name": EEG_OBJECT, "type": "choices", "value": {**value, "choices": list(channels)}}
        )
    return items


#: ``Region.kind`` -> function returning that region's result items.
ENCODERS: dict[str, Callable[[Any], Result]] = {
    "span": _text_span_items,
    "instant": _beat_items,
    "range": _event_items,
    "rect": lambda region: [box_item(region)],
    "mask": lambda region: [mask_item(region)],
}


def regions_to_result(regions: Sequence[Region]) -> Result:
    """Turn regions into a Label Studio ``result`` list (for a prediction or an annotation).

    A :class:`~cliniloop.services.core.schemas.TextSpan` becomes one ``labels`` item (``id`` = the
    region id, ``score`` = its probability) whose labels are the entity label followed, when
    ``attributes["assertion"]`` is not ``present``, by the assertion mark (see
    :func:`cliniloop.connectors.label_studio.config.text_label_config`). A
    :class:`~cliniloop.services.core.schemas.TimeInstant` becomes an instant ``timeserieslabels`` item, a
    :class:`~cliniloop.services.core.schemas.Rectangle` a ``rectanglelabels`` item and a
    :class:`~cliniloop.services.core.schemas.Mask` a ``brushlabels`` item (see
    :mod:`cliniloop.connectors.label_studio.image`).

    Raises
    ------
    UnsupportedRegion
        For a region kind that has no Label Studio encoding (none is left today; a guard for new kinds).
    """
    result: Result = []
    for region in regions:
        encode = ENCODERS.get(region.kind)
        if encode is None:
            raise UnsupportedRegion(f"no Label Studio encoding for region kind {region.kind!r}")
        result.extend(encode(region))
    return result


# -- result -> regions ---------------------------------------------------------------------
def _unescape_breaks(text: str) -> str:
    return text.replace("\\n", "\n")


def _decode_text_span(item: Mapping[str, Any], task_text: str | None) -> TextSpan | None:
    value = item.get("value") or {}
    given = value.get("labels") or []
    marks = [str(v) for v in given if v in ASSERTION_MARKS]
    labels = [v for v in given if v not in ASSERTION_MARKS]
    if not labels:
        log.warning("span %s has no entity label; ignored", item.get("id"))
        return None
    if len(labels) > 1:
        log.warning("span %s has %d labels %s; keeping the first", item.get("id"), len(labels), labels)
    if len(marks) > 1:
        log.warning("span %s has %d assertion marks %s; keeping the first", item.get("id"), len(marks), marks)
    start, end = int(value["start"]), int(value["end"])
    text = value.get("text")
    if task_text is not None:
        # Offsets are the truth (code points, as Python slices). The UI saves a selection's
        # text with each line break written as a literal backslash-n, so prefer the slice.
        sliced = task_text[start:end]
        if text is not None and text != sliced and _unescape_breaks(text) != sliced:
            # never log either text: note text stays out of logs
            log.warning("span %s: its text differs from the task text at [%d, %d)", item.get("id"), start, end)
        text = sliced
    elif text is None:
        raise ConversionError(f"span {item.get('id')} has no text and no task text was given")
    score = item.get("score")
    probability = float(score) if isinstance(score, int | float) and 0.0 <= score <= 1.0 else None
    try:
        return TextSpan(
            id=str(item["id"]), label=str(labels[0]), start=start, end=end, text=text, probability=probability,
            attributes={ASSERTION_ATTRIBUTE: marks[0] if marks else DEFAULT_ASSERTION},
        )  # fmt: skip
    except ValidationError as err:
        raise ConversionError(f"span {item.get('id')} is not a valid text span: {err}") from err


def _decode_beat(item: Mapping[str, Any], _task_text: str | None) -> TimeInstant | None:
    value = item.get("value") or {}
    labels = value.get("timeserieslabels") or []
    if not labels:
        log.warning("beat %s has no label; ignored", item.get("id"))
        return None
    try:
        start, end = float(value["start"]), float(value.get("end", value["start"]))
    except (KeyError, TypeError, ValueError):
        raise ConversionError(f"beat {item.get('id')} has no numeric start") from None
    # a beat drawn as a short range (not an instant) counts at its middle
    return TimeInstant(id=str(item["id"]), label=str(labels[0]), time_s=max(0.0, (start + end) / 2))


def _decode_event(item: Mapping[str, Any], _task_text: str | None) -> TimeRange | None:
    value = item.get("value") or {}
    labels = value.get("timeserieslabels") or []
    if not labels:
        log.warning("event %s has no label; ignored", item.get("id"))
        return None
    try:
        start, end = float(value["start"]), float(value.get("end", value["start"]))
    except (KeyError, TypeError, ValueError):
        raise ConversionError(f"event {item.get('id')} has no numeric start/end") from None
    start, end = sorted((max(0.0, start), max(0.0, end)))
    score = item.get("score")
    probability = float(score) if isinstance(score, int | float) and 0.0 <= score <= 1.0 else None
    return TimeRange(id=str(item["id"]), label=str(labels[0]), start_s=start, end_s=end, probability=probability)


#: ``from_name`` of a region-making control -> decoder ``(item, task_text) -> region | None``.
DECODERS: dict[str, Callable[[Mapping[str, Any], str | None], Region | None]] = {
    ENTITY_TAG: _decode_text_span,
    BEAT_TAG: _decode_beat,
    EVENT_TAG: _decode_event,
    BOX_TAG: decode_box,
    MASK_TAG: decode_mask,
}


def result_to_regions(result: Sequence[Mapping[str, Any]], task_text: str | None = None) -> list[Region]:
    """Turn a Label Studio ``result`` list back into regions.

    A span's assertion is its mark label (``["Problem", "absent"]``), ``present`` without one.
    Per-region choices (``assertion`` of the earlier text config, EEG ``channel``) are merged onto
    the region with the same ``id``, whichever comes first in the list (an ``assertion`` choice
    wins over the mark). Items of unknown ``from_name`` are skipped with a
    logged warning; relations are skipped silently.

    Parameters
    ----------
    result : sequence of dict
        The ``result`` of a Label Studio annotation or prediction.
    task_text : str, optional
        The task's text. When given, span texts are taken from it at the span's offsets
        (the UI writes line breaks inside a selected text as a literal ``\\n``); without it
        ``value.text`` is used as is.

    Returns
    -------
    list of Region
        In the order the regions first appear in ``result``.

    Raises
    ------
    ConversionError
        If a span, box or mask item is malformed (e.g. ``end <= start``, a box without
        ``original_width``, an undecodable brush RLE).
    """
    regions: dict[str, Region] = {}
    attributes: dict[str, dict[str, Any]] = {}
    for item in result:
        from_name, kind = item.get("from_name"), item.get("type")
        if kind in IGNORED_TYPES or from_name in NON_REGION_CONTROLS:
            continue
        if from_name in DECODERS:
            region = DECODERS[from_name](item, task_text)
            if region is not None:
                regions[region.id] = region
        elif from_name in PER_REGION_CHOICES:
            choices = (item.get("value") or {}).get("choices") or []
            if choices:
                chosen = list(choices) if from_name in MULTIPLE_CHOICES else choices[0]
                attributes.setdefault(str(item.get("id")), {})[PER_REGION_CHOICES[from_name]] = chosen
        else:
            log.warning("ignoring result item %s of unknown from_name %r (type %r)", item.get("id"), from_name, kind)
    for region_id, attrs in attributes.items():
        region = regions.get(region_id)
        if region is None:
            log.warning("per-region choices %s refer to no region %r; ignored", attrs, region_id)
            continue
        regions[region_id] = region.model_copy(update={"attributes": {**region.attributes, **attrs}})
    return list(regions.values())


def phi_corrections(result: Sequence[Mapping[str, Any]], known_types: Sequence[str]) -> list[tuple[int, int, str]]:
    """Identifiers an annotator marked with the ``phi`` control: ``(start, end, type)``, no text.

    Raises
    ------
    ConversionError
        For an item with bad offsets or a type not in ``known_types``.
    """
    out = []
    for item in result:
        if item.get("from_name") != PHI_TAG:
            continue
        value = item.get("value") or {}
        labels = value.get("labels") or []
        try:
            start, end = int(value["start"]), int(value["end"])
        except (KeyError, TypeError, ValueError):
            raise ConversionError(f"phi item {item.get('id')} has no valid start/end") from None
        if not labels or labels[0] not in known_types or not 0 <= start < end:
            raise ConversionError(f"phi item {item.get('id')}: bad type {labels[:1]} or offsets [{start}, {end})")
        out.append((start, end, str(labels[0])))
    return out


# -- tasks and annotations -----------------------------------------------------------------
def prediction_payload(prediction: PredictionLike) -> dict[str, Any]:
    """The Label Studio prediction object ``{"model_version", "score", "result"}``."""
    return {
        "model_version": prediction.model_version,
        "score": float(prediction.score),
        "result": regions_to_result(prediction.regions),
    }


def task_payload(task_id: str, data: Mapping[str, Any], prediction: PredictionLike | None = None) -> dict[str, Any]:
    """Build one task for ``projects.import_tasks``.

    Parameters
    ----------
    task_id : str
        Our task id, stored as ``data.cliniloop_id`` (how we find the task again).
    data : mapping
        The task's data (e.g. ``{"text": ...}``).
    prediction : PredictionIn-like, optional
        The prediction to pre-annotate with. Its ``score`` (model confidence, low = uncertain)
        drives Label Studio's uncertainty sampling; its ``uncertainty`` is copied into
        ``data.uncertainty`` for Data Manager sorting and filters.

    Returns
    -------
    dict
        ``{"data": {...}, "predictions": [...]}`` (no ``predictions`` key without a prediction).
    """
    payload_data = {**data, "cliniloop_id": task_id}
    payload: dict[str, Any] = {"data": payload_data}
    if prediction is not None:
        # rounded for the Data Manager column (5.4e-08 reads as noise to an annotator); sorting keeps its order
        payload_data["uncertainty"] = round(float(prediction.uncertainty), 4)
        payload["predictions"] = [prediction_payload(prediction)]
    return payload


def annotator_of(completed_by: Any) -> str | None:
    """The annotator as a string: the e-mail when Label Studio gives a user object, else the id."""
    if completed_by is None:
        return None
    if isinstance(completed_by, Mapping):
        email = completed_by.get("email")
        return str(email) if email else (str(completed_by["id"]) if completed_by.get("id") is not None else None)
    return str(completed_by)


def annotation_from_ls(
    annotation: Mapping[str, Any], task_id: str, task_text: str | None = None
) -> AnnotationIn | None:
    """Turn one Label Studio annotation into an :class:`AnnotationIn`.

    Parameters
    ----------
    annotation : mapping
        An annotation as the API, a webhook or the JSON export gives it.
    task_id : str
        Our task id (``data.cliniloop_id`` of its task).
    task_text : str, optional
        The task's ``data.text``: pass it whenever you have it (see :func:`result_to_regions`).

    Returns
    -------
    AnnotationIn or None
        ``None`` for a skipped (``was_cancelled``) annotation: a skip says nothing about the
        labels. A submitted annotation with an empty result is kept: it says "nothing to label".
        Region probabilities are dropped (a leftover prediction score is not a human's doubt).
    """
    if annotation.get("was_cancelled"):
        return None
    regions = [
        r.model_copy(update={"probability": None})
        for r in result_to_regions(annotation.get("result") or [], task_text=task_text)
    ]
    lead_time = annotation.get("lead_time")
    return AnnotationIn(
        task_id=task_id,
        source="label_studio",
        source_annotation_id=str(annotation["id"]),
        annotator=annotator_of(annotation.get("completed_by")),
        regions=regions,
        lead_time_s=float(lead_time) if lead_time is not None else None,
        model_version=_parent_model_version(annotation),
    )


def _parent_model_version(annotation: Mapping[str, Any]) -> str | None:
    """Model version of the prediction the annotation started from, when the export tells it.

    The JSON export attaches a ``prediction`` object to annotations even when they were not
    started from it, so it counts only when its id is the annotation's ``parent_prediction``.
    """
    parent, prediction = annotation.get("parent_prediction"), annotation.get("prediction")
    if parent is None or not isinstance(prediction, Mapping) or prediction.get("id") != parent:
        return None
    return prediction.get("model_version") or None
