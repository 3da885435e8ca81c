from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from cliniloop.connectors.sources.brat import read_brat_dir
from cliniloop.models.text.deid.types import PHI_TYPES
from cliniloop.services.evaluation import synthetic_notes
from cliniloop.services.evaluation.synthetic_notes import SyntheticNote, generate_notes, write_corpus


@pytest.fixture(scope="module")
def corpus() -> list[SyntheticNote]:
    return generate_notes(200, seed=0)


def _covered(note: SyntheticNote) -> list[bool]:
    mask = [False] * len(note.text)
    for s in note.spans:
        mask[s.start : s.end] = [True] * (s.end - s.start)
    return mask


def test_same_seed_same_notes_and_files(tmp_path: Path) -> None:
    a, b = generate_notes(25, seed=7), generate_notes(25, seed=7)
    assert a == b
    write_corpus(tmp_path / "a", a, seed=7)
    write_corpus(tmp_path / "b", b, seed=7)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files_a)


def test_different_seeds_differ() -> None:
    a, b = generate_notes(10, seed=1), generate_notes(10, seed=2)
    assert [n.text for n in a] != [n.text for n in b]
    assert not {n.text for n in a} & {n.text for n in b}


def test_count_names_and_patients(corpus: list[SyntheticNote]) -> None:
    assert len(corpus) == 200
    assert len({n.name for n in corpus}) == 200
    per_patient = Counter(n.patient_id for n in corpus)
    assert max(per_patient.values()) <= 4
    assert sum(1 for c in per_patient.values() if c > 1) >= 20
    for n in corpus:
        assert re.fullmatch(r"patient-\d{3}/note-[1-4]", n.name) and n.name.startswith(n.patient_id + "/")
    assert generate_notes(5, seed=0, notes_per_patient=(1, 1))[-1].name == "patient-005/note-1"


@pytest.mark.parametrize(
    "bad", [{"n_notes": 0}, {"n_notes": 5, "notes_per_patient": (0, 2)}, {"n_notes": 5, "notes_per_patient": (3, 2)}]
)
def test_bad_arguments(bad: dict) -> None:
    with pytest.raises(ValueError):
        generate_notes(**bad)


def test_spans_are_valid(corpus: list[SyntheticNote]) -> None:
    for n in corpus:
        assert n.text.endswith("\n")
        previous_end = 0
        for s in n.spans:
            covered = n.text[s.start : s.end]
            assert s.type in PHI_TYPES
            assert covered and covered == covered.strip(), (n.name, s, covered)
            assert "\n" not in covered and "\r" not in covered
            assert s.start >= previous_end, f"{n.name}: overlapping or unsorted spans at {s}"
            previous_end = s.end


def test_every_type_is_well_represented(corpus: list[SyntheticNote]) -> None:
    counts = Counter(s.type for n in corpus for s in n.spans)
    for t in PHI_TYPES:
        assert counts[t] >= 30, f"{t}: only {counts[t]} spans in 200 notes"


def _shape(s: str) -> str:
    s = re.sub(r"(January|February|March|April|May|June|July|August|September|October|November|December)", "Month", s)
    s = re.sub(
        r"\b(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)", "Mon", s
    )
    s = re.sub(r"(st|nd|rd|th)\b", "th", s)
    return re.sub(r"\d", "9", s)


def test_dates_come_in_many_formats_and_never_include_times(corpus: list[SyntheticNote]) -> None:
    dates = [n.text[s.start : s.end] for n in corpus for s in n.spans if s.type == "DATE"]
    shapes = Counter(_shape(d) for d in dates)
    assert len(shapes) >= 12, shapes
    families = {
        "numeric slash": r"9?9/9?9/99(99)?",
        "iso": r"9999-99-99",
        "day month year": r"9?9 Month 9999",
        "month day, year": r"Month 9?9, 9999",
        "abbreviated": r"(99-Mon-9999|Mon 9?9,? 9999)",
        "no year": r"(9?9/9?9|Month 9?9(th)?|9?9th of Month)",
        "month year": r"(Month|Mon) 9999|99?/9999",
        "dotted": r"99\.99\.9999",
    }
    for family, pattern in families.items():
        assert any(re.fullmatch(pattern, shape) for shape in shapes), f"no {family} dates"
    assert not any(":" in d for d in dates)
    day_only = 0
    for n in corpus:
        spans = {(s.start, s.end) for s in n.spans if s.type == "DATE"}
        for m in re.finditer(r"\bthe (\d{1,2}(?:st|nd|rd|th))\b", n.text):
            assert (m.start(1), m.end(1)) in spans, (n.name, m.group(0))
            day_only += 1
    assert day_only >= 5


def test_ages_over_89_only_are_spans(corpus: list[SyntheticNote]) -> None:
    seen = Counter()
    for n in corpus:
        ages = {(s.start, s.end) for s in n.spans if s.type == "AGE"}
        for m in re.finditer(r"\b(\d{1,3})(?=-year-old| y/o| yo\b| year old|yo\b| y\.o\.|-yo\b)", n.text):
            is_span = (m.start(1), m.end(1)) in ages
            assert is_span == (int(m.group(1)) > 89), (n.name, m.group(0))
            seen[is_span] += 1
    assert seen[True] >= 20 and seen[False] >= 50


