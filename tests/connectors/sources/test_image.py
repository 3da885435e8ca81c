"""Image files: DICOM rendering (modality LUT, windows, MONOCHROME1, frames, codecs), PNG/JPEG, bad files."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
import pydicom.encaps
import pytest
from PIL import Image

from cliniloop.connectors.sources.image import (
    WINDOW_PRESETS,
    ImageFileError,
    file_sha256,
    image_paths,
    open_image,
    png_bytes,
    png_data_uri,
    read_physical,
)

#: pydicom's bundled test files (never get_testdata_file: it downloads what is not in the wheel).
FILES = Path(pydicom.data.__file__).parent / "test_files"
CT = FILES / "CT_small.dcm"
MR = FILES / "MR_small.dcm"


def _linear(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM LINEAR window to 0..255 (PS3.3 C.11.2.1.2.1), written out independently."""
    values = np.asarray(values, dtype=np.float64)
    c, w = center - 0.5, width - 1.0
    out = ((values - c) / w + 0.5) * 255.0
    out = np.where(values <= c - w / 2, 0.0, np.where(values > c + w / 2, 255.0, out))
    return np.rint(out).astype(np.uint8)


def _exact(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """LINEAR_EXACT window to 0..255."""
    values = np.asarray(values, dtype=np.float64)
    return np.rint(np.clip(((values - center) / width + 0.5) * 255.0, 0, 255)).astype(np.uint8)


def _ct_copy(tmp_path: Path, name: str = "ct.dcm", **changes) -> Path:
    ds = pydicom.dcmread(CT)
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    out = tmp_path / name
    ds.save_as(out)
    return out


# ---------------------------------------------------------------------------------- DICOM


def test_ct_modality_lut_gives_hounsfield_units() -> None:
    hu = read_physical(CT)
    raw = pydicom.dcmread(CT).pixel_array
    assert hu.dtype == np.float32 and hu.shape == (128, 128)
    assert raw[0, 0] == 175 and hu[0, 0] == -849.0  # slope 1, intercept -1024
    np.testing.assert_array_equal(hu, raw.astype(np.float32) - 1024)
    frame = open_image(CT)[0]
    assert frame.units == "HU" and frame.modality == "CT" and frame.source_format == "dicom"
    assert (frame.width, frame.height, frame.n_frames, frame.frame) == (128, 128, 1, 0)
    assert frame.pixel_spacing_mm == pytest.approx((0.661468, 0.661468))
    assert frame.meta["rescale_intercept"] == -1024.0 and frame.meta["transfer_syntax"] == "Explicit VR Little Endian"


def test_ct_presets_soft_tissue_and_lung() -> None:
    hu = read_physical(CT)
    soft = open_image(CT, window="soft-tissue")[0]
    lung = open_image(CT, window="lung")[0]
    assert soft.window == WINDOW_PRESETS["soft_tissue"] == (50.0, 400.0) and soft.window_source == "preset:soft_tissue"
    assert lung.window == WINDOW_PRESETS["lung"] == (-600.0, 1500.0) and lung.window_source == "preset:lung"
    # air-filled lung (-849 HU): black in the soft-tissue window, grey in the lung window
    assert soft.pixels[0, 0] == 0 and lung.pixels[0, 0] == 85
    # soft tissue (65 HU): mid-grey in the soft-tissue window, near white in the lung window
    assert hu[100, 30] == 65.0 and soft.pixels[100, 30] == 137 and lung.pixels[100, 30] == 241
    np.testing.assert_array_equal(soft.pixels, _exact(hu, 50, 400))
    np.testing.assert_array_equal(lung.pixels, _exact(hu, -600, 1500))
    air = hu < -700
    assert (lung.pixels[air] > soft.pixels[air]).all()


def test_unknown_preset_lists_the_presets() -> None:
    with pytest.raises(ValueError, match="lung") as info:
        open_image(CT, window="lungs-please")
    assert "mediastinum" in str(info.value)
    with pytest.raises(ValueError, match="width"):
        open_image(CT, window=(40, 0))


def test_explicit_window_beats_the_header(tmp_path: Path) -> None:
    path = _ct_copy(tmp_path, WindowCenter=40, WindowWidth=80)
    assert open_image(path)[0].window_source == "header"
    frame = open_image(path, window=(0, 2000))[0]
    assert frame.window == (0.0, 2000.0) and frame.window_source == "explicit"
    np.testing.assert_array_equal(frame.pixels, _exact(read_physical(path), 0, 2000))


def test_ct_without_window_uses_min_max() -> None:
    hu = read_physical(CT)
    frame = open_image(CT)[0]
    assert frame.window_source == "min-max"
    assert frame.window == pytest.approx(((hu.min() + hu.max()) / 2, hu.max() - hu.min()))
    assert frame.pixels[hu == hu.min()].max() == 0 and frame.pixels[hu == hu.max()].min() == 255


def test_mr_header_window_linear() -> None:
    frame = open_image(MR)[0]
    assert frame.window == (600.0, 1600.0) and frame.window_source == "header"
    assert frame.units is None and frame.modality == "MR"
    np.testing.assert_array_equal(frame.pixels, _linear(read_physical(MR), 600, 1600))


def test_header_sigmoid_voi_function(tmp_path: Path) -> None:
    ds = pydicom.dcmread(MR)
    ds.VOILUTFunction = "SIGMOID"
    path = tmp_path / "sigmoid.dcm"
    ds.save_as(path)
    values = read_physical(path).astype(np.float64)
    expected = np.rint(255.0 / (1 + np.exp(-4 * (values - 600) / 1600))).astype(np.uint8)
    frame = open_image(path)[0]
    assert frame.meta["voi_lut_function"] == "SIGMOID"
    np.testing.assert_array_equal(frame.pixels, expected)


def test_header_voi_lut_table(tmp_path: Path) -> None:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(MR)
    del ds.WindowCenter, ds.WindowWidth
    table = np.minimum(np.arange(2048) * 3, 4095)
    item = Dataset()
    item.LUTDescriptor = [2048, 0, 12]
    item.add_new("LUTData", "US", table.tolist())
    ds.VOILUTSequence = Sequence([item])
    path = tmp_path / "lut.dcm"
    ds.save_as(path)
    values = read_physical(path).astype(np.int64)
    frame = open_image(path)[0]
    assert frame.window_source == "header-lut" and frame.window is None
    expected = np.rint(table[np.clip(values, 0, 2047)] * 255 / 4095).astype(np.uint8)
    np.testing.assert_array_equal(frame.pixels, expected)


def test_preset_on_a_non_ct_image_warns_and_keeps_the_header_window() -> None:
    with pytest.warns(UserWarning, match="HU"):
        frame = open_image(MR, window="lung")[0]
    assert frame.window_source == "header" and frame.window == (600.0, 1600.0)


def test_monochrome1_is_inverted(tmp_path: Path) -> None:
    path = _ct_copy(tmp_path, PhotometricInterpretation="MONOCHROME1")
    inverted = open_image(path, window="soft_tissue")[0]
    normal = open_image(CT, window="soft_tissue")[0]
    assert inverted.photometric == "MONOCHROME1"
    np.testing.assert_array_equal(inverted.pixels, 255 - normal.pixels)
    assert inverted.pixels[0, 0] == 255  # low values shown white, as a MONOCHROME1 viewer does
    np.testing.assert_array_equal(read_physical(path), read_physical(CT))  # values are not inverted


def test_multi_frame_rtdose() -> None:
    path = FILES / "rtdose.dcm"
    frames = open_image(path)
    assert len(frames) == 15 and [f.frame for f in frames] == list(range(15))
    assert {f.n_frames for f in frames} == {15}
    assert len({f.window for f in frames}) == 1 and frames[0].window_source == "min-max"
    ds = pydicom.dcmread(path)
    np.testing.assert_allclose(read_physical(path, frame=3), ds.pixel_array[3] * float(ds.DoseGridScaling), rtol=1e-6)
    assert frames[0].units == str(ds.DoseUnits)
    with pytest.raises(ImageFileError, match="no frame 15"):
        read_physical(path, frame=15)


def _multi_frame_ct(tmp_path: Path, offsets: tuple[int, ...], per_frame_intercepts: tuple[float, ...] | None = None) -> Path:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(CT)
    raw = ds.pixel_array
    ds.NumberOfFrames = len(offsets)
    ds.PixelData = np.stack([raw + offset for offset in offsets]).astype(np.int16).tobytes()
    if per_frame_intercepts is not None:
        del ds.RescaleSlope, ds.RescaleIntercept
        groups = []
        for intercept in per_frame_intercepts:
            transform = Dataset()
            transform.RescaleSlope = 1
            transform.RescaleIntercept = intercept
            transform.RescaleType = "HU"
            item = Dataset()
            item.PixelValueTransformationSequence = Sequence([transform])
            groups.append(item)
        ds.PerFrameFunctionalGroupsSequence = Sequence(groups)
    path = tmp_path / "multi.dcm"
    ds.save_as(path)
    return path


def test_multi_frame_min_max_over_the_whole_volume(tmp_path: Path) -> None:
    path = _multi_frame_ct(tmp_path, (0, 300, 600))
    frames = open_image(path)
    assert len(frames) == 3 and len({f.window for f in frames}) == 1
    means = [float(f.pixels.mean()) for f in frames]
    assert means[0] < means[1] < means[2]  # one scale for all frames: brighter frames stay brighter
    np.testing.assert_array_equal(read_physical(path, frame=1), read_physical(CT) + 300)


def test_per_frame_functional_group_rescale(tmp_path: Path) -> None:
    path = _multi_frame_ct(tmp_path, (0, 0), per_frame_intercepts=(-1024.0, -1000.0))
    raw = pydicom.dcmread(CT).pixel_array.astype(np.float32)
    np.testing.assert_array_equal(read_physical(path, frame=0), raw - 1024)
    np.testing.assert_array_equal(read_physical(path, frame=1), raw - 1000)
    assert open_image(path, window="lung")[1].units == "HU"


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_bigendian.dcm"])
def test_lossless_codecs_give_the_uncompressed_values(name: str) -> None:
    np.testing.assert_array_equal(read_physical(FILES / name), read_physical(MR))
    frame = open_image(FILES / name)[0]
    np.testing.assert_array_equal(frame.pixels, open_image(MR)[0].pixels)


def test_jpeg2000_nm() -> None:
    frame = open_image(FILES / "JPEG2000.dcm")[0]
    assert frame.meta["transfer_syntax"] == "JPEG 2000 Image Compression"
    assert frame.modality == "NM" and frame.pixels.shape == (1024, 256)
    assert frame.pixels.min() == 0 and frame.pixels.max() == 255 and frame.pixels.std() > 1


@pytest.mark.parametrize(
    ("name", "corner"),
    [
        ("SC_rgb_rle.dcm", (255, 0, 0)),  # RLE, RGB
        ("SC_rgb_rle_16bit.dcm", (255, 0, 0)),  # 16 bits per sample -> 8
        ("SC_rgb_jpeg_dcmtk.dcm", (255, 0, 0)),  # JPEG baseline, YBR_FULL -> RGB
        ("SC_ybr_full_422_uncompressed.dcm", (255, 0, 0)),
    ],
)
def test_colour_dicom_becomes_rgb_without_window(name: str, corner: tuple[int, int, int]) -> None:
    frame = open_image(FILES / name, window="lung")[0]
    assert frame.pixels.shape == (100, 100, 3) and frame.pixels.dtype == np.uint8
    assert frame.window is None and frame.window_source is None
    np.testing.assert_allclose(frame.pixels[0, 0].astype(int), corner, atol=3)


def test_palette_colour_dicom() -> None:
    frame = open_image(FILES / "examples_palette.dcm")[0]
    assert frame.pixels.shape == (350, 800, 3) and frame.photometric == "PALETTE COLOR"
    assert len(np.unique(frame.pixels.reshape(-1, 3), axis=0)) > 10


def test_meta_holds_no_identifiers() -> None:
    ds = pydicom.dcmread(CT)
    frame = open_image(CT)[0]
    text = repr(frame.meta)
    secrets = [str(ds.PatientName), str(ds.PatientID), ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.StudyDate]
    assert all(value and value not in text for value in secrets)
    assert not any("uid" in key.lower() or "patient" in key.lower() for key in frame.meta)


# ---------------------------------------------------------------------------------- bad DICOM


def test_truncated_dicom(tmp_path: Path) -> None:
    path = tmp_path / "cut.dcm"
    path.write_bytes(CT.read_bytes()[:20000])
    with pytest.raises(ImageFileError) as info:
        open_image(path)
    assert info.value.path == path and str(path) in str(info.value)


def test_bundled_truncated_mr() -> None:
    with pytest.raises(ImageFileError, match="MR_truncated.dcm.*less than expected"):
        open_image(FILES / "MR_truncated.dcm")


def test_dicom_without_pixel_data(tmp_path: Path) -> None:
    path = _ct_copy(tmp_path, "nopixels.dcm", PixelData=None)
    with pytest.raises(ImageFileError, match=r"nopixels\.dcm: no pixel data.*PixelData"):
        open_image(path)
    with pytest.raises(ImageFileError, match="RT Plan Storage is not an image"):
        open_image(FILES / "rtplan.dcm")


def test_zero_size_and_unsupported_syntax(tmp_path: Path) -> None:
    with pytest.raises(ImageFileError, match="zero size: Rows = 0"):
        open_image(_ct_copy(tmp_path, "zero.dcm", Rows=0))
    ds = pydicom.dcmread(CT)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.MPEG2MPML
    ds.PixelData = pydicom.encaps.encapsulate([ds.PixelData])
    path = tmp_path / "video.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageFileError, match=r"video\.dcm: .*MPEG2"):
        open_image(path)


def test_text_file_named_dcm(tmp_path: Path) -> None:
    path = tmp_path / "notes.dcm"
    path.write_text("this is not an image\n" * 20)
    with pytest.raises(ImageFileError, match=r"notes\.dcm: not a DICOM image"):
        open_image(path)


# ---------------------------------------------------------------------------------- PNG / JPEG


def test_text_file_named_png_and_missing_or_empty_files(tmp_path: Path) -> None:
    path = tmp_path / "fake.png"
    path.write_text("hello")
    with pytest.raises(ImageFileError, match=r"fake\.png: not an image file"):
        open_image(path)
    with pytest.raises(ImageFileError, match="no such file"):
        open_image(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageFileError, match=r"empty\.png: empty file"):
        open_image(tmp_path / "empty.png")


def test_truncated_jpeg(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, format="JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[:600])
    with pytest.raises(ImageFileError, match=r"cut\.jpg: cannot decode"):
        open_image(path)


def test_grey_and_rgb_png(tmp_path: Path) -> None:
    grey = np.arange(60, dtype=np.uint8).reshape(6, 10)
    Image.fromarray(grey).save(tmp_path / "g.png")
    frame = open_image(tmp_path / "g.png")[0]
    np.testing.assert_array_equal(frame.pixels, grey)
    assert (frame.width, frame.height, frame.window, frame.window_source, frame.source_format) == (10, 6, None, None, "png")
    assert frame.pixel_spacing_mm is None and frame.units is None
    rgb = np.dstack([grey, 255 - grey, np.full_like(grey, 7)])
    Image.fromarray(rgb).save(tmp_path / "c.png")
    np.testing.assert_array_equal(open_image(tmp_path / "c.png")[0].pixels, rgb)


def test_sixteen_bit_png_min_max(tmp_path: Path) -> None:
    values = np.linspace(1000, 3000, 50 * 40).reshape(50, 40).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    frame = open_image(tmp_path / "deep.png")[0]
    assert frame.window_source == "min-max" and frame.window == (2000.0, 2000.0)
    assert frame.pixels.dtype == np.uint8 and frame.pixels.min() == 0 and frame.pixels.max() == 255
    assert (np.diff(frame.pixels.ravel().astype(int)) >= 0).all()
    np.testing.assert_array_equal(read_physical(tmp_path / "deep.png"), values.astype(np.float32))
    explicit = open_image(tmp_path / "deep.png", window=(1500, 1000))[0]  # 1000..2000 -> 0..255
    assert explicit.window_source == "explicit" and explicit.pixels[-1, -1] == 255 and explicit.pixels[0, 0] == 0


def test_rgba_on_white_and_palette(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[0, 0, 3] = 0  # fully transparent
    rgba[1:, :, 3] = 255
    rgba[0, 1:, 3] = 255
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    pixels = open_image(tmp_path / "a.png")[0].pixels
    assert pixels.shape == (4, 4, 3)
    assert tuple(pixels[0, 0]) == (255, 255, 255) and tuple(pixels[2, 2]) == (200, 0, 0)
    Image.fromarray(rgba[..., :3]).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(tmp_path / "p.png")
    palette = open_image(tmp_path / "p.png")[0]
    assert palette.pixels.shape == (4, 4, 3) and palette.photometric == "P"


def test_exif_rotated_jpeg_geometry(tmp_path: Path) -> None:
    stored = np.zeros((20, 40, 3), dtype=np.uint8)  # stored 40 wide, 20 high
    stored[:6, :6] = 255  # white block at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # viewer rotates 90 degrees clockwise
    Image.fromarray(stored).save(tmp_path / "rot.jpg", exif=exif, quality=95)
    frame = open_image(tmp_path / "rot.jpg")[0]
    assert (frame.width, frame.height) == (20, 40) and frame.pixels.shape == (40, 20, 3)
    assert frame.meta["exif_orientation"] == 6 and frame.source_format == "jpeg"
    assert frame.pixels[2, 17].mean() > 200  # now at the top-right, as a viewer shows it
    assert frame.pixels[2, 2].mean() < 50
    assert read_physical(tmp_path / "rot.jpg").shape == (40, 20, 3)


# ---------------------------------------------------------------------------------- helpers


def test_image_paths(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "b.PNG")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.dcm").write_bytes(CT.read_bytes())
    (tmp_path / "sub" / "IM0001").write_bytes(CT.read_bytes())  # no suffix, DICM marker
    (tmp_path / "sub" / "1.2.840.3").write_bytes(CT.read_bytes())  # odd suffix, DICM marker
    (tmp_path / "notes.txt").write_text("x" * 200)
    (tmp_path / "DICOMDIR").write_bytes(CT.read_bytes())
    (tmp_path / ".cache").mkdir()
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / ".cache" / "c.png")
    found = image_paths(tmp_path)
    assert found == sorted([tmp_path / "b.PNG", tmp_path / "sub" / "a.dcm", tmp_path / "sub" / "IM0001", tmp_path / "sub" / "1.2.840.3"])
    assert image_paths(tmp_path / "notes.txt") == [tmp_path / "notes.txt"]
    with pytest.raises(ImageFileError, match="no such file or folder"):
        image_paths(tmp_path / "nowhere")
    assert open_image(tmp_path / "sub" / "IM0001")[0].units == "HU"


def test_hash_and_png_encoding(tmp_path: Path) -> None:
    assert file_sha256(CT) == hashlib.sha256(CT.read_bytes()).hexdigest()
    pixels = (np.arange(12 * 7 * 3) % 256).astype(np.uint8).reshape(12, 7, 3)
    data = png_bytes(pixels)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), pixels)
    uri = png_data_uri(pixels[..., 0])
    assert uri.startswith("data:image/png;base64,")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))), pixels[..., 0])
    with pytest.raises(ValueError, match="uint8"):
        png_bytes(pixels.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        png_bytes(np.zeros((2, 2, 4), np.uint8))
