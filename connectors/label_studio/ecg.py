"""Label Studio time-series tasks for ECG windows: label config and task data.

A task is one window of a recording (about 10 s plus context). Its data holds the samples as
inline JSON under :data:`ECG_OBJECT` with a time column :data:`TIME_COLUMN` in seconds from the
window start and two channels with fixed lower-case keys (Label Studio lower-cases data keys):
``primary`` (the chosen lead, e.g. MLII) and ``secondary`` (the next lead, when there is one). The
real lead names (task data ``lead_1``/``lead_2``) are written left of their traces, and the whole
window is shown at once (``overviewWidth="100%"``). Beats are instant regions of the ``beat`` control labelled with
an AAMI class; their times are seconds from the window start, in the time column's units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cliniloop.connectors.label_studio.config import _attrs

#: ``name`` of the ``<TimeSeries>`` object and its data key.
ECG_OBJECT = "ecg"
#: ``name`` of the ``<TimeSeriesLabels>`` control: ``from_name`` of beat results.
BEAT_TAG = "beat"
#: Time column (seconds from the window start).
TIME_COLUMN = "t"
#: Channel data keys, in lead order (lower case: Label Studio lower-cases keys).
CHANNELS: tuple[str, ...] = ("primary", "secondary")

_COLOURS = {"N": "#2f9e44", "S": "#1971c2", "V": "#e03131", "F": "#f08c00", "Q": "#868e96"}
#: Task data keys of the lead names shown left of each trace (in :data:`CHANNELS` order).
LEAD_NAME_KEYS: tuple[str, ...] = ("lead_1", "lead_2")
#: Height (px) of each lead's plot, and the plot margins Label Studio 1.23.2 adds above and below it.
TRACE_HEIGHT_PX = 200
_MARGIN_TOP_PX, _MARGIN_BOTTOM_PX = 20, 30


def ecg_label_config(classes: Sequence[tuple[str, str]]) -> str:
    """The ECG project's config: two channels and a beat control with one label per class.

    Parameters
    ----------
    classes : sequence of (value, hint)
        Beat classes in display order (AAMI N, S, V, F, Q by default).
    """
    labels = "\n".join(
        f"    <Label {_attrs(value=value, background=_COLOURS.get(value, '#495057'), hint=hint)}/>" for value, hint in classes
    )
    colours = ("#1f1f1f", "#1c4fc7")
    channels = "\n".join(
        f'      <Channel {_attrs(column=key, legend="", strokeColor=colour, height=str(TRACE_HEIGHT_PX), units="mV", displayFormat=",.2f")}/>'
        for key, colour in zip(CHANNELS, colours, strict=True)
    )
    names = []
    for i, (key, colour) in enumerate(zip(LEAD_NAME_KEYS, colours, strict=True)):
        y = i * (TRACE_HEIGHT_PX + _MARGIN_TOP_PX + _MARGIN_BOTTOM_PX) + _MARGIN_TOP_PX + TRACE_HEIGHT_PX / 2 - 10
        style = f"position: absolute; top: {y:.0f}px; right: 8px; color: {colour}; font-weight: 700; font-size: 15px; white-space: nowrap;"
        names.append(f'      <View {_attrs(style=style)}><Text {_attrs(name=f"lead_name_{i}", value="$" + key)}/></View>')
    column_height = len(CHANNELS) * (TRACE_HEIGHT_PX + _MARGIN_TOP_PX + _MARGIN_BOTTOM_PX)
    return "\n".join(
        [
            "<View>",
            '  <Header value="$leads" size="6"/>',
            f'  <TimeSeriesLabels name="{BEAT_TAG}" toName="{ECG_OBJECT}">',
            labels,
            "  </TimeSeriesLabels>",
            '  <View style="display: flex; align-items: flex-start;">',
            f'    <View style="position: relative; width: 64px; height: {column_height}px; flex: none;">',
            *names,
            "    </View>",
            '    <View style="flex: 1; min-width: 0;">',
            f'  <TimeSeries name="{ECG_OBJECT}" value="${ECG_OBJECT}" valueType="json" timeColumn="{TIME_COLUMN}" '
            'overviewChannels="primary" overviewWidth="100%" timeDisplayFormat=",.2f">',
            channels,
            "  </TimeSeries>",
            "    </View>",
            "  </View>",
            "</View>",
        ]
    )


def ecg_task_data(
    samples: np.ndarray, sampling_rate: float, lead_names: Sequence[str], *, record: str, window_start_s: float
) -> dict[str, Any]:
    """Task data of one window.

    Parameters
    ----------
    samples : ndarray, shape (n, n_leads)
        The window's samples in physical units (mV), chosen lead first.
    sampling_rate : float
        Hz.
    lead_names : sequence of str
        Names of the columns of ``samples``.
    record : str
        Record name shown to the annotator.
    window_start_s : float
        Where the window starts in the recording (s); shown, and used to map beats back.
    """
    n = samples.shape[0]
    data: dict[str, Any] = {TIME_COLUMN: np.round(np.arange(n) / sampling_rate, 5).tolist()}
    for key, column in zip(CHANNELS, range(min(samples.shape[1], len(CHANNELS))), strict=False):
        data[key] = np.round(samples[:, column], 4).tolist()
    for key in CHANNELS[samples.shape[1] :]:
        data[key] = [0.0] * n
    shown = " / ".join(lead_names[: len(CHANNELS)])
    names = {key: (lead_names[i] if i < min(samples.shape[1], len(lead_names)) else "(none)") for i, key in enumerate(LEAD_NAME_KEYS)}
    return {
        ECG_OBJECT: data,
        **names,
        "leads": f"{record} at {window_start_s:.1f} s — leads: {shown}",
        "record": record,
        "window_start_s": round(window_start_s, 5),
    }
