"""Boosted beat classifier, patient adaptation and the ECG replay harness on synthetic records."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("lightgbm")
pytest.importorskip("pywt")
pytest.importorskip("torch")
pytest.importorskip("neurokit2")

from cliniloop.models.ecg.adapt import PatientAdapter, record_scale  # noqa: E402
from cliniloop.models.ecg.boosted import BoostedBeatClassifier, tune_decision_weights  # noqa: E402
from cliniloop.models.ecg.classify import RecordBeats  # noqa: E402
from cliniloop.taxonomies.ecg import AAMI_CLASSES  # noqa: E402
from tests.models.ecg.test_classify import _synthetic_record  # noqa: E402

FAST = {"n_members": 2, "n_estimators": 30, "min_child_samples": 5, "seed": 0, "n_jobs": 1}


@pytest.fixture(scope="module")
def records() -> list[RecordBeats]:
    return [
        _synthetic_record("a", 1, scale=1.0, rate_s=0.8),
        _synthetic_record("b", 2, scale=2.5, rate_s=0.95),
        _synthetic_record("c", 3, scale=0.6, rate_s=0.7),
        _synthetic_record("d", 5, scale=1.2, rate_s=0.9),
        _synthetic_record("held", 4, scale=1.6, rate_s=0.85),
    ]


@pytest.fixture(scope="module")
def fitted(records) -> BoostedBeatClassifier:
    return BoostedBeatClassifier(**FAST).fit(records[:4])


def test_predicts_held_out_record(fitted, records):
    held = records[4]
    proba = fitted.predict_proba(held)
    assert proba.shape == (len(held.samples), len(AAMI_CLASSES)) and np.allclose(proba.sum(axis=1), 1.0)
    pred = fitted.predict(held)
    assert (pred == held.labels).mean() > 0.9
    assert (pred[held.labels == "V"] == "V").mean() > 0.7
    samples = fitted.predict_proba_samples(held)
    assert samples.shape == (2, len(held.samples), len(AAMI_CLASSES))
    assert np.allclose(samples.mean(axis=0), proba)
    assert fitted.version.startswith("beatgbm-") and set(fitted.training_["record_groups"]) == {"a", "b", "c", "d"}


def test_per_class_thresholds_are_applied(fitted, records):
    held = records[4]
    proba = fitted.predict_proba(held)
    base = fitted.decide(proba)
    saved = fitted.thresholds_.copy()
    try:
        fitted.thresholds_ = np.array([1.0, 1e6, 1.0, 1.0, 1.0])  # S wins wherever it has any mass
        assert (fitted.decide(proba) == "S").mean() > (base == "S").mean()
        fitted.thresholds_ = np.array([1e6, 1.0, 1.0, 1.0, 1.0])
        assert set(fitted.predict(held)) == {"N"}
    finally:
        fitted.thresholds_ = saved
    assert np.array_equal(fitted.decide(proba), base)


def test_tuned_weights_stay_in_span_and_do_not_lower_macro_f1():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 400)
    proba = rng.dirichlet(np.ones(5), 400)
    proba[np.arange(400), y] += 0.3 * rng.random(400)
    proba /= proba.sum(axis=1, keepdims=True)
    w = tune_decision_weights(proba, y, span=2.0)
    assert w[0] == 1.0 and w[4] == 1.0 and np.all((w >= 0.5 - 1e-9) & (w <= 2.0 + 1e-9))
    from cliniloop.models.ecg.boosted import macro_f1

    assert macro_f1(y, (proba * w).argmax(axis=1)) >= macro_f1(y, proba.argmax(axis=1))


def test_af_gate_moves_s_to_n_only_in_irregular_rhythm_and_is_chosen_on_held_out_beats():
    from cliniloop.models.ecg.boosted import apply_gate, choose_gate

    proba = np.array([[0.2, 0.7, 0.05, 0.05, 0.0], [0.2, 0.7, 0.05, 0.05, 0.0], [0.5, 0.1, 0.4, 0.0, 0.0]])
    spread = np.array([0.05, 0.6, 0.6])
    gated = apply_gate(proba, spread, 0.3)
    assert np.allclose(gated[0], proba[0])  # regular rhythm: untouched
    assert gated[1, 1] == 0.0 and np.isclose(gated[1, 0], 0.9) and np.allclose(gated.sum(axis=1), 1.0)
    assert np.allclose(gated[2, 2:], proba[2, 2:])
    assert np.allclose(apply_gate(proba[None], spread, 0.3)[0], gated)  # member samples too
    # held-out beats: S-looking normal beats in an irregular rhythm (false S) -> a limit is chosen
    rng = np.random.default_rng(0)
    y = np.array([0] * 300 + [1] * 40 + [2] * 40 + [3] * 20)
    p = np.eye(5)[y] * 0.8 + 0.05
    p[:60] = [0.3, 0.6, 0.05, 0.05, 0.0]
    sp = np.where(np.arange(len(y)) < 60, 0.45, rng.uniform(0.0, 0.1, len(y)))
    weights = np.ones(5)
    assert choose_gate(p, y, sp, weights) == 0.4
    # the same false S in a regular rhythm: no limit helps
    assert choose_gate(p, y, np.full(len(y), 0.05), weights) == float("inf")


def test_fusion_rule_flags_only_unpremature_beats_between_the_records_n_and_v():
    from cliniloop.models.ecg.boosted import FUSION_MIN_V, apply_fusion, fusion_mask

    # decided classes: 40 N (width 1.0, corr 0.99), 12 V (width 3.0, corr 0.5), and 4 test beats
    decided = np.array([0] * 40 + [2] * 12 + [0, 0, 0, 0])
    width = np.array([1.0] * 40 + [3.0] * 12 + [2.0, 2.0, 1.1, 2.0])
    corr = np.array([0.99] * 40 + [0.5] * 12 + [0.75, 0.75, 0.75, 0.98])
    log_pre = np.zeros(len(decided))
    log_pre[53] = -0.4  # premature: a V-like or S beat, not a fusion
    mask = fusion_mask(np.stack([width, corr], axis=1), log_pre, decided)
    assert mask.tolist() == [False] * 52 + [True, False, False, False]
    # too few beats called V in the record: no rule
    few = decided.copy()
    few[40 + FUSION_MIN_V - 1 : 52] = 0
    assert not fusion_mask(np.stack([width, corr], axis=1), log_pre, few).any()
    proba = np.tile([0.7, 0.05, 0.2, 0.05, 0.0], (len(decided), 1))
    moved = apply_fusion(proba[None], mask)[0]
    assert np.allclose(moved[52], [0.0, 0.05, 0.2, 0.75, 0.0]) and np.allclose(moved[~mask], proba[~mask])


def test_run_rule_continues_an_s_run_at_its_regular_fast_rate_only():
    from cliniloop.models.ecg.boosted import run_mask

    n_, s_, v_ = 0, 1, 2
    pre = np.array([1.0, 1.0, 0.6, 0.6, 0.61, 0.6, 1.0, 1.0, 0.6, 0.6, 1.0, 0.6, 0.45, 0.6, 1.0, 0.6, 0.6, 0.6, 1.0])
    decided = np.array([n_, n_, s_, n_, n_, v_, n_, n_, n_, n_, n_, s_, n_, n_, n_, n_, s_, n_, n_])
    mask = run_mask(pre, 1.0, decided)
    # run 2-5 with an S: beats 3, 4 continue it (beat 5 is V, kept); run 8-9 has no S: untouched;
    # run 11-13: beat 12 changes rate by ln(0.45/0.6) (not the same rhythm), beat 13 too;
    # run 15-17 whose S is its middle beat: the run's later beats (not its first) become S
    assert np.flatnonzero(mask).tolist() == [3, 4, 17]
    allowed = np.ones(len(pre), bool)
    allowed[4] = False  # e.g. gated as atrial fibrillation
    assert np.flatnonzero(run_mask(pre, 1.0, decided, allowed)).tolist() == [3, 17]


def test_rules_act_in_the_classifier_and_old_files_load_without_them(fitted, records, tmp_path):
    import json

    from cliniloop.models.ecg.boosted import FUSION_COLUMNS, fusion_mask, run_mask

    held = records[4]
    X = fitted.features(held).copy()
    col = fitted.columns_.index
    # fusion-like beats: every third N beat gets a QRS width and correlation half-way between the
    # record's N and V beats, at the normal time
    ref = held.labels
    n_rows, v_rows = np.flatnonzero(ref == "N"), np.flatnonzero(ref == "V")
    mid = n_rows[5::3]
    for c in FUSION_COLUMNS:
        X[mid, col(c)] = 0.5 * (np.median(X[n_rows, col(c)]) + np.median(X[v_rows, col(c)]))
    X[mid, col("rr:log_pre_local")] = 0.0
    # an S run: the beat after each S keeps the S beat's RR
    s_rows = np.flatnonzero(ref == "S")
    s_rows = s_rows[s_rows + 1 < len(ref)]
    X[s_rows + 1, col("rr:pre_s")] = X[s_rows, col("rr:pre_s")]
    try:
        fitted.fusion_rule = fitted.run_rule = False
        base = fitted.proba_samples_from_features(X)
        fitted.run_rule = True
        with_run = fitted.proba_from_features(X)
        fitted.fusion_rule = True
        with_both = fitted.proba_from_features(X)
    finally:
        fitted.fusion_rule = fitted.run_rule = True
    idx = {c: AAMI_CLASSES.index(c) for c in "NSF"}
    decided = (base.mean(axis=0) * fitted.thresholds_).argmax(axis=1)
    runs = run_mask(X[:, col("rr:pre_s")], float(X[0, col("rec:rr_s")]), decided)
    assert runs.any()
    p0 = base.mean(axis=0)
    assert np.allclose(with_run[runs, idx["S"]], p0[runs, idx["S"]] + p0[runs, idx["N"]]) and np.all(with_run[runs, idx["N"]] == 0)
    assert np.allclose(with_run[~runs], p0[~runs])
    decided_run = (with_run * fitted.thresholds_).argmax(axis=1)
    fusion = fusion_mask(X[:, [col(c) for c in FUSION_COLUMNS]], X[:, col("rr:log_pre_local")], decided_run)
    assert fusion.any() and not (fusion & runs).any()
    assert np.allclose(with_both[fusion, idx["F"]], with_run[fusion, idx["F"]] + with_run[fusion, idx["N"]])
    assert np.allclose(with_both[~fusion], with_run[~fusion]) and np.allclose(with_both.sum(axis=1), 1.0)
    # files written before the rules load with both rules off
    folder = fitted.save(tmp_path / "old")
    meta = json.loads((folder / "beatgbm.json").read_text())
    assert meta["params"]["run_rule"] is True and meta["params"]["fusion_rule"] is True
    del meta["params"]["run_rule"], meta["params"]["fusion_rule"]
    (folder / "beatgbm.json").write_text(json.dumps(meta))
    old = BoostedBeatClassifier.load(folder)
    assert not old.run_rule and not old.fusion_rule
    assert np.allclose(old.proba_from_features(X), p0)


def test_deterministic_and_save_load(fitted, records, tmp_path):
    again = BoostedBeatClassifier(**FAST).fit(records[:4])
    assert again.version == fitted.version
    assert np.array_equal(again.predict_proba(records[4]), fitted.predict_proba(records[4]))
    fitted.save(tmp_path / "m")
    loaded = BoostedBeatClassifier.load(tmp_path / "m")
    assert loaded.version == fitted.version
    assert np.allclose(loaded.predict_proba(records[4]), fitted.predict_proba(records[4]))
    assert np.array_equal(loaded.thresholds_, fitted.thresholds_)
    assert loaded.gate_spread_ == fitted.gate_spread_
    with pytest.raises(FileNotFoundError, match="beatgbm.json"):
        BoostedBeatClassifier.load(tmp_path / "nothing")


def test_fit_errors(records):
    with pytest.raises(RuntimeError, match="not fitted"):
        BoostedBeatClassifier().predict_proba(records[0])
    rec = records[0]
    with pytest.raises(ValueError, match="no labelled beat"):
        BoostedBeatClassifier(**FAST).fit([RecordBeats("u", rec.signal, rec.sampling_rate, rec.samples, None)])
    one = BoostedBeatClassifier(**FAST).fit([rec])
    assert len(one.members_) == 1 and one.temperature_ == 1.0


def test_adaptation_moves_beats_towards_their_corrected_neighbours(fitted, records):
    held = records[4]
    X = fitted.features(held)
    emb = fitted.embedding(X)
    base = fitted.proba_from_features(X)
    # corrections that (wrongly, on purpose) call every V beat F: nearby V beats must follow them
    v = np.flatnonzero(held.labels == "V")
    corrected = v[::3]
    adapter = PatientAdapter().fit(emb[corrected], np.array(["F"] * len(corrected)))
    adapted = adapter.adjust(emb, base)
    assert np.allclose(adapted.sum(axis=1), 1.0)
    assert adapted[v, 3].mean() > base[v, 3].mean() + 0.3
    n_far = np.flatnonzero(held.labels == "N")
    assert np.abs(adapted[n_far] - base[n_far]).max(axis=1).mean() < 0.1  # unlike the corrected beats: little change
    assert adapter.adjust(emb, fitted.proba_samples_from_features(X)).shape == (2, len(X), 5)
    with pytest.raises(ValueError, match="'Z'"):
        PatientAdapter().fit(emb[:1], np.array(["Z"]))


def test_balanced_adapter_does_not_spread_an_over_sampled_class():
    rng = np.random.default_rng(0)
    emb = np.concatenate([rng.normal(0.0, 1.0, (900, 2)), rng.normal(3.0, 1.0, (100, 2))])
    truth = np.array(["N"] * 900 + ["S"] * 100)
    base = np.tile([0.9, 0.1, 0.0, 0.0, 0.0], (1000, 1))
    # a rare-class-first strategy corrected 20 S beats (those nearest the normal ones) and 2 N beats
    s_idx = 900 + np.argsort(np.linalg.norm(emb[900:], axis=1))[:20]
    chosen = np.concatenate([s_idx, [0, 1]])
    shares = {}
    for balance in (False, True):
        adapted = PatientAdapter(bandwidth=8.0, balance=balance, scale="absolute").fit(emb[chosen], truth[chosen]).adjust(emb, base)
        pred = np.asarray(AAMI_CLASSES)[adapted.argmax(axis=1)]
        shares[balance] = ((pred == "S") & (truth == "N")).mean()
        assert (pred[truth == "S"] == "S").mean() > 0.5
    assert shares[True] < 0.7 * shares[False]


def test_record_scale_bandwidth_follows_each_recordings_own_spacing():
    rng = np.random.default_rng(1)
    emb = np.concatenate([rng.normal(0.0, 1.0, (300, 4)), rng.normal(6.0, 1.0, (60, 4))])
    truth = np.array(["N"] * 300 + ["V"] * 60)
    base = np.tile([0.6, 0.1, 0.2, 0.05, 0.05], (360, 1))
    chosen = np.array([0, 1, 2, 300, 301, 302])
    adapted = {}
    for factor in (1.0, 10.0):  # the same recording, ten times as spread out (another patient's amplitude)
        assert record_scale(factor * emb) == pytest.approx(factor * record_scale(emb))
        relative = PatientAdapter().fit(factor * emb[chosen], truth[chosen]).adjust(factor * emb, base)
        absolute = PatientAdapter(bandwidth=3.0, scale="absolute").fit(factor * emb[chosen], truth[chosen]).adjust(factor * emb, base)
        adapted[factor] = (relative, absolute)
    # record units: the adaptation does not depend on how spread out the recording is; embedding units: it does
    assert np.allclose(adapted[1.0][0], adapted[10.0][0])
    assert not np.allclose(adapted[1.0][1], adapted[10.0][1], atol=0.05)
    pred = np.asarray(AAMI_CLASSES)[adapted[10.0][0].argmax(axis=1)]
    assert (pred[truth == "N"] == "N").all()  # the corrected V beats do not spread over the normal cluster
    assert adapted[10.0][0][truth == "V", 2].mean() > base[0, 2] + 0.2
    # a caller that knows the scale gets the same answer
    a = PatientAdapter().fit(emb[chosen], truth[chosen])
    assert np.allclose(a.adjust(emb, base, scale=record_scale(emb)), a.adjust(emb, base))
    assert record_scale(emb[:1]) == 1.0
    with pytest.raises(ValueError, match="scale"):
        PatientAdapter(scale="global")
