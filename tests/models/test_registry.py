from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from cliniloop.models.registry import METADATA_FILE, TMP_PREFIX, ModelRegistry, VersionNotFound


def _writer(content: bytes, name: str = "model.bin"):
    def write(folder: Path) -> None:
        (folder / name).write_bytes(content)
        (folder / "sub").mkdir()
        (folder / "sub" / "params.json").write_text('{"c1": 0.1}')

    return write


def _writable_bits(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode) & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_create_writes_a_complete_read_only_version_with_metadata(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "models")
    info = reg.create(
        "clinical-ner",
        _writer(b"weights-1"),
        {"parent": None, "training_set_hash": "abc", "label_count": 7, "metrics": {"f1": 0.8}, "taxonomy_version": "tx@1", "params": {"c1": 0.1}},
    )
    assert info.created and info.name == "clinical-ner"
    assert info.version.startswith("v-") and len(info.version) == 14
    assert info.path == tmp_path / "models" / "clinical-ner" / info.version
    meta = json.loads((info.path / METADATA_FILE).read_text())
    assert meta["name"] == "clinical-ner" and meta["version"] == info.version
    assert meta["training_set_hash"] == "abc" and meta["label_count"] == 7 and meta["metrics"] == {"f1": 0.8}
    assert meta["taxonomy_version"] == "tx@1" and meta["params"] == {"c1": 0.1} and meta["parent"] is None
    assert meta["created_at"].endswith("+00:00")
    assert set(meta["files"]) == {"model.bin", "sub/params.json"}
    for path in [info.path, *info.path.rglob("*")]:
        assert _writable_bits(path) == 0, f"{path} is writable"
    assert reg.path("clinical-ner", info.version) == info.path
    assert reg.metadata("clinical-ner", info.version) == meta
    assert reg.versions("clinical-ner") == [info.version]
    assert reg.verify("clinical-ner", info.version) == []
    assert not [p for p in (tmp_path / "models" / "clinical-ner").iterdir() if p.name.startswith(TMP_PREFIX)]


def test_same_content_is_the_same_version_and_is_never_rewritten(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    first = reg.create("m", _writer(b"same"), {"metrics": {"f1": 0.5}})
    again = reg.create("m", _writer(b"same"), {"metrics": {"f1": 0.9}})
    assert again.version == first.version and not again.created
    assert again.metadata["metrics"] == {"f1": 0.5}, "metadata of an existing version is never replaced"
    other = reg.create("m", _writer(b"different"), {})
    assert other.version != first.version and other.created
    assert reg.versions("m") == [first.version, other.version]


def test_an_explicit_existing_version_is_a_no_op(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    first = reg.create("m", _writer(b"weights-1"), {"version": "crf-0123456789ab", "metrics": {"f1": 0.5}})
    assert first.version == "crf-0123456789ab"
    called = []

    def overwrite(folder: Path) -> None:
        called.append(folder)
        (folder / "model.bin").write_bytes(b"weights-2")

    again = reg.create("m", overwrite, {"version": "crf-0123456789ab", "metrics": {"f1": 0.99}})
    assert not again.created and not called
    assert (first.path / "model.bin").read_bytes() == b"weights-1"
    assert reg.metadata("m", "crf-0123456789ab")["metrics"] == {"f1": 0.5}


def test_read_only_files_and_tampering_is_detected(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    info = reg.create("m", _writer(b"w"), {})
    target = info.path / "model.bin"
    assert _writable_bits(target) == 0
    target.chmod(0o644)  # only a deliberate chmod (or root) can change a version
    target.write_bytes(b"tampered")
    assert reg.verify("m", info.version) == ["model.bin"]


def test_failed_writer_leaves_nothing_behind(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)

    def broken(folder: Path) -> None:
        (folder / "half.bin").write_bytes(b"x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        reg.create("m", broken, {"version": "v1"})
    assert reg.versions("m") == [] and list((tmp_path / "m").iterdir()) == []
    with pytest.raises(ValueError, match="wrote no file"):
        reg.create("m", lambda folder: None, {})
    with pytest.raises(VersionNotFound):
        reg.path("m", "v1")
    assert not reg.exists("m", "v1")


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden"])
def test_invalid_names_are_refused(tmp_path: Path, name: str) -> None:
    reg = ModelRegistry(tmp_path)
    with pytest.raises(ValueError, match="invalid model"):
        reg.create(name, _writer(b"w"), {})
    with pytest.raises(ValueError, match="invalid model"):
        reg.create("m", _writer(b"w"), {"version": name or "/"})
