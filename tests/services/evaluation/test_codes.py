"""``evaluate_codes``: pairs-file checks, recall@k / MRR by hand, baseline, SNOMED configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.text.code_candidates import Candidate, CodeCandidateGenerator
from services.evaluation.codes import CodesEvalError, evaluate_codes, rank_metrics, read_pairs
from taxonomies.codes.icd10cm import load_icd10cm
from taxonomies.codes.system import CodeSystem, Concept

SNOMED_SAMPLE = Path(__file__).resolve().parents[3] / "data_samples" / "snomed_rf2_sample"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- the pairs file ----------------------------------------------------------------------------------


def test_read_pairs_accepts_icd10_header_and_undotted_codes(tmp_path: Path) -> None:
    f = write(tmp_path / "p.tsv", "id\tmention\ticd10\n1\tHTN\ti10\n2\ttype 2 diabetes\tE119\n")
    pairs = read_pairs(f, "icd10cm")
    assert [(p.line, p.mention, p.code) for p in pairs] == [(2, "HTN", "I10"), (3, "type 2 diabetes", "E11.9")]


@pytest.mark.parametrize(
    ("text", "system", "message"),
    [
        ("mention\tsnomed\nHTN\t38341003\n", "icd10cm", r"p\.tsv:1: missing code column 'icd10cm' or 'icd10'"),
        ("text\ticd10cm\nHTN\tI10\n", "icd10cm", r"p\.tsv:1: missing column 'mention'"),
        ("mention\ticd10cm\nHTN\tI10\n\tE11.9\n", "icd10cm", r"p\.tsv:3: column 'mention' is empty"),
        ("mention\ticd10cm\nHTN\t \n", "icd10cm", r"p\.tsv:2: column 'icd10cm' is empty"),
        ("mention\ticd10cm\nHTN\tI10\n\n", "icd10cm", r"p\.tsv:3: empty row"),
        ("mention\ticd10cm\nHTN\n", "icd10cm", r"p\.tsv:2: column 'icd10cm' is missing"),
        ("mention\ticd10cm\nHTN\thypertension\n", "icd10cm", r"p\.tsv:2: column 'icd10cm': 'hypertension' is not an ICD-10 code"),
        ("mention\tsnomed\nHTN\tI10\n", "snomed", r"p\.tsv:2: column 'snomed': 'I10' is not a SNOMED CT concept id"),
        ("mention\ticd10cm\n", "icd10cm", r"p\.tsv: no pairs"),
        ("", "icd10cm", r"p\.tsv:1: empty file"),
    ],
)
def test_bad_pairs_files_name_file_line_and_column(tmp_path: Path, text: str, system: str, message: str) -> None:
    with pytest.raises(CodesEvalError, match=message):
        read_pairs(write(tmp_path / "p.tsv", text), system)


def test_unknown_system_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CodesEvalError, match="unknown system 'icd9'"):
        read_pairs(write(tmp_path / "p.tsv", "mention\ticd10cm\nHTN\tI10\n"), "icd9")
    with pytest.raises(CodesEvalError, match="no such file"):
        read_pairs(tmp_path / "absent.tsv", "icd10cm")


# -- metrics by hand ---------------------------------------------------------------------------------


def test_rank_metrics_by_hand() -> None:
    ranked = [
        ["E11.9", "E11.65"],  # exact rank 1, category rank 1
        ["I11.9", "I10", "I12.9"],  # exact rank 2, category rank 2 (I11 is another category)
        ["J45.50", "J45.20"],  # gold J45.909: exact none, category rank 1
        ["A00.0"] * 6 + ["R07.9"],  # exact rank 7, category rank 7
    ]
    gold = ["E11.9", "I10", "J45.909", "R07.9"]
    m = rank_metrics(ranked, gold, "icd10cm")
    assert m["exact"] == {"recall@1": 0.25, "recall@5": 0.5, "recall@10": 0.75, "mrr": round((1 + 1 / 2 + 0 + 1 / 7) / 4, 4)}
    assert m["category"] == {"recall@1": 0.5, "recall@5": 0.75, "recall@10": 1.0, "mrr": round((1 + 1 / 2 + 1 + 1 / 7) / 4, 4)}
    # only the first ten candidates count; for SNOMED a category is the code itself
    assert rank_metrics([["1"] * 10 + ["2"]], ["2"], "snomed")["category"]["recall@10"] == 0.0
    assert rank_metrics([["123", "456"]], ["456"], "snomed")["category"]["mrr"] == 0.5


class StubGenerator:
    """Fixed rankings: what evaluate_codes does with a generator's output, checkable by hand."""

    def __init__(self, system: CodeSystem, rankings: dict[str, list[str]]) -> None:
        self.systems = [system]
        self.rankings = rankings

    def candidates_many(self, mentions, k=10):
        return [{"icd10cm": [Candidate("icd10cm", c, c, 1.0 - i / 100, "lexical") for i, c in enumerate(self.rankings[m][:k])]} for m in mentions]


