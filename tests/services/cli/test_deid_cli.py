"""``cliniloop eval deid``, ``deid synth`` and ``report phi`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cliniloop.connectors.sources.brat import write_brat_document
from cliniloop.models.text.deid.types import PhiSpan, apply_profile
from cliniloop.services.cli.main import app

TEXT = "Seen by Dr. Alice Wong on 4 March 2021. BP 120/80. Call 617-555-0134."


def _span(word: str, phi_type: str) -> tuple[int, int, str]:
    return TEXT.index(word), TEXT.index(word) + len(word), phi_type


def test_eval_deid_prints_scores_per_type(env: Path) -> None:
    data = env / "brat"
    write_brat_document(data, "p1/n1", TEXT, [_span("Alice Wong", "NAME"), _span("4 March 2021", "DATE"), _span("617-555-0134", "PHONE")])
    out = CliRunner().invoke(app, ["eval", "deid", "--data", str(data), "--errors", str(env / "errors.jsonl")])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["notes"] == 1 and result["overall"]["recall"] == 1.0 and result["overall"]["precision"] == 1.0
    assert set(result["per_type"]) == {"NAME", "DATE", "PHONE"} and result["notes_per_second"] > 0
    assert result["overall"]["token_recall"] == 1.0 and result["detector"].startswith("deid-")
    assert (env / "errors.jsonl").read_text() == ""


def test_eval_deid_names_the_file_with_an_unknown_type(env: Path) -> None:
    data = env / "brat"
    write_brat_document(data, "n1", TEXT, [_span("Alice Wong", "PATIENT")])
    out = CliRunner().invoke(app, ["eval", "deid", "--data", str(data)])
    assert out.exit_code == 1 and "n1.ann" in out.output and "PATIENT" in out.output


PN_NOTE = "Seen by Dr Lee with wife Ann on 3/4 2019.\n"
PN_PHRASES = [("Lee", "HCPName", "NAME", "clinician"), ("Ann", "RelativeProxyName", "NAME", ""), ("3/4", "Date", "DATE", ""), ("2019", "DateYear", "DATE", "year")]


class _FakePhiDetector:
    """Stands in for PhiDetector: finds every PN_PHRASES identifier its profile removes."""

    def __init__(self, *, profile: str, **_: object) -> None:
        self.profile, self.version = profile, f"fake-{profile}"

    def fit(self) -> _FakePhiDetector:
        return self

    def detect(self, text: str) -> list[PhiSpan]:
        found = [PhiSpan(text.index(w), text.index(w) + len(w), t, category=c) for w, _, t, c in PN_PHRASES if w in text]
        return apply_profile(found, self.profile)


def _physionet(folder: Path, shift: int = 0) -> Path:
    folder.mkdir()
    (folder / "id.text").write_text(f"START_OF_RECORD=4||||2||||\n{PN_NOTE}||||END_OF_RECORD\n", encoding="utf-8")
    lines = [f"4 2 {PN_NOTE.index(w) + shift} {PN_NOTE.index(w) + len(w) + shift} {t} {w}\n" for w, t, _, _ in PN_PHRASES]
    (folder / "id-phi.phrase").write_text("".join(lines), encoding="utf-8")
    return folder


def test_eval_deid_with_the_physionet_type_map(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cliniloop.models.text.deid.analyzer.PhiDetector", _FakePhiDetector)
    data = _physionet(env / "pn")
    out = CliRunner().invoke(app, ["eval", "deid", "--data", str(data), "--type-map", "physionet", "--errors", str(env / "errors.jsonl")])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["format"] == "physionet" and result["type_map"] == "physionet" and result["notes"] == 1
    broad, safe = result["profiles"]["broad"], result["profiles"]["safe-harbor"]
    assert broad["with_years"]["overall"]["gold"] == 4 and broad["without_years"]["overall"]["gold"] == 3
    assert safe["with_years"]["overall"]["gold"] == 2  # the clinician's name and the year stay under safe harbor
    assert broad["with_years"]["overall"]["recall"] == safe["with_years"]["overall"]["recall"] == 1.0
    assert result["profile"] == "broad" and result["overall"] == broad["with_years"]["overall"] and result["detector"] == "fake-broad"
    assert (env / "errors.jsonl").read_text() == ""
    one = CliRunner().invoke(app, ["eval", "deid", "--data", str(data / "id.text"), "--type-map", "physionet", "--profile", "safe-harbor"])
    assert one.exit_code == 0, one.output
    assert list(json.loads(one.stdout)["profiles"]) == ["safe-harbor"]


def test_eval_deid_errors_name_the_gold_file(env: Path) -> None:
    bad = CliRunner().invoke(app, ["eval", "deid", "--data", str(_physionet(env / "shifted", shift=1)), "--type-map", "physionet"])
    assert bad.exit_code == 1 and "id-phi.phrase:1" in bad.output and "does not match" in bad.output
    untyped = CliRunner().invoke(app, ["eval", "deid", "--data", str(_physionet(env / "pn"))])
    assert untyped.exit_code == 1 and "id-phi.phrase:1" in untyped.output and "HCPName" in untyped.output and "--type-map" in untyped.output
    no_map = CliRunner().invoke(app, ["eval", "deid", "--data", str(env / "pn"), "--type-map", "i2b2-2099"])
    assert no_map.exit_code == 1 and "neither a built-in type map" in no_map.output
    bad_format = CliRunner().invoke(app, ["eval", "deid", "--data", str(env / "pn"), "--format", "csv"])
    assert bad_format.exit_code == 1 and "brat, physionet, i2b2" in bad_format.output


def test_synth_writes_a_brat_corpus_and_refuses_a_full_folder(env: Path) -> None:
    out_dir = env / "corpus"
    out = CliRunner().invoke(app, ["deid", "synth", "--out", str(out_dir), "--notes", "5", "--seed", "3"])
    assert out.exit_code == 0, out.output
    assert len(list(out_dir.rglob("*.txt"))) == 5 and len(list(out_dir.rglob("*.ann"))) == 5
    again = CliRunner().invoke(app, ["deid", "synth", "--out", str(out_dir), "--notes", "5"])
    assert again.exit_code == 1 and "not empty" in again.output


def test_report_phi_on_an_empty_store(env: Path) -> None:
    out = CliRunner().invoke(app, ["report", "phi"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["corrections"] == 0
