"""Label Studio time-series tasks for EEG windows: label config, task data and event regions.

A task is one window of a recording (tens of seconds). Its data holds the samples as inline JSON
under :data:`EEG_OBJECT`: a time column :data:`TIME_COLUMN` in seconds from the window start and one
column per channel under a lower-case key (:func:`channel_keys`: Label Studio lower-cases data
keys, so ``FP1-F7`` is stored as ``fp1_f7``). Each channel is its own ``<Channel>`` row of one
``<TimeSeries>``, stacked: the multichannel view. Signals above :data:`DISPLAY_RATE` are decimated
(anti-aliased) for display only.

Events are ranges of the :data:`EVENT_TAG` control (seizure, artifact, sleep stages) in seconds from
the window start; the per-region :data:`CHANNEL_TAG` choices say which channels an event is on (none
chosen = all channels).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from connectors.label_studio.config import _attrs

EEG_OBJECT = "eeg"
EVENT_TAG = "event"
CHANNEL_TAG = "channel"
TIME_COLUMN = "t"
#: Region attribute holding the channels an event is on.
CHANNELS_ATTRIBUTE = "channels"
#: Highest sampling rate sent to the browser (Hz).
DISPLAY_RATE = 128.0
#: Event labels with their colours and hints.
EVENT_LABELS: tuple[tuple[str, str, str], ...] = (
    ("seizure", "#e03131", "ictal activity: onset to offset"),
    ("artifact", "#868e96", "flat line, clipping, implausible amplitude or line noise"),
    ("W", "#fab005", "wake"), ("N1", "#74c0fc", "NREM 1"), ("N2", "#339af0", "NREM 2"),
    ("N3", "#1c7ed6", "NREM 3 (slow-wave sleep)"), ("REM", "#9c36b5", "REM sleep"),
)  # fmt: skip


def channel_keys(names: Sequence[str]) -> list[str]:
    """Lower-case data keys for channel names (``FP1-F7`` -> ``fp1_f7``), unique and never the time column."""
    keys: list[str] = []
    for name in names:
        key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "ch"
        if key[0].isdigit() or key == TIME_COLUMN:
            key = "ch_" + key
        base, n = key, 2
        while key in keys:
            key, n = f"{base}_{n}", n + 1
        keys.append(key)
    return keys


def eeg_label_config(channels: Sequence[str]) -> str:
    """The config of an EEG project for one montage (channel list, in display order)."""
    labels = "\n".join(f"    <Label {_attrs(value=v, background=c, hint=h)}/>" for v, c, h in EVENT_LABELS)
    rows = "\n".join(
        f"    <Channel {_attrs(column=key, legend=name, strokeColor='#1f1f1f', height='60', showAxis='true')}/>"
        for key, name in zip(channel_keys(channels), channels, strict=True)
    )
    choices = "\n".join(f"    <Choice {_attrs(value=name)}/>" for name in channels)
    first = channel_keys(channels)[0]
    return "\n".join(
        [
            "<View>",
            '  <Header value="$title" size="6"/>',
            f'  <TimeSeriesLabels name="{EVENT_TAG}" toName="{EEG_OBJECT}">',
            labels,
            "  </TimeSeriesLabels>",
            f'  <TimeSeries name="{EEG_OBJECT}" value="${EEG_OBJECT}" valueType="json" timeColumn="{TIME_COLUMN}" '
            f'timeDisplayFormat=",.2f" overviewChannels="{first}">',
            rows,
            "  </TimeSeries>",
            '  <Header value="Channels of the selected event (none = all)" size="6"/>',
            f'  <Choices name="{CHANNEL_TAG}" toName="{EEG_OBJECT}" perRegion="true" choice="multiple" showInline="true">',
            choices,
            "  </Choices>",
            "</View>",
        ]
    )


def eeg_task_data(samples: np.ndarray, sampling_rate: float, channels: Sequence[str], *, record: str, window_start_s: float) -> dict[str, Any]:
    """Task data of one window.

    Parameters
    ----------
    samples : ndarray, shape (n, n_channels)
        The window in uV at ``sampling_rate``.
    sampling_rate : float
        Hz; above :data:`DISPLAY_RATE` the samples are decimated for display.
    channels : sequence of str
        Names of the columns.
    record : str
        Recording name shown to the annotator.
    window_start_s : float
        Where the window starts in the recording (s).
    """
    from scipy import signal

    rate = float(sampling_rate)
    if rate > DISPLAY_RATE * 1.01:
        factor = int(np.ceil(rate / DISPLAY_RATE))
        samples = signal.decimate(samples, factor, axis=0, zero_phase=True) if samples.shape[0] > 27 * factor else samples[::factor]
        rate = rate / factor
    n = samples.shape[0]
    data: dict[str, Any] = {TIME_COLUMN: np.round(np.arange(n) / rate, 4).tolist()}
    for key, column in zip(channel_keys(channels), samples.T, strict=True):
        data[key] = np.round(column, 2).tolist()
    return {
        EEG_OBJECT: data,
        "title": f"{record} from {window_start_s:.1f} s ({n / rate:.0f} s, {len(channels)} channels, uV, shown at {rate:g} Hz)",
        "record": record,
        "window_start_s": round(window_start_s, 4),
    }
