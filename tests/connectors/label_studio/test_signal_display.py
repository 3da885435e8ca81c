"""What ECG and EEG tasks show (issue 23): real lead names, the whole window, stacked EEG channels on one
scale, a beat's time and class probabilities, and no raw signal column in the Data Manager."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
from label_studio_sdk.label_interface import LabelInterface

from cliniloop.connectors.label_studio.client import signal_data_keys
from cliniloop.connectors.label_studio.convert import beat_summary, regions_to_result, result_to_regions
from cliniloop.connectors.label_studio.ecg import LEAD_NAME_KEYS, ecg_label_config, ecg_task_data
from cliniloop.connectors.label_studio.eeg import STACK_CLIP, eeg_label_config, eeg_task_data, stack_spacing
from cliniloop.services.core.schemas import TimeInstant


def test_ecg_config_names_the_real_leads_and_shows_the_whole_window() -> None:
    config = ecg_label_config([("N", "normal"), ("V", "ventricular")])
    LabelInterface(config)
    root = ET.fromstring(config)
    assert [t.get("value") for t in root.iter("Text")] == [f"${k}" for k in LEAD_NAME_KEYS]
    assert all(c.get("legend") == "" for c in root.iter("Channel")), "no faint placeholder names in the plot"
    assert root.find(".//TimeSeries").get("overviewWidth") == "100%"
    data = ecg_task_data(np.zeros((3600, 2)), 360.0, ["MLII", "V5"], record="100", window_start_s=0.0)
    assert (data["lead_1"], data["lead_2"]) == ("MLII", "V5")
    one = ecg_task_data(np.zeros((3600, 1)), 360.0, ["MLII"], record="100", window_start_s=0.0)
    assert (one["lead_1"], one["lead_2"]) == ("MLII", "(none)")


def test_a_beat_carries_its_time_and_class_probabilities_for_the_info_panel() -> None:
    beat = TimeInstant(label="V", time_s=2.4833, probability=0.7, attributes={"probs": {"N": 0.2, "V": 0.7, "S": 0.1}})
    [item] = regions_to_result([beat])
    assert item["meta"]["text"] == ["beat at 2.483 s of the window · V 0.70 · N 0.20 · S 0.10"]
    assert result_to_regions([item])[0].time_s == beat.time_s
    assert beat_summary(TimeInstant(label="N", time_s=1.0, probability=1.0)) == "beat at 1.000 s of the window · N 1.00 (detector only, not classified)"


def test_eeg_channels_are_stacked_on_one_scale_with_names_beside_them() -> None:
    channels = ["FP1-F7", "F7-T7", "T7-P7"]
    config = eeg_label_config(channels)
    LabelInterface(config)
    root = ET.fromstring(config)
    assert root.find(".//TimeSeries").get("overviewWidth") == "100%"
    multi = root.find(".//MultiChannel")
    assert multi is not None and multi.get("showYAxis") == "false"
    ranges = {c.get("dataRange") for c in multi.iter("Channel")}
    assert ranges == {f"{-(len(channels) - 1) - STACK_CLIP:g},{STACK_CLIP:g}"}, "one y range for all channels"
    assert [t.get("value") for t in root.iter("Text")] == channels, "each channel's name beside its trace"
    # the channel choices of a selected event sit above the traces
    children = list(root)
    chosen = root.find("View[@visibleWhen='region-selected']")
    plot = next(c for c in children if c.find(".//TimeSeries") is not None)
    assert chosen is not None and children.index(chosen) < children.index(plot)

    rng = np.random.default_rng(0)
    x = rng.normal(0, 20, size=(128 * 30, 3))
    x[:, 2] = 0.0  # a flat channel
    x[100:200, 1] = 5000.0  # a clipping burst
    data = eeg_task_data(x, 128.0, channels, record="r", window_start_s=0.0)
    spacing = stack_spacing(x)
    assert spacing in (100.0, 200.0, 500.0) and f"{spacing:g} uV between baselines" in data["title"]
    for i, key in enumerate(("fp1_f7", "f7_t7", "t7_p7")):
        values = np.asarray(data["eeg"][key])
        assert -i - STACK_CLIP - 1e-9 <= values.min() and values.max() <= -i + STACK_CLIP + 1e-9, "each trace stays in its band"
    assert np.allclose(data["eeg"]["t7_p7"], -2.0)


def test_signal_columns_are_the_time_series_keys_and_the_trace_names() -> None:
    assert signal_data_keys(ecg_label_config([("N", "n")])) == ["ecg", *LEAD_NAME_KEYS]
    assert signal_data_keys(eeg_label_config(["A", "B"])) == ["eeg"]
    assert signal_data_keys('<View><Text name="text" value="$text"/></View>') == []
    assert signal_data_keys("not xml") == []
    from cliniloop.connectors.label_studio.coding import coder_label_config

    assert signal_data_keys(coder_label_config()) == ["where_html", "candidates"]  # the coders' list shows mention, context, ...
