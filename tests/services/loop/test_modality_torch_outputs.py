"""BALD samples and BADGE embeddings of the torch image models, one row per stored image (untrained nets: the path, not the skill)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.core.targets import BoxTarget
from cliniloop.services.loop import modalities
from cliniloop.services.loop.image import ingest_images

SAMPLES = Path(__file__).resolve().parents[3] / "data_samples" / "images" / "JPEGImages"


@pytest.fixture
def image_tasks(store: Store) -> list:
    ingest_images(store, SAMPLES)
    tasks = store.list_tasks("image")
    assert len(tasks) >= 2
    return tasks


def _square(seed: int) -> tuple[np.ndarray, BoxTarget, np.ndarray]:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 40, (64, 64, 3)).astype(np.uint8)
    img[20:36, 20:36] = 220
    lab = np.zeros((64, 64), np.int32)
    lab[20:36, 20:36] = 1
    return img, BoxTarget(np.array([[20.0, 20.0, 36.0, 36.0]]), ["a"]), lab


def test_box_and_mask_models_give_one_row_per_image(store: Store, image_tasks: list, monkeypatch: pytest.MonkeyPatch) -> None:
    from cliniloop.models.image.detector import BoxDetector
    from cliniloop.models.image.segmenter import MaskSegmenter

    data = [_square(s) for s in range(2)]
    det = BoxDetector(["a", "b"], epochs=0, input_size=64, crop_size=64, width=8, precision="fp32").fit([d[0] for d in data], [d[1] for d in data])
    seg = MaskSegmenter(epochs=0, patch_size=64, patches_per_epoch=8, width=8, depth=2).fit([d[0] for d in data], [d[2] for d in data])
    monkeypatch.setattr(modalities.Modality, "model", lambda self, _store, _settings: det if self.name == "image-boxes" else seg)
    n = len(image_tasks)
    for mod, classes in ((modalities.IMAGE_BOXES, 2), (modalities.IMAGE_MASKS, 3)):
        out = mod.model_outputs(store, Settings(), image_tasks, {}, 0)
        samples, grads = out["proba_samples"], out["grad_embeddings"]
        assert samples.shape == (20, n, classes) and grads.shape[0] == n, mod.name
        assert np.allclose(samples.sum(axis=2), 1.0) and np.all(np.linalg.norm(grads, axis=1) > 0), mod.name
        assert not np.allclose(samples, 1.0 / classes), f"{mod.name}: every row left uniform"
