"""Image files: PNG, JPEG, TIFF, BMP (Pillow) and DICOM (pydicom), rendered to 8 bits for display.

:func:`open_image` reads and checks a whole file (every frame is decoded) and returns one
:class:`ImageFrame` per frame: an 8-bit rendering (``(H, W)`` grey or ``(H, W, 3)`` RGB) with the
same geometry as the stored image, plus the facts needed to interpret it (pixel spacing in mm,
the window applied, the physical units). :func:`read_physical` returns the values behind the
rendering (Hounsfield units for CT). Every problem with a file is raised as
:class:`ImageFileError` naming the file and what is wrong.

DICOM
    The modality LUT (Rescale Slope/Intercept or a Modality LUT Sequence, per frame for enhanced
    multi-frame files; Dose Grid Scaling for RT Dose) gives physical values. Greyscale images are
    windowed to 8 bits with, in order of priority: an explicit ``(center, width)``; a named preset
    of :data:`WINDOW_PRESETS` (CT only, values in HU); the header's Window Center/Width (first
    value when several; its VOI LUT Function LINEAR, LINEAR_EXACT or SIGMOID) or VOI LUT
    Sequence; otherwise the min-max of the whole file (so all frames of a volume look alike).
    MONOCHROME1 is inverted after windowing, so that bright means dense as usual. Colour images
    (RGB, YBR_*, PALETTE COLOR) are converted to 8-bit RGB and not windowed. Compressed transfer
    syntaxes are decoded by the installed pylibjpeg plugins (JPEG baseline/extended/lossless,
    JPEG-LS, JPEG 2000, RLE).

PNG / JPEG / TIFF / BMP
    8-bit grey stays grey, RGB stays RGB; transparency is composited on white; palette, CMYK and
    other modes become RGB; 16-bit and 32-bit grey are scaled to 8 bits by min-max (or by an
    explicit window). The EXIF orientation is applied (:func:`PIL.ImageOps.exif_transpose`), so
    pixel coordinates, ``width`` and ``height`` are those of the image as a viewer shows it, not
    of the stored pixel grid. Multi-page files (TIFF, animated PNG) give one frame per page.

Nothing is imported from pydicom or Pillow until a file is read.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

#: Standard CT display windows, name -> (center, width) in HU (Radiopaedia's usual values).
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "subdural": (75.0, 215.0),
    "stroke": (40.0, 40.0),
    "temporal_bone": (600.0, 2800.0),
    "soft_tissue": (50.0, 400.0),
    "abdomen": (50.0, 400.0),
    "mediastinum": (50.0, 350.0),
    "liver": (30.0, 150.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
}
#: Extra names accepted for presets (after lower-casing and ``-``/space -> ``_``).
PRESET_ALIASES: dict[str, str] = {"soft": "soft_tissue", "chest": "mediastinum", "head": "brain"}
#: ``window`` value that forces min-max scaling even when the header has a window.
MIN_MAX = "min-max"
#: File suffixes read, and the format each means.
SUFFIX_FORMATS: dict[str, str] = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".bmp": "bmp",
    ".dcm": "dicom",
    ".dicom": "dicom",
}
#: Header elements copied into :attr:`ImageFrame.meta` (technical facts only, never identifiers).
_META_KEYWORDS: dict[str, str] = {
    "Rows": "rows",
    "Columns": "columns",
    "SamplesPerPixel": "samples_per_pixel",
    "BitsAllocated": "bits_allocated",
    "BitsStored": "bits_stored",
    "PixelRepresentation": "pixel_representation",
    "PlanarConfiguration": "planar_configuration",
    "RescaleSlope": "rescale_slope",
    "RescaleIntercept": "rescale_intercept",
    "RescaleType": "rescale_type",
    "WindowCenter": "header_window_center",
    "WindowWidth": "header_window_width",
    "VOILUTFunction": "voi_lut_function",
    "LossyImageCompression": "lossy_image_compression",
    "SliceThickness": "slice_thickness_mm",
    "DoseGridScaling": "dose_grid_scaling",
    "DoseUnits": "dose_units",
}
_VOI_FUNCTIONS = {"LINEAR", "LINEAR_EXACT", "SIGMOID"}


class ImageFileError(ValueError):
    """An image file that cannot be used; ``path`` and ``reason`` say why.

    ``str(error)`` is ``f"{path}: {reason}"``.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class ImageFrame:
    """One frame of an image file, rendered to 8 bits.

    Attributes
    ----------
    pixels : ndarray of uint8, shape (H, W) or (H, W, 3)
        Grey or RGB rendering for display and proposers; same geometry as the original.
    width, height : int
        Size of the original in px (after the EXIF orientation for PNG/JPEG).
    frame : int
        0-based frame index (0 for single-frame files).
    n_frames : int
        Frames in the file.
    pixel_spacing_mm : tuple of float or None
        ``(row, column)`` spacing in mm (PixelSpacing, else ImagerPixelSpacing); ``None`` when
        unknown (always for PNG/JPEG).
    window : tuple of float or None
        ``(center, width)`` actually applied, in physical units; ``None`` when the values were
        used as they are (8-bit grey, colour) or mapped by a VOI LUT table.
    window_source : str or None
        ``"explicit"``, ``"preset:<name>"``, ``"header"``, ``"header-lut"``, ``"min-max"``, or
        ``None`` when no window was applied.
    units : str or None
        ``"HU"`` for CT after the modality LUT, else the header's RescaleType (or DoseUnits),
        else ``None``.
    modality : str or None
        DICOM Modality (``CT``, ``MR``, ...); ``None`` for other formats.
    photometric : str or None
        Photometric interpretation of the stored data (DICOM) or the Pillow mode.
    source_format : str
        ``"png"``, ``"jpeg"``, ``"tiff"``, ``"bmp"``, ``"dicom"``, ...
    meta : dict
        Non-identifying technical facts (transfer syntax, bit depth, rows, columns, rescale,
        VOI LUT function, ...). Never patient or study identifiers, dates or UIDs.
    """

    pixels: NDArray[np.uint8]
    width: int
    height: int
    frame: int
    n_frames: int
    pixel_spacing_mm: tuple[float, float] | None
    window: tuple[float, float] | None
    window_source: str | None
    units: str | None
    modality: str | None
    photometric: str | None
    source_format: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Window:
    """A resolved window request: a fixed (center, width), or forced min-max."""

    center: float
    width: float
    source: str
    hu_only: bool = False


