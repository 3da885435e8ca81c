"""Issue 20, defects 3 and 6 (images): corrupt DICOM files are refused with an ImageFileError naming
the file (never another exception), without pydicom's log records or warnings."""

from __future__ import annotations

import logging
import random
import warnings
from pathlib import Path

import pydicom.data
import pytest

from cliniloop.connectors.sources.image import ImageFileError, open_image

CT = Path(pydicom.data.__file__).parent / "test_files" / "CT_small.dcm"


def test_corrupt_dicom_files_fail_quietly_and_by_name(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = CT.read_bytes()
    rng = random.Random(0)
    refused = 0
    caplog.set_level(logging.DEBUG, logger="pydicom")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(200):
            corrupt = bytearray(data)
            for _ in range(20):
                corrupt[rng.randrange(132, len(corrupt))] = rng.randrange(256)
            path = tmp_path / f"c{i}.dcm"
            path.write_bytes(bytes(corrupt))
            try:
                open_image(path)
            except ImageFileError as err:
                assert err.path == path
                refused += 1
    assert refused > 0
    assert [r for r in caplog.records if r.name.startswith("pydicom")] == []
    assert [w for w in caught if "pydicom" in str(w.filename)] == []
