"""Per-beat feature table for the gradient-boosted beat classifier (:mod:`cliniloop.models.ecg.boosted`).

Built on :func:`cliniloop.models.ecg.beat_features.beat_inputs` (band-passed windows resampled to 128 Hz,
divided by the record's median QRS amplitude per lead; RR context normalised by the local and
the record's own rhythm), so every column is relative to the beat's own record. Columns
(``n_leads`` = 2 for MIT-BIH; ``l`` = lead index):

``rr:<name>``
    The :data:`~cliniloop.models.ecg.beat_features.RR_FEATURES` (dimensionless ratios and seconds).
``rec:premature_share``, ``rec:rr_spread``, ``rec:rr_s``
    Record context: share of the record's beats with ``pre < 0.85 * local``, the record's
    median ``rr_spread`` (high in atrial fibrillation) and its median RR (s).
``m<l>:<i>``
    The normalised morphology every :data:`DECIMATE` samples (23.4 ms apart) from -0.25 s to
    +0.45 s (dimensionless, 1 = the record's typical QRS peak-to-peak).
``d<l>:<i>``
    The same for ``morphology - record template`` (how the beat differs from its record's
    dominant beat).
``s<l>:<name>``
    Shape summaries per lead: Pearson correlation with the template over the whole window, the
    QRS (+-80 ms), the P region (-250..-80 ms) and the T region (+100..+450 ms); RMS of the
    difference in the same regions; QRS maximum, minimum and peak-to-peak; QRS width (s: twice
    the standard deviation of the squared-slope energy within +-150 ms) and its ratio to the
    template's; P-region and T-region energy ratios to the template's.
``n<l>:corr_prev``, ``n<l>:corr_next``
    Correlation with the previous and the next beat's window (runs and bigeminy).
``w<l>:<i>``
    Level-4 ``db4`` wavelet approximation coefficients of the window (PyWavelets).
``e<l>:<name>``
    The record's *ectopic* template: the sample-wise median of the beats whose lead-0 QRS
    correlates below :data:`ECTOPIC_CORR` with the record template (at least
    :data:`MIN_ECTOPIC` such beats; no labels are used). Per lead: correlation of the QRS with
    it (``corr_ect``); least-squares weights ``a``, ``b`` of ``QRS ~ a * template + b *
    ectopic`` (``mix_a``, ``mix_b``), ``b / (|a| + |b|)`` (``mix_frac``: 0 for a beat like the
    dominant one, 1 for one like the ectopic one, in between for a fusion) and the fit's RMS
    residual (``mix_resid``); and two record constants, the ectopic template's QRS correlation
    with the dominant one (``ect_vs_tmpl``) and the share of ectopic beats (``ect_share``).
    Without an ectopic template ``b = 0`` and ``corr_ect`` is the correlation with the
    template.
``z<l>:<name>``
    Robust per-record z-scores (value minus the record's median, over 1.4826 times its median
    absolute deviation + 0.001, clipped to +-50) of the QRS and whole-window correlations with
    the template, the RMS differences in the QRS, P and T regions and the P-region correlation:
    how unusual a beat is *for its own record* (a noisy record has a wide spread).
``rr:run_onset``, ``rr:run_pos``
    Fast runs (last in the table): a run is a stretch of consecutive beats whose pre-RR is below
    :data:`RUN_FAST` times the record's median RR. ``run_onset`` is ln(pre / previous pre) at
    the run's first beat, given to every beat of the run (0 outside a run): a run of
    supraventricular beats starts abruptly (about -0.15 to -0.75 on DS1), sinus tachycardia speeds
    up gradually (about -0.01 to -0.1). ``run_pos`` is ln(1 + the beat's position in the run)
    (0 outside). They tell the beats *inside* an ectopic run, which are not premature against
    their neighbours, from a fast sinus rhythm.

Pure numpy/scipy (+ PyWavelets); nothing is computed at import time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cliniloop.models.ecg import beat_features as bf

#: Keep every DECIMATE-th morphology sample as a column.
DECIMATE = 3
#: Lead-0 QRS correlation with the template below which a beat joins the ectopic template.
ECTOPIC_CORR = 0.7
#: Fewest such beats for an ectopic template.
MIN_ECTOPIC = 5
#: A beat whose pre-RR is below this share of the record's median RR belongs to a fast run.
RUN_FAST = 0.85
_WAVELET = "db4"
_WAVELET_LEVEL = 3


def _regions() -> dict[str, slice]:
    c = int(round(bf.PRE_S * bf.MORPH_RATE))
    r = bf.MORPH_RATE
    return {
        "all": slice(0, bf.MORPH_LENGTH),
        "qrs": slice(max(0, c - int(0.08 * r)), c + int(0.08 * r) + 1),
        "p": slice(0, max(1, c - int(0.08 * r))),
        "t": slice(c + int(0.10 * r), bf.MORPH_LENGTH),
    }


def _corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Pearson correlation of ``a`` (n, L) with ``b`` (n, L) or (L,)."""
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    num = (a * b).sum(axis=-1)
    den = np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1))
    return np.where(den > 1e-9, num / np.maximum(den, 1e-9), 0.0)


