"""EEG recordings: EDF+ channels, rates, units and block reads; Bonn text segments; bad files name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cliniloop.connectors.sources.eeg import EegFileError, EegSource, channel_key, open_eeg, open_text_segment, resample

DURATION_S = 10
SINE_HZ = 5.0
AMPLITUDE_UV = 50.0
#: (label, unit, rate Hz, physical max): three bipolar 256 Hz channels, one at 128 Hz, a 1 Hz temperature.
CHANNELS = [
    ("FP1-F7", "uV", 256, 200.0),
    ("F7-T7", "mV", 256, 0.2),
    ("T7-P7", "uV", 256, 200.0),
    ("P7-O1", "uV", 128, 200.0),
    ("TEMP", "degC", 1, 50.0),
]
SHARED_EEG = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "eeg"


def _sine(rate: float, start_s: float = 0.0, n: int | None = None) -> np.ndarray:
    n = int(DURATION_S * rate) if n is None else n
    t = start_s + np.arange(n) / rate
    return AMPLITUDE_UV * np.sin(2 * np.pi * SINE_HZ * t)


def write_edf(path: Path, channels: list[tuple[str, str, int, float]] = CHANNELS) -> Path:
    """An EDF+ file: a 5 Hz, 50 uV sine on every EEG channel (in its unit), 36.6 on slow ones."""
    import pyedflib

    headers, signals = [], []
    for label, unit, rate, pmax in channels:
        headers.append(
            {"label": label, "dimension": unit, "sample_frequency": rate, "physical_max": pmax, "physical_min": -pmax, "digital_max": 32767, "digital_min": -32768}
        )
        if rate < 64:
            signals.append(np.full(DURATION_S * rate, 36.6))
        else:
            x = _sine(rate)
            signals.append(x / 1000.0 if unit == "mV" else x)
    writer = pyedflib.EdfWriter(str(path), len(channels), file_type=pyedflib.FILETYPE_EDFPLUS)
    writer.setSignalHeaders(headers)
    writer.writeSamples(signals)
    writer.writeAnnotation(2.0, 1.5, "Seizure")
    writer.close()
    return path


@pytest.fixture()
def edf(tmp_path: Path) -> Path:
    return write_edf(tmp_path / "rec.edf")


def test_open_eeg_lists_eeg_channels_and_duration(edf: Path) -> None:
    source = open_eeg(edf)
    assert isinstance(source, EegSource)
    assert source.format == "edf"
    assert source.name == "rec"
    assert source.channel_names == ["FP1-F7", "F7-T7", "T7-P7", "P7-O1"]
    assert source.duration_s == pytest.approx(DURATION_S)
    assert source.sampling_rate == 256.0
    rates = {c.name: c.sampling_rate for c in source.channels}
    assert rates["P7-O1"] == 128.0
    assert source.channel("P7-O1").n_samples == DURATION_S * 128


def test_slow_channel_is_not_an_eeg_channel(edf: Path) -> None:
    source = open_eeg(edf)
    assert "TEMP" not in source.channel_names
    with pytest.raises(EegFileError, match="no EEG channel 'TEMP'"):
        source.channel("TEMP")


def test_file_with_only_slow_channels_is_refused(tmp_path: Path) -> None:
    path = write_edf(tmp_path / "slow.edf", [("TEMP", "degC", 1, 50.0)])
    with pytest.raises(EegFileError, match=r"no EEG channel at 64 Hz or more: TEMP \(1 Hz\)") as info:
        open_eeg(path)
    assert info.value.path == path


def test_read_returns_samples_and_shape(edf: Path) -> None:
    source = open_eeg(edf)
    x = source.read(2.0, 4.0, ["FP1-F7", "T7-P7"], rate=256)
    assert x.shape == (512, 2)
    expected = _sine(256, start_s=2.0, n=512)
    np.testing.assert_allclose(x[:, 0], expected, atol=0.05)
    np.testing.assert_allclose(x[:, 1], expected, atol=0.05)


def test_read_defaults_to_every_channel_at_the_main_rate(edf: Path) -> None:
    x = open_eeg(edf).read(0.0, 1.0)
    assert x.shape == (256, 4)


def test_read_resamples_channel_at_another_rate(edf: Path) -> None:
    source = open_eeg(edf)
    x = source.read(2.0, 6.0, ["P7-O1", "FP1-F7"], rate=256)
    assert x.shape == (1024, 2)
    expected = _sine(256, start_s=2.0, n=1024)
    # filter edge effects at the block ends; the interior follows the sine closely
    np.testing.assert_allclose(x[32:-32, 0], expected[32:-32], atol=0.5)
    assert np.max(np.abs(x[:, 0] - expected)) < 5.0


def test_read_downsamples_to_a_lower_rate(edf: Path) -> None:
    x = open_eeg(edf).read(2.0, 6.0, ["FP1-F7"], rate=128)
    assert x.shape == (512, 1)
    np.testing.assert_allclose(x[16:-16, 0], _sine(128, start_s=2.0, n=512)[16:-16], atol=0.5)


def test_millivolt_channel_is_converted_to_microvolts(edf: Path) -> None:
    source = open_eeg(edf)
    channel = source.channel("F7-T7")
    assert channel.unit == "mV"
    assert channel.to_microvolts == 1000.0
    assert channel.range_uv == pytest.approx((-200.0, 200.0))
    x = source.read(1.0, 2.0, ["F7-T7"], rate=256)
    np.testing.assert_allclose(x[:, 0], _sine(256, start_s=1.0, n=256), atol=0.1)
    assert np.max(np.abs(x)) == pytest.approx(AMPLITUDE_UV, rel=0.01)


@pytest.mark.parametrize("name", ["fp1f7", "EEG Fp1-F7", "Fp1 F7", "fp1_f7", "FP1-F7"])
def test_channel_matching_ignores_case_punctuation_and_eeg_prefix(edf: Path, name: str) -> None:
    source = open_eeg(edf)
    assert source.channel(name).name == "FP1-F7"
    assert source.pick([name]) == ["FP1-F7"]


def test_read_with_loose_channel_names(edf: Path) -> None:
    source = open_eeg(edf)
    a = source.read(0.0, 1.0, ["fp1f7", "EEG F7-T7"], rate=256)
    b = source.read(0.0, 1.0, ["FP1-F7", "F7-T7"], rate=256)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("name", "key"),
    [("EEG Fp1-F7", "fp1f7"), ("FP1-F7", "fp1f7"), ("Fc5.", "fc5"), ("EEG", "eeg"), ("T8-P8-1", "t8p81")],
)
def test_channel_key(name: str, key: str) -> None:
    assert channel_key(name) == key


def test_unknown_channel_lists_the_channels(edf: Path) -> None:
    source = open_eeg(edf)
    with pytest.raises(EegFileError) as info:
        source.read(0.0, 1.0, ["CZ-PZ"])
    message = str(info.value)
    assert str(edf) in message
    assert "'CZ-PZ'" in message
    for name in ("FP1-F7", "F7-T7", "T7-P7", "P7-O1"):
        assert name in message


def test_read_outside_the_recording_is_refused(edf: Path) -> None:
    source = open_eeg(edf)
    with pytest.raises(EegFileError, match="outside"):
        source.read(8.0, 12.0)
    with pytest.raises(EegFileError, match="outside"):
        source.read(3.0, 3.0)


def test_matching_sampling_rate_is_accepted(edf: Path) -> None:
    assert open_eeg(edf, sampling_rate=256).channel_names[0] == "FP1-F7"


def test_wrong_sampling_rate_is_refused(edf: Path) -> None:
    with pytest.raises(EegFileError, match="sampling rate 100 Hz given") as info:
        open_eeg(edf, sampling_rate=100)
    assert str(edf) in str(info.value)
    assert "128, 256 Hz" in str(info.value)


def test_truncated_edf_is_refused(edf: Path) -> None:
    data = edf.read_bytes()
    cut = edf.with_name("cut.edf")
    cut.write_bytes(data[:-1000])
    with pytest.raises(EegFileError, match="not a readable EDF") as info:
        open_eeg(cut)
    assert info.value.path == cut
    assert str(cut) in str(info.value)


def test_garbage_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "garbage.edf"
    path.write_bytes(b"this is not an EDF header " * 100)
    with pytest.raises(EegFileError, match="not a readable EDF") as info:
        open_eeg(path)
    assert info.value.path == path


def test_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "absent.edf"
    with pytest.raises(EegFileError, match="no such file") as info:
        open_eeg(path)
    assert str(path) in str(info.value)


def test_unknown_suffix_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rec.dat"
    path.write_text("1\n2\n3\n")
    with pytest.raises(EegFileError, match="unknown EEG format") as info:
        open_eeg(path)
    assert info.value.path == path


def _bonn_values(n: int = 4097) -> np.ndarray:
    return np.round(100 * np.sin(2 * np.pi * 10 * np.arange(n) / 173.61))


def _bonn(path: Path, n: int = 4097) -> Path:
    path.write_text("\n".join(str(int(v)) for v in _bonn_values(n)) + "\n")
    return path


def test_bonn_text_segment_duration_and_read(tmp_path: Path) -> None:
    path = _bonn(tmp_path / "Z001.txt")
    source = open_text_segment(path, 173.61)
    assert source.format == "text"
    assert source.channel_names == ["Z001"]
    assert source.duration_s == pytest.approx(4097 / 173.61)
    x = source.read(0.0, 1.0)
    assert x.shape == (174, 1)
    np.testing.assert_array_equal(x[:, 0], _bonn_values()[:174])
    later = source.read(10.0, 11.0)
    np.testing.assert_array_equal(later[:, 0], _bonn_values()[1736:1910])


def test_bonn_segment_through_open_eeg_and_resampled(tmp_path: Path) -> None:
    path = _bonn(tmp_path / "S001.txt")
    source = open_eeg(path, sampling_rate=173.61)
    x = source.read(2.0, 6.0, rate=128)[:, 0]
    assert x.shape == (512,)
    # Fourier resampling 173.61 -> 128 Hz keeps the 10 Hz sine: its frequency, amplitude and phase
    spectrum = np.abs(np.fft.rfft(x))
    assert np.fft.rfftfreq(512, 1 / 128)[np.argmax(spectrum)] == pytest.approx(10.0, abs=0.25)
    assert np.sqrt(np.mean(x[32:-32] ** 2)) == pytest.approx(100 / np.sqrt(2), rel=0.03)
    t = 2.0 + np.arange(512) / 128
    assert np.corrcoef(x, 100 * np.sin(2 * np.pi * 10 * t))[0, 1] > 0.95


def test_text_segment_needs_a_sampling_rate(tmp_path: Path) -> None:
    path = _bonn(tmp_path / "Z002.txt")
    with pytest.raises(EegFileError, match="needs its sampling rate") as info:
        open_eeg(path)
    assert info.value.path == path
    with pytest.raises(EegFileError, match="needs its sampling rate"):
        open_text_segment(path, 0)


def test_text_segment_below_eeg_rate_is_refused(tmp_path: Path) -> None:
    path = _bonn(tmp_path / "Z003.txt")
    with pytest.raises(EegFileError, match="below the 64 Hz"):
        open_text_segment(path, 10)


def test_text_segment_non_numeric_line_gives_line_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("12\n-3\n\n4.5\nabc\n7\n")
    with pytest.raises(EegFileError, match=r"line 5: 'abc' is not a number") as info:
        open_text_segment(path, 173.61)
    assert str(path) in str(info.value)


def test_empty_text_segment_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("\n\n")
    with pytest.raises(EegFileError, match="no samples") as info:
        open_eeg(path, sampling_rate=173.61)
    assert info.value.path == path


def test_resample_returns_exactly_n_out_samples() -> None:
    x = _sine(256, n=2560)
    y = resample(x, 256, 128)
    assert len(y) == 1280
    np.testing.assert_allclose(y[50:-50], _sine(128, n=1280)[50:-50], atol=0.5)
    assert len(resample(x, 256, 128, n_out=1300)) == 1300
    assert len(resample(x, 256, 256, n_out=100)) == 100
    np.testing.assert_array_equal(resample(x, 256, 256), x)


def test_content_hash_identifies_the_bytes(edf: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.edf"
    copy.write_bytes(edf.read_bytes())
    assert open_eeg(edf).content_hash() == open_eeg(copy).content_hash()
    other = write_edf(tmp_path / "other.edf", CHANNELS[:2])
    assert open_eeg(other).content_hash() != open_eeg(edf).content_hash()


def test_shared_physionet_motor_imagery_sample() -> None:
    path = SHARED_EEG / "edf_samples" / "S001R01.edf"
    if not path.exists():
        pytest.skip(f"shared EEG data not found at {path}")
    source = open_eeg(path)
    assert len(source.channels) == 64
    assert {c.sampling_rate for c in source.channels} == {160.0}
    assert source.duration_s == pytest.approx(61.0)
    assert source.channel("fc5").name == "Fc5."
    assert source.read(10.0, 12.0, ["Fc5.", "Cz.."]).shape == (320, 2)