# --------------------------------------------------------------------------------------------
# public functions


def open_image(path: Path, *, window: str | tuple[float, float] | None = None) -> list[ImageFrame]:
    """Read and check an image file; one 8-bit :class:`ImageFrame` per frame.

    Parameters
    ----------
    path : Path
        A DICOM file (recognised by its ``DICM`` marker or a ``.dcm``/``.dicom`` suffix) or an
        image Pillow reads (PNG, JPEG, TIFF, BMP).
    window : str or (float, float), optional
        Greyscale windowing: ``(center, width)`` in physical units (HU for CT), the name of a
        :data:`WINDOW_PRESETS` entry (applied to images in HU only; other images keep their
        default with a warning), or ``"min-max"``. Default: the header's window, else min-max
        (16-bit PNG: min-max; 8-bit grey: unchanged). Colour images are never windowed.

    Raises
    ------
    ValueError
        If ``window`` is an unknown preset name (the message lists them) or a bad tuple.
    ImageFileError
        Naming the file: missing, empty, not an image, no pixel data, zero size, unsupported
        transfer syntax or photometric interpretation, truncated or undecodable pixel data.
    """
    path = Path(path)
    spec = _resolve_window(window)
    _check_file(path)
    if _is_dicom(path):
        with _quiet_dicom(path):
            return _open_dicom(path, spec)
    return _open_pillow(path, spec)


_PYDICOM_QUIET = {"depth": 0, "level": 0}
_PYDICOM_LOCK = threading.Lock()