def _qrs_width_s(x: np.ndarray) -> np.ndarray:
    """Twice the std (s) of the squared-slope energy's time distribution within +-150 ms."""
    c = int(round(bf.PRE_S * bf.MORPH_RATE))
    h = int(0.15 * bf.MORPH_RATE)
    seg = x[..., max(0, c - h) : c + h + 1]
    e = np.diff(seg, axis=-1) ** 2
    t = np.arange(e.shape[-1], dtype=np.float64)
    tot = np.maximum(e.sum(axis=-1), 1e-12)
    mu = (e * t).sum(axis=-1) / tot
    var = (e * (t - mu[..., None]) ** 2).sum(axis=-1) / tot
    return 2.0 * np.sqrt(var) / bf.MORPH_RATE


def feature_table(inputs: bf.BeatInputs) -> tuple[np.ndarray, list[str]]:
    """Feature matrix of one record's beats (module docstring).

    Parameters
    ----------
    inputs : BeatInputs
        What :func:`cliniloop.models.ecg.beat_features.beat_inputs` returned for the record.

    Returns
    -------
    X : np.ndarray
        ``(n_beats, n_features)`` float32.
    names : list of str
        Column names.
    """
    import pywt

    morph = inputs.morphology.astype(np.float64)
    tmpl = inputs.template.astype(np.float64)
    n, n_leads, _ = morph.shape
    cols: list[np.ndarray] = []
    names: list[str] = []

    def add(values: np.ndarray, name: str) -> None:
        cols.append(np.asarray(values, dtype=np.float64).reshape(n, -1))
        if cols[-1].shape[1] == 1:
            names.append(name)
        else:
            names.extend(f"{name}:{i}" for i in range(cols[-1].shape[1]))

    rr = inputs.rr.astype(np.float64)
    for j, name in enumerate(bf.RR_FEATURES):
        add(rr[:, j], f"rr:{name}")
    pre_local = rr[:, bf.RR_FEATURES.index("log_pre_local")]
    spread = rr[:, bf.RR_FEATURES.index("rr_spread")]
    add(np.full(n, float((pre_local < np.log(0.85)).mean()) if n else 0.0), "rec:premature_share")
    add(np.full(n, float(np.median(spread)) if n else 0.0), "rec:rr_spread")
    add(np.full(n, inputs.record_rr_s), "rec:rr_s")

    regions = _regions()
    for lead in range(n_leads):
        m, t = morph[:, lead], tmpl[lead]
        d = m - t[None]
        add(m[:, ::DECIMATE], f"m{lead}")
        add(d[:, ::DECIMATE], f"d{lead}")
        for reg, sl in regions.items():
            add(_corr(m[:, sl], t[sl]), f"s{lead}:corr_{reg}")
            add(np.sqrt((d[:, sl] ** 2).mean(axis=1)), f"s{lead}:rms_{reg}")
        q = m[:, regions["qrs"]]
        add(q.max(axis=1), f"s{lead}:qrs_max")
        add(q.min(axis=1), f"s{lead}:qrs_min")
        add(q.max(axis=1) - q.min(axis=1), f"s{lead}:qrs_p2p")
        width = _qrs_width_s(m)
        t_width = float(_qrs_width_s(t[None])[0])
        add(width, f"s{lead}:qrs_width_s")
        add(width / max(t_width, 1e-3), f"s{lead}:qrs_width_ratio")
        for reg in ("p", "t"):
            sl = regions[reg]
            e_t = max(float((t[sl] ** 2).mean()), 1e-6)
            add(np.log((m[:, sl] ** 2).mean(axis=1) / e_t + 1e-6), f"s{lead}:{reg}_energy_log_ratio")
        prev = np.concatenate([m[:1], m[:-1]]) if n else m
        nxt = np.concatenate([m[1:], m[-1:]]) if n else m
        add(_corr(m, prev), f"n{lead}:corr_prev")
        add(_corr(m, nxt), f"n{lead}:corr_next")
        if n:
            coeffs = pywt.wavedec(m, _WAVELET, level=_WAVELET_LEVEL, axis=1, mode="symmetric")[0]
        else:
            size = pywt.wavedec(np.zeros(bf.MORPH_LENGTH), _WAVELET, level=_WAVELET_LEVEL, mode="symmetric")[0].size
            coeffs = np.zeros((0, size))
        add(coeffs, f"w{lead}")
    _ectopic_columns(morph, tmpl, regions, add)
    _record_z_columns(morph, tmpl, regions, add)
    onset, pos = run_columns(rr[:, bf.RR_FEATURES.index("pre_s")], inputs.record_rr_s)
    add(onset, "rr:run_onset")
    add(pos, "rr:run_pos")
    X = np.concatenate(cols, axis=1) if cols else np.zeros((n, 0))
    return np.nan_to_num(X, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32), names


