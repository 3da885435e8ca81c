"""Code candidates: abbreviations, bare mentions, billable leaves, accepted mappings, cross-maps.

The ICD-10-CM index is built once per test session (~10 s) into a shared cache folder and loaded
from it by every module that needs it (well under a second).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cliniloop.models.text.code_candidates import (
    BACKOFF_WEIGHT,
    OFFER_THRESHOLD,
    Candidate,
    CodeCandidateGenerator,
    normalise_mention,
    offer_threshold_for,
)
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


@pytest.mark.parametrize(
    ("british", "american"),
    [
        ("Synthetic type 2 glycaemic disorder", "synthetic type 2 glycemic disorder"),
        ("oesophageal varices", "esophageal varices"),
        ("anaemia of chronic disease", "anemia of chronic disease"),
        ("paediatric tumour", "pediatric tumor"),
        ("generalised oedema", "generalized edema"),
        ("leucocytosis", "leukocytosis"),
        ("leucaemia", "leukemia"),
        ("gonorrhoeal urethritis", "gonorrheal urethritis"),
        ("anaesthesia", "anesthesia"),
        ("preterm labour", "preterm labor"),
        ("caecal volvulus", "cecal volvulus"),
        ("sulphonamide allergy", "sulfonamide allergy"),
    ],
)
def test_british_spellings_meet_the_american_ones(british: str, american: str) -> None:
    assert normalise_mention(british) == normalise_mention(american)


def test_spelling_folds_leave_other_words_apart() -> None:
    for a, b in (("hour", "hor"), ("raised", "raized"), ("four", "for"), ("colour", "colon")):
        assert normalise_mention(a) != normalise_mention(b)
    assert normalise_mention("diagnosis") == "diagnosis" and normalise_mention("disease") == "disease"


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


def tiny_thesaurus(extra: int = 0) -> CodeSystem:
    """A SNOMED-like release: one concept whose names are synonyms, and an ambiguous name."""
    concepts = [
        Concept("100", "Quux syndrome", synonyms=("Wibble glycaemic state", "QS"), semantic_tag="disorder"),
        *(Concept(str(200 + n), f"Thing {n}", synonyms=("Shared name",), semantic_tag="disorder") for n in range(4 + extra)),
        Concept("300", "Foo disease", synonyms=("Shared name",), semantic_tag="disorder"),
    ]
    return CodeSystem(name="snomed", version="tiny", concepts={c.code: c for c in concepts})


def test_a_thesaurus_name_is_searched_under_its_concepts_other_names() -> None:
    plain = CodeCandidateGenerator([tiny_system()]).fit()
    assert "X20" not in [c.code for c in plain.candidates("Wibble glycaemic state")["icd10cm"]]
    gen = CodeCandidateGenerator([tiny_system()], thesaurus=tiny_thesaurus()).fit()
    top = gen.candidates("wibble glycemic state")["icd10cm"][0]  # any spelling of the name
    assert (top.code, top.source) == ("X20", "synonym")
    assert top.score == pytest.approx(0.95)  # a synonym ranks behind the mention's own wording
    assert gen.candidates("quux syndrome")["icd10cm"][0] == Candidate("icd10cm", "X20", "Quux syndrome", 1.0, "lexical")
    # a name of more than three concepts is ambiguous: not expanded ("Foo disease" is not reached)
    assert "X10.9" not in [c.code for c in gen.candidates("shared name")["icd10cm"]]
    # SNOMED CT itself ranked as well: its names are still synonyms of each other
    both = CodeCandidateGenerator([tiny_system(), tiny_thesaurus()], thesaurus=tiny_thesaurus()).fit()
    assert both.candidates("wibble glycaemic state")["snomed"][0].code == "100"


def test_offer_threshold_per_code_system() -> None:
    assert offer_threshold_for("icd10cm") == OFFER_THRESHOLD
    assert offer_threshold_for("snomed") == OFFER_THRESHOLD  # not calibrated apart: the default
    assert offer_threshold_for("icd10pcs") < OFFER_THRESHOLD  # calibrated on procedure sample A
    assert offer_threshold_for("icd10pcs", 0.5) == 0.5
    assert offer_threshold_for("icd10pcs", {"icd10cm": 0.7}) == offer_threshold_for("icd10pcs")
    assert offer_threshold_for("icd10cm", {"icd10cm": 0.7}) == 0.7
    pcs = CodeSystem(
        name="icd10pcs", version="tiny",
        concepts={"0DTJ0ZZ": Concept("0DTJ0ZZ", "Resection of appendix, open approach"), "0DTJ4ZZ": Concept("0DTJ4ZZ", "Resection of appendix, percutaneous endoscopic approach")},
    )  # fmt: skip
    mention = "resection appendix laparoscopic"  # covers little of either title
    free = CodeCandidateGenerator([tiny_system(), pcs]).fit().candidates(mention)["icd10pcs"]
    score = free[0].score
    assert offer_threshold_for("icd10pcs") <= score < OFFER_THRESHOLD
    per_system = CodeCandidateGenerator([tiny_system(), pcs], offer_threshold={}).fit().candidates(mention)
    uniform = CodeCandidateGenerator([tiny_system(), pcs], offer_threshold=OFFER_THRESHOLD).fit().candidates(mention)
    assert per_system["icd10pcs"] == free and uniform["icd10pcs"] == []


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


# -- head-noun back-off ------------------------------------------------------------------------------


def test_an_unknown_modifier_backs_off_to_the_head_noun(icd: CodeSystem, cache_dir: Path) -> None:
    on = CodeCandidateGenerator([icd], cache_dir=cache_dir, offer_threshold=OFFER_THRESHOLD).fit()
    off = CodeCandidateGenerator([icd], cache_dir=cache_dir, offer_threshold=OFFER_THRESHOLD, backoff=False).fit()
    assert off.candidates("productive cough")["icd10cm"] == []  # "productive" is in no ICD-10-CM name
    ranked = on.candidates("productive cough")["icd10cm"]
    assert ranked and ranked[0].code == "R05.9" and ranked[0].score >= OFFER_THRESHOLD
    assert all(c.code.startswith("R05") for c in ranked[:5])
    assert codes(on, "pleuritic chest pain")[0].startswith("R07")


def test_a_modifier_that_changes_the_code_is_not_dropped(icd: CodeSystem, cache_dir: Path) -> None:
    gen = CodeCandidateGenerator([icd], cache_dir=cache_dir, offer_threshold=OFFER_THRESHOLD).fit()
    shock = codes(gen, "septic shock")
    ranked = gen.candidates("septic shock")["icd10cm"]
    assert shock[0] == "R65.21" and not any(c.startswith("R57") for c in shock[:5])  # plain "shock" only far behind
    assert ranked[0].score - next(c.score for c in ranked if c.code == "R57.9") > 0.2
    adeno = codes(gen, "adenocarcinoma of the sigmoid colon", mention_type="Problem")
    assert adeno[0] == "C18.7" and not any(c.startswith("D06") for c in adeno)  # not carcinoma in situ of cervix
    # a generic head ("disorder") keeps its unknown modifier: nothing is backed off to
    assert gen._backoff(basic_tokens("glycaemic disorder")) is None
    assert gen._backoff(basic_tokens("productive cough")) == ["cough"]
    assert gen._backoff(basic_tokens("septic shock")) is None
    assert gen._backoff(basic_tokens("C. diff colitis")) is None  # short unknown words may be abbreviations


def test_backoff_leaves_procedure_systems_alone() -> None:
    pcs = CodeSystem(name="icd10pcs", version="tiny", concepts={"0DTJ0ZZ": Concept("0DTJ0ZZ", "Resection of appendix, open approach")})
    with_b = CodeCandidateGenerator([tiny_system(), pcs]).fit()
    without = CodeCandidateGenerator([tiny_system(), pcs], backoff=False).fit()
    mention = "zorblatic foo disease resection of appendix"
    assert with_b.candidates(mention)["icd10pcs"] == without.candidates(mention)["icd10pcs"]
    assert with_b._backoff(basic_tokens("zorblatic blorp")) == ["blorp"]
    assert with_b._backoff(basic_tokens("zorblatic foo disease")) is None  # a generic head keeps its modifiers
    top = with_b.candidates("zorblatic blorp")["icd10cm"][0]
    assert top.code == "X20" and top.score == pytest.approx(BACKOFF_WEIGHT)
    assert without.candidates("zorblatic blorp")["icd10cm"][0].score < BACKOFF_WEIGHT


def test_snomed_adjective_disorder_reads_as_the_noun(gen: CodeCandidateGenerator) -> None:
    assert gen._adjective_disorder(basic_tokens("Hypertensive disorder")) == ["hypertensive"]
    assert gen._adjective_disorder(basic_tokens("Psychotic disorder")) == ["psychotic"]
    assert gen._adjective_disorder(basic_tokens("Bipolar disorder")) is None  # no noun for "bipolar"
    assert gen._adjective_disorder(basic_tokens("Eating disorder")) is None
    assert codes(gen, "Hypertensive disorder")[0] == "I10"
    assert codes(gen, "Psychotic disorder")[0] == "F29"
    assert codes(gen, "Bipolar disorder")[0] == "F31.9"
