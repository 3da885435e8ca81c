"""The coders' queue against a real Label Studio (issue 22): a budgeted round, most uncertain first; one
task for identical mentions, its verdict stored for each occurrence; the type's code system only; the
sentence/section/assertion shown; the validated mapping exported as a FHIR R4 ConceptMap and validated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cliniloop.connectors.label_studio.client import LabelStudioClient
from cliniloop.connectors.label_studio.coding import coder_result_json
from cliniloop.services.core.schemas import PredictionIn, TaskIn, TextSpan
from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.loop.coding import (
    CODER_KEY, candidate_generator, code_systems, coder_items, coder_key, group_items, pull_coder_verdicts, push_coder_tasks, queue_order,
)  # fmt: skip
from cliniloop.services.loop.mapping_exports import MENTION_SYSTEM, validate_conceptmap
from cliniloop.services.loop.mappings import export_mappings
from cliniloop.services.loop.predict import TEXT_MODEL_NAME

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
NOTES = {
    "q-1": ("Assessment: Asthma flare with wheezing. Lactate was 2.1 today.", [("Asthma", "Problem"), ("wheezing", "Problem"), ("Lactate", "Test")]),
    "q-2": ("HPI: known ASTHMA since childhood. Lung exam by Dr. Lee.", [("ASTHMA", "Problem"), ("Lung", "Anatomy")]),
}


def test_grouped_typed_queue_round_trip(tmp_path: Path, ls_client: LabelStudioClient) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    store.migrate()
    for tid, (text, words) in NOTES.items():
        store.add_tasks([TaskIn(id=tid, modality="text", source_uri=f"mem://{tid}", data={"text": text, "deid": {"detector": "none: synthetic"}})])
        regions = [TextSpan(start=text.index(w), end=text.index(w) + len(w), text=w, label=lab, probability=0.8,
                            attributes={"assertion": "present", "section": text.split(":")[0]}) for w, lab in words]  # fmt: skip
        store.add_predictions([PredictionIn(task_id=tid, model_name=TEXT_MODEL_NAME, model_version="v1", taxonomy_version="t", regions=regions, score=0.5, uncertainty=0.5)])
    rf2 = next((REPO / "data_samples" / "snomed_rf2_sample").glob("SnomedCT_*"))
    settings = Settings(var_dir=tmp_path / "var", snomed_rf2=rf2)
    systems = code_systems(settings)
    items = coder_items(store)
    generator = candidate_generator(store, settings, systems)
    report = push_coder_tasks(store, ls_client, "cliniloop coders queue test", items, generator, budget=3)
    assert len(items) == 5 and len(report.created) == 3 and report.over_budget == 1, "Asthma / ASTHMA: one task; budget 3 of 4"
    groups = {coder_key(g[0]): g for g in group_items(items)}
    ranked = generator.candidates_many([(g[0].mention, g[0].context, g[0].assertion, g[0].label) for g in groups.values()], k=5)
    expected = [list(groups)[i] for i in queue_order(ranked, [len(g) for g in groups.values()])]
    assert report.created == expected[:3], "the most uncertain mentions first"
    rest = push_coder_tasks(store, ls_client, "cliniloop coders queue test", items, generator, budget=3)
    assert rest.created == expected[3:] and len(rest.already_present) == 3
    pid = report.project_id
    ids = ls_client.existing_task_ids(pid, key=CODER_KEY)
    by = {i.mention: i for i in items}
    asthma = ls_client.task_data(ids[coder_key(by["Asthma"])], pid)
    assert asthma["occurrences"] == 2 and asthma["section"] == "Assessment" and asthma["assertion"] == "present"
    assert asthma["sentence"] == "Assessment: Asthma flare with wheezing." and "<mark>Asthma</mark>" in asthma["where_html"]
    lactate = ls_client.task_data(ids[coder_key(by["Lactate"])], pid)
    assert not any(c["value"].startswith("icd10cm:") for c in lactate["candidates"]), "no ICD-10-CM diagnosis for a Test"
    lung = ls_client.task_data(ids[coder_key(by["Lung"])], pid)
    assert [c["value"] for c in lung["candidates"]][:1] == ["snomed:8800022009"], "Anatomy: a SNOMED body structure"

    icd = next(c["value"].split(":", 1)[1] for c in asthma["candidates"] if c["value"].startswith("icd10cm:"))
    ls_client.create_annotation(ids[coder_key(by["Asthma"])], coder_result_json("accept", [("icd10cm", icd)]))
    pulled = pull_coder_verdicts(store, ls_client, pid, systems)
    assert (pulled.annotations, pulled.created) == (1, 2)
    assert sorted(r.task_id for r in store.code_mappings(validated_only=True)) == ["q-1", "q-2"]
    again = push_coder_tasks(store, ls_client, "cliniloop coders queue test", items, candidate_generator(store, settings, systems))
    assert again.created == [] and len(again.already_present) == 4

    # the validated mapping as a FHIR R4 ConceptMap, read back from the file and validated
    assert export_mappings(store, tmp_path / "conceptmap.json", "conceptmap") == 1
    resource = json.loads((tmp_path / "conceptmap.json").read_text(encoding="utf-8"))
    validate_conceptmap(resource)
    (group,) = resource["group"]
    assert group["target"] == "http://hl7.org/fhir/sid/icd-10-cm" and group["source"] == MENTION_SYSTEM
    (element,) = group["element"]
    assert element["code"] == "asthma" and element["target"][0]["code"] == icd
    assert element["target"][0]["equivalence"] == "equivalent" and element["target"][0]["comment"] == "1 of 1 coders chose this code"
