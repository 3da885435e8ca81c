"""``evaluate_codes``: pairs-file checks, recall@k / MRR by hand, baseline, SNOMED configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from cliniloop.models.text.code_candidates import Candidate, CodeCandidateGenerator
from cliniloop.services.evaluation.codes import CodesEvalError, evaluate_codes, rank_metrics, read_pairs
from cliniloop.taxonomies.codes.icd10cm import load_icd10cm
from cliniloop.taxonomies.codes.system import CodeSystem
from tests.conftest import tiny_icd

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
        self.scores: dict[str, float] = {}

    def candidates_many(self, mentions, k=10):
        self.queries = list(mentions)
        out = []
        for m in self.queries:
            text, mtype = (m, None) if isinstance(m, str) else (m[0], m[3])
            codes = [] if mtype not in (None, "Problem") else self.rankings[text][:k]  # the type policy: ICD for problems only
            out.append({"icd10cm": [Candidate("icd10cm", c, c, self.scores.get(text, 1.0) - i / 100, "lexical") for i, c in enumerate(codes)]})
        return out


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


def test_per_type_no_candidate_and_offered_figures(tmp_path: Path) -> None:
    pairs = write(
        tmp_path / "p.tsv",
        "mention\ticd10cm\ttype\tcontext\n"
        "high blood pressure\tI10\tProblem\tHx of high blood pressure.\n"
        "asthma\tJ45.909\t\t\n"
        "Creatinine\t-\tTest\t\n"
        "the patient\tnone\tProblem\t\n"
        "tomorrow\t-\tProblem\t\n",
    )
    parsed = read_pairs(pairs, "icd10cm")
    assert [(p.mention_type, p.no_candidate) for p in parsed] == [("Problem", False), (None, False), ("Test", True), ("Problem", True), ("Problem", True)]
    assert parsed[0].context == "Hx of high blood pressure."
    stub = StubGenerator(tiny_icd(), {"high blood pressure": ["I10"], "asthma": ["I10", "J45.909"], "the patient": ["I10"], "tomorrow": ["E11.9"]})
    stub.scores = {"high blood pressure": 0.9, "asthma": 0.7, "the patient": 0.4, "tomorrow": 0.65}
    result = evaluate_codes(pairs, "icd10cm", generator=stub, cache_dir=tmp_path, threshold=0.6)
    assert stub.queries[0] == ("high blood pressure", "Hx of high blood pressure.", None, "Problem"), "type and context reach the ranking"
    assert result["n"] == 2 and result["exact"]["recall@1"] == 0.5
    assert set(result["per_type"]) == {"Problem", "untyped"}
    assert result["per_type"]["untyped"]["exact"]["mrr"] == 0.5 and result["per_type"]["Problem"]["n"] == 1
    # asthma's J45.909 scores 0.69 (offered at 0.6); Creatinine gets nothing (a Test); "the patient" only 0.4
    assert result["offered"] == {"threshold": 0.6, "exact_recall@5": 1.0, "category_recall@5": 1.0, "nothing_offered": 0.0}
    nc = result["no_candidate"]
    assert (nc["n"], nc["nothing_offered"]) == (3, round(2 / 3, 4)) and nc["by_type"] == {"Problem": 0.5, "Test": 1.0}
    assert evaluate_codes(pairs, "icd10cm", generator=stub, cache_dir=tmp_path, threshold=0.71)["offered"]["nothing_offered"] == 0.5


def test_calibrate_threshold_by_hand() -> None:
    from cliniloop.services.evaluation.codes import calibrate_threshold

    hits = [0.5 + i / 100 for i in range(50)]  # 0.50 .. 0.99
    r = calibrate_threshold(hits, [0.2, 0.4, 0.6, 0.8], keep=0.98)
    # the 2% quantile (lower) of 50 values is the 1st (index floor(0.02 * 49) = 0): 0.50
    assert r["threshold"] == 0.5 and r["hits_kept"] == 1.0 and r["stand_ins_turned_away"] == 0.5
    assert calibrate_threshold(hits, [], keep=0.5)["threshold"] == 0.74
    assert calibrate_threshold([], [0.3])["threshold"] is None


def test_snomed_synonym_pairs_from_the_sample_release(tmp_path: Path) -> None:
    from cliniloop.services.evaluation.codes import snomed_synonym_pairs
    from cliniloop.taxonomies.codes.snomed import load_snomed_rf2

    release = next(SNOMED_SAMPLE.glob("SnomedCT_*"))
    snomed = load_snomed_rf2(release, cache_dir=tmp_path)
    pairs = snomed_synonym_pairs(snomed)
    assert pairs and all(p.code and p.code[0].isalpha() for p in pairs), "gold codes are ICD-10 codes"
    mapped = {c for c, targets in snomed.maps_to.items() if any(s.lower().startswith("icd") for s, _ in targets)}
    assert {p.mention for p in pairs} >= {snomed.concepts[c].display for c in mapped if c in snomed.concepts}
    assert len({p.mention.casefold() for p in pairs}) == len(pairs) or len(mapped) > 1
    with pytest.raises(CodesEvalError, match="--system icd10cm"):
        evaluate_codes(None, "snomed", snomed_folder=release, snomed_synonyms=True, cache_dir=tmp_path)
    with pytest.raises(CodesEvalError, match="needs a SNOMED CT release"):
        evaluate_codes(None, "icd10cm", snomed_synonyms=True, cache_dir=tmp_path)
    with pytest.raises(CodesEvalError, match="pass --pairs"):
        evaluate_codes(None, "icd10cm", cache_dir=tmp_path)


def test_snomed_synonyms_use_the_release_as_thesaurus(tmp_path_factory) -> None:
    """The sample release's 50 names: category recall@5 0.96 either way, exact 0.90 -> 0.96 with the
    thesaurus (a name is also searched under its concept's other names); the report says which."""
    cache = tmp_path_factory.getbasetemp() / "code-candidates-cache"  # shared with the other modules
    with_t = evaluate_codes(None, "icd10cm", snomed_folder=SNOMED_SAMPLE, snomed_synonyms=True, cache_dir=cache)
    alone = evaluate_codes(None, "icd10cm", snomed_folder=SNOMED_SAMPLE, snomed_synonyms=True, cache_dir=cache, thesaurus=False)
    assert with_t["thesaurus"].startswith("snomed@") and alone["thesaurus"] is None
    assert with_t["n"] == alone["n"] == 50
    assert with_t["category"]["recall@5"] >= 0.95 and with_t["exact"]["recall@5"] > alone["exact"]["recall@5"]
    assert with_t["offered"]["nothing_offered"] <= alone["offered"]["nothing_offered"]