def fast_runs(pre_s: np.ndarray, record_rr_s: float) -> list[tuple[int, int]]:
    """Fast runs of one record: ``(first, last)`` beat indices (inclusive) of each stretch of
    consecutive beats whose pre-RR is below :data:`RUN_FAST` times the record's median RR.

    Parameters
    ----------
    pre_s : np.ndarray
        ``(n,)`` RR interval before each beat (s), in beat order.
    record_rr_s : float
        The record's median RR (s); no run when it is not positive.

    Returns
    -------
    list of tuple of int
        Runs in beat order (a single fast beat is a run of one).
    """
    pre = np.asarray(pre_s, dtype=np.float64)
    if len(pre) == 0 or not record_rr_s > 0:
        return []
    fast = pre < RUN_FAST * float(record_rr_s)
    edges = np.diff(np.concatenate([[0], fast.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


def run_columns(pre_s: np.ndarray, record_rr_s: float) -> tuple[np.ndarray, np.ndarray]:
    """``rr:run_onset`` and ``rr:run_pos`` (module docstring) of one record's beats.

    Parameters
    ----------
    pre_s : np.ndarray
        ``(n,)`` RR interval before each beat (s), in beat order.
    record_rr_s : float
        The record's median RR (s).

    Returns
    -------
    onset, pos : np.ndarray
        ``(n,)`` ln(pre / previous pre) at the first beat of the beat's fast run (0 for a run
        starting at the first beat), and ln(1 + position in the run) (1 = the first beat); both 0
        outside a run.
    """
    pre = np.maximum(np.asarray(pre_s, dtype=np.float64), 1e-3)
    onset, pos = np.zeros(len(pre)), np.zeros(len(pre))
    for a, b in fast_runs(pre, record_rr_s):
        onset[a : b + 1] = float(np.log(pre[a] / pre[a - 1])) if a > 0 else 0.0
        pos[a : b + 1] = np.log1p(np.arange(1, b - a + 2))
    return onset, pos


def _ectopic_columns(morph: np.ndarray, tmpl: np.ndarray, regions: dict[str, slice], add: Callable[[np.ndarray, str], None]) -> None:
    """``e<l>:*`` columns (module docstring): likeness to the record's dominant and ectopic templates."""
    n, n_leads, _ = morph.shape
    q = regions["qrs"]
    ectopic = _corr(morph[:, 0, q], tmpl[0, q]) < ECTOPIC_CORR if n else np.zeros(0, bool)
    has_ectopic = int(ectopic.sum()) >= MIN_ECTOPIC
    for lead in range(n_leads):
        m, t = morph[:, lead, q], tmpl[lead, q]
        if has_ectopic:
            e = np.median(morph[ectopic, lead, q], axis=0)
            basis = np.stack([t, e], axis=1)
            coef = np.linalg.lstsq(basis, m.T, rcond=None)[0] if n else np.zeros((2, 0))
            fit = (basis @ coef).T
            corr_ect = _corr(m, e)
            ect_vs = float(_corr(e[None], t)[0])
        else:
            basis = t[:, None]
            a = np.linalg.lstsq(basis, m.T, rcond=None)[0] if n else np.zeros((1, 0))
            coef = np.concatenate([a, np.zeros_like(a)])
            fit = (basis @ a).T
            corr_ect = _corr(m, t)
            ect_vs = 1.0
        a, b = coef
        add(corr_ect, f"e{lead}:corr_ect")
        add(a, f"e{lead}:mix_a")
        add(b, f"e{lead}:mix_b")
        add(b / (np.abs(a) + np.abs(b) + 1e-6), f"e{lead}:mix_frac")
        add(np.sqrt(((m - fit) ** 2).mean(axis=1)) if n else np.zeros(0), f"e{lead}:mix_resid")
        add(np.full(n, ect_vs), f"e{lead}:ect_vs_tmpl")
        add(np.full(n, float(ectopic.mean()) if n else 0.0), f"e{lead}:ect_share")


def _record_z_columns(morph: np.ndarray, tmpl: np.ndarray, regions: dict[str, slice], add: Callable[[np.ndarray, str], None]) -> None:
    """``z<l>:*`` columns (module docstring): shape summaries as robust z-scores within the record."""
    n, n_leads, _ = morph.shape
    for lead in range(n_leads):
        m, t = morph[:, lead], tmpl[lead]
        d = m - t[None]
        values = {
            "corr_qrs": _corr(m[:, regions["qrs"]], t[regions["qrs"]]),
            "corr_all": _corr(m, t),
            "rms_qrs": np.sqrt((d[:, regions["qrs"]] ** 2).mean(axis=1)),
            "rms_p": np.sqrt((d[:, regions["p"]] ** 2).mean(axis=1)),
            "rms_t": np.sqrt((d[:, regions["t"]] ** 2).mean(axis=1)),
            "corr_p": _corr(m[:, regions["p"]], t[regions["p"]]),
        }
        for name, v in values.items():
            if n:
                med = float(np.median(v))
                mad = 1.4826 * float(np.median(np.abs(v - med))) + 1e-3
                v = np.clip((v - med) / mad, -50.0, 50.0)
            add(v, f"z{lead}:{name}")
