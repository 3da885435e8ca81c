"""The validated mapping table: verdict storage, accepted mappings, CSV/JSON export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cliniloop.services.cli.main import app
from cliniloop.services.core.schemas import CodeVerdictIn
from cliniloop.services.core.settings import get_settings
from cliniloop.services.core.store import Store
from cliniloop.services.loop.mappings import COLUMNS, export_mappings


def _verdict(ann: str, verdict: str, code: str = "", mention: str = "HTN", **kw) -> CodeVerdictIn:
    return CodeVerdictIn(
        mention=mention, normalized_mention=mention.lower(), context=f"Hx of {mention}.", system="icd10cm", code=code,
        display=kw.pop("display", ""), coder=kw.pop("coder", "coder@x"), verdict=verdict, source_annotation_id=ann,
        taxonomy_version="icd10cm@test", **kw,
    )  # fmt: skip


def test_verdicts_upsert_and_accepted_mappings_rank_by_votes(any_store: Store) -> None:
    s = any_store
    assert s.upsert_code_verdict(_verdict("1:1", "accept", "I10")) == "created"
    assert s.upsert_code_verdict(_verdict("1:1", "accept", "I10")) == "unchanged"
    assert s.upsert_code_verdict(_verdict("1:2", "alternative", "I11.9")) == "created"
    assert s.upsert_code_verdict(_verdict("1:3", "alternative", "I11.9")) == "created"
    s.upsert_code_verdict(_verdict("1:4", "alternative", "X99.99", valid=False, problem="not an ICD-10-CM code"))
    s.upsert_code_verdict(_verdict("1:5", "reject"))
    assert s.accepted_mappings() == {"htn": {"icd10cm": ["I11.9", "I10"]}}, "invalid and rejected never count"
    assert s.upsert_code_verdict(_verdict("1:2", "reject")) == "updated"
    assert s.accepted_mappings() == {"htn": {"icd10cm": ["I11.9", "I10"]}}, "a tie goes to the newest verdict (1:3)"
    s.upsert_code_verdict(_verdict("1:6", "accept", "I10"))
    assert s.accepted_mappings() == {"htn": {"icd10cm": ["I10", "I11.9"]}}
    assert len(s.code_mappings()) == 6 and len(s.code_mappings(validated_only=True)) == 3
    assert s.remove_code_verdicts_except("1:", keep={"1:1", "1:2"}) == 4
    assert [r.source_annotation_id for r in s.code_mappings()] == ["1:1", "1:2"]


def test_export_csv_and_json_round_trip(store: Store, tmp_path: Path) -> None:
    store.upsert_code_verdict(_verdict("1:1", "accept", "I10", display="Essential (primary) hypertension"))
    store.upsert_code_verdict(_verdict("1:2", "alternative", "X99.99", valid=False, problem="unknown code", coder="b@x"))
    assert export_mappings(store, tmp_path / "m.csv") == 2
    rows = list(csv.DictReader((tmp_path / "m.csv").open()))
    assert tuple(rows[0]) == COLUMNS
    assert (rows[0]["mention"], rows[0]["code"], rows[0]["verdict"], rows[0]["valid"]) == ("HTN", "I10", "accept", "True")
    assert rows[1]["problem"] == "unknown code" and rows[1]["taxonomy_version"] == "icd10cm@test"
    assert export_mappings(store, tmp_path / "v.json", validated_only=True) == 1
    assert json.loads((tmp_path / "v.json").read_text())[0]["display"] == "Essential (primary) hypertension"
    with pytest.raises(ValueError, match="unknown export format 'xlsx'"):
        export_mappings(store, tmp_path / "m.xlsx")
    assert store.audit_events("export")[-1].details["rows"] == 1


def test_export_from_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLINILOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    get_settings.cache_clear()
    try:
        from cliniloop.services.core.store import open_store

        open_store().upsert_code_verdict(_verdict("1:1", "accept", "I10"))
        out = CliRunner().invoke(app, ["export", "mappings", "--out", str(tmp_path / "x.json")])
        assert out.exit_code == 0, out.output
        assert json.loads((tmp_path / "x.json").read_text())[0]["code"] == "I10"
        bad = CliRunner().invoke(app, ["export", "mappings", "--out", str(tmp_path / "x.txt")])
        assert bad.exit_code == 1 and "unknown export format" in bad.output
    finally:
        get_settings.cache_clear()


def test_agreement_two_and_three_coders(store: Store) -> None:
    from cliniloop.services.loop.mappings import mapping_agreement

    # two coders, four shared mentions: verdicts agree on 3 of 4
    plan = [("t1", "accept", "I10", "accept", "I10"), ("t2", "reject", "", "reject", ""),
            ("t3", "accept", "E11.9", "alternative", "E11.65"), ("t4", "accept", "J45.909", "accept", "J45.909")]  # fmt: skip
    for tid, va, ca, vb, cb in plan:
        for coder, v, c in (("a", va, ca), ("b", vb, cb)):
            store.upsert_code_verdict(_verdict(f"{tid}:{coder}", v, c, mention=tid, coder=coder, task_id=tid))
    res = mapping_agreement(store)
    # hand: observed 3/4; a = (accept 3, reject 1), b = (accept 2, reject 1, alternative 1)
    # expected = 3/4*2/4 + 1/4*1/4 = 0.4375; kappa = (0.75 - 0.4375) / (1 - 0.4375) = 0.5556
    assert res["kappa_method"] == "cohen" and res["verdict_kappa"] == pytest.approx(0.5556, abs=1e-4)
    assert res["identical_code_share"] == pytest.approx(2 / 3, abs=1e-4)
    assert [d["mention"] for d in res["disagreements"]] == ["t3"]
    # a third coder on t1 and t2: two items with 3 coders, two with 2; Fleiss uses the 3-coder items
    for tid, v, c in (("t1", "accept", "I10"), ("t2", "reject", "")):
        store.upsert_code_verdict(_verdict(f"{tid}:c", v, c, mention=tid, coder="c", task_id=tid))
    res = mapping_agreement(store)
    assert res["kappa_method"] == "fleiss" and res["coders"] == ["a", "b", "c"]
    assert res["verdict_kappa"] == 1.0, "t1 and t2 (three coders each) agree fully"
    assert res["pairwise_kappa"]["a | c"]["items"] == 2