def test_non_phi_look_alikes_are_present_and_unannotated(corpus: list[SyntheticNote]) -> None:
    patterns = {
        "blood pressure": r"BP \d{2,3}/\d{2,3}",
        "pain score": r"pain \d/10",
        "murmur grade": r"\d/6 (?:holo)?systolic murmur",
        "fraction dose": r"1/2 (?:tab|ppd)",
        "combination dose": r"\d{2,3}/\d{2,3}(?:\.\d)? (?:mg|1 puff|2 puffs|1 tab)",
        "heart rate": r"HR \d{2,3}",
        "lab value": r"Na \d{3}|HbA1c \d+\.\d%",
        "score": r"GCS 15|MoCA \d\d/30|NIHSS \d|CURB-65 score \d",
        "ICD-10 code": r"\([A-Z]\d\d(?:\.\d+)?[A-Z]?\)",
        "room": r"(?:Room|Rm|Bed|Bay) \d+[AB]?",
        "year alone": r"(?:quit|in|since|Tdap|colonoscopy) (?:19|20)\d\d\b",
        "time": r"\b\d\d:\d\d\b",
        "eponym": r"Parkinson disease|Foley catheter|Babinski|Crohn's disease|Hodgkin lymphoma|Bell's palsy",
        "duration": r"3-4 (?:days|weeks)|x3\b",
    }
    for what, pattern in patterns.items():
        hits = 0
        for n in corpus:
            mask = _covered(n)
            for m in re.finditer(pattern, n.text):
                assert not any(mask[m.start() : m.end()]), f"{what} {m.group(0)!r} inside a span in {n.name}"
                hits += 1
        assert hits >= 5, f"too few {what} look-alikes ({hits})"


def test_patients_keep_their_identity_across_notes(corpus: list[SyntheticNote]) -> None:
    by_patient: dict[str, list[SyntheticNote]] = defaultdict(list)
    for n in corpus:
        by_patient[n.patient_id].append(n)
    multi = {pid: notes for pid, notes in by_patient.items() if len(notes) > 1}
    shared = 0
    for notes in multi.values():
        tokens = [
            Counter(
                w.lower()
                for s in n.spans
                if s.type == "NAME"
                for w in re.findall(r"[^\W\d_]{2,}", n.text[s.start : s.end])
            )
            for n in notes
        ]
        total = sum(tokens, Counter())
        top = total.most_common(1)[0][0]  # the patient's surname: named in every header and narrative
        shared += all(top in t for t in tokens)
        mrns = {n.text[s.start : s.end] for n in notes for s in n.spans if s.type == "MRN"}
        assert len(mrns) == 1, f"one patient, several MRNs: {mrns}"
    assert shared >= 0.9 * len(multi)


def test_name_surface_forms_vary(corpus: list[SyntheticNote]) -> None:
    names = [n.text[s.start : s.end] for n in corpus for s in n.spans if s.type == "NAME"]
    assert sum(bool(re.fullmatch(r"[A-Z'\- ]+, ?[A-Z'\- .]+", x)) for x in names) >= 20  # SMITH, JOHN
    assert sum(bool(re.fullmatch(r"[A-Z]\. [A-Z][\w'\- ]+", x)) for x in names) >= 20  # J. Smith
    assert sum(x.islower() for x in names) >= 5  # typed in lowercase
    assert not any(re.search(r"\b(Dr|Mr|Mrs|Ms|MD|RN)\b\.?$|^(Dr|Mr|Mrs|Ms)\b", x) for x in names)


def test_no_line_crossing_addresses_and_state_outside(corpus: list[SyntheticNote]) -> None:
    locations = [n.text[s.start : s.end] for n in corpus for s in n.spans if s.type == "LOCATION"]
    assert sum(bool(re.fullmatch(r"\d{5}", x)) for x in locations) >= 20  # ZIP codes
    assert sum(x.endswith("County") for x in locations) >= 5
    assert not any(re.search(r",\s*[A-Z]{2}$", x) for x in locations)


def test_written_corpus_reads_back(tmp_path: Path) -> None:
    notes = generate_notes(12, seed=3)
    assert write_corpus(tmp_path, notes, seed=3) == 12
    docs = read_brat_dir(tmp_path)
    assert [d.name for d in docs] == sorted(n.name for n in notes)
    by_name = {n.name: n for n in notes}
    for d in docs:
        note = by_name[d.name]
        assert d.text == note.text
        assert sorted((e.start, e.end, e.type) for e in d.entities) == [(s.start, s.end, s.type) for s in note.spans]
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "CC0" in readme and "No real patient data" in readme and "seed 3" in readme
    assert all(f"`{t}`" in readme for t in PHI_TYPES)
    with pytest.raises(FileExistsError):
        write_corpus(tmp_path, notes)


def test_word_tables_are_data_and_a_bad_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    words = synthetic_notes._words()
    assert "Boston" in {c[0] for c in words.cities} and words.states["MA"][0] == "Massachusetts"
    assert all(isinstance(t, tuple) for t in words.cities), "YAML lists are used as tuples"
    bad = tmp_path / "words.yaml"
    bad.write_text("states: {}\n", encoding="utf-8")
    monkeypatch.setattr(synthetic_notes, "WORDS_FILE", bad)
    synthetic_notes._words.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"words\.yaml: tables missing \['allergies'"):
            synthetic_notes._words()
    finally:
        synthetic_notes._words.cache_clear()
