"""Label Studio time-series tasks for EEG windows: label config, task data and event regions.

A task is one window of a recording (tens of seconds). Its data holds the samples as inline JSON
under :data:`EEG_OBJECT`: a time column :data:`TIME_COLUMN` in seconds from the window start and one
column per channel under a lower-case key (:func:`channel_keys`: Label Studio lower-cases data
keys, so ``FP1-F7`` is stored as ``fp1_f7``). All channels are drawn stacked in one plot, each
around its own baseline, in units of the spacing between baselines (see :func:`eeg_task_data`): the
values shown are for display only. Signals above :data:`DISPLAY_RATE` are decimated (anti-aliased)
for display only.

Events are ranges of the :data:`EVENT_TAG` control (seizure, artifact, sleep stages) in seconds from
the window start; the per-region :data:`CHANNEL_TAG` choices say which channels an event is on (none
chosen = all channels).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from cliniloop.connectors.label_studio.config import _attrs

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


#: Height (px) of the stacked traces of one window; each channel gets an equal band of it.
STACK_HEIGHT_PX = 440
#: A stacked trace is clipped at this many spacings from its baseline (a clipping or high-amplitude
#: artifact stays in its own band instead of covering its neighbours).
STACK_CLIP = 0.75


def eeg_label_config(channels: Sequence[str]) -> str:
    """The config of an EEG project for one montage (channel list, in display order).

    All channels of a window are drawn stacked in one plot (``<MultiChannel>``), as an EEG reader
    shows them: channel *i* is drawn around its own baseline (see :func:`eeg_task_data`), so every
    channel is on screen at once on one common amplitude scale. The y-axis is hidden (the values
    are offsets, not microvolts: the scale is written in the title) and the channel names are the
    plot's legend, top to bottom in trace order. The whole window is shown (``overviewWidth="100%"``).

    An event's channels are per-region choices shown right above the traces when the event is
    selected (none chosen = all channels); a predicted artifact comes with the channels it was
    found on.
    """
    labels = "\n".join(f"    <Label {_attrs(value=v, background=c, hint=h)}/>" for v, c, h in EVENT_LABELS)
    # one y range for every channel (in units of the spacing between baselines): channel i sits at -i
    data_range = f"{-(len(channels) - 1) - STACK_CLIP:g},{STACK_CLIP:g}"
    rows = "\n".join(
        f"      <Channel {_attrs(column=key, legend=name, strokeColor=colour, strokeWidth='1', displayFormat=',.2f', dataRange=data_range)}/>"
        for (key, name), colour in zip(zip(channel_keys(channels), channels, strict=True), _trace_colours(len(channels)), strict=True)
    )
    choices = "\n".join(f"    <Choice {_attrs(value=name)}/>" for name in channels)
    return "\n".join(
        [
            "<View>",
            '  <Header value="$title" size="6"/>',
            f'  <TimeSeriesLabels name="{EVENT_TAG}" toName="{EEG_OBJECT}">',
            labels,
            "  </TimeSeriesLabels>",
            f'  <View visibleWhen="region-selected" whenTagName="{EVENT_TAG}">',
            '    <Header value="Channels of the selected event (none = all)" size="6"/>',
            f'    <Choices name="{CHANNEL_TAG}" toName="{EEG_OBJECT}" perRegion="true" choice="multiple" showInline="true">',
            choices,
            "    </Choices>",
            "  </View>",
            '  <View style="display: flex; align-items: flex-start;">',
            _name_column(channels),
            '    <View style="flex: 1; min-width: 0;">',
            f'  <TimeSeries name="{EEG_OBJECT}" value="${EEG_OBJECT}" valueType="json" timeColumn="{TIME_COLUMN}" '
            f'timeDisplayFormat=",.1f" overviewWidth="100%">',
            f'    <MultiChannel height="{STACK_HEIGHT_PX}" showYAxis="false">',
            rows,
            "    </MultiChannel>",
            "  </TimeSeries>",
            "    </View>",
            "  </View>",
            "</View>",
        ]
    )


#: Where the plot area starts below the top of the ``<TimeSeries>`` block (px): legend + top margin.
_PLOT_TOP_PX = 52


def _name_column(channels: Sequence[str]) -> str:
    """Channel names left of the plot, each at the height of its trace's baseline, in the trace's colour."""
    n = len(channels)
    total = (n - 1) + 2 * STACK_CLIP  # the y range in spacings (see the config's dataRange)
    items = []
    for i, (name, colour) in enumerate(zip(channels, _trace_colours(n), strict=True)):
        y = _PLOT_TOP_PX + (STACK_CLIP + i) / total * STACK_HEIGHT_PX - 9
        items.append(
            f'      <View {_attrs(style=f"position: absolute; top: {y:.0f}px; right: 6px; color: {colour}; font-weight: 600; font-size: 13px; white-space: nowrap;", className="eeg-channel-name")}>'
            f'<Text {_attrs(name=f"channel_name_{i}", value=name)}/></View>'
        )
    height = _PLOT_TOP_PX + STACK_HEIGHT_PX
    return "\n".join([f'    <View style="position: relative; width: 84px; height: {height}px; flex: none;">', *items, "    </View>"])


def _trace_colours(n: int) -> list[str]:
    """Dark, alternating trace colours: neighbours differ, all legible on white."""
    palette = ("#1f1f1f", "#1864ab", "#862e9c", "#2b8a3e")
    return [palette[i % len(palette)] for i in range(n)]


def stack_spacing(samples: np.ndarray) -> float:
    """Distance (uV) between the baselines of stacked channels: a round number near 8 robust SDs."""
    if samples.size == 0:
        return 100.0
    centred = samples - np.median(samples, axis=0)
    mad = np.median(np.abs(centred), axis=0) * 1.4826
    spread = float(np.median(mad[mad > 0])) if np.any(mad > 0) else 10.0
    raw = max(8.0 * spread, 1.0)
    magnitude = 10 ** np.floor(np.log10(raw))
    return float(min((m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw), default=10 * magnitude))


def eeg_task_data(samples: np.ndarray, sampling_rate: float, channels: Sequence[str], *, record: str, window_start_s: float) -> dict[str, Any]:
    """Task data of one window.

    Parameters
    ----------
    samples : ndarray, shape (n, n_channels)
        The window in uV at ``sampling_rate``. Sent stacked for display: channel *i* as
        ``clip((x - median(x)) / spacing, ±STACK_CLIP) - i`` (:func:`stack_spacing`, a round number
        of uV written in the title), so every channel shares one scale and one plot.
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
    spacing = stack_spacing(samples)
    baselines = np.median(samples, axis=0) if n else np.zeros(len(channels))
    # channel i drawn around -i (in spacings): the first channel on top, in montage order
    for i, (key, column) in enumerate(zip(channel_keys(channels), samples.T, strict=True)):
        data[key] = np.round(np.clip((column - baselines[i]) / spacing, -STACK_CLIP, STACK_CLIP) - i, 3).tolist()
    return {
        EEG_OBJECT: data,
        "title": (
            f"{record} from {window_start_s:.1f} s: {n / rate:.0f} s, {len(channels)} channels stacked top to bottom "
            f"as listed, {spacing:g} uV between baselines (clipped at {STACK_CLIP * spacing:g} uV), shown at {rate:g} Hz"
        ),
        "record": record,
        "window_start_s": round(window_start_s, 4),
    }