@contextmanager
def _quiet_dicom(path: Path) -> Iterator[None]:
    """Read DICOM without pydicom's log records and warnings (a rejected file is reported once,
    by its :class:`ImageFileError`), and turn any error pydicom raises late (e.g. an unknown value
    representation met while decoding) into an :class:`ImageFileError` naming the file."""
    import logging

    logger = logging.getLogger("pydicom")
    with _PYDICOM_LOCK:
        if _PYDICOM_QUIET["depth"] == 0:
            _PYDICOM_QUIET["level"] = logger.level
            logger.setLevel(logging.CRITICAL + 1)
        _PYDICOM_QUIET["depth"] += 1
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")  # ours (e.g. about windows) still show
            yield
    except ImageFileError:
        raise
    except Exception as err:  # noqa: BLE001 - pydicom raises many types for a corrupt file
        raise ImageFileError(path, f"unreadable DICOM (corrupt element?): {_short(err)}") from None
    finally:
        with _PYDICOM_LOCK:
            _PYDICOM_QUIET["depth"] -= 1
            if _PYDICOM_QUIET["depth"] == 0:
                logger.setLevel(_PYDICOM_QUIET["level"])


def read_physical(path: Path, frame: int = 0) -> NDArray[np.float32]:
    """Physical values of one frame: ``(H, W)`` grey or ``(H, W, 3)`` RGB, as float32.

    For DICOM the modality LUT is applied (HU for CT, Gy for RT Dose with Dose Grid Scaling);
    colour DICOM gives RGB values in the stored bit depth. For other formats the stored grey or
    RGB values (after EXIF orientation and compositing transparency on white).

    Raises
    ------
    ImageFileError
        If the file cannot be read or has no frame ``frame``.
    """
    path = Path(path)
    _check_file(path)
    if _is_dicom(path):
        with _quiet_dicom(path):
            ds = _read_dataset(path)
            n_frames = _n_frames(ds)
            _check_index(path, frame, n_frames)
            raw, photometric = _decode(path, ds, index=frame if n_frames > 1 else None)
            values, _ = _dicom_physical(path, ds, raw[0], photometric, frame)
            return values.astype(np.float32)
    pages = _pillow_pages(path)
    _check_index(path, frame, len(pages))
    return pages[frame][0].astype(np.float32)


def image_paths(root: Path) -> list[Path]:
    """Image files to read: ``root`` itself if a file, else the supported files under it, sorted.

    In a folder (searched recursively, hidden files and folders skipped), a file is taken when its
    suffix is one of :data:`SUFFIX_FORMATS` (any case), or when it carries the DICOM ``DICM``
    marker at byte 128 whatever its name (e.g. ``IM0001`` or ``1.2.840....3``); ``DICOMDIR`` is
    skipped.

    Raises
    ------
    ImageFileError
        If ``root`` does not exist.
    """
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise ImageFileError(root, "no such file or folder")
    found = []
    for candidate in root.rglob("*"):
        if any(part.startswith(".") for part in candidate.relative_to(root).parts):
            continue
        if not candidate.is_file() or candidate.name.upper() == "DICOMDIR":
            continue
        if candidate.suffix.lower() in SUFFIX_FORMATS or _has_dicm_marker(candidate):
            found.append(candidate)
    return sorted(found)


def file_sha256(path: Path) -> str:
    """SHA-256 hex digest of a file's bytes (its identity across renames)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def png_bytes(pixels: NDArray[np.uint8]) -> bytes:
    """PNG encoding of an 8-bit ``(H, W)`` grey or ``(H, W, 3)`` RGB array.

    Raises
    ------
    ValueError
        If ``pixels`` is not uint8 or not of one of those shapes.
    """
    from PIL import Image

    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        raise ValueError(f"pixels must be uint8, not {pixels.dtype}")
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)) or pixels.size == 0:
        raise ValueError(f"pixels must have shape (H, W) or (H, W, 3), not {pixels.shape}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_data_uri(pixels: NDArray[np.uint8]) -> str:
    """``data:image/png;base64,...`` URI of an 8-bit grey or RGB array (see :func:`png_bytes`)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(pixels)).decode("ascii")


# --------------------------------------------------------------------------------------------
# shared helpers


