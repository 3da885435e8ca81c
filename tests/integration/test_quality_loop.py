"""Double annotation, agreement and adjudication against a real Label Studio with two real users.

Three notes go to a project whose overlap sends every task to two annotators: the admin
("A") and a second user created for the test ("B"). Both label all three; on the second note
B marks "pneumonia" as present where A marked it possible, and leaves out "asthma". Then:

* the agreement figures equal the ones worked out by hand below;
* the disagreement (and only it) becomes an adjudication task in the reviewer project, which
  shows each annotator's version as a prediction;
* until the reviewer decides, training leaves the note out; once the reviewer's annotation is
  pulled, training sees exactly the reviewer's spans.

Hand-computed figures (spans: A 2 + 2 + 2 = 6, B 2 + 1 + 2 = 5; exact matches 2 + 1 + 2 = 5):

* span F1 exact, all labels: 2 * 5 / (6 + 5) = 10/11 = 0.9091;
  Problem: A 5, B 4, matched 4 -> 8/9 = 0.8889; Medication: 1, 1, 1 -> 1.0;
* assertion kappa on the 5 matched spans: A = absent, present, possible, family, absent;
  B = absent, present, present, family, absent. p_o = 4/5 = 0.8; p_e = (2/5)(2/5) [absent]
  + (1/5)(2/5) [present] + (1/5)(0) [possible] + (1/5)(1/5) [family] = 0.28;
  kappa = (0.8 - 0.28) / (1 - 0.28) = 0.7222;
* task agreement (spans matched with the same assertion): notes 1 and 3: 1.0; note 2: no
  span matches with the same assertion -> 0.0 < 0.8: adjudication.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from cliniloop.connectors.label_studio.client import LabelStudioClient
from cliniloop.connectors.label_studio.convert import regions_to_result, result_to_regions
from cliniloop.services.core.schemas import TextSpan
from cliniloop.services.core.store import Store
from cliniloop.services.loop.ingest import ingest_notes
from cliniloop.services.loop.pull import pull_annotations
from cliniloop.services.loop.push import ensure_text_project, push_tasks
from cliniloop.services.loop.train import build_training_set
from cliniloop.services.quality.adjudication import ADJUDICATION_KEY, pull_adjudications, push_adjudications
from cliniloop.services.quality.agreement_report import agreement_report
from cliniloop.services.quality.labels import training_labels

pytestmark = pytest.mark.integration

PROJECT = "cliniloop quality test"
NOTES = {
    "note1.txt": "Patient denies chest pain. Started metformin today.",
    "note2.txt": "Possible pneumonia on the film. History of asthma.",
    "note3.txt": "Mother had breast cancer. No fever this week.",
}
#: (note, span text, label, assertion) per annotator.
A_SPANS = [
    ("note1.txt", "chest pain", "Problem", "absent"),
    ("note1.txt", "metformin", "Medication", "present"),
    ("note2.txt", "pneumonia", "Problem", "possible"),
    ("note2.txt", "asthma", "Problem", "historical"),
    ("note3.txt", "breast cancer", "Problem", "family"),
    ("note3.txt", "fever", "Problem", "absent"),
]
B_SPANS = [s for s in A_SPANS if s[1] not in ("pneumonia", "asthma")] + [("note2.txt", "pneumonia", "Problem", "present")]
#: The reviewer sides with A on note 2.
REVIEW_SPANS = [s for s in A_SPANS if s[0] == "note2.txt"]


@dataclass
class Quality:
    store: Store
    a: LabelStudioClient
    b: LabelStudioClient
    project_id: int
    task_of: dict[str, str]  # note file name -> task id
    ls_of: dict[str, int]  # task id -> Label Studio task id


def _spans(store: Store, task_id: str, items: list[tuple[str, str, str, str]], note: str) -> list[TextSpan]:
    text = store.get_task(task_id).data["text"]
    out = []
    for n, phrase, label, assertion in items:
        if n != note:
            continue
        start = text.index(phrase)
        out.append(TextSpan(start=start, end=start + len(phrase), text=phrase, label=label, attributes={"assertion": assertion}))
    return out


@pytest.fixture(scope="module")
def quality(label_studio, ls_client: LabelStudioClient, tmp_path_factory, deidentifier) -> Iterator[Quality]:
    tmp = tmp_path_factory.mktemp("quality")
    notes = tmp / "notes"
    notes.mkdir()
    for name, text in NOTES.items():
        (notes / name).write_text(text, encoding="utf-8")
    store = Store(f"sqlite:///{tmp / 'store.sqlite3'}")
    store.migrate()
    ingest_notes(store, notes, 1024 * 1024, deidentifier)
    # source uris are keyed hashes (paths may hold identifiers): find each note by its words
    task_of = {name: t.id for t in store.list_tasks("text") for name, text in NOTES.items() if text.split(".")[0] in t.data["text"]}
    assert set(task_of) == set(NOTES)
    project_id = ensure_text_project(ls_client, PROJECT)
    # overlap: every task to two annotators, configured from cliniloop
    report = push_tasks(store, ls_client, project_id, sorted(task_of.values()), overlap=(2, 100))
    assert len(report.created) == 3
    token_b = label_studio.add_user("bob@example.com")
    b = LabelStudioClient(label_studio.url, token_b)
    yield Quality(store, ls_client, b, project_id, task_of, store.pushed(ls_client.project_ref(project_id)))
    store.close()


def test_overlap_serves_a_task_the_first_annotator_finished_to_the_second(quality: Quality) -> None:
    settings = quality.a.project_settings(quality.project_id)
    assert (settings["maximum_annotations"], settings["overlap_cohort_percentage"]) == (2, 100)
    for note, task_id in quality.task_of.items():
        quality.a.create_annotation(quality.ls_of[task_id], regions_to_result(_spans(quality.store, task_id, A_SPANS, note)))
    # with one annotation each, every task still waits for its second annotator
    served = quality.b.next_task(quality.project_id)
    assert served is not None and served["id"] in quality.ls_of.values()
    for note, task_id in quality.task_of.items():
        quality.b.create_annotation(quality.ls_of[task_id], regions_to_result(_spans(quality.store, task_id, B_SPANS, note)))
    assert quality.b.next_task(quality.project_id) is None, "both annotators have labelled everything"
    report = pull_annotations(quality.store, quality.a, quality.project_id)
    assert report.created == 6
    assert report.adjudications_opened == 1


def test_agreement_matches_the_hand_computed_figures(quality: Quality) -> None:
    report = agreement_report(quality.store, "text", threshold=0.95)
    assert report.multi_annotated == {"text": 3}
    assert report.value("text", "span_f1_exact") == pytest.approx(10 / 11)
    assert report.value("text", "span_f1_exact", "Problem") == pytest.approx(8 / 9)
    assert report.value("text", "span_f1_exact", "Medication") == pytest.approx(1.0)
    assert report.value("text", "assertion_kappa") == pytest.approx((0.8 - 0.28) / 0.72)
    pair = next(r.annotators for r in report.rows if r.annotators != "all")
    assert report.value("text", "span_f1_exact", annotators=pair) == pytest.approx(10 / 11), "one pair: pooled = the pair"
    low = {(r.label, r.measure) for r in report.low() if r.annotators == "all"}
    assert ("Problem", "span_f1_exact") in low and ("all", "assertion_kappa") in low
    assert ("Medication", "span_f1_exact") not in low


def test_the_disagreement_becomes_an_adjudication_and_training_waits_for_it(quality: Quality) -> None:
    store = quality.store
    disputed = quality.task_of["note2.txt"]
    (adj,) = store.adjudications()
    assert adj.task_id == disputed and adj.status == "open" and adj.agreement == pytest.approx(0.0)
    assert len(adj.annotators) == 2
    labels = training_labels(store, "text", threshold=0.8)
    assert labels.unresolved == [disputed]
    trained_on = {t.doc_id for t in build_training_set(store).train + build_training_set(store).dev}
    assert trained_on == {quality.task_of["note1.txt"], quality.task_of["note3.txt"]}, "an open disagreement never trains"

    sync = push_adjudications(store, quality.a)
    assert sync.pushed == [adj.id]
    (reviewer_id,) = sync.projects.values()
    assert quality.a.project_settings(reviewer_id)["title"] == f"{PROJECT} review"
    (review_task,) = list(quality.a.sdk.tasks.list(project=reviewer_id, fields="all"))
    assert review_task.data[ADJUDICATION_KEY] == str(adj.id) and "cliniloop_id" not in review_task.data
    assert review_task.data["text"] == store.get_task(disputed).data["text"]
    # each annotator's version is there to choose from, as a prediction named after them
    versions = {}
    for p in review_task.predictions:
        p = p if isinstance(p, dict) else p.model_dump()
        versions[p["model_version"]] = {(r.text, r.attributes.get("assertion")) for r in result_to_regions(p["result"])}
    assert sorted(versions.values(), key=len) == [{("pneumonia", "present")}, {("pneumonia", "possible"), ("asthma", "historical")}]
    assert all(v.startswith("annotator ") for v in versions)
    assert push_adjudications(store, quality.a).pushed == [], "sent once"

    review = _spans(store, disputed, REVIEW_SPANS, "note2.txt")
    quality.a.create_annotation(review_task.id, regions_to_result(review))
    resolved = pull_adjudications(store, quality.a)
    assert resolved.resolved == [adj.id]
    assert store.adjudication(adj.id).status == "resolved"
    label = training_labels(store, "text", threshold=0.8).get(disputed)
    assert label is not None and label.source == "adjudicated"
    assert {(r["text"], r["attributes"]["assertion"]) for r in label.regions} == {("pneumonia", "possible"), ("asthma", "historical")}
    data = build_training_set(store)
    texts = {t.doc_id: t for t in data.train + data.dev}
    assert set(texts) == set(quality.task_of.values())
    assert [(s.start, s.end, s.label) for s in texts[disputed].spans] == sorted((r.start, r.end, r.label) for r in review)
    actions = [e.action for e in store.audit_events()]
    for action in ("deidentify", "push", "annotation_received", "pull", "adjudication_opened", "adjudication_push", "adjudication_resolved"):
        assert action in actions, action
