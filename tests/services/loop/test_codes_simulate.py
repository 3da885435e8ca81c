"""``simulate --task codes``: verdict replay with exact memory and the verdict re-ranker."""

from __future__ import annotations

from pathlib import Path

from cliniloop.models.text.code_candidates import Candidate
from cliniloop.services.loop.codes_simulate import simulate_codes


class Stub:
    """Fixed candidate lists per mention text."""

    def __init__(self, lists: dict[str, list[str]]) -> None:
        self.lists = lists

    def candidates_many(self, queries, k=10):
        return [{"icd10cm": [Candidate("icd10cm", c, c, 0.9 - i / 10, "lexical") for i, c in enumerate(self.lists[q[0]][:k])]} for q in queries]


def test_replay_memory_curve_and_saved_decisions(tmp_path: Path) -> None:
    pairs = tmp_path / "ref.tsv"
    # "HTN" twice (the second is answered by memory), "DM" whose gold is 2nd, "junk" with no good candidate
    pairs.write_text("mention\ticd10cm\nHTN\tI10\nDM\tE11.9\nhtn\tI10\njunk\t-\n", encoding="utf-8")
    stub = Stub({"HTN": ["I10", "I15.9"], "htn": ["I10", "I15.9"], "DM": ["E11.65", "E11.9"], "junk": ["R69"]})
    r = simulate_codes(pairs, generator=stub, cache_dir=tmp_path, checkpoints=[0, 4], seed=0)
    assert r["n"] == 4 and r["with_gold_code"] == 3
    first, last = r["curve"]
    # nothing decided: MRR = (1 + 1/2 + 1) / 3
    assert first["generator"]["all"] == {"n": 3, "mrr": round(2.5 / 3, 4), "recall@1": round(2 / 3, 4), "recall@5": 1.0}
    assert first["memory"]["all"] == first["generator"]["all"] and first["memory"]["unseen"]["n"] == 3
    # every verdict given: memory puts each gold first
    assert last["memory"]["all"]["mrr"] == 1.0 and last["memory"]["unseen"]["n"] == 0
    assert r["decisions_saved"] == 1, "the second HTN (same normalised mention) needs no coder"
    assert r["confirm_only"] == 1, "the first HTN: top candidate right"
    assert not last["reranker_fitted"], "too few verdicts for the re-ranker"
    assert r["reranker_verdict"] is None


def test_reranker_learns_a_preferred_category() -> None:
    from cliniloop.models.text.code_rerank import VerdictReranker

    def cands(codes):
        return [Candidate("icd10cm", c, f"name {c}", 0.9 - i / 100, "lexical") for i, c in enumerate(codes)]

    # coders always pick a J45 (asthma) code, listed second, over codes of other categories
    decided = [(f"mention {i}", cands([f"A{i:02d}.0", f"J45.{i}", f"B{i:02d}.2"]), f"J45.{i}") for i in range(12)]
    r = VerdictReranker(min_verdicts=10).fit(decided)
    assert r.model_ is not None
    # a new mention with a J45 code among its candidates: the category coders chose rises to first
    new = cands(["C99.0", "J45.909", "D00.0"])
    assert [c.code for c in r.rerank("wheezy", new)][0] == "J45.909"
    assert VerdictReranker(min_verdicts=20).fit(decided).model_ is None
    assert [c.code for c in VerdictReranker().rerank("x", new)] == ["C99.0", "J45.909", "D00.0"], "unfitted: unchanged"


def test_simulate_codes_command_line(tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    import cliniloop.services.loop.codes_simulate as mod
    from cliniloop.services.cli.main import app

    missing = CliRunner().invoke(app, ["simulate", "--task", "codes"])
    assert missing.exit_code == 2 and "needs --pairs" in missing.output
    seen = {}

    def fake(pairs, system, snomed, seed, repeats):
        seen.update(pairs=pairs, system=system, seed=seed, repeats=repeats)
        return {"n": 1}

    monkeypatch.setattr(mod, "simulate_codes", fake)
    out = CliRunner().invoke(app, ["simulate", "--task", "codes", "--pairs", str(tmp_path / "p.tsv"), "--repeats", "2", "--seed", "4"])
    assert out.exit_code == 0, out.output
    assert seen == {"pairs": tmp_path / "p.tsv", "system": "icd10cm", "seed": 4, "repeats": 2} and '"n": 1' in out.output
