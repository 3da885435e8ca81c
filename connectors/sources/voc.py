"""Pascal VOC detection datasets: ``JPEGImages/`` with the images, ``Annotations/`` with one XML each.

Box convention: VOC ``xmin..xmax`` and ``ymin..ymax`` are 1-based inclusive pixel indices, read
as pixel-edge boxes ``x0 = xmin - 1, x1 = xmax`` (same for y; see :mod:`cliniloop.models.image.regions`)
and written back with ``xmin = round(x0) + 1, xmax = round(x1)`` (halves rounded up).

The image's real size (after its EXIF orientation, as :func:`load_rgb` reads it) is trusted over
the annotation's ``<size>``: a disagreement is reported with a :class:`VocSizeWarning`. Boxes are
clipped to the image; a box empty after clipping is an error naming the file and object index.
Every other problem is raised as :class:`VocFormatError` naming the file and the field.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from cliniloop.services.core.targets import BoxTarget

#: Image suffixes tried (in order) when an annotation's ``<filename>`` is missing or wrong.
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG", ".bmp", ".tif", ".tiff")


class VocFormatError(ValueError):
    """A VOC dataset problem: ``str(error)`` is ``"path: field: reason"`` (``"path: reason"`` without a field).

    Attributes
    ----------
    path : Path
        The offending file or folder (annotation XML, id list, image).
    field : str or None
        The XML field or item, e.g. ``object[3]/bndbox/xmax`` (0-based object index).
    reason : str
        What is wrong.
    """

    def __init__(self, path: Path, reason: str, field: str | None = None) -> None:
        super().__init__(f"{path}: {field}: {reason}" if field else f"{path}: {reason}")
        self.path = path
        self.field = field
        self.reason = reason


class VocSizeWarning(UserWarning):
    """An annotation's ``<size>`` disagrees with its image (the image's size is used)."""


@dataclass(frozen=True)
class VocImage:
    """One annotated image.

    Attributes
    ----------
    image_id : str
        The annotation file's stem (the VOC image id).
    image_path : Path
        The image file.
    width, height : int
        Size of the image in px (the image file's, which wins over ``<size>``).
    target : BoxTarget
        Boxes (pixel edges, clipped to the image), labels and ``difficult`` flags.
    """

    image_id: str
    image_path: Path
    width: int
    height: int
    target: BoxTarget


def read_id_list(ids: Path | Sequence[str]) -> list[str]:
    """Ids from a list, or from a file (``Path`` or ``str``) with one id per line (first word; blank lines ignored).

    Raises
    ------
    VocFormatError
        If the id file does not exist.
    """
    if isinstance(ids, (str, os.PathLike)):  # a single string is a file name, not a list of letters
        path = Path(ids)
        if not path.is_file():
            raise VocFormatError(path, "no such id list file")
        return [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [str(image_id).strip() for image_id in ids if str(image_id).strip()]


def read_voc(root: Path, ids: Path | Sequence[str] | None = None, *, min_size_px: float = 0.0) -> list[VocImage]:
    """Read a VOC dataset's annotations, in the order of ``ids``.

    Parameters
    ----------
    root : Path
        Folder holding ``JPEGImages/`` and ``Annotations/``.
    ids : Path or sequence of str, optional
        A file with one image id per line (e.g. ``ImageSets/Main/val.txt``; blank lines ignored,
        only the first word of a line is used) or a list of ids. Default: every
        ``Annotations/*.xml``, sorted.
    min_size_px : float
        Boxes narrower or shorter than this (px, after clipping) are dropped with a warning
        (default 0: every non-empty box is kept, 1-px boxes included).

    Raises
    ------
    VocFormatError
        Naming the file and field: missing folder, id list, annotation or image, unparsable XML,
        missing or non-numeric box coordinates, a box empty after clipping to the image.
    """
    root = Path(root)
    annotations = root / "Annotations"
    if not annotations.is_dir():
        raise VocFormatError(root, "no Annotations/ folder")
    image_ids = read_id_list(ids) if ids is not None else sorted(p.stem for p in annotations.glob("*.xml"))
    return [_read_one(root, image_id, min_size_px) for image_id in image_ids]


def load_rgb(path: Path) -> NDArray[np.uint8]:
    """An image as ``(H, W, 3)`` uint8 RGB: grey repeated, transparency on white, 16-bit min-max.

    Any file :func:`cliniloop.connectors.sources.image.open_image` reads (first frame; EXIF orientation
    applied).

    Raises
    ------
    cliniloop.connectors.sources.image.ImageFileError
        If the file cannot be read.
    """
    from cliniloop.connectors.sources.image import open_image

    pixels = open_image(Path(path))[0].pixels
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, np.newaxis], 3, axis=2)
    return pixels


def write_voc_annotation(
    path: Path,
    *,
    filename: str,
    width: int,
    height: int,
    depth: int,
    boxes: NDArray,
    labels: Sequence[str],
    folder: str = "JPEGImages",
    difficult: Sequence[bool] | None = None,
) -> None:
    """Write one VOC annotation XML (pixel-edge boxes converted to 1-based inclusive indices).

    Parameters
    ----------
    path : Path
        The XML file to write (its folder is created).
    filename, folder : str
        ``<filename>`` and ``<folder>`` of the image.
    width, height, depth : int
        Image size in px and number of channels.
    boxes : ndarray, shape (N, 4)
        ``x0, y0, x1, y1`` pixel edges.
    labels : sequence of str
        Class of each box.
    difficult : sequence of bool, optional
        VOC ``difficult`` flags (default all 0).

    Raises
    ------
    ValueError
        If the shapes disagree, a box is empty (``x1 <= x0`` or ``y1 <= y0``) or a label is blank.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), not {boxes.shape}")
    if len(boxes) != len(labels):
        raise ValueError(f"{len(boxes)} boxes but {len(labels)} labels")
    flags = [bool(flag) for flag in difficult] if difficult is not None else [False] * len(labels)
    if len(flags) != len(labels):
        raise ValueError(f"{len(flags)} difficult flags but {len(labels)} labels")
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = folder
    ET.SubElement(root, "filename").text = filename
    size = ET.SubElement(root, "size")
    for name, value in (("width", width), ("height", height), ("depth", depth)):
        ET.SubElement(size, name).text = str(int(value))
    ET.SubElement(root, "segmented").text = "0"
    for index, (box, label, flag) in enumerate(zip(boxes, labels, flags, strict=True)):
        x0, y0, x1, y1 = (float(v) for v in box)
        if not (x1 > x0 and y1 > y0) or not all(math.isfinite(v) for v in box):
            raise ValueError(f"box {index} ({x0}, {y0}, {x1}, {y1}) is empty or not finite")
        if not str(label).strip():
            raise ValueError(f"box {index} has a blank label")
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = str(label)
        ET.SubElement(obj, "pose").text = "Unspecified"
        ET.SubElement(obj, "truncated").text = "0"
        ET.SubElement(obj, "difficult").text = "1" if flag else "0"
        bndbox = ET.SubElement(obj, "bndbox")
        xmin, ymin = _round(x0) + 1, _round(y0) + 1
        xmax, ymax = max(_round(x1), xmin), max(_round(y1), ymin)
        for name, value in (("xmin", xmin), ("ymin", ymin), ("xmax", xmax), ("ymax", ymax)):
            ET.SubElement(bndbox, name).text = str(value)
    ET.indent(root, space="\t")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ET.tostring(root, encoding="unicode") + "\n"
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        handle.write(data)
    os.replace(handle.name, path)


def _round(value: float) -> int:
    """Nearest integer, halves up (not Python's banker's rounding)."""
    return int(math.floor(value + 0.5))


def _text(path: Path, element: ET.Element, tag: str, field: str, *, required: bool = True) -> str | None:
    found = element.find(tag)
    text = found.text.strip() if found is not None and found.text is not None else ""
    if not text:
        if required:
            raise VocFormatError(path, "missing or empty", field)
        return None
    return text


def _number(path: Path, element: ET.Element, tag: str, field: str) -> float:
    text = _text(path, element, tag, field)
    try:
        value = float(text)  # type: ignore[arg-type]
    except ValueError:
        raise VocFormatError(path, f"not a number: {text!r}", field) from None
    if not math.isfinite(value):
        raise VocFormatError(path, f"not a finite number: {text!r}", field)
    return value


def _find_image(root: Path, annotation: Path, image_id: str, filename: str | None) -> Path:
    folder = root / "JPEGImages"
    candidates = []
    if filename:
        candidates.append(folder / Path(filename).name)
    candidates += [folder / f"{image_id}{suffix}" for suffix in IMAGE_SUFFIXES]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise VocFormatError(annotation, f"no image for id {image_id!r} in {folder} (tried {', '.join(c.name for c in candidates[:4])}, ...)", "filename")


def _image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` in px as a viewer shows the image (EXIF orientation applied)."""
    from PIL import Image, UnidentifiedImageError

    from cliniloop.connectors.sources.image import ImageFileError, open_image

    try:
        with Image.open(path) as image:
            width, height = image.size
            if image.getexif().get(0x0112) in (5, 6, 7, 8):  # rotated by 90 degrees
                width, height = height, width
            return int(width), int(height)
    except (UnidentifiedImageError, OSError):
        pass
    try:
        frame = open_image(path)[0]  # e.g. DICOM
    except ImageFileError as err:
        raise VocFormatError(path, f"unreadable image: {err.reason}") from None
    return frame.width, frame.height


def _read_one(root: Path, image_id: str, min_size_px: float) -> VocImage:
    path = root / "Annotations" / f"{image_id}.xml"
    if not path.is_file():
        raise VocFormatError(path, f"no annotation for id {image_id!r}")
    try:
        tree = ET.parse(path)
    except ET.ParseError as err:
        raise VocFormatError(path, f"not well-formed XML: {err}") from None
    xml = tree.getroot()
    if xml.tag != "annotation":
        raise VocFormatError(path, f"root element is <{xml.tag}>, not <annotation>")
    image_path = _find_image(root, path, image_id, _text(path, xml, "filename", "filename", required=False))
    width, height = _image_size(image_path)
    size = xml.find("size")
    if size is not None:
        stated = (_text(path, size, "width", "size/width", required=False), _text(path, size, "height", "size/height", required=False))
        if all(stated):
            try:
                stated_size = (int(float(stated[0])), int(float(stated[1])))  # type: ignore[arg-type]
            except ValueError:
                raise VocFormatError(path, f"not a number: {stated!r}", "size") from None
            if stated_size != (width, height) and stated_size != (0, 0):
                warnings.warn(
                    f"{path}: size says {stated_size[0]} x {stated_size[1]} px but {image_path.name} is "
                    f"{width} x {height} px; the image's size is used",
                    VocSizeWarning,
                    stacklevel=3,
                )
    boxes, labels, difficult = [], [], []
    for index, obj in enumerate(xml.findall("object")):
        where = f"object[{index}]"
        name = _text(path, obj, "name", f"{where}/name")
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise VocFormatError(path, "missing", f"{where}/bndbox")
        xmin, ymin, xmax, ymax = (_number(path, bndbox, tag, f"{where}/bndbox/{tag}") for tag in ("xmin", "ymin", "xmax", "ymax"))
        x0, y0 = min(max(xmin - 1.0, 0.0), width), min(max(ymin - 1.0, 0.0), height)
        x1, y1 = min(max(xmax, 0.0), width), min(max(ymax, 0.0), height)
        if x1 <= x0 or y1 <= y0:
            raise VocFormatError(
                path,
                f"empty box ({name}: xmin={xmin:g} ymin={ymin:g} xmax={xmax:g} ymax={ymax:g}) in a {width} x {height} px image",
                f"{where}/bndbox",
            )
        if x1 - x0 < min_size_px or y1 - y0 < min_size_px:
            warnings.warn(f"{path}: {where} ({name}) is {x1 - x0:g} x {y1 - y0:g} px, under {min_size_px:g} px: dropped", stacklevel=3)
            continue
        flag = _text(path, obj, "difficult", f"{where}/difficult", required=False) or "0"
        try:
            difficult.append(bool(int(float(flag))))
        except ValueError:
            raise VocFormatError(path, f"not 0 or 1: {flag!r}", f"{where}/difficult") from None
        boxes.append((x0, y0, x1, y1))
        labels.append(name)
    target = BoxTarget(
        boxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        labels=labels,
        difficult=np.asarray(difficult, dtype=bool),
    )
    return VocImage(image_id=image_id, image_path=image_path, width=width, height=height, target=target)
