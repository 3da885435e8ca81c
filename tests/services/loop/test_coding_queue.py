"""The coders' queue (issue 22): most uncertain first within a budget, identical mentions once, validated ones never."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cliniloop.connectors.label_studio.coding import coder_result_json
from cliniloop.models.sampling.scores import score_margin
from cliniloop.models.text.code_candidates import Candidate, CodeCandidateGenerator
from cliniloop.services.core.schemas import CodeVerdictIn, PredictionIn, TaskIn, TextSpan
from cliniloop.services.core.store import Store
from cliniloop.services.loop.coding import coder_items, coder_key, group_items, pull_coder_verdicts, push_coder_tasks, queue_order
from cliniloop.taxonomies.codes.system import CodeSystem, Concept


def _icd() -> CodeSystem:
    return CodeSystem("icd10cm", "tiny", {
        "I10": Concept("I10", "Essential (primary) hypertension", ("hypertension",)),
        "J45.909": Concept("J45.909", "Unspecified asthma, uncomplicated", ("asthma",)),
        "J45.998": Concept("J45.998", "Other asthma"),
        "R07.9": Concept("R07.9", "Chest pain, unspecified"),
        "R07.89": Concept("R07.89", "Other chest pain"),
    })  # fmt: skip


class _FakeLS:
    base_url = "http://ls"

    def __init__(self) -> None:
        self.imported: list[dict[str, Any]] = []
        self.annotations: dict[str, list[dict[str, Any]]] = {}

    def ensure_project(self, title: str, config: str) -> int:
        return 7

    def existing_task_ids(self, project_id: int, key: str) -> dict[str, int]:
        return {p["data"][key]: n for n, p in enumerate(self.imported)}

    def import_tasks(self, project_id: int, payloads: list[dict[str, Any]]) -> None:
        self.imported.extend(payloads)

    def project_ref(self, project_id: int) -> str:
        return f"{self.base_url}/projects/{project_id}"

    def iter_project_annotations(self, project_id: int):
        for n, p in enumerate(self.imported):
            yield n, p["data"], self.annotations.get(p["data"]["mention"], [])


def _note(store: Store, tid: str, text: str, words: list[tuple[str, str]]) -> None:
    store.add_tasks([TaskIn(id=tid, modality="text", source_uri=f"mem://{tid}", data={"text": text})])
    spans, at = [], 0
    for word, label in words:
        start = text.index(word, at)
        at = start + len(word)
        spans.append(TextSpan(start=start, end=at, text=word, label=label, attributes={"assertion": "present"}))
    store.add_predictions([PredictionIn(task_id=tid, model_name="clinical-text", model_version="v", taxonomy_version="t", regions=spans, score=0.5, uncertainty=0.5)])


def test_score_margin_is_pure_and_bounded() -> None:
    got = score_margin([[0.9, 0.2], [0.5, 0.49], [0.8], [], [0.3, 0.7, 0.1]])
    assert np.allclose(got, [0.3, 0.99, 0.2, 1.0, 0.6])
    with pytest.raises(ValueError, match="finite"):
        score_margin([[np.nan]])


def test_queue_order_most_uncertain_then_most_frequent() -> None:
    def c(*scores: float) -> dict[str, list[Candidate]]:
        return {"icd10cm": [Candidate("icd10cm", f"X{i}", "", s, "lexical") for i, s in enumerate(scores)]}

    ranked = [c(0.95, 0.1), c(0.6, 0.58), c(0.6, 0.58), {"icd10cm": []}, c(0.7, 0.4)]
    assert queue_order(ranked, [1, 1, 5, 1, 1]) == [3, 2, 1, 4, 0]


def test_identical_mentions_are_one_task_and_the_verdict_applies_to_all(store: Store) -> None:
    _note(store, "n1", "Hypertension noted. Asthma too.", [("Hypertension", "Problem"), ("Asthma", "Problem")])
    _note(store, "n2", "HYPERTENSION  stable.", [("HYPERTENSION", "Problem")])
    _note(store, "n3", "Long-standing hypertension.", [("hypertension", "Problem")])
    items = coder_items(store)
    assert len(items) == 4 and len(group_items(items)) == 2
    ls = _FakeLS()
    gen = CodeCandidateGenerator([_icd()], k=3).fit()
    report = push_coder_tasks(store, ls, "coders", items, gen)
    assert len(ls.imported) == 2 and len(report.created) == 2
    htn = next(p for p in ls.imported if p["data"]["mention"] == "Hypertension")
    assert htn["data"]["occurrences"] == 3 and [m[0] for m in htn["data"]["meta"]["members"]] == ["n1", "n2", "n3"]
    again = push_coder_tasks(store, ls, "coders", items, gen)
    assert again.created == [] and len(again.already_present) == 2

    ls.annotations["Hypertension"] = [{"id": 11, "completed_by": 3, "result": coder_result_json("accept", [("icd10cm", "I10")])}]
    pulled = pull_coder_verdicts(store, ls, 7, [_icd()])
    assert pulled.annotations == 1 and pulled.created == 3, "one verdict, stored for each of the three occurrences"
    rows = store.code_mappings(validated_only=True)
    assert sorted(r.task_id for r in rows) == ["n1", "n2", "n3"] and {r.code for r in rows} == {"I10"}
    assert pull_coder_verdicts(store, ls, 7, [_icd()]).created == 0


@pytest.mark.parametrize(
    ("mention", "stored_key", "code"),
    [
        ("Hypertension", "hypertension", "I10"),
        # a key saved before a spelling fold existed ("oedema" as is) matches today's "edema"
        ("Oedema", "oedema", "R60.9"),
    ],
)
def test_validated_mentions_are_not_queued_again(store: Store, mention: str, stored_key: str, code: str) -> None:
    from cliniloop.models.text.code_textnorm import normalise_mention

    if mention == "Oedema":
        assert normalise_mention(mention) != stored_key, "the GB spelling is folded today"
    _note(store, "n1", f"{mention} noted. Asthma too.", [(mention, "Problem"), ("Asthma", "Problem")])
    store.upsert_code_verdict(CodeVerdictIn(
        mention=mention, normalized_mention=stored_key, system="icd10cm", code=code, coder="c",
        verdict="accept", source_annotation_id="x:1:0", taxonomy_version="icd10cm@tiny"))  # fmt: skip
    ls = _FakeLS()
    items = coder_items(store)
    report = push_coder_tasks(store, ls, "coders", items, CodeCandidateGenerator([_icd()], k=3).fit())
    assert [p["data"]["mention"] for p in ls.imported] == ["Asthma"]
    assert report.already_validated == [coder_key(items[0])]


def test_budget_takes_the_most_uncertain_first(store: Store) -> None:
    text = "Hypertension. Asthma. Chest pain. Wheeze."
    _note(store, "n1", text, [("Hypertension", "Problem"), ("Asthma", "Problem"), ("Chest pain", "Problem"), ("Wheeze", "Problem")])
    gen = CodeCandidateGenerator([_icd()], k=3).fit()
    items = coder_items(store)
    ranked = gen.candidates_many([(i.mention, i.context, i.assertion, i.label) for i in items], k=3)
    order = queue_order(ranked, [1] * len(items))
    ls = _FakeLS()
    report = push_coder_tasks(store, ls, "coders", items, gen, budget=2)
    assert [p["data"]["mention"] for p in ls.imported] == [items[j].mention for j in order[:2]]
    assert report.over_budget == 2
    margins = [1 - (r["icd10cm"][0].score - (r["icd10cm"][1].score if len(r["icd10cm"]) > 1 else 0)) if r["icd10cm"] else 1.0 for r in ranked]
    assert margins[order[0]] >= margins[order[1]] >= max(margins[j] for j in order[2:])
    rest = push_coder_tasks(store, ls, "coders", items, gen, budget=2)
    assert len(rest.created) == 2 and len(ls.imported) == 4 and rest.over_budget == 0, "the next push takes the rest"


def test_other_strategies_and_an_unknown_one() -> None:
    def c(*scores: float) -> dict[str, list[Candidate]]:
        return {"icd10cm": [Candidate("icd10cm", f"X{i}", "", s, "lexical") for i, s in enumerate(scores)]}

    # entropy of the normalised scores: three near-equal candidates first, one clear winner last
    ranked = [c(0.9, 0.05), c(0.5, 0.5, 0.5), c(0.7, 0.3)]
    assert queue_order(ranked, [1, 1, 1], "entropy") == [1, 2, 0]
    shuffled = queue_order(ranked * 4, [1] * 12, "random", seed=3)
    assert sorted(shuffled) == list(range(12)) and shuffled == queue_order(ranked * 4, [1] * 12, "random", seed=3)
    assert shuffled != queue_order(ranked * 4, [1] * 12, "random", seed=4)
    with pytest.raises(ValueError, match="coders' strategy"):
        queue_order(ranked, [1, 1, 1], "bald")


def test_a_push_is_a_recorded_round(store: Store) -> None:
    text = "Hypertension. Asthma. Chest pain."
    _note(store, "n1", text, [("Hypertension", "Problem"), ("Asthma", "Problem"), ("Chest pain", "Problem")])
    gen = CodeCandidateGenerator([_icd()], k=3).fit()
    ls = _FakeLS()
    report = push_coder_tasks(store, ls, "coders", coder_items(store), gen, budget=2, strategy="entropy")
    [rnd] = store.rounds()
    assert rnd.id == report.round_id and rnd.pushed
    assert (rnd.strategy, rnd.model_name, rnd.budget) == ("entropy", "code-candidates", 2)
    assert rnd.selected_task_ids == report.created == [p["data"]["cliniloop_id"] for p in ls.imported]
    assert len(rnd.model_version) <= 128
    rest = push_coder_tasks(store, ls, "coders", coder_items(store), gen)  # no budget: the one left over
    assert len(rest.created) == 1 and [r.strategy for r in store.rounds()] == ["entropy", "uncertainty"]
    nothing_new = push_coder_tasks(store, ls, "coders", coder_items(store), gen)
    assert nothing_new.round_id is None and len(store.rounds()) == 2, "a push with nothing new records no round"
