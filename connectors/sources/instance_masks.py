"""Instance-label image datasets: ``images/NAME.png`` paired with ``labels/NAME.png``.

A label image holds one integer per pixel: 0 is background, every other value one instance
(e.g. the DSB 2018 nuclei, 16-bit PNGs). Colour label images (instances coded as RGB colours,
black background) are accepted too. Labels are relabelled to ``1..K`` in order of their
original values, so region ``k`` of :func:`instance_target` is ``labels == k + 1``.

Images are read with :func:`cliniloop.connectors.sources.voc.load_rgb` (RGB, RGBA on white, grey).
Pairing problems are raised as :class:`InstanceDatasetError` naming the file or id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from cliniloop.connectors.sources.voc import load_rgb, read_id_list
from cliniloop.services.core.targets import BoxTarget

#: Suffixes of image and label files (matched in any case).
SUFFIXES: tuple[str, ...] = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")

__all__ = [
    "InstanceDatasetError",
    "MaskImage",
    "instance_target",
    "load_instance_labels",
    "load_rgb",
    "read_instance_dataset",
]


class InstanceDatasetError(ValueError):
    """A dataset or label file that cannot be used; ``str(error)`` is ``"path: reason"``."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class MaskImage:
    """An image and its instance label image.

    Attributes
    ----------
    image_id : str
        Shared file stem.
    image_path, label_path : Path
        The image and its label image.
    """

    image_id: str
    image_path: Path
    label_path: Path


def _by_stem(folder: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in SUFFIXES:
            if path.stem in files:
                raise InstanceDatasetError(path, f"two files with the id {path.stem!r} ({files[path.stem].name}, {path.name})")
            files[path.stem] = path
    return files


def read_instance_dataset(images_dir: Path, labels_dir: Path, ids: Path | Sequence[str] | None = None) -> list[MaskImage]:
    """Pair images with label images by file stem.

    Parameters
    ----------
    images_dir, labels_dir : Path
        Folders of images and of label images (same stems; suffixes may differ).
    ids : Path or sequence of str, optional
        Ids to use (a file with one per line, blank lines ignored, or a list), in that order.
        Default: every image, sorted; then every label must have an image and vice versa.

    Raises
    ------
    InstanceDatasetError
        If a folder is missing, an id has no image or no label, or (without ``ids``) a file has no
        partner; the message names the files.
    """
    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    for folder in (images_dir, labels_dir):
        if not folder.is_dir():
            raise InstanceDatasetError(folder, "no such folder")
    images, labels = _by_stem(images_dir), _by_stem(labels_dir)
    if ids is None:
        lonely_images = sorted(set(images) - set(labels))
        if lonely_images:
            raise InstanceDatasetError(labels_dir, f"no label image for {len(lonely_images)} image(s): {', '.join(images[s].name for s in lonely_images[:5])}")
        lonely_labels = sorted(set(labels) - set(images))
        if lonely_labels:
            raise InstanceDatasetError(images_dir, f"no image for {len(lonely_labels)} label image(s): {', '.join(labels[s].name for s in lonely_labels[:5])}")
        chosen = sorted(images)
    else:
        chosen = read_id_list(ids)
        for image_id in chosen:
            if image_id not in images:
                raise InstanceDatasetError(images_dir, f"no image for id {image_id!r}")
            if image_id not in labels:
                raise InstanceDatasetError(labels_dir, f"no label image for id {image_id!r}")
    return [MaskImage(image_id, images[image_id], labels[image_id]) for image_id in chosen]


def load_instance_labels(path: Path) -> NDArray[np.int32]:
    """Instance label image relabelled to ``0`` (background) and ``1..K`` consecutive.

    Grey label images (8/16/32-bit) are read as integers; colour ones code instances as RGB
    colours (alpha ignored, black is background).

    Raises
    ------
    InstanceDatasetError
        If the file cannot be read or holds non-integer values.
    """
    from PIL import Image, UnidentifiedImageError
    from skimage.segmentation import relabel_sequential

    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in {"RGB", "RGBA", "P", "PA"}:
                rgb = np.asarray(image.convert("RGB")).astype(np.int64)
                raw = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
            else:
                raw = np.asarray(image)
    except FileNotFoundError:
        raise InstanceDatasetError(path, "no such label file") from None
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise InstanceDatasetError(path, f"unreadable label image: {err}") from None
    if raw.ndim != 2:
        raise InstanceDatasetError(path, f"label image must be 2-D, not of shape {raw.shape}")
    if raw.dtype.kind == "f":
        if not np.all(np.isfinite(raw)) or not np.array_equal(raw, np.round(raw)):
            raise InstanceDatasetError(path, "label image holds non-integer values")
        raw = raw.astype(np.int64)
    elif raw.dtype.kind == "b":
        raw = raw.astype(np.int64)
    if raw.min(initial=0) < 0:
        raise InstanceDatasetError(path, "label image holds negative values")
    relabelled, _, _ = relabel_sequential(raw.astype(np.int64))
    return relabelled.astype(np.int32)


def instance_target(labels: NDArray[np.int32], label: str = "nucleus") -> BoxTarget:
    """Boxes of every instance of a label image, all of class ``label``, with the labels kept.

    Box ``k`` is the pixel-edge box of ``labels == k + 1`` (the same as
    :func:`cliniloop.services.core.masks.mask_bbox`, found in one pass with
    :func:`scipy.ndimage.find_objects`). Labels that are not ``1..K`` consecutive are relabelled
    first.
    """
    from scipy.ndimage import find_objects
    from skimage.segmentation import relabel_sequential

    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2-D label image, not of shape {labels.shape}")
    labels = labels.astype(np.int32)
    count = int(labels.max(initial=0))
    if count and np.unique(labels[labels > 0]).size != count:
        labels = relabel_sequential(labels)[0].astype(np.int32)
        count = int(labels.max(initial=0))
    slices = find_objects(labels, max_label=count)
    boxes = np.asarray(
        [(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in slices],
        dtype=np.float64,
    ).reshape(-1, 4)
    return BoxTarget(boxes=boxes, labels=[label] * count, difficult=np.zeros(count, dtype=bool), instance_labels=labels)
