"""``evaluate_deid``: gold through a type map, scores per profile with and without years (fake detector)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from cliniloop.connectors.sources.deid_corpora import GoldMention, GoldNote, read_gold
from cliniloop.models.text.deid.type_maps import load_type_map
from cliniloop.models.text.deid.types import PhiSpan
from cliniloop.services.evaluation.deid import DeidEvalError, evaluate_deid, gold_spans

TEXT = "Dr. Alice Wong saw John Smith at Mercy Hospital on 03/04 2019, aged 93; son 45. Boston, Massachusetts. Nurse."


def _at(word: str) -> tuple[int, int]:
    start = TEXT.index(word)
    return start, start + len(word)


#: i2b2 2014 tags: 7 kept (Alice Wong clinician, John Smith, Mercy Hospital facility, 03/04, 2019 -> year,
#: 93, Boston); dropped: 45 (age under 90), Massachusetts (STATE), Nurse (PROFESSION).
TAGS = [
    ("Alice Wong", "DOCTOR"), ("John Smith", "PATIENT"), ("Mercy Hospital", "HOSPITAL"), ("03/04", "DATE"), ("2019", "DATE"),
    ("93", "AGE"), ("45", "AGE"), ("Boston", "CITY"), ("Massachusetts", "STATE"), ("Nurse", "PROFESSION"),
]  # fmt: skip


def _write_i2b2(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tags = "".join(
        f'<T id="P{i}" start="{_at(w)[0]}" end="{_at(w)[1]}" text="{w}" TYPE="{t}" />\n' for i, (w, t) in enumerate(TAGS)
    )
    (folder / "note-1.xml").write_text(f"<deIdi2b2><TEXT><![CDATA[{TEXT}]]></TEXT><TAGS>\n{tags}</TAGS></deIdi2b2>", encoding="utf-8")
    return folder


class FakeDetector:
    """Broad: finds both names, 03/04, 2019 (year), Boston and Massachusetts (wrongly); misses the hospital and 93.
    Safe harbor: John Smith, 03/04, 93, and "Nurse" as a name (wrongly)."""

    def __init__(self, profile: str) -> None:
        self.profile = profile
        self.version = f"fake-{profile}"

    def detect(self, text: str) -> list[PhiSpan]:
        if text != TEXT:
            return []
        if self.profile == "broad":
            found = [("Alice Wong", "NAME", "clinician"), ("John Smith", "NAME", ""), ("03/04", "DATE", ""), ("2019", "DATE", "year"),
                     ("Boston", "LOCATION", ""), ("Massachusetts", "LOCATION", "")]  # fmt: skip
        else:
            found = [("John Smith", "NAME", ""), ("03/04", "DATE", ""), ("93", "AGE", ""), ("Nurse", "NAME", "")]
        return [PhiSpan(*_at(w), t, 0.9, "fake", c) for w, t, c in found]


def test_gold_through_the_map_with_year_and_age_rules(tmp_path: Path) -> None:
    _, (note,) = read_gold(_write_i2b2(tmp_path / "xml"))
    dropped: Counter[str] = Counter()
    spans = gold_spans(note, load_type_map("i2b2-2014"), dropped)
    assert [(TEXT[s.start : s.end], s.type, s.category) for s in spans] == [
        ("Alice Wong", "NAME", "clinician"), ("John Smith", "NAME", ""), ("Mercy Hospital", "LOCATION", "facility"),
        ("03/04", "DATE", ""), ("2019", "DATE", "year"), ("93", "AGE", ""), ("Boston", "LOCATION", ""),
    ]  # fmt: skip
    assert dropped == {"AGE under 90": 1, "ignored STATE": 1, "ignored PROFESSION": 1}


@pytest.mark.parametrize(
    ("date", "category"),
    [("2019", "year"), ("'84", "year"), ("1980s", "year"), ("21", ""), ("March 2019", ""), ("3/4/2019", "")],
)
def test_a_date_that_is_a_year_alone_is_a_year(date: str, category: str) -> None:
    text = f"seen {date} ."
    note = GoldNote("n", text, (GoldMention(5, 5 + len(date), "DATE", "n.ann: entity T1"),))
    (span,) = gold_spans(note, load_type_map("identity"))
    assert span.category == category


def test_ages_under_90_are_dropped_and_others_kept() -> None:
    text = "ages 89 90 ninety 101"
    mentions = tuple(GoldMention(text.index(w), text.index(w) + len(w), "AGE", "x") for w in ("89", "90", "ninety", "101"))
    dropped: Counter[str] = Counter()
    kept = gold_spans(GoldNote("n", text, mentions), load_type_map("identity"), dropped)
    assert [text[s.start : s.end] for s in kept] == ["90", "ninety", "101"] and dropped == {"AGE under 90": 1}


def test_a_type_the_map_lacks_names_where_it_is_written() -> None:
    note = GoldNote("n1", TEXT, (GoldMention(*_at("Nurse"), "PROFESSION", "n1.ann: entity T3"),))
    with pytest.raises(DeidEvalError, match=r"n1.ann: entity T3: type 'PROFESSION' is not in type map 'physionet'"):
        gold_spans(note, load_type_map("physionet"))


def test_scores_per_profile_with_and_without_years(tmp_path: Path) -> None:
    built: list[str] = []

    def factory(profile: str) -> FakeDetector:
        built.append(profile)
        return FakeDetector(profile)

    errors = tmp_path / "errors.jsonl"
    result = evaluate_deid(_write_i2b2(tmp_path / "xml"), type_map="i2b2-2014", detector_factory=factory, errors_path=errors)
    assert built == ["broad", "safe-harbor"] and result["format"] == "i2b2" and result["type_map"] == "i2b2-2014"
    assert result["gold_dropped"] == {"AGE under 90": 1, "ignored PROFESSION": 1, "ignored STATE": 1}
    broad, safe = result["profiles"]["broad"], result["profiles"]["safe-harbor"]
    assert broad["detector"] == "fake-broad" and safe["detector"] == "fake-safe-harbor"
    # broad: 7 gold, 5 fully covered; 6 predicted, 5 on gold (Massachusetts is not gold)
    with_years = broad["with_years"]["overall"]
    assert (with_years["gold"], with_years["predicted"], with_years["recall"], with_years["precision"]) == (7, 6, round(5 / 7, 4), round(5 / 6, 4))
    assert broad["with_years"]["per_type"]["DATE"]["gold"] == 2
    # without years: 2019 out of both sides: 6 gold, 4 found; 5 predicted, 4 on gold
    no_years = broad["without_years"]["overall"]
    assert (no_years["gold"], no_years["predicted"], no_years["recall"], no_years["precision"]) == (6, 5, round(4 / 6, 4), 0.8)
    assert broad["without_years"]["per_type"]["DATE"] == {"gold": 1, "predicted": 1, "precision": 1.0, "recall": 1.0, "typed_recall": 1.0}
    # safe harbor: gold is John Smith, 03/04, 93, Boston (no clinician, facility or year); 3 found; Nurse is a false positive
    sh = safe["with_years"]["overall"]
    assert (sh["gold"], sh["predicted"], sh["recall"], sh["precision"]) == (4, 4, 0.75, 0.75)
    assert safe["without_years"]["overall"] == sh
    # the default profile (broad) stands at the top level as before
    assert result["profile"] == "broad" and result["overall"] == with_years and result["per_type"] == broad["with_years"]["per_type"]
    assert result["detector"] == "fake-broad" and result["notes"] == 1 and result["notes_per_second"] > 0 and result["chars_per_second"] > 0
    rows = [json.loads(line) for line in errors.read_text().splitlines()]
    assert {(r["kind"], r["text"]) for r in rows} == {("miss", "Mercy Hospital"), ("miss", "93"), ("false_positive", "Massachusetts")}
    assert all(r["profile"] == "broad" for r in rows)


def test_one_profile_or_another_default(tmp_path: Path) -> None:
    data = _write_i2b2(tmp_path / "xml")
    only = evaluate_deid(data, type_map="i2b2-2014", profiles=["safe-harbor"], detector_factory=FakeDetector)
    assert list(only["profiles"]) == ["safe-harbor"] and only["profile"] == "safe-harbor" and only["overall"]["recall"] == 0.75
    both = evaluate_deid(data, type_map="i2b2-2014", default_profile="safe-harbor", detector_factory=FakeDetector)
    assert list(both["profiles"]) == ["safe-harbor", "broad"] and both["detector"] == "fake-safe-harbor"
    with pytest.raises(DeidEvalError, match="unknown de-identification profile 'strict'"):
        evaluate_deid(data, type_map="i2b2-2014", profiles=["strict"], detector_factory=FakeDetector)


SHARED_DEV = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "text" / "deid_physionet" / "dev"


@pytest.mark.skipif(not SHARED_DEV.is_dir(), reason=f"shared PhysioNet deid BRAT corpus not found at {SHARED_DEV}")
def test_shared_corpus_round_trips_through_the_physionet_layout(tmp_path: Path) -> None:
    """Twenty real-style notes written out as id.text + id-phi.phrase read back identically; years alone are found."""
    _, notes = read_gold(SHARED_DEV, "brat")
    notes = notes[:20]
    records, phrases = [], []
    for k, note in enumerate(notes, start=1):
        records.append(f"START_OF_RECORD=1||||{k}||||\n{note.text}||||END_OF_RECORD\n")
        phrases += [f"1 {k} {m.start} {m.end} {m.type} {note.text[m.start : m.end]}\n" for m in note.mentions]
    (tmp_path / "id.text").write_text("".join(records), encoding="utf-8")
    (tmp_path / "id-phi.phrase").write_text("".join(phrases), encoding="utf-8")
    fmt, back = read_gold(tmp_path)
    assert fmt == "physionet" and [n.text for n in back] == [n.text for n in notes]
    assert [[(m.start, m.end, m.type) for m in n.mentions] for n in back] == [[(m.start, m.end, m.type) for m in n.mentions] for n in notes]
    _, everything = read_gold(SHARED_DEV, "brat")
    identity = load_type_map("identity")
    categories = Counter(s.category for n in everything for s in gold_spans(n, identity))
    assert categories["year"] > 0 and categories[""] > categories["year"]