def tiny_icd() -> CodeSystem:
    concepts = [
        Concept("I10", "Essential (primary) hypertension"),
        Concept("E11", "Type 2 diabetes mellitus", billable=False),
        Concept("E11.9", "Type 2 diabetes mellitus without complications", parents=("E11",)),
        Concept("E11.65", "Type 2 diabetes mellitus with hyperglycemia", parents=("E11",)),
        Concept("J45.909", "Unspecified asthma, uncomplicated"),
    ]
    return CodeSystem("icd10cm", "tiny", {c.code: c for c in concepts})


def test_evaluate_codes_metrics_with_known_ranks(tmp_path: Path) -> None:
    pairs = write(
        tmp_path / "p.tsv",
        "mention\ticd10cm\nhigh blood pressure\tI10\ndiabetes mellitus without complications\tE11.9\nasthma\tJ45.909\n",
    )
    stub = StubGenerator(
        tiny_icd(),
        {"high blood pressure": ["I10"], "diabetes mellitus without complications": ["E11.65", "I10", "E11.9"], "asthma": ["I10"]},
    )
    result = evaluate_codes(pairs, "icd10cm", compare_baseline=True, generator=stub, cache_dir=tmp_path)
    assert result["n"] == 3 and result["system"] == "icd10cm" and result["k"] == 10
    # exact ranks: 1, 3, none; category ranks: 1, 1 (E11.65 is in E11), none
    assert result["exact"] == {"recall@1": 0.3333, "recall@5": 0.6667, "recall@10": 0.6667, "mrr": round((1 + 1 / 3) / 3, 4)}
    assert result["category"] == {"recall@1": 0.6667, "recall@5": 0.6667, "recall@10": 0.6667, "mrr": 0.6667}
    assert result["ms_per_mention"] >= 0 and result["gold_codes_not_in_system"] == 0
    # baseline: TF-IDF words over the five descriptions. "high blood pressure" shares no word with
    # any (no candidates); the other two find their code first.
    base = result["baseline"]
    assert base["exact"] == {"recall@1": 0.6667, "recall@5": 0.6667, "recall@10": 0.6667, "mrr": 0.6667}
    assert "TF-IDF" in base["method"] and base["ms_per_mention"] >= 0
    assert "baseline" not in evaluate_codes(pairs, "icd10cm", generator=stub, cache_dir=tmp_path)


def test_snomed_without_a_release_is_a_clear_error(tmp_path: Path) -> None:
    pairs = write(tmp_path / "p.tsv", "mention\tsnomed\nHTN\t38341003\n")
    with pytest.raises(CodesEvalError, match="--snomed-rf2"):
        evaluate_codes(pairs, "snomed", cache_dir=tmp_path)
    with pytest.raises(CodesEvalError, match="does not exist"):
        evaluate_codes(pairs, "snomed", snomed_folder=tmp_path / "nowhere", cache_dir=tmp_path)


def test_snomed_evaluation_on_the_sample_release(tmp_path: Path) -> None:
    pairs = write(
        tmp_path / "p.tsv",
        "mention\tsnomed\nhigh blood pressure\t8800004006\nbreathlessness\t8800018004\nIDDM\t8800010006\nlung infection\t8800016000\n",
    )
    result = evaluate_codes(pairs, "snomed", compare_baseline=True, snomed_folder=SNOMED_SAMPLE, cache_dir=tmp_path)
    assert result["exact"]["recall@1"] == 1.0 and result["category"] == result["exact"]
    assert result["baseline"]["exact"]["recall@1"] < 1.0


def test_ours_beats_the_baseline_on_icd10cm(tmp_path: Path, tmp_path_factory) -> None:
    cache = tmp_path_factory.getbasetemp() / "code-candidates-cache"  # shared with the other modules
    gen = CodeCandidateGenerator([load_icd10cm(cache_dir=cache)], cache_dir=cache).fit()
    pairs = write(
        tmp_path / "p.tsv",
        "mention\ticd10cm\nHTN\tI10\ndiabetes type II\tE11.9\nheart attack\tI21.9\nCOPD\tJ44.9\nkidney stones\tN20.0\nasthma\tJ45.909\n",
    )
    result = evaluate_codes(pairs, "icd10cm", compare_baseline=True, generator=gen)
    assert result["exact"]["recall@5"] == 1.0 and result["category"]["recall@1"] == 1.0
    assert result["exact"]["mrr"] > result["baseline"]["exact"]["mrr"]
    assert result["category"]["recall@5"] > result["baseline"]["category"]["recall@5"]