def _resolve_window(window: str | tuple[float, float] | None) -> _Window | None:
    """Check a ``window`` argument; ``None`` means the file's default."""
    if window is None:
        return None
    if isinstance(window, str):
        key = window.strip().lower().replace("-", "_").replace(" ", "_")
        if key in {"min_max", "minmax"}:
            return _Window(math.nan, math.nan, "min-max")
        key = PRESET_ALIASES.get(key, key)
        if key not in WINDOW_PRESETS:
            names = ", ".join(sorted(WINDOW_PRESETS))
            raise ValueError(f"unknown window preset {window!r}; presets are {names} (or 'min-max', or a (center, width) pair)")
        center, width = WINDOW_PRESETS[key]
        return _Window(center, width, f"preset:{key}", hu_only=True)
    try:
        center, width = (float(value) for value in window)
    except (TypeError, ValueError):
        raise ValueError(f"window must be a preset name or a (center, width) pair, not {window!r}") from None
    if not (math.isfinite(center) and math.isfinite(width) and width > 0):
        raise ValueError(f"window (center, width) must be finite with width > 0, not {window!r}")
    return _Window(center, width, "explicit")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ImageFileError(path, "no such file")
    if not path.is_file():
        raise ImageFileError(path, "not a file")
    if path.stat().st_size == 0:
        raise ImageFileError(path, "empty file (0 bytes)")


def _check_index(path: Path, frame: int, n_frames: int) -> None:
    if not 0 <= frame < n_frames:
        raise ImageFileError(path, f"no frame {frame}: the file has {n_frames} frame(s) (0-based)")


def _has_dicm_marker(path: Path) -> bool:
    """Whether ``path`` has the DICOM Part 10 ``DICM`` marker after the 128-byte preamble."""
    try:
        with path.open("rb") as handle:
            head = handle.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def _is_dicom(path: Path) -> bool:
    return _has_dicm_marker(path) or path.suffix.lower() in {".dcm", ".dicom"}


def _window_to_uint8(values: NDArray, center: float, width: float, function: str = "LINEAR_EXACT") -> NDArray[np.uint8]:
    """Map physical values to 0..255 with a VOI window (pydicom's PS3.3 C.11.2 formulas)."""
    from pydicom.dataset import Dataset
    from pydicom.pixels import apply_windowing

    voi = Dataset()
    voi.PhotometricInterpretation = "MONOCHROME2"
    voi.BitsStored = 8  # output range 0..255
    voi.PixelRepresentation = 0
    voi.WindowCenter = float(center)
    voi.WindowWidth = float(width)
    voi.VOILUTFunction = function
    out = apply_windowing(np.asarray(values, dtype=np.float64), voi)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _min_max_window(low: float, high: float) -> tuple[float, float]:
    """``(center, width)`` spanning ``[low, high]``; width 0 for a constant image."""
    return (low + high) / 2.0, high - low


def _render_min_max(values: NDArray, low: float, high: float) -> NDArray[np.uint8]:
    if not high > low:
        return np.zeros(values.shape, dtype=np.uint8)
    center, width = _min_max_window(low, high)
    return _window_to_uint8(np.nan_to_num(values, nan=low), center, width)


def _to_uint8_range(values: NDArray, bits: int) -> NDArray[np.uint8]:
    """Scale unsigned values of ``bits`` bits to 0..255."""
    if values.dtype == np.uint8 and bits <= 8:
        return values
    top = float(2**bits - 1)
    return np.clip(np.rint(values.astype(np.float64) * (255.0 / top)), 0, 255).astype(np.uint8)


def _first(value: Any) -> Any:
    """First item of a multi-valued element, or the value itself."""
    from pydicom.multival import MultiValue

    if isinstance(value, (MultiValue, list, tuple)):
        return value[0] if len(value) else None
    return value


