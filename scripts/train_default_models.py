#!/usr/bin/env python
"""Train the default (first-round) models shipped inside the package, and record their provenance.

The one way to produce ``models/ecg/default``, ``models/eeg/default`` and ``models/image/default``:

    python scripts/train_default_models.py --data ../shared/data              # all three
    python scripts/train_default_models.py --data ../shared/data --only ecg   # after a beat-feature change

Everything is seeded and single-threaded, so the same data and code give the same files. Each folder gets a ``PROVENANCE.md`` naming the data,
its licence, the exact items trained on, the items kept out for the first-queue evaluation, the
parameters, the code commit and the files' SHA-256.

- ECG: :class:`cliniloop.models.ecg.boosted.BoostedBeatClassifier` on the MIT-BIH Arrhythmia DS1 records
  (never DS2; paced records left out) minus :data:`cliniloop.models.ecg.defaults.FIRST_QUEUE_RECORDS`.
- EEG: :class:`cliniloop.models.eeg.seizure.SeizureDetector` on the Bonn segments minus every third one of
  each set (:func:`cliniloop.models.eeg.defaults.is_first_queue_segment`).
- Image: :class:`cliniloop.models.image.proposals.ProposalBoxClassifier` on BCCD ``train.txt`` (``val.txt`` kept out).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: Small-file settings of the boosted beat classifier (the shipped files stay well under 2 MB).
ECG_PARAMS = {"n_members": 3, "n_estimators": 100, "num_leaves": 15, "max_n_per_record": 1000, "seed": 0, "n_jobs": 1}
EEG_PARAMS = {"seed": 0}
IMAGE_PARAMS = {"max_iter": 100, "learning_rate": 0.1, "min_score": 0.3, "seed": 0}


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _clear(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        if path.is_file():
            path.unlink()


def write_provenance(folder: Path, title: str, lines: list[str]) -> None:
    """``PROVENANCE.md``: the given lines, then every file's size and SHA-256."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name != "PROVENANCE.md")
    table = ["| file | bytes | sha256 |", "|---|---|---|"]
    table += [f"| {p.name} | {p.stat().st_size} | {hashlib.sha256(p.read_bytes()).hexdigest()} |" for p in files]
    body = [f"# {title}", "", *lines, "", f"Code commit when trained: `{_commit()}`.", "", *table, ""]
    (folder / "PROVENANCE.md").write_text("\n".join(body), encoding="utf-8")


# --------------------------------------------------------------------------------------- ECG
def train_ecg(data: Path) -> Path:
    """Boosted beat classifier on DS1 minus the first-queue records; returns the folder."""
    from cliniloop.models.ecg.boosted import BoostedBeatClassifier
    from cliniloop.models.ecg.defaults import DEFAULT_DIR, FIRST_QUEUE_RECORDS
    from cliniloop.services.evaluation.ecg_classify import read_annotated_record, read_record_list
    from cliniloop.taxonomies.ecg import PACED_RECORDS

    folder = data / "ecg" / "mitdb"
    names = [n for n in read_record_list(folder) if n not in PACED_RECORDS and n not in FIRST_QUEUE_RECORDS]
    log(f"ECG: reading {len(names)} DS1 records")
    records = [read_annotated_record(folder, n) for n in names]
    clf = BoostedBeatClassifier(**ECG_PARAMS).fit(records, progress=lambda j, k: log(f"ECG: member {j}/{k}"))
    _clear(DEFAULT_DIR)
    clf.save(DEFAULT_DIR)
    counts = clf.training_["class_counts"]
    write_provenance(
        DEFAULT_DIR,
        "Default ECG beat classifier: provenance and licence",
        [
            f"Model: `BoostedBeatClassifier` ({clf.version}), parameters `{json.dumps(ECG_PARAMS)}`.",
            "Produced only by `python scripts/train_default_models.py --only ecg --data <shared data>`; "
            "loading fails with a message naming that command when the beat features of the code differ.",
            "",
            "Data: MIT-BIH Arrhythmia Database 1.0.0 (PhysioNet), Moody GB, Mark RG. The impact of the MIT-BIH "
            "Arrhythmia Database. IEEE Eng in Med and Biol 20(3):45-50 (2001); Goldberger AL et al., PhysioBank, "
            "PhysioToolkit, and PhysioNet, Circulation 101(23):e215-e220 (2000).",
            "Licence of the data: Open Data Commons Attribution License v1.0 (ODC-By 1.0); attribution above.",
            "",
            f"Trained on the beats of DS1 records (de Chazal et al. 2004) {' '.join(names)} "
            f"({clf.training_['beats']} beats after the per-record N cap; classes {counts}).",
            "Never trained on: any DS2 record (kept back), the paced records 102 104 107 217, and the first-queue "
            f"evaluation records {' '.join(FIRST_QUEUE_RECORDS)}.",
        ],
    )
    log(f"ECG: wrote {DEFAULT_DIR} ({sum(p.stat().st_size for p in DEFAULT_DIR.iterdir())} bytes)")
    return DEFAULT_DIR


# --------------------------------------------------------------------------------------- EEG
def bonn_split(data: Path) -> tuple[list[tuple[str, Path]], list[tuple[str, Path]]]:
    """``(train, first_queue)`` Bonn segments ``(set, file)``."""
    from cliniloop.models.eeg.defaults import is_first_queue_segment
    from cliniloop.services.evaluation.eeg_seizure import bonn_files

    train, held = [], []
    index: dict[str, int] = {}
    for s, path in bonn_files(data / "eeg" / "bonn"):
        k = index.get(s, 0)
        index[s] = k + 1
        (held if is_first_queue_segment(k) else train).append((s, path))
    return train, held


