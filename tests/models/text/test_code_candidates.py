"""Code candidates: abbreviations, bare mentions, billable leaves, accepted mappings, cross-maps.

The ICD-10-CM index is built once per test session (~10 s) into a shared cache folder and loaded
from it by every module that needs it (well under a second).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cliniloop.models.text.code_candidates import Candidate, CodeCandidateGenerator, normalise_mention
from cliniloop.models.text.code_textnorm import AbbreviationExpander, basic_tokens, core_name, load_abbreviations, name_variants
from cliniloop.taxonomies.codes.icd10cm import load_icd10cm
from cliniloop.taxonomies.codes.snomed import load_snomed_rf2
from cliniloop.taxonomies.codes.system import CodeSystem, Concept

SNOMED_SAMPLE = Path(__file__).resolve().parents[3] / "data_samples" / "snomed_rf2_sample"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "code-candidates-cache"  # shared by the modules of a session


@pytest.fixture(scope="module")
def icd(cache_dir: Path) -> CodeSystem:
    return load_icd10cm(cache_dir=cache_dir)


@pytest.fixture(scope="module")
def gen(icd: CodeSystem, cache_dir: Path) -> CodeCandidateGenerator:
    return CodeCandidateGenerator([icd], cache_dir=cache_dir).fit()


def codes(gen: CodeCandidateGenerator, mention: str, **kw) -> list[str]:
    return [c.code for c in gen.candidates(mention, **kw)["icd10cm"]]


# -- normalisation -----------------------------------------------------------------------------------


def test_normalise_mention_folds_case_punctuation_plurals_and_numerals() -> None:
    assert normalise_mention("  Kidney Stones. ") == "kidney stone"
    assert normalise_mention("DM type II") == "dm type 2"
    assert normalise_mention("Crohn's disease") == "crohn disease"
    assert normalise_mention("Type-2 diabetes") == normalise_mention("type 2 diabetes") == "type 2 diabetes"
    assert normalise_mention("Diabetes") == "diabetes"  # not a plural
    assert normalise_mention("haemorrhage") == normalise_mention("hemorrhage")
    assert normalise_mention("Gastro-esophageal reflux") == normalise_mention("gastroesophageal reflux")


def test_core_name_drops_only_what_says_nothing_more_specific() -> None:
    assert core_name("Unspecified asthma, uncomplicated") == "asthma"
    assert core_name("Asthma NOS") == "asthma"
    assert core_name("Type 2 diabetes mellitus without complications") == "type 2 diabetes mellitus"
    assert core_name("Essential (primary) hypertension") == "essential hypertension"
    assert core_name("Migraine without aura, not intractable, without status migrainosus") == "migraine without aura"
    assert core_name("Fracture of shaft of left femur, subsequent encounter for closed fracture") is None
    assert core_name("Calculus of kidney") is None
    assert ("syncope", 0.95) in name_variants("Syncope and collapse")


def test_abbreviations_are_case_aware() -> None:
    expander = AbbreviationExpander(load_abbreviations())
    assert expander.variants("HTN") == ["hypertension"]
    assert expander.variants("htn") == ["hypertension"]
    assert expander.variants("PE") == ["pulmonary embolism"]
    assert expander.variants("pe") == []  # "PE" is marked exact: "pe" is not expanded
    assert expander.variants("MS") == ["multiple sclerosis", "mitral stenosis"]
    assert expander.variants("uncontrolled DM2") == ["uncontrolled type 2 diabetes mellitus"]
    assert expander.variants("hypertension") == []


def test_abbreviation_file_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "abbr.tsv"
    bad.write_text("# comment\nHTN\thypertension\tany\nPE\tpulmonary embolism\tsometimes\n")
    with pytest.raises(ValueError, match=r"abbr\.tsv:3: case must be"):
        load_abbreviations(bad)
    bad.write_text("HTN\thypertension\n")
    with pytest.raises(ValueError, match=r"abbr\.tsv:1: expected 3"):
        load_abbreviations(bad)


# -- a tiny hand-made system: priors and propagation, hand-checkable ---------------------------------


def tiny_system() -> CodeSystem:
    concepts = [
        Concept("X10", "Foo disease", billable=False),
        Concept("X10.0", "Foo disease with bar involvement", parents=("X10",)),
        Concept("X10.8", "Other foo disease", parents=("X10",)),
        Concept("X10.9", "Foo disease, unspecified", synonyms=("Foo NOS",), parents=("X10",)),
        Concept("X20", "Quux syndrome", synonyms=("Blorp",)),
    ]
    return CodeSystem(name="icd10cm", version="tiny", concepts={c.code: c for c in concepts})


def test_tiny_system_prefers_the_unspecified_billable_leaf() -> None:
    gen = CodeCandidateGenerator([tiny_system()]).fit()
    ranked = gen.candidates("foo disease")["icd10cm"]
    assert [c.code for c in ranked][:2] == ["X10.9", "X10"]  # leaf first, its category still listed
    assert ranked[0].score == 1.0 and ranked[1].score == pytest.approx(0.9)
    assert gen.candidates("foo")["icd10cm"][0].code == "X10.9"  # "Foo NOS"
    assert gen.candidates("blorp")["icd10cm"][0].code == "X20"  # synonyms are names too
    assert gen.candidates("foo disease with bar")["icd10cm"][0].code == "X10.0"


def test_tiny_system_accepted_and_empty_mentions() -> None:
    gen = CodeCandidateGenerator([tiny_system()], accepted={"my foo": {"icd10cm": ["X10.8"]}}).fit()
    ranked = gen.candidates("My  Foo!")["icd10cm"]
    assert ranked[0] == Candidate("icd10cm", "X10.8", "Other foo disease", 1.0, "accepted")
    assert all(c.score < 1.0 for c in ranked[1:]) and len({c.code for c in ranked}) == len(ranked)
    assert gen.candidates("")["icd10cm"] == []
    assert gen.candidates("the of")["icd10cm"] == []
    with pytest.raises(RuntimeError):
        CodeCandidateGenerator([tiny_system()]).candidates("foo")


# -- ICD-10-CM ---------------------------------------------------------------------------------------


def test_abbreviation_htn_ranks_essential_hypertension_first(gen: CodeCandidateGenerator) -> None:
    top = gen.candidates("HTN")["icd10cm"][0]
    assert (top.code, top.source) == ("I10", "abbreviation")
    assert codes(gen, "htn")[0] == "I10"
    assert codes(gen, "PE")[0].startswith("I26")
    assert not any(c.startswith("I26") for c in codes(gen, "pe"))


def test_type_2_diabetes_prefers_the_billable_unspecified_leaf(gen: CodeCandidateGenerator, icd: CodeSystem) -> None:
    for mention in ("type 2 diabetes", "diabetes mellitus type II", "T2DM", "NIDDM"):
        ranked = codes(gen, mention)
        assert "E11.9" in ranked[:3], (mention, ranked)
        assert icd.concepts[ranked[0]].billable
    ranked = codes(gen, "type 2 diabetes")
    assert ranked.index("E11.9") < ranked.index("E11")  # the leaf above its non-billable category
    assert codes(gen, "IDDM")[0] == "E10.9"


@pytest.mark.parametrize(
    ("mention", "code"),
    [
        ("asthma", "J45.909"),
        ("pneumonia", "J18.9"),
        ("GERD", "K21.9"),
        ("gastro-esophageal reflux disease", "K21.9"),
        ("kidney stones", "N20.0"),
        ("CHF", "I50.9"),
        ("UTI", "N39.0"),
        ("low back pain", "M54.50"),
    ],
)
def test_bare_mentions_land_on_the_unspecified_leaf(gen: CodeCandidateGenerator, mention: str, code: str) -> None:
    assert codes(gen, mention)[0] == code


def test_lay_terms(gen: CodeCandidateGenerator) -> None:
    assert "I21.9" in codes(gen, "heart attack")[:3]
    assert "I10" in codes(gen, "high blood pressure")[:3]
    assert codes(gen, "fainting")[0] == "R55"


def test_scores_sorted_in_unit_interval_and_deterministic(gen: CodeCandidateGenerator) -> None:
    mentions = ["HTN", "type 2 diabetes", "heart attack", "fracture of femur", "COPD exacerbation", "xyzzy"]
    first = gen.candidates_many(mentions)
    again = [gen.candidates(m) for m in mentions]
    assert first == again == gen.candidates_many(mentions)
    for ranked in first:
        scores = [c.score for c in ranked["icd10cm"]]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert len(scores) <= 10
        assert all(c.source in ("lexical", "abbreviation") for c in ranked["icd10cm"])
    assert len(first[0]["icd10cm"]) == 10 and len(gen.candidates("HTN", k=3)["icd10cm"]) == 3


def test_candidates_many_accepts_tuples_and_mappings(gen: CodeCandidateGenerator) -> None:
    out = gen.candidates_many(["asthma", ("asthma", "She has asthma.", "family"), {"mention": "asthma", "assertion": "family"}])
    assert out[0]["icd10cm"][0].code == "J45.909"
    assert out[1] == out[2]
    assert out[1]["icd10cm"][0].code.startswith("Z82")  # family history of asthma first


def test_context_lifts_codes_naming_its_qualifiers(gen: CodeCandidateGenerator) -> None:
    def score(ranked: list[Candidate], code: str) -> float:
        return next(c.score for c in ranked if c.code == code)

    plain = gen.candidates("fracture of femur")["icd10cm"]
    left = gen.candidates("fracture of femur", context="Closed fracture of the left femur after a fall.")["icd10cm"]
    assert score(left, "S72.92XA") > score(plain, "S72.92XA")  # "left" is in its name
    assert score(left, "S72.90XA") == score(plain, "S72.90XA")


def test_an_accepted_mapping_ranks_first_next_time(icd: CodeSystem, cache_dir: Path) -> None:
    gen = CodeCandidateGenerator([icd], cache_dir=cache_dir).fit()
    assert gen.from_cache_ == {"icd10cm": True}
    before = codes(gen, "sugar problems")
    assert before[0] != "E11.65"
    gen.accept("Sugar problems", "icd10cm", "E11.65")  # a coder's validated verdict
    after = gen.candidates("sugar problem")["icd10cm"]
    assert (after[0].code, after[0].source, after[0].score) == ("E11.65", "accepted", 1.0)
    assert [c.code for c in after].count("E11.65") == 1
    # from the store at construction time: normalised mention -> system -> codes
    seeded = CodeCandidateGenerator([icd], cache_dir=cache_dir, accepted={normalise_mention("HTN"): {"icd10cm": ["I11.9"]}}).fit()
    assert codes(seeded, "HTN")[:2] == ["I11.9", "I10"]


def test_snomed_candidates_add_mapped_icd_evidence(icd: CodeSystem, cache_dir: Path) -> None:
    snomed = load_snomed_rf2(SNOMED_SAMPLE)
    gen = CodeCandidateGenerator([icd, snomed], cache_dir=cache_dir).fit()
    out = gen.candidates("lung infection", k=5)  # a SNOMED synonym of Pneumonia, no ICD-10-CM name
    assert out["snomed"][0].code == "8800016000"
    top = out["icd10cm"][0]
    assert (top.code, top.source) == ("J18.9", "snomed-map")  # of its two targets, the closer name wins
    assert gen.candidates("HTN")["snomed"][0].code == "8800004006"