def _plain(value: Any) -> Any:
    """A header value as plain JSON-able Python."""
    from pydicom.multival import MultiValue

    if isinstance(value, (MultiValue, list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, (bytes, bytearray)):
        return None
    return str(value)


# --------------------------------------------------------------------------------------------
# DICOM


def _read_dataset(path: Path) -> "Dataset":
    """The dataset of a DICOM file, with the errors of a non-DICOM or truncated header named."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path)
            except InvalidDicomError:
                # Part 10 files have a 'DICM' marker; old raw datasets do not: try harder.
                ds = pydicom.dcmread(path, force=True)
                if "PixelData" not in ds and "Rows" not in ds:
                    raise InvalidDicomError("no 'DICM' marker and no image elements") from None
                _infer_transfer_syntax(ds)
    except InvalidDicomError:
        raise ImageFileError(path, "not a DICOM image (no 'DICM' marker at byte 128 and no pixel data)") from None
    except (EOFError, OSError, ValueError, KeyError, TypeError, AttributeError, NotImplementedError) as err:
        raise ImageFileError(path, f"unreadable DICOM header (truncated or corrupt file?): {_short(err)}") from None
    pixel_keywords = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
    if not any(keyword in ds for keyword in pixel_keywords):
        what = ds.SOPClassUID.name if "SOPClassUID" in ds else str(ds.get("Modality") or "")
        if "Image" in what or "Rows" in ds:
            why = f"from this {what or 'image'} object (truncated file?)"
        else:
            why = f"({what or 'this object'} is not an image)"
        raise ImageFileError(path, f"no pixel data: the (7FE0,0010) PixelData element is missing {why}")
    for keyword in ("Rows", "Columns"):
        value = ds.get(keyword)
        if value in (None, ""):
            raise ImageFileError(path, f"the {keyword} element is missing: image size unknown")
        if int(value) <= 0:
            raise ImageFileError(path, f"zero size: {keyword} = {int(value)}")
    return ds


def _infer_transfer_syntax(ds: "Dataset") -> None:
    """Give a dataset read without file meta (pre-Part 10) the native syntax it was read with."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    if "PixelData" in ds and ds["PixelData"].is_undefined_length:
        return  # encapsulated (compressed) data: the syntax cannot be guessed
    implicit, little = ds.original_encoding
    if implicit is None or little is None:
        return
    syntax = ImplicitVRLittleEndian if implicit else (ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    meta.TransferSyntaxUID = syntax


def _short(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return " ".join(text.split())[:400]


def _n_frames(ds: "Dataset") -> int:
    value = ds.get("NumberOfFrames")
    try:
        return max(int(value), 1) if value not in (None, "") else 1
    except (TypeError, ValueError):
        return 1


def _decode(path: Path, ds: "Dataset", index: int | None) -> tuple[NDArray, str]:
    """Decoded pixels as ``(F, H, W[, 3])`` and the photometric interpretation they are in.

    ``index=None`` decodes every frame (checking the whole file); YBR colour is converted to RGB.
    """
    from pydicom.pixels import get_decoder

    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is None:
        raise ImageFileError(path, "no Transfer Syntax UID (0002,0010) in the file meta information: PixelData cannot be decoded")
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise ImageFileError(path, f"unsupported transfer syntax {syntax.name} ({syntax}): no pixel data decoder for it") from None
    if not decoder.is_available:
        needs = "; ".join(decoder.missing_dependencies) or "a decoding plugin"
        raise ImageFileError(path, f"transfer syntax {syntax.name} needs a decoder that is not installed ({needs})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            array, info = decoder.as_array(ds, index=index, as_rgb=True)
    except Exception as err:  # noqa: BLE001 - decoders raise many types
        raise ImageFileError(path, f"cannot decode PixelData ({syntax.name}): {_short(err)}") from None
    photometric = str(info.get("photometric_interpretation", ds.get("PhotometricInterpretation", ""))).upper()
    samples = int(info.get("samples_per_pixel", ds.get("SamplesPerPixel", 1)) or 1)
    rows, columns = int(ds.Rows), int(ds.Columns)
    expected_frames = 1 if index is not None else _n_frames(ds)
    if array.ndim == (3 if samples > 1 else 2):
        array = array[np.newaxis]
    expected = (expected_frames, rows, columns) + ((samples,) if samples > 1 else ())
    if array.shape != expected:
        raise ImageFileError(path, f"decoded pixels have shape {array.shape}, the header says {expected} (frames, rows, columns[, samples])")
    return array, photometric


def _functional_item(ds: "Dataset", frame: int, sequence: str) -> "Dataset | None":
    """Item of a functional group macro for ``frame``: per-frame first, then shared."""
    for groups, pick in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        items = ds.get(groups)
        if items and len(items) > pick:
            inner = items[pick].get(sequence)
            if inner:
                return inner[0]
    return None


def _dicom_physical(path: Path, ds: "Dataset", raw: NDArray, photometric: str, frame: int) -> tuple[NDArray, str | None]:
    """Physical values of one decoded frame and their units (grey), or RGB values (colour)."""
    from pydicom.pixels import apply_color_lut, apply_modality_lut, convert_color_space

    if photometric == "PALETTE COLOR":
        try:
            return apply_color_lut(raw, ds).astype(np.float64), None
        except Exception as err:  # noqa: BLE001
            raise ImageFileError(path, f"cannot apply the palette colour lookup table: {_short(err)}") from None
    if raw.ndim == 3:
        if photometric != "RGB":
            try:
                raw = convert_color_space(raw, photometric, "RGB")
            except (NotImplementedError, ValueError) as err:
                raise ImageFileError(path, f"unsupported colour photometric interpretation {photometric}: {_short(err)}") from None
        return raw.astype(np.float64), None
    if photometric not in {"MONOCHROME1", "MONOCHROME2"}:
        raise ImageFileError(path, f"unsupported photometric interpretation {photometric!r} for one sample per pixel")
    modality = str(ds.get("Modality") or "").upper()
    rescale_type = ds.get("RescaleType")
    if ds.get("ModalityLUTSequence") or ("RescaleSlope" in ds and "RescaleIntercept" in ds):
        try:
            values = apply_modality_lut(raw, ds).astype(np.float64)
        except Exception as err:  # noqa: BLE001
            raise ImageFileError(path, f"cannot apply the modality LUT (RescaleSlope/RescaleIntercept): {_short(err)}") from None
        if ds.get("ModalityLUTSequence"):
            rescale_type = ds.ModalityLUTSequence[0].get("ModalityLUTType")
        rescaled = True
    elif (item := _functional_item(ds, frame, "PixelValueTransformationSequence")) is not None or "RescaleSlope" in ds or "RescaleIntercept" in ds:
        source = item if item is not None else ds
        slope = float(source.get("RescaleSlope") or 1.0)
        intercept = float(source.get("RescaleIntercept") or 0.0)
        rescale_type = source.get("RescaleType", rescale_type)
        values = raw.astype(np.float64) * slope + intercept
        rescaled = True
    elif modality == "RTDOSE" and ds.get("DoseGridScaling") not in (None, ""):
        values = raw.astype(np.float64) * float(ds.DoseGridScaling)
        return values, str(ds.get("DoseUnits") or "") or None
    else:
        values = raw.astype(np.float64)
        rescaled = False
    rescale_type = str(rescale_type or "").strip().upper() or None
    if rescale_type == "US":  # 'unspecified'
        rescale_type = None
    if modality == "CT" and rescaled and rescale_type in (None, "HU"):
        return values, "HU"
    return values, rescale_type


def _header_window(ds: "Dataset", frame: int) -> tuple[float, float, str] | None:
    """The header's (center, width, VOI LUT function) for ``frame``, or ``None``."""
    item = _functional_item(ds, frame, "FrameVOILUTSequence")
    source = item if item is not None and "WindowCenter" in item else ds
    center, width = _first(source.get("WindowCenter")), _first(source.get("WindowWidth"))
    if center in (None, "") or width in (None, ""):
        return None
    function = str(source.get("VOILUTFunction") or ds.get("VOILUTFunction") or "LINEAR").strip().upper()
    if function not in _VOI_FUNCTIONS:
        function = "LINEAR"
    center, width = float(center), float(width)
    if not (math.isfinite(center) and math.isfinite(width)) or width < (1.0 if function == "LINEAR" else 1e-12):
        return None
    return center, width, function


def _header_lut(ds: "Dataset", values: NDArray) -> NDArray[np.uint8] | None:
    """Values mapped by the header's VOI LUT Sequence, scaled to 8 bits, or ``None``."""
    from pydicom.pixels import apply_voi

    sequence = ds.get("VOILUTSequence")
    if not sequence:
        return None
    try:
        out = apply_voi(np.rint(np.nan_to_num(values)).astype(np.int64), ds)  # a table is indexed by integers
        bits = int(sequence[0].LUTDescriptor[2])
    except Exception:  # noqa: BLE001 - an unusable table falls back to min-max
        return None
    return _to_uint8_range(out, bits)


def _dicom_meta(ds: "Dataset") -> dict[str, Any]:
    meta: dict[str, Any] = {}
    syntax = getattr(ds, "file_meta", None) and ds.file_meta.get("TransferSyntaxUID")
    if syntax is not None:
        meta["transfer_syntax"] = syntax.name
    for keyword, key in _META_KEYWORDS.items():
        value = ds.get(keyword)
        if value not in (None, ""):
            plain = _plain(value)
            if plain is not None:
                meta[key] = plain
    if "SOPClassUID" in ds and ds.SOPClassUID.is_valid:
        meta["sop_class"] = ds.SOPClassUID.name  # the standard class name, never the UID
    return meta


def _pixel_spacing(ds: "Dataset", frame: int) -> tuple[float, float] | None:
    candidates = [ds.get("PixelSpacing")]
    item = _functional_item(ds, frame, "PixelMeasuresSequence")
    if item is not None:
        candidates.insert(0, item.get("PixelSpacing"))
    candidates.append(ds.get("ImagerPixelSpacing"))
    for value in candidates:
        try:
            row, column = (float(v) for v in value)
        except (TypeError, ValueError):
            continue
        if row > 0 and column > 0:
            return row, column
    return None


def _open_dicom(path: Path, spec: _Window | None) -> list[ImageFrame]:
    ds = _read_dataset(path)
    raw, photometric = _decode(path, ds, index=None)
    n_frames = raw.shape[0]
    header_photometric = str(ds.get("PhotometricInterpretation") or photometric).upper()
    modality = str(ds.get("Modality")) if ds.get("Modality") else None
    meta = _dicom_meta(ds)
    colour = raw.ndim == 4 or photometric == "PALETTE COLOR"
    frames: list[ImageFrame] = []
    if colour:
        bits = int(ds.get("BitsStored") or raw.dtype.itemsize * 8)
        if photometric == "PALETTE COLOR":
            bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
        for index in range(n_frames):
            rgb, _ = _dicom_physical(path, ds, raw[index], photometric, index)
            pixels = _to_uint8_range(rgb, bits)
            frames.append(_frame(ds, path, index, n_frames, pixels, None, None, None, modality, header_photometric, meta))
        return frames

    def physical(index: int) -> NDArray:
        return _dicom_physical(path, ds, raw[index], photometric, index)[0]

    units = _dicom_physical(path, ds, raw[0], photometric, 0)[1]
    use_spec = spec
    if spec is not None and spec.hu_only and units != "HU":
        warnings.warn(
            f"{path}: window preset {spec.source.split(':', 1)[1]!r} is in HU but this {modality or 'image'} "
            f"is not (units {units}); the default window is used",
            stacklevel=3,
        )
        use_spec = None
    low = high = math.nan
    for index in range(n_frames):
        values = physical(index)  # one frame at a time: a long series never holds all in float
        window: tuple[float, float] | None
        if use_spec is not None and use_spec.source != "min-max":
            window, source = (use_spec.center, use_spec.width), use_spec.source
            pixels = _window_to_uint8(values, *window)
        else:
            header = _header_window(ds, index) if use_spec is None else None
            lut = _header_lut(ds, values) if use_spec is None and header is None else None
            if header is not None:
                window, source = (header[0], header[1]), "header"
                pixels = _window_to_uint8(values, *header)
            elif lut is not None:
                window, source, pixels = None, "header-lut", lut
            else:
                if math.isnan(low):  # over the whole file, so that frames look alike
                    ranges = [(float(np.nanmin(v)), float(np.nanmax(v))) for v in map(physical, range(n_frames))]
                    low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
                window, source = _min_max_window(low, high), "min-max"
                pixels = _render_min_max(values, low, high)
        if photometric == "MONOCHROME1":
            pixels = 255 - pixels
        frames.append(_frame(ds, path, index, n_frames, pixels, window, source, units, modality, header_photometric, meta))
    return frames


def _frame(
    ds: "Dataset",
    path: Path,
    index: int,
    n_frames: int,
    pixels: NDArray[np.uint8],
    window: tuple[float, float] | None,
    source: str | None,
    units: str | None,
    modality: str | None,
    photometric: str,
    meta: dict[str, Any],
) -> ImageFrame:
    return ImageFrame(
        pixels=np.ascontiguousarray(pixels),
        width=int(ds.Columns),
        height=int(ds.Rows),
        frame=index,
        n_frames=n_frames,
        pixel_spacing_mm=_pixel_spacing(ds, index),
        window=(float(window[0]), float(window[1])) if window is not None else None,
        window_source=source,
        units=units,
        modality=modality,
        photometric=photometric,
        source_format="dicom",
        meta=dict(meta),
    )


# --------------------------------------------------------------------------------------------
# Pillow formats


def _pillow_pages(path: Path) -> list[tuple[NDArray, str, str, dict[str, Any]]]:
    """Every page as ``(values, kind, mode, facts)``; kind is ``grey8``, ``rgb`` or ``grey-wide``.

    Values are the stored values after EXIF orientation: uint8 grey, uint8 RGB (transparency
    composited on white) or wider grey as float64.
    """
    from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

    pages = []
    try:
        with Image.open(path) as image:
            fmt = (image.format or path.suffix.lstrip(".")).lower()
            fmt = {"mpo": "jpeg", "jpg": "jpeg"}.get(fmt, fmt)
            for page in ImageSequence.Iterator(image):
                page.load()
                orientation = page.getexif().get(0x0112)
                upright = ImageOps.exif_transpose(page)
                values, kind = _pillow_values(upright)
                facts = {"format": fmt, "mode": page.mode}
                if orientation not in (None, 1):
                    facts["exif_orientation"] = int(orientation)
                pages.append((values, kind, page.mode, facts))
    except UnidentifiedImageError:
        raise ImageFileError(path, f"not an image file Pillow can read (suffix {path.suffix or 'none'})") from None
    except Image.DecompressionBombError as err:
        raise ImageFileError(path, f"image too large: {_short(err)}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise ImageFileError(path, f"cannot decode the image (truncated or corrupt?): {_short(err)}") from None
    if not pages:
        raise ImageFileError(path, "no image frames in the file")
    height, width = pages[0][0].shape[:2]
    if height == 0 or width == 0:
        raise ImageFileError(path, f"zero size: {width} x {height} px")
    return pages


def _pillow_values(image: Any) -> tuple[NDArray, str]:
    from PIL import Image

    mode = image.mode
    if mode == "1":
        return np.asarray(image.convert("L")), "grey8"
    if mode == "L":
        return np.asarray(image), "grey8"
    if mode in {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}:
        return np.asarray(image).astype(np.float64), "grey-wide"
    has_alpha = mode in {"LA", "La", "RGBA", "RGBa", "PA"} or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat = Image.alpha_composite(white, rgba)
        return np.asarray(flat.convert("L" if mode in {"LA", "La"} else "RGB")), "grey8" if mode in {"LA", "La"} else "rgb"
    return np.asarray(image.convert("RGB")), "rgb"


def _open_pillow(path: Path, spec: _Window | None) -> list[ImageFrame]:
    pages = _pillow_pages(path)
    if spec is not None and spec.hu_only and any(kind != "rgb" for _, kind, _, _ in pages):
        warnings.warn(f"{path}: window preset {spec.source.split(':', 1)[1]!r} is in HU; this image is not, the default is used", stacklevel=3)
        spec = None
    wide = [values for values, kind, _, _ in pages if kind == "grey-wide"]
    low = float(min(np.nanmin(v) for v in wide)) if wide else math.nan
    high = float(max(np.nanmax(v) for v in wide)) if wide else math.nan
    frames = []
    for index, (values, kind, mode, facts) in enumerate(pages):
        window: tuple[float, float] | None = None
        source: str | None = None
        if kind == "rgb":
            pixels = values
        elif spec is not None and spec.source != "min-max":
            window, source = (spec.center, spec.width), spec.source
            pixels = _window_to_uint8(values, *window)
        elif kind == "grey-wide" or spec is not None:
            lo, hi = (low, high) if kind == "grey-wide" else (float(values.min()), float(values.max()))
            window, source = _min_max_window(lo, hi), "min-max"
            pixels = _render_min_max(values, lo, hi)
        else:
            pixels = values
        height, width = values.shape[:2]
        frames.append(
            ImageFrame(
                pixels=np.ascontiguousarray(pixels, dtype=np.uint8),
                width=int(width),
                height=int(height),
                frame=index,
                n_frames=len(pages),
                pixel_spacing_mm=None,
                window=window,
                window_source=source,
                units=None,
                modality=None,
                photometric=mode,
                source_format=facts["format"],
                meta={key: value for key, value in facts.items() if key != "format"},
            )
        )
    return frames
