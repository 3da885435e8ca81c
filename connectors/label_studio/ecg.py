"""Label Studio time-series tasks for ECG windows: label config and task data.

A task is one window of a recording (about 10 s plus context). Its data holds the samples as
inline JSON under :data:`ECG_OBJECT` with a time column :data:`TIME_COLUMN` in seconds from the
window start and two channels with fixed lower-case keys (Label Studio lower-cases data keys):
``primary`` (the chosen lead, e.g. MLII) and ``secondary`` (the next lead, when there is one). The
lead names are shown above the plot. Beats are instant regions of the ``beat`` control labelled with
an AAMI class; their times are seconds from the window start, in the time column's units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from connectors.label_studio.config import _attrs

#: ``name`` of the ``<TimeSeries>`` object and its data key.
ECG_OBJECT = "ecg"
#: ``name`` of the ``<TimeSeriesLabels>`` control: ``from_name`` of beat results.
BEAT_TAG = "beat"
#: Time column (seconds from the window start).
TIME_COLUMN = "t"
#: Channel data keys, in lead order (lower case: Label Studio lower-cases keys).
CHANNELS: tuple[str, ...] = ("primary", "secondary")

_COLOURS = {"N": "#2f9e44", "S": "#1971c2", "V": "#e03131", "F": "#f08c00", "Q": "#868e96"}


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
    channels = "\n".join(
        f'    <Channel column="{key}" legend="{legend}" strokeColor="{colour}"/>'
        for key, legend, colour in zip(CHANNELS, ("primary lead", "second lead"), ("#1f1f1f", "#5c7cfa"), strict=True)
    )
    return "\n".join(
        [
            "<View>",
            '  <Header value="$leads" size="6"/>',
            f'  <TimeSeriesLabels name="{BEAT_TAG}" toName="{ECG_OBJECT}">',
            labels,
            "  </TimeSeriesLabels>",
            f'  <TimeSeries name="{ECG_OBJECT}" value="${ECG_OBJECT}" valueType="json" timeColumn="{TIME_COLUMN}" '
            'overviewChannels="primary">',
            channels,
            "  </TimeSeries>",
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
    return {
        ECG_OBJECT: data,
        "leads": f"{record} at {window_start_s:.1f} s — leads: {shown}",
        "record": record,
        "window_start_s": round(window_start_s, 5),
    }
