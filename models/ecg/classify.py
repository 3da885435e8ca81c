"""AAMI beat classifier: a small 1-D CNN on beat morphology plus an MLP on RR context (torch).

Inputs (:mod:`cliniloop.models.ecg.beat_features`)
----------------------------------------
For every beat: the band-passed window -0.25 s..+0.45 s around the fiducial point, resampled to
128 Hz (90 samples) and divided by the record's median QRS amplitude per lead, *plus* the same
window minus the record's median regular beat (how the beat differs from its own patient's
usual beat), so ``2 * leads`` input channels; and 19 per-record-normalised RR features
(:data:`~cliniloop.models.ecg.beat_features.RR_FEATURES`: prematurity against the local and the record's
rhythm, robust z-scores against the local RR spread, compensatory pause, RR differences, the
surrounding RR pattern, local irregularity), standardised with the training set's mean and
standard deviation.

Network
-------
Morphology: three Conv1d-BatchNorm-ReLU-MaxPool blocks (kernels 7, 5, 3; ``width // 2``,
``width``, ``width`` channels; ``width=16`` by default), flattened, dropout, linear to 64.
RR: MLP ``n_rr -> 32 -> 32``. Both concatenated, dropout, ``96 -> 64 -> 5`` logits in
:data:`~cliniloop.taxonomies.ecg.AAMI_CLASSES` order (N, S, V, F, Q). Trained with class-weighted
cross-entropy (``class_weight``; the ``"balanced"`` default weights class c by ``n_max / n_c``,
capped at ``max_class_weight`` = 20, so on MIT-BIH DS1 N 1, S 20, V 12, F 20, Q 20) and AdamW
with a cosine learning-rate decay over a fixed number of epochs (12). Training-time
augmentation: random amplitude scale (0.85-1.15), a shift of up to 2 samples and Gaussian noise
(0.02) on the morphology, Gaussian noise (0.05 standard deviations) on the RR features.

Calibration (record-wise temperature scaling)
---------------------------------------------
:meth:`BeatClassifier.fit` holds out whole records (``calibration_fraction`` of the labelled
records, at least one, chosen by ``seed``): a first network is trained on the other records, and
one temperature ``T`` is fitted to minimise the negative log-likelihood of the held-out
records' reference labels (unweighted). With ``refit=True`` (default) a second network is
then trained on *all* records with the same settings and keeps that ``T``. Because beats of a
patient never sit on both sides of the split, ``T`` reflects how confident the network should
be on an unseen patient. ``predict_proba`` returns ``softmax(logits / T)``; ``T`` does not change
the arg-max, so :meth:`BeatClassifier.predict` is the same with or without calibration. With
fewer than two labelled records no split is possible and ``T`` is kept from ``init_from`` (or 1).
One temperature fixes over- or under-confidence, not the shift towards rare classes that the
class weights cause: probabilities of S, V and F stay somewhat generous (the arg-max is tuned for
sensitivity to rare classes, not for the accuracy of the most probable class).

Retraining from corrections
---------------------------
``fit(records, init_from=previous)`` starts from ``previous``'s weights and RR standardisation
(and takes its ``leads`` and ``width``) instead of a random initialisation, and trains for this
classifier's ``epochs`` at this classifier's ``lr`` (a few epochs at a smaller ``lr``, e.g.
``BeatClassifier(epochs=4, lr=5e-4)``, is a fine-tune; the defaults retrain fully from the
parent's weights). The record list
should be the corrected records *plus* (a sample of) the original training records, so the
network does not forget. Unlabelled beats (label ``""`` or ``None``) still give RR context and a
record template, but no loss: a record with only a few corrected beats can be passed whole.

Devices and determinism
-----------------------
``device=None`` picks ``"cuda"`` when :func:`torch.cuda.is_available` and ``"cpu"`` otherwise.
On CPU, training is deterministic for a given ``seed`` and thread count.

Files (:meth:`BeatClassifier.save`): ``beatcnn.pt`` (a plain ``state_dict`` of tensors, read back
with ``weights_only=True``) and ``beatcnn.json`` (hyper-parameters, temperature, RR
standardisation, feature constants, training summary, version). No code is pickled.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cliniloop.models.ecg import beat_features as bf
from cliniloop.models.torch_common import resolve_device, weights_digest
from cliniloop.taxonomies.ecg import AAMI_CLASSES

#: Weights file and metadata file written by :meth:`BeatClassifier.save`.
WEIGHTS_FILE = "beatcnn.pt"
META_FILE = "beatcnn.json"
FORMAT_VERSION = 1

Progress = Callable[[int, int], None]


@dataclass
class RecordBeats:
    """One record's signal and beats (the unit of training, calibration splits and prediction).

    Attributes
    ----------
    name : str
        Record name (used to keep a record on one side of every split).
    signal : np.ndarray
        ``(n_samples, n_leads)`` float in any amplitude unit (mV in MIT-BIH). The first
        ``leads`` columns are used, in order: keep the lead order of training (MLII first).
    sampling_rate : float
        Hz.
    samples : np.ndarray
        Beat fiducial sample indices (int), ascending.
    labels : np.ndarray or None
        AAMI class letter per beat (``"N"``, ``"S"``, ``"V"``, ``"F"``, ``"Q"``); ``""`` or
        ``None`` for an unlabelled beat. ``None`` for a record to predict.
    """

    name: str
    signal: np.ndarray
    sampling_rate: float
    samples: np.ndarray
    labels: np.ndarray | None = None
    _features: dict[tuple, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )


class _BeatNet(nn.Module):
    """CNN on morphology channels + MLP on RR features -> 5 logits."""

    def __init__(self, in_channels: int, length: int, n_rr: int, n_classes: int, width: int, dropout: float):
        super().__init__()
        half = max(4, width // 2)
        self.conv = nn.Sequential(
            nn.Conv1d(in_channels, half, 7, padding=3),
            nn.BatchNorm1d(half),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(half, width, 5, padding=2),
            nn.BatchNorm1d(width),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(width, width, 3, padding=1),
            nn.BatchNorm1d(width),
            nn.ReLU(),
            nn.MaxPool1d(2),
        )
        flat = width * (length // 8)
        self.morph = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(flat, 64), nn.ReLU())
        self.rr = nn.Sequential(nn.Linear(n_rr, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(96, 64), nn.ReLU(), nn.Linear(64, n_classes))

    def forward(self, morph: torch.Tensor, rr: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.morph(self.conv(morph)), self.rr(rr)], dim=1))


def _label_indices(labels: np.ndarray | None, n: int, name: str) -> np.ndarray:
    """Class index per beat, -1 for unlabelled; raises on unknown letters."""
    if labels is None:
        return np.full(n, -1, dtype=np.int64)
    labels = np.asarray(labels, dtype=object).ravel()
    if labels.size != n:
        raise ValueError(f"record {name}: {labels.size} labels for {n} beats")
    lookup = {c: i for i, c in enumerate(AAMI_CLASSES)}
    out = np.full(n, -1, dtype=np.int64)
    for i, lab in enumerate(labels):
        if lab is None or lab == "":
            continue
        if lab not in lookup:
            raise ValueError(f"record {name}: beat {i} has label {lab!r}, not one of {AAMI_CLASSES}")
        out[i] = lookup[lab]
    return out


class BeatClassifier:
    """AAMI N/S/V/F/Q beat classifier (see the module docstring for method and calibration).

    Parameters
    ----------
    epochs : int
        Passes over the labelled beats.
    batch_size : int
        Beats per optimisation step.
    lr : float
        Peak AdamW learning rate (cosine decay to 0 over the epochs).
    weight_decay : float
        AdamW weight decay.
    class_weight : {"balanced", "sqrt"}, mapping or None
        Loss weight per class: ``(n_max / n_c) ** p`` with p = 1 (``"balanced"``) or 0.5
        (``"sqrt"``), capped at ``max_class_weight``; a mapping class -> weight; or ``None``
        (all 1). Classes absent from the training beats get weight 0.
    max_class_weight : float
        Cap of the automatic weights (relative to the most frequent class, weight 1).
    width : int
        Convolution channels (the first block has ``width // 2``).
    dropout : float
        Dropout probability.
    leads : int
        Leads used (the first ``leads`` columns of every signal).
    augment : bool
        Training-time augmentation (amplitude, shift, noise).
    calibration_fraction : float
        Fraction of the labelled records held out to fit the temperature (0 = no calibration).
    refit : bool
        After calibrating, retrain on all records (keeps the temperature); otherwise the
        network trained without the calibration records is kept.
    seed : int
        Seeds the initialisation, shuffling, augmentation, dropout and calibration split.
    device : str or None
        Torch device; ``None`` = CUDA when available, else CPU.
    """

    def __init__(
        self,
        *,
        epochs: int = 12,
        batch_size: int = 256,
        lr: float = 2e-3,
        weight_decay: float = 1e-3,
        class_weight: str | Mapping[str, float] | None = "balanced",
        max_class_weight: float = 20.0,
        width: int = 16,
        dropout: float = 0.5,
        leads: int = 2,
        augment: bool = True,
        calibration_fraction: float = 0.2,
        refit: bool = True,
        seed: int = 0,
        device: str | None = None,
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.class_weight = class_weight
        self.max_class_weight = max_class_weight
        self.width = width
        self.dropout = dropout
        self.leads = leads
        self.augment = augment
        self.calibration_fraction = calibration_fraction
        self.refit = refit
        self.seed = seed
        self.device = device
        self.temperature_: float = 1.0
        self.rr_mean_: np.ndarray | None = None
        self.rr_std_: np.ndarray | None = None
        self.net_: _BeatNet | None = None
        self.training_: dict[str, Any] = {}

    # ------------------------------------------------------------------ parameters
    def get_params(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able, ``class_weight`` mappings as dicts)."""
        cw = self.class_weight
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "class_weight": dict(cw) if isinstance(cw, Mapping) else cw,
            "max_class_weight": self.max_class_weight,
            "width": self.width,
            "dropout": self.dropout,
            "leads": self.leads,
            "augment": self.augment,
            "calibration_fraction": self.calibration_fraction,
            "refit": self.refit,
            "seed": self.seed,
            "device": self.device,
        }

    @property
    def device_(self) -> str:
        """The torch device actually used."""
        return resolve_device(self.device)

    # ------------------------------------------------------------------ features
    def _inputs(self, record: RecordBeats) -> tuple[np.ndarray, np.ndarray]:
        """Morphology channels ``(n, 2*leads, L)`` and raw RR features ``(n, k)`` of a record."""
        signal = np.asarray(record.signal)
        if signal.ndim == 1:
            signal = signal[:, None]
        if signal.shape[1] < self.leads:
            raise ValueError(f"record {record.name}: {signal.shape[1]} lead(s), the classifier uses {self.leads}")
        samples = np.asarray(record.samples)
        signal = signal[:, : self.leads]
        # Features are cached on the record (cross-validation reuses records across folds); the
        # key changes when the signal, beats, sampling rate or lead count do.
        key = (
            self.leads,
            float(record.sampling_rate),
            signal.shape,
            hashlib.sha1(np.ascontiguousarray(signal).tobytes()).hexdigest(),
            hashlib.sha1(np.ascontiguousarray(samples, dtype=np.int64).tobytes()).hexdigest(),
        )
        cached = record._features.get(key)
        if cached is None:
            inp = bf.beat_inputs(signal, record.sampling_rate, samples)
            morph = np.concatenate([inp.morphology, inp.morphology - inp.template[None]], axis=1).astype(np.float32)
            cached = (morph, inp.rr)
            record._features.clear()
            record._features[key] = cached
        return cached

    def _class_weights(self, y: np.ndarray) -> np.ndarray:
        counts = np.bincount(y, minlength=len(AAMI_CLASSES)).astype(np.float64)
        cw = self.class_weight
        if cw is None:
            w = np.ones(len(AAMI_CLASSES))
        elif isinstance(cw, Mapping):
            w = np.array([float(cw.get(c, 1.0)) for c in AAMI_CLASSES])
        else:
            power = {"balanced": 1.0, "sqrt": 0.5}.get(cw)
            if power is None:
                raise ValueError(f"class_weight must be 'balanced', 'sqrt', a mapping or None, got {cw!r}")
            safe = np.where(counts > 0, counts, 1.0)
            w = np.minimum((counts.max() / safe) ** power, self.max_class_weight)
        return np.where(counts > 0, w, 0.0)

    # ------------------------------------------------------------------ training
    def _train(
        self,
        morph: np.ndarray,
        rr: np.ndarray,
        y: np.ndarray,
        init_state: dict[str, torch.Tensor] | None,
        seed: int,
        progress: Callable[[int], None] | None,
    ) -> _BeatNet:
        device = self.device_
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        gen = torch.Generator(device="cpu").manual_seed(seed)
        net = _BeatNet(morph.shape[1], morph.shape[2], rr.shape[1], len(AAMI_CLASSES), self.width, self.dropout)
        if init_state is not None:
            net.load_state_dict(init_state)
        net.to(device)
        weights = torch.tensor(self._class_weights(y), dtype=torch.float32, device=device)
        loss_fn = nn.CrossEntropyLoss(weight=weights)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        steps_per_epoch = max(1, math.ceil(len(y) / self.batch_size))
        total = steps_per_epoch * max(1, self.epochs)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
        xm = torch.from_numpy(morph).to(device)
        xr = torch.from_numpy(rr).to(device)
        yt = torch.from_numpy(y).to(device)
        net.train()
        for epoch in range(self.epochs):
            order = torch.from_numpy(rng.permutation(len(y))).to(device)
            for b in range(steps_per_epoch):
                idx = order[b * self.batch_size : (b + 1) * self.batch_size]
                if idx.numel() < 2:  # BatchNorm needs two samples
                    continue
                m, r = xm[idx], xr[idx]
                if self.augment:
                    m, r = self._augment(m, r, gen)
                loss = loss_fn(net(m, r), yt[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
            if progress is not None:
                progress(epoch + 1)
        net.eval()
        return net

    @staticmethod
    def _augment(m: torch.Tensor, r: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        n, device = m.shape[0], m.device
        scale = (0.85 + 0.3 * torch.rand(n, 1, 1, generator=gen)).to(device)
        noise = (0.02 * torch.randn(m.shape, generator=gen)).to(device)
        shift = int(torch.randint(-2, 3, (1,), generator=gen))
        m = torch.roll(m, shifts=shift, dims=2) * scale + noise
        r = r + (0.05 * torch.randn(r.shape, generator=gen)).to(device)
        return m, r

    def _logits(self, net: _BeatNet, morph: np.ndarray, rr_std: np.ndarray) -> np.ndarray:
        device = self.device_
        out = []
        with torch.no_grad():
            for start in range(0, len(morph), 4096):
                m = torch.from_numpy(morph[start : start + 4096]).to(device)
                r = torch.from_numpy(rr_std[start : start + 4096]).to(device)
                out.append(net(m, r).float().cpu().numpy())
        if not out:
            return np.zeros((0, len(AAMI_CLASSES)), np.float32)
        return np.concatenate(out).astype(np.float64)

    @staticmethod
    def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
        """Temperature minimising the mean negative log-likelihood of ``y`` (searched in [0.05, 20])."""
        from scipy.optimize import minimize_scalar
        from scipy.special import log_softmax

        def nll(log_t: float) -> float:
            lp = log_softmax(logits / math.exp(log_t), axis=1)
            return float(-lp[np.arange(len(y)), y].mean())

        res = minimize_scalar(nll, bounds=(math.log(0.05), math.log(20.0)), method="bounded")
        return float(math.exp(res.x))

    def fit(
        self,
        records: Sequence[RecordBeats],
        *,
        init_from: BeatClassifier | None = None,
        progress: Progress | None = None,
    ) -> BeatClassifier:
        """Train on labelled records; calibrate on held-out records (module docstring).

        Parameters
        ----------
        records : sequence of RecordBeats
            Records with ``labels``; unlabelled beats (``""``/``None``) are context only.
        init_from : BeatClassifier or None
            Fine-tune: start from this fitted classifier's weights and RR standardisation;
            this classifier's ``leads`` and ``width`` are set to the parent's (the other
            hyper-parameters, e.g. ``epochs`` and ``lr``, stay this classifier's).
        progress : callable or None
            Called as ``progress(done_epochs, total_epochs)`` (totals include the calibration
            network when one is trained).

        Returns
        -------
        BeatClassifier
            ``self``.

        Raises
        ------
        ValueError
            No labelled beat, an unknown label, or an unfitted ``init_from``.
        """
        t0 = time.perf_counter()
        if init_from is not None:
            if init_from.net_ is None or init_from.rr_mean_ is None:
                raise ValueError("init_from is not fitted")
            # the network's shape follows the parent's (a fine-tune cannot change it)
            self.leads, self.width = init_from.leads, init_from.width
        feats = []
        for rec in records:
            morph, rr = self._inputs(rec)
            y = _label_indices(rec.labels, len(rr), rec.name)
            feats.append((rec.name, morph, rr, y))
        labelled = [f for f in feats if (f[3] >= 0).any()]
        if not labelled:
            raise ValueError("no labelled beat in the training records")

        if init_from is not None:
            self.rr_mean_, self.rr_std_ = init_from.rr_mean_.copy(), init_from.rr_std_.copy()
            init_state = {k: v.detach().cpu().clone() for k, v in init_from.net_.state_dict().items()}
            temperature = init_from.temperature_
        else:
            all_rr = np.concatenate([f[2][f[3] >= 0] for f in labelled])
            self.rr_mean_ = all_rr.mean(axis=0)
            self.rr_std_ = np.maximum(all_rr.std(axis=0), 1e-3)
            init_state = None
            temperature = 1.0

        def stack(parts):
            morph = np.concatenate([p[1][p[3] >= 0] for p in parts])
            rr = np.concatenate([((p[2] - self.rr_mean_) / self.rr_std_)[p[3] >= 0] for p in parts]).astype(np.float32)
            y = np.concatenate([p[3][p[3] >= 0] for p in parts])
            return morph, rr, y

        n_cal = 0
        if self.calibration_fraction > 0 and len(labelled) >= 2:
            n_cal = min(len(labelled) - 1, max(1, int(round(self.calibration_fraction * len(labelled)))))
        rounds = (2 if (n_cal and self.refit) else 1) * self.epochs
        done = [0]

        def tick(_epoch: int) -> None:
            done[0] += 1
            if progress is not None:
                progress(done[0], rounds)

        cal_names: list[str] = []
        if n_cal:
            perm = np.random.default_rng(self.seed).permutation(len(labelled))
            cal = [labelled[i] for i in sorted(perm[:n_cal])]
            fit_part = [labelled[i] for i in sorted(perm[n_cal:])]
            cal_names = [c[0] for c in cal]
            net = self._train(*stack(fit_part), init_state, self.seed, tick)
            cm, cr, cy = stack(cal)
            temperature = self._fit_temperature(self._logits(net, cm, cr), cy)
            if self.refit:
                net = self._train(*stack(labelled), init_state, self.seed, tick)
        else:
            net = self._train(*stack(labelled), init_state, self.seed, tick)
        self.net_ = net
        self.temperature_ = temperature
        y_all = np.concatenate([f[3][f[3] >= 0] for f in labelled])
        counts = np.bincount(y_all, minlength=len(AAMI_CLASSES))
        self.training_ = {
            "records": [f[0] for f in labelled],
            "beats": int(len(y_all)),
            "class_counts": {c: int(n) for c, n in zip(AAMI_CLASSES, counts, strict=True)},
            "class_weights": {
                c: round(float(w), 4) for c, w in zip(AAMI_CLASSES, self._class_weights(y_all), strict=True)
            },
            "calibration_records": cal_names,
            "temperature": round(float(temperature), 4),
            "fine_tuned_from": init_from.version if init_from is not None else None,
            "device": self.device_,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        return self

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> None:
        if self.net_ is None or self.rr_mean_ is None or self.rr_std_ is None:
            raise RuntimeError("BeatClassifier is not fitted: call fit() or load()")

    def decision_function(self, record: RecordBeats) -> np.ndarray:
        """Uncalibrated logits ``(n_beats, 5)`` (columns :data:`AAMI_CLASSES`)."""
        self._check_fitted()
        morph, rr = self._inputs(record)
        rr_std = ((rr - self.rr_mean_) / self.rr_std_).astype(np.float32)
        self.net_.to(self.device_)
        self.net_.eval()
        return self._logits(self.net_, morph, rr_std)

    def predict_proba(self, record: RecordBeats) -> np.ndarray:
        """Calibrated class probabilities ``(n_beats, 5)``, columns in :data:`AAMI_CLASSES` order.

        Rows sum to 1; ``softmax(logits / temperature_)`` (module docstring, "Calibration").
        """
        from scipy.special import softmax

        return softmax(self.decision_function(record) / self.temperature_, axis=1)

    def predict(self, record: RecordBeats) -> np.ndarray:
        """Most probable AAMI class letter per beat (``np.ndarray`` of str)."""
        proba = self.predict_proba(record)
        return np.asarray(AAMI_CLASSES, dtype="<U1")[proba.argmax(axis=1)] if len(proba) else np.array([], "<U1")

    # ------------------------------------------------------------------ persistence
    @property
    def version(self) -> str:
        """``beatcnn-<12 hex>``: SHA-256 of the weights, temperature and RR standardisation."""
        self._check_fitted()
        return f"beatcnn-{weights_digest(self.net_, self._calibration_meta())[:12]}"

    def _calibration_meta(self) -> dict[str, Any]:
        return {
            "temperature": float(self.temperature_),
            "rr_mean": [float(v) for v in self.rr_mean_],
            "rr_std": [float(v) for v in self.rr_std_],
        }

    def save(self, folder: Path) -> Path:
        """Write ``beatcnn.pt`` (state dict) and ``beatcnn.json`` (metadata) into ``folder``.

        Returns
        -------
        Path
            ``folder``.
        """
        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().clone() for k, v in self.net_.state_dict().items()}
        torch.save(state, folder / WEIGHTS_FILE)
        meta = {
            "format": FORMAT_VERSION,
            "model": "beatcnn",
            "version": self.version,
            "classes": list(AAMI_CLASSES),
            "params": self.get_params(),
            **self._calibration_meta(),
            "rr_features": list(bf.RR_FEATURES),
            "features": {
                "pre_s": bf.PRE_S,
                "post_s": bf.POST_S,
                "morph_rate_hz": bf.MORPH_RATE,
                "morph_length": bf.MORPH_LENGTH,
                "band_hz": list(bf.BAND_HZ),
                "local_beats": bf.LOCAL_BEATS,
            },
            "training": self.training_,
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: Path, device: str | None = None) -> BeatClassifier:
        """Read a classifier written by :meth:`save`.

        Parameters
        ----------
        folder : Path
            Folder with ``beatcnn.pt`` and ``beatcnn.json``.
        device : str or None
            Device to run on; ``None`` = CUDA when available, else CPU (the device the
            classifier was trained on is not reused, so a GPU-trained file loads on a CPU host).

        Raises
        ------
        FileNotFoundError
            Naming the missing file.
        ValueError
            When the features or classes of the file differ from this code's.
        """
        folder = Path(folder)
        for name in (META_FILE, WEIGHTS_FILE):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder / name}: missing beat classifier file")
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        if meta.get("classes") != list(AAMI_CLASSES) or meta.get("rr_features") != list(bf.RR_FEATURES):
            raise ValueError(f"{folder / META_FILE}: classes or RR features differ from this version of the code")
        if meta.get("features", {}).get("morph_length") != bf.MORPH_LENGTH:
            raise ValueError(f"{folder / META_FILE}: morphology window differs from this version of the code")
        params = dict(meta["params"])
        params["device"] = device
        clf = cls(**params)
        clf.temperature_ = float(meta["temperature"])
        clf.rr_mean_ = np.asarray(meta["rr_mean"], dtype=np.float32)
        clf.rr_std_ = np.asarray(meta["rr_std"], dtype=np.float32)
        net = _BeatNet(2 * clf.leads, bf.MORPH_LENGTH, len(bf.RR_FEATURES), len(AAMI_CLASSES), clf.width, clf.dropout)
        state = torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        net.eval()
        clf.net_ = net.to(clf.device_)
        clf.training_ = dict(meta.get("training", {}))
        return clf
