"""Coders' loop helpers: mention items, sentence context, code candidates attached to spans."""

from __future__ import annotations

from cliniloop.models.text.code_candidates import CodeCandidateGenerator
from cliniloop.services.core.schemas import PredictionIn, TaskIn, TextSpan
from cliniloop.services.core.store import Store
from cliniloop.services.loop.coding import coder_items, item_key, sentence_around, span_code_candidates
from cliniloop.taxonomies.codes.system import CodeSystem, Concept

TEXT = "Seen today.\nPMH: hypertension and asthma. Denies chest pain."


def _tiny_icd() -> CodeSystem:
    concepts = {
        "I10": Concept("I10", "Essential (primary) hypertension", ("high blood pressure",)),
        "J45": Concept("J45", "Asthma", billable=False),
        "J45.909": Concept("J45.909", "Unspecified asthma, uncomplicated", parents=("J45",)),
        "R07.9": Concept("R07.9", "Chest pain, unspecified"),
    }
    return CodeSystem("icd10cm", "tiny", concepts)


def test_sentence_context_and_items(store: Store) -> None:
    start = TEXT.index("asthma")
    assert sentence_around(TEXT, start, start + 6) == "PMH: hypertension and asthma."
    store.add_tasks([TaskIn(id="n1", modality="text", source_uri="mem://n1", data={"text": TEXT})])
    spans = [TextSpan(start=TEXT.index(w), end=TEXT.index(w) + len(w), text=w, label="Problem") for w in ("asthma", "hypertension")]
    store.add_predictions([PredictionIn(task_id="n1", model_name="clinical-text", model_version="v", taxonomy_version="t", regions=spans, score=0.5, uncertainty=0.5)])
    items = coder_items(store)
    assert [i.mention for i in items] == ["hypertension", "asthma"], "ordered by offset"
    assert items[0].key == item_key("n1", items[0].start, items[0].end) and len({i.key for i in items}) == 2


def test_spans_get_ranked_candidates() -> None:
    gen = CodeCandidateGenerator([_tiny_icd()], k=3).fit()
    attach = span_code_candidates(gen, k=2)
    w = "hypertension"
    regions = [TextSpan(start=TEXT.index(w), end=TEXT.index(w) + len(w), text=w, label="Problem", attributes={"assertion": "present"})]
    (out,) = attach(TEXT, regions)
    codes = out.attributes["codes"]
    assert codes[0]["code"] == "I10" and codes[0]["system"] == "icd10cm" and len(codes) <= 2
    assert out.attributes["assertion"] == "present" and "codes" not in regions[0].attributes, "inputs are not mutated"
    assert attach(TEXT, []) == []