def train_eeg(data: Path) -> Path:
    """Seizure detector on two thirds of the Bonn segments; returns the folder."""
    import numpy as np

    from cliniloop.connectors.sources.eeg import BONN_SAMPLING_RATE, open_text_segment
    from cliniloop.models.eeg.defaults import DEFAULT_DIR
    from cliniloop.models.eeg.seizure import SeizureDetector
    from cliniloop.services.loop.eeg_epochs import score_recording

    train, held = bonn_split(data)
    log(f"EEG: features of {len(train)} Bonn segments")
    feats, labels, groups = [], [], []
    for k, (s, path) in enumerate(train):
        scores = score_recording(open_text_segment(path, BONN_SAMPLING_RATE), epoch_s=4.0, step_s=2.0, keep_features=True)
        f = scores.features[:, 0, :]
        feats.append(f)
        labels.append(np.full(len(f), s == "S"))
        groups.append(np.full(len(f), k))
    det = SeizureDetector(**EEG_PARAMS).fit(None, np.concatenate(labels), np.concatenate(groups), features=np.concatenate(feats))
    _clear(DEFAULT_DIR)
    det.save(DEFAULT_DIR)
    write_provenance(
        DEFAULT_DIR,
        "Default EEG seizure detector: provenance and licence",
        [
            f"Model: `SeizureDetector` ({det.version}), parameters `{json.dumps(det.params())}`, threshold {det.threshold_:.4f}.",
            "Produced only by `python scripts/train_default_models.py --only eeg --data <shared data>`; loading fails "
            "when the epoch features of the code differ or the model file does not match its digest. "
            "`model.joblib` is a scikit-learn pipeline: load only this file, never one from elsewhere.",
            "",
            "Data: Bonn University EEG (sets Z, O, N, F, S; S = ictal). Andrzejak RG, Lehnertz K, Mormann F, Rieke C, "
            "David P, Elger CE. Indications of nonlinear deterministic and finite-dimensional structures in time series "
            "of brain electrical activity. Phys Rev E 64:061907 (2001).",
            "Licence of the data: CC BY 4.0 (the publisher's data record, doi:10.34810/data490); attribution above.",
            "",
            f"Trained on {len(train)} segments: in each set, the segments whose 0-based index in file-name order is "
            "not 2 modulo 3.",
            f"Never trained on: the {len(held)} first-queue evaluation segments (index 2 modulo 3): "
            + ", ".join(f"{s}/{p.name}" for s, p in held[:5]) + ", ...",
        ],
    )
    log(f"EEG: wrote {DEFAULT_DIR} ({sum(p.stat().st_size for p in DEFAULT_DIR.iterdir())} bytes)")
    return DEFAULT_DIR


# ------------------------------------------------------------------------------------- image
def train_image(data: Path, cache: Path | None = None) -> Path:
    """Proposal classifier on BCCD train.txt; returns the folder (``cache``: reuse proposals kept there, as the replay does)."""
    import numpy as np

    from cliniloop.models.image.defaults import DEFAULT_DIR
    from cliniloop.models.image.proposals import ProposalBoxClassifier
    from cliniloop.services.loop.image_simulate import _prepare

    root = data / "image" / "bccd"
    log("image: cold-start proposals of the BCCD train.txt images")
    images = _prepare(root, root / "train.txt", cache, log)
    classes = sorted({label for im in images for label in im.target.labels})
    X = np.concatenate([im.features for im in images])
    model = ProposalBoxClassifier(**IMAGE_PARAMS).fit_features(X, [t for im in images for t in im.truth], classes)
    model.training_["image_ids"] = [im.image_id for im in images]
    items = images
    _clear(DEFAULT_DIR)
    model.save(DEFAULT_DIR)
    write_provenance(
        DEFAULT_DIR,
        "Default box model: provenance and licence",
        [
            f"Model: `ProposalBoxClassifier` ({model.version}): cold-start blob proposals + a gradient-boosted classifier of "
            f"their shape and colour; classes {list(model.classes_)} from the training boxes, parameters `{json.dumps(IMAGE_PARAMS)}`.",
            "Produced only by `python scripts/train_default_models.py --only image --data <shared data>`; loading fails when "
            "the proposal features of the code differ or the model file does not match its digest. `classifier.joblib` is a "
            "scikit-learn estimator: load only this file, never one from elsewhere.",
            "",
            "Data: BCCD Dataset (blood cell detection, Pascal VOC boxes), github.com/Shenggan/BCCD_Dataset.",
            "Licence of the data: MIT (Copyright (c) 2017 Shenggan); the licence text is kept with the data.",
            "",
            f"Trained on the {len(items)} images of BCCD `train.txt` (their ids are listed in proposals.json). Never trained on: "
            "`val.txt` (the first-queue evaluation images) nor any test split.",
        ],
    )
    log(f"image: wrote {DEFAULT_DIR} ({sum(p.stat().st_size for p in DEFAULT_DIR.iterdir())} bytes)")
    return DEFAULT_DIR


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data", help="shared reference data folder")
    parser.add_argument("--only", action="append", choices=["ecg", "eeg", "image"], help="train only this model (repeatable)")
    parser.add_argument("--proposal-cache", type=Path, default=None, help="image: folder keeping each image's cold-start proposals between runs")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data}: no such data folder")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    chosen = args.only or ["ecg", "eeg", "image"]
    for name in chosen:
        {"ecg": lambda: train_ecg(args.data), "eeg": lambda: train_eeg(args.data), "image": lambda: train_image(args.data, args.proposal_cache)}[name]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
