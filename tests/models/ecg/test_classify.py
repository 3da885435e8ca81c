"""Beat features and the AAMI beat classifier on synthetic records (no MIT-BIH needed)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nk = pytest.importorskip("neurokit2")

from cliniloop.models.ecg import beat_features as bf  # noqa: E402
from cliniloop.models.ecg.classify import BeatClassifier, RecordBeats  # noqa: E402
from cliniloop.taxonomies.ecg import AAMI_CLASSES  # noqa: E402

FS = 360.0


def _template() -> np.ndarray:
    """One beat (-0.3 s .. +0.6 s around R) cut from a neurokit2 simulation."""
    from scipy.signal import find_peaks

    x = nk.ecg_simulate(duration=8, sampling_rate=int(FS), heart_rate=60, method="simple", random_state=0, noise=0)
    peaks, _ = find_peaks(x, distance=int(0.5 * FS), height=0.5 * x.max())
    r = int(peaks[len(peaks) // 2])
    return x[r - int(0.3 * FS) : r + int(0.6 * FS)].astype(np.float64)


def _synthetic_record(name: str, seed: int, n_beats: int = 180, scale: float = 1.0, rate_s: float = 0.8) -> RecordBeats:
    """N beats at a regular rate, S beats premature with the normal shape, V beats premature, wide and inverted.

    Two leads: lead 2 is a scaled, slightly smoothed copy of lead 1. Gaussian noise and a
    0.3 Hz baseline wander are added.
    """
    rng = np.random.default_rng(seed)
    tmpl = _template()
    pre = int(0.3 * FS)
    wide = np.interp(np.linspace(0, len(tmpl) - 1, int(len(tmpl) * 1.8)), np.arange(len(tmpl)), tmpl)
    v_shape = -0.8 * wide
    v_pre = int(0.3 * FS * 1.8)
    labels = []
    times = []
    t = 1.0
    for i in range(n_beats):
        kind = "N"
        if i > 2 and labels[-1] == "N":
            u = rng.random()
            kind = "S" if u < 0.15 else ("V" if u < 0.30 else "N")
        rr = rate_s * (1 + 0.03 * rng.standard_normal())
        if kind != "N":
            rr *= 0.6
        if labels and labels[-1] != "N":
            rr = rate_s * 1.4  # compensatory pause after an ectopic beat
        t += rr
        times.append(t)
        labels.append(kind)
    n = int((t + 1.5) * FS)
    sig = np.zeros(n)
    for tt, kind in zip(times, labels, strict=True):
        c = int(round(tt * FS))
        shape, off = (v_shape, v_pre) if kind == "V" else (tmpl, pre)
        lo = c - off
        seg = shape[max(0, -lo) : min(len(shape), n - lo)]
        sig[max(0, lo) : max(0, lo) + len(seg)] += seg
    sig = scale * sig + 0.05 * rng.standard_normal(n) + 0.2 * np.sin(2 * np.pi * 0.3 * np.arange(n) / FS)
    lead2 = 0.5 * np.convolve(sig, np.ones(5) / 5, mode="same")
    samples = np.round(np.array(times) * FS).astype(np.int64)
    return RecordBeats(name, np.stack([sig, lead2], axis=1), FS, samples, np.array(labels))


@pytest.fixture(scope="module")
def records() -> list[RecordBeats]:
    return [
        _synthetic_record("a", 1, scale=1.0, rate_s=0.8),
        _synthetic_record("b", 2, scale=2.5, rate_s=0.95),
        _synthetic_record("c", 3, scale=0.6, rate_s=0.7),
        _synthetic_record("held", 4, scale=1.6, rate_s=0.85),
    ]


def _clf(**kw) -> BeatClassifier:
    params = {"epochs": 12, "batch_size": 64, "lr": 3e-3, "seed": 0, "device": "cpu"} | kw
    return BeatClassifier(**params)


@pytest.fixture(scope="module")
def fitted(records) -> BeatClassifier:
    return _clf().fit(records[:3])


# ---------------------------------------------------------------------- features
def test_beat_inputs_shapes_and_units(records):
    rec = records[0]
    inp = bf.beat_inputs(rec.signal, rec.sampling_rate, rec.samples)
    n = len(rec.samples)
    assert inp.morphology.shape == (n, 2, bf.MORPH_LENGTH) and inp.morphology.dtype == np.float32
    assert inp.template.shape == (2, bf.MORPH_LENGTH)
    assert inp.rr.shape == (n, len(bf.RR_FEATURES)) and inp.rr.dtype == np.float32
    # amplitude normalisation: a typical QRS is about 1 peak to peak in every lead
    centre = int(round(bf.PRE_S * bf.MORPH_RATE))
    qrs = inp.template[:, centre - 8 : centre + 9]
    assert np.allclose(qrs.max(axis=1) - qrs.min(axis=1), 1.0, atol=0.25)
    # premature beats have a negative log(pre / local)
    col = bf.RR_FEATURES.index("log_pre_local")
    assert inp.rr[rec.labels == "S", col].mean() < -0.3 < inp.rr[rec.labels == "N", col].mean() + 0.3
    assert abs(inp.record_rr_s - 0.8) < 0.1


def test_beat_inputs_scale_invariant(records):
    rec = records[0]
    a = bf.beat_inputs(rec.signal, rec.sampling_rate, rec.samples)
    b = bf.beat_inputs(rec.signal * 7.0, rec.sampling_rate, rec.samples)
    assert np.allclose(a.morphology, b.morphology, atol=1e-4)


def test_beat_inputs_record_edges_are_padded():
    sig = np.random.default_rng(0).standard_normal((1000, 2))
    samples = np.array([0, 3, 400, 997, 999])
    inp = bf.beat_inputs(sig, 250.0, samples)
    assert inp.morphology.shape == (5, 2, bf.MORPH_LENGTH)
    assert np.isfinite(inp.morphology).all() and np.isfinite(inp.rr).all()
    one = bf.beat_inputs(sig[:, 0], 250.0, np.array([500]))
    assert one.morphology.shape == (1, 1, bf.MORPH_LENGTH) and np.isfinite(one.rr).all()
    none = bf.beat_inputs(sig, 250.0, np.array([], dtype=int))
    assert none.morphology.shape == (0, 2, bf.MORPH_LENGTH) and none.rr.shape == (0, len(bf.RR_FEATURES))


def test_beat_inputs_rejects_bad_input():
    with pytest.raises(ValueError, match="ascending"):
        bf.beat_inputs(np.zeros((100, 1)), 100.0, np.array([50, 10]))
    with pytest.raises(ValueError, match="sampling_rate"):
        bf.beat_inputs(np.zeros((100, 1)), 0.0, np.array([10]))


# ---------------------------------------------------------------------- classifier
def test_predict_proba_shapes_and_rows_sum_to_one(fitted, records):
    held = records[3]
    proba = fitted.predict_proba(held)
    assert proba.shape == (len(held.samples), len(AAMI_CLASSES))
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert (proba >= 0).all()
    pred = fitted.predict(held)
    assert pred.shape == (len(held.samples),) and set(pred) <= set(AAMI_CLASSES)
    assert fitted.version.startswith("beatcnn-")
    assert fitted.training_["calibration_records"] and 0.05 <= fitted.temperature_ <= 20
    assert fitted.training_["device"] == "cpu"


def test_learns_separable_case_on_held_out_record(fitted, records):
    held = records[3]
    pred = fitted.predict(held)
    assert (pred == held.labels).mean() > 0.9
    for cls in ("S", "V"):
        assert (pred[held.labels == cls] == cls).mean() > 0.7


def test_deterministic_under_seed(records, fitted):
    again = _clf().fit(records[:3])
    assert np.array_equal(again.predict_proba(records[3]), fitted.predict_proba(records[3]))
    assert again.version == fitted.version


def test_save_load_round_trip(fitted, records, tmp_path):
    fitted.save(tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"beatcnn.pt", "beatcnn.json"}
    loaded = BeatClassifier.load(tmp_path / "m", device="cpu")
    assert np.array_equal(loaded.predict_proba(records[3]), fitted.predict_proba(records[3]))
    assert loaded.version == fitted.version
    assert loaded.temperature_ == pytest.approx(fitted.temperature_)
    with pytest.raises(FileNotFoundError, match="beatcnn.json"):
        BeatClassifier.load(tmp_path / "nothing")


def test_fine_tune_from_corrections_with_partial_labels(fitted, records):
    rec = records[3]
    labels = np.array([""] * len(rec.labels), dtype=object)
    labels[:60] = rec.labels[:60]  # only the corrected beats carry labels
    corrected = RecordBeats(rec.name, rec.signal, rec.sampling_rate, rec.samples, labels)
    tuned = _clf(epochs=2, lr=5e-4).fit([corrected, records[0]], init_from=fitted)
    assert tuned.training_["fine_tuned_from"] == fitted.version
    assert tuned.training_["beats"] == 60 + len(records[0].samples)
    assert np.allclose(tuned.rr_mean_, fitted.rr_mean_)
    assert (tuned.predict(rec) == rec.labels).mean() > 0.9
    wider = _clf(width=32, epochs=1).fit([records[0]], init_from=fitted)
    assert wider.width == fitted.width  # the architecture follows the parent


def test_fit_errors(records):
    rec = records[0]
    bad = RecordBeats("x", rec.signal, FS, rec.samples, np.array(["Z"] * len(rec.samples)))
    with pytest.raises(ValueError, match="'Z'"):
        _clf(epochs=1).fit([bad])
    unlabelled = RecordBeats("u", rec.signal, FS, rec.samples, None)
    with pytest.raises(ValueError, match="no labelled beat"):
        _clf(epochs=1).fit([unlabelled])
    with pytest.raises(RuntimeError, match="not fitted"):
        _clf().predict_proba(rec)
    one_lead = RecordBeats("o", rec.signal[:, :1], FS, rec.samples, rec.labels)
    with pytest.raises(ValueError, match="lead"):
        _clf(epochs=1).fit([one_lead])


def test_single_record_fit_keeps_unit_temperature(records):
    clf = _clf(epochs=1).fit([records[0]])
    assert clf.temperature_ == 1.0 and clf.training_["calibration_records"] == []
