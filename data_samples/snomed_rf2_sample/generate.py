"""Regenerate the synthetic RF2 sample in this folder (stdlib only; deterministic).

Run from anywhere: ``python data_samples/snomed_rf2_sample/generate.py``. The ids are made up: the
item identifiers 8800001.. (concepts), 8810001.. (descriptions) and 8820001.. (relationships) get
the RF2 partition digits and a Verhoeff check digit; refset rows get UUID-5 ids. Only the RF2
metadata ids (module, type, refset, acceptability ... ids) are the standard ones, as the format needs.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from cliniloop.taxonomies.codes.snomed import verhoeff_valid

ROOT = Path(__file__).resolve().parent / "SnomedCT_CliniloopSampleRF2_TEST_20250301T120000Z" / "Snapshot"
TAG = "CLINILOOP_20250301"
NOW = "20250301"
OLD = "20240901"

CORE = "900000000000207008"
US_MODULE = "731000124108"
US_MAP_MODULE = "5991000124107"
PRIMITIVE = "900000000000074008"
FSN = "900000000000003001"
SYN = "900000000000013009"
CASE_INSENSITIVE = "900000000000448009"
IS_A = "116680003"
FINDING_SITE = "363698007"
INFERRED = "900000000000011006"
EXISTENTIAL = "900000000000451002"
US = "900000000000509007"
GB = "900000000000508004"
PREF = "900000000000548007"
ACC = "900000000000549004"
ICD10CM_MAP = "6011000124106"
ICD10_MAP = "447562003"
CORRELATION = "447561005"
CLASSIFIED = "447637006"
CONTEXT_DEPENDENT = "447639009"
CANNOT_CLASSIFY = "447638001"

def sctid(item: int, partition: str) -> str:
    stem = f"{item}{partition}"
    return next(stem + str(d) for d in range(10) if verhoeff_valid(stem + str(d)))


def rid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "cliniloop-sample/" + "/".join(parts)))


# k: (FSN, active, [(term, US acceptability or None, GB acceptability or None, description active)], parents)
CONCEPTS: dict[int, tuple[str, bool, list[tuple[str, str | None, str | None, bool]], list[int]]] = {
    1: ("Clinical finding (finding)", True, [("Clinical finding", PREF, PREF, True)], []),
    2: ("Disease (disorder)", True, [("Disease", PREF, PREF, True), ("Disorder", ACC, ACC, True)], [1]),
    3: (
        "Disorder of cardiovascular system (disorder)",
        True,
        [("Disorder of cardiovascular system", PREF, PREF, True), ("Cardiovascular disease", ACC, ACC, True)],
        [2],
    ),
    4: (
        "Hypertensive disorder, systemic arterial (disorder)",
        True,
        [
            ("Hypertensive disorder", PREF, PREF, True),
            ("Hypertension", ACC, ACC, True),
            ("High blood pressure", ACC, ACC, True),
            ("HTN", ACC, ACC, True),
        ],
        [3],
    ),
    5: (
        "Essential hypertension (disorder)",
        True,
        [
            ("Essential hypertension", PREF, PREF, True),
            ("Primary hypertension", "inactive-" + PREF, None, True),  # its US row is inactive
            ("Idiopathic hypertension", ACC, ACC, False),  # inactive description
        ],
        [4],
    ),
    6: (
        "Heart failure (disorder)",
        True,
        [
            ("Heart failure", PREF, PREF, True),
            ("Cardiac failure", ACC, ACC, True),
            ("HF", ACC, ACC, True),
            ("Weak heart", ACC, ACC, False),  # inactive description
        ],
        [3],
    ),
    7: (
        "Hypertensive heart disease with heart failure (disorder)",
        True,
        [
            ("Hypertensive heart disease with heart failure", PREF, PREF, True),
            ("Hypertensive heart failure", ACC, ACC, True),
        ],
        [4, 6],
    ),
    8: (
        "Disorder of endocrine system (disorder)",
        True,
        [("Disorder of endocrine system", PREF, PREF, True), ("Endocrine disease", ACC, ACC, True)],
        [2],
    ),
    9: (
        "Diabetes mellitus (disorder)",
        True,
        [("Diabetes mellitus", PREF, PREF, True), ("DM - Diabetes mellitus", ACC, ACC, True), ("Diabetes", ACC, ACC, True)],
        [8],
    ),
    10: (
        "Diabetes mellitus type 1 (disorder)",
        True,
        [
            ("Type 1 diabetes mellitus", PREF, PREF, True),
            ("Insulin dependent diabetes mellitus", ACC, ACC, True),
            ("IDDM", ACC, ACC, True),
            ("T1DM", ACC, ACC, True),
        ],
        [9],
    ),
    11: (
        "Diabetes mellitus type 2 (disorder)",
        True,
        [
            ("Type 2 diabetes mellitus", PREF, PREF, True),
            ("Non-insulin dependent diabetes mellitus", ACC, ACC, True),
            ("NIDDM", ACC, ACC, True),
            ("T2DM", ACC, ACC, True),
        ],
        [9],  # plus an inactive IS-A to 8, below
    ),
    12: (
        "Disorder of kidney due to type 2 diabetes mellitus (disorder)",
        True,
        [
            ("Disorder of kidney due to type 2 diabetes mellitus", PREF, PREF, True),
            ("Type 2 diabetic nephropathy", ACC, ACC, True),
        ],
        [11, 13],
    ),
    13: (
        "Disorder of kidney (disorder)",
        True,
        [("Kidney disease", PREF, PREF, True), ("Renal disease", ACC, ACC, True), ("Nephropathy", ACC, ACC, True)],
        [2],
    ),
    14: (
        "Disorder of respiratory system (disorder)",
        True,
        [("Disorder of respiratory system", PREF, PREF, True), ("Respiratory disease", ACC, ACC, True)],
        [2],
    ),
    15: ("Asthma (disorder)", True, [("Asthma", PREF, PREF, True), ("Bronchial asthma", ACC, ACC, True)], [14]),
    16: ("Pneumonia (disorder)", True, [("Pneumonia", PREF, PREF, True), ("Lung infection", ACC, ACC, True)], [14]),
    17: (
        "Chronic obstructive lung disease (disorder)",
        True,
        [
            ("Chronic obstructive lung disease", PREF, PREF, True),
            ("COPD", ACC, ACC, True),
            ("Chronic obstructive pulmonary disease", ACC, ACC, True),
        ],
        [14],
    ),
    18: (
        "Dyspnea (finding)",
        True,
        [
            ("Dyspnea", PREF, None, True),  # US preferred
            ("Dyspnoea", None, PREF, True),  # GB preferred, not US
            ("Shortness of breath", ACC, ACC, True),
            ("Breathlessness", ACC, ACC, True),
        ],
        [1],
    ),
    19: ("Chest pain (finding)", True, [("Chest pain", PREF, PREF, True)], [1]),
    20: ("Fever (finding)", True, [("Fever", PREF, PREF, True), ("Pyrexia", ACC, ACC, True)], [1]),
    21: (
        "Cough (finding)",
        True,
        [("Cough", ACC, ACC, True), ("Coughing", None, None, True)],  # no US preferred synonym
        [1],
    ),
    22: ("Lung structure (body structure)", True, [("Lung structure", PREF, PREF, True), ("Lung", ACC, ACC, True)], []),
    23: ("Wheezing (finding)", True, [], [1]),  # FSN only
    24: ("Diabetes mellitus type 2 - retired concept (disorder)", False, [("Old type 2 diabetes", PREF, PREF, True)], [9]),
    25: ("Heart disease - retired concept (disorder)", False, [("Old heart disease", PREF, PREF, True)], [3]),
}

# (concept k, refset, group, priority, rule, advice, target, category, active); written in this order
MAPS = [
    (3, ICD10CM_MAP, 1, 1, "TRUE", "MAP SOURCE CONCEPT CANNOT BE CLASSIFIED WITH AVAILABLE DATA", "", CANNOT_CLASSIFY, True),
    (4, ICD10CM_MAP, 1, 1, "TRUE", "ALWAYS I10", "I10", CLASSIFIED, True),
    (5, ICD10CM_MAP, 1, 1, "TRUE", "ALWAYS I10", "I10", CLASSIFIED, True),
    (6, ICD10CM_MAP, 1, 1, "TRUE", "ALWAYS I50.9", "I50.9", CLASSIFIED, True),
    (7, ICD10CM_MAP, 2, 1, "TRUE", "ALWAYS I50.9", "I50.9", CLASSIFIED, True),  # group 2 written first
    (7, ICD10CM_MAP, 1, 1, "TRUE", "ALWAYS I11.0", "I11.0", CLASSIFIED, True),
    (9, ICD10CM_MAP, 1, 1, "TRUE", "ALWAYS E11.9", "E11.9", CLASSIFIED, True),
    (10, ICD10CM_MAP, 1, 1, "TRUE", "ALWAYS E10.9", "E10.9", CLASSIFIED, True),
    (10, ICD10CM_MAP, 1, 2, "TRUE", "ALWAYS E10.8", "E10.8", CLASSIFIED, False),  # inactive row
    (11, ICD10CM_MAP, 1, 1, "TRUE", "ALWAYS E11.9", "E11.9", CLASSIFIED, True),
    (12, ICD10CM_MAP, 1, 1, "TRUE", "ALWAYS E11.21", "e1121", CLASSIFIED, True),  # undotted, lower case
    (13, ICD10CM_MAP, 1, 1, "TRUE", "ALWAYS N28.9", "N28.9", CLASSIFIED, True),
    (14, ICD10CM_MAP, 1, 1, "TRUE", "ALWAYS J98.9", "J98.9", CLASSIFIED, True),
    (15, ICD10CM_MAP, 1, 1, "TRUE", "ALWAYS J45.909", "J45.909", CLASSIFIED, True),
    # priority 2 written before priority 1
    (16, ICD10CM_MAP, 1, 2, "OTHERWISE TRUE", "ALWAYS J18.9", "J18.9", CLASSIFIED, True),
    (16, ICD10CM_MAP, 1, 1, "IFA synthetic pneumococcal context", "IF SYNTHETIC CONTEXT CHOOSE J13", "J13", CONTEXT_DEPENDENT, True),
    (17, ICD10CM_MAP, 1, 1, "TRUE", "ALWAYS J44.9", "J44.9", CLASSIFIED, True),
    (18, ICD10CM_MAP, 1, 1, "TRUE", "ALWAYS R06.00", "R06.00", CLASSIFIED, True),
    (18, ICD10_MAP, 1, 1, "TRUE", "ALWAYS R06.0", "R06.0", CLASSIFIED, True),  # WHO ICD-10 map: ignored
    (19, ICD10CM_MAP, 1, 1, "TRUE", "ALWAYS R07.9", "R07.9", CLASSIFIED, True),
    (20, ICD10CM_MAP, 1, 1, "TRUE", "ALWAYS R50.9", "R50.9", CLASSIFIED, True),
    (21, ICD10CM_MAP, 1, 1, "TRUE", "ALWAYS R05.9", "R05.9", CLASSIFIED, True),
    (23, ICD10CM_MAP, 1, 1, "TRUE", "ALWAYS R06.2", "R06.2", CLASSIFIED, True),
    (24, ICD10CM_MAP, 1, 1, "TRUE", "ALWAYS E11.9", "E11.9", CLASSIFIED, True),  # inactive concept
]


def write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join(r) for r in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))


def main() -> None:
    cid = {k: sctid(8800000 + k, "00") for k in CONCEPTS}
    concepts, descriptions, language, relationships = [], [], [], []
    d_item, r_item = 8810000, 8820000
    for k, (fsn, active, terms, parents) in CONCEPTS.items():
        concepts.append([cid[k], NOW if active else OLD, "1" if active else "0", CORE, PRIMITIVE])
        entries = [(fsn, FSN, PREF, PREF, True)] + [(t, SYN, us, gb, a) for t, us, gb, a in terms]
        for term, type_id, us, gb, d_active in entries:
            d_item += 1
            did = sctid(d_item, "01")
            descriptions.append(
                [did, NOW if d_active else OLD, "1" if d_active else "0", CORE, cid[k], "en", type_id, term, CASE_INSENSITIVE]
            )
            for refset, acc in ((US, us), (GB, gb)):
                if acc is None:
                    continue
                row_active = not acc.startswith("inactive-")
                language.append(
                    [rid(refset, did), NOW if row_active else OLD, "1" if row_active else "0",
                     CORE if refset == GB else US_MODULE, refset, did, acc.removeprefix("inactive-")]
                )
        rel_parents = [(p, active) for p in parents]
        if k == 11:
            rel_parents.append((8, False))  # an IS-A that was retired
        for p, rel_active in rel_parents:
            r_item += 1
            relationships.append(
                [sctid(r_item, "02"), NOW if rel_active else OLD, "1" if rel_active else "0", CORE,
                 cid[k], cid[p], "0", IS_A, INFERRED, EXISTENTIAL]
            )
    r_item += 1  # an attribute relationship (not IS-A): asthma -> finding site -> lung structure
    relationships.append(
        [sctid(r_item, "02"), NOW, "1", CORE, cid[15], cid[22], "1", FINDING_SITE, INFERRED, EXISTENTIAL]
    )
    maps = []
    for k, refset, group, priority, rule, advice, target, category, active in MAPS:
        maps.append(
            [rid("map", refset, cid[k], str(group), str(priority)), NOW, "1" if active else "0",
             US_MAP_MODULE if refset == ICD10CM_MAP else "449080006", refset, cid[k], str(group), str(priority),
             rule, advice, target, CORRELATION, category]
        )
    term_dir, refset_dir = ROOT / "Terminology", ROOT / "Refset"
    write(term_dir / f"sct2_Concept_Snapshot_{TAG}.txt",
          ["id", "effectiveTime", "active", "moduleId", "definitionStatusId"], concepts)
    write(term_dir / f"sct2_Description_Snapshot-en_{TAG}.txt",
          ["id", "effectiveTime", "active", "moduleId", "conceptId", "languageCode", "typeId", "term",
           "caseSignificanceId"], descriptions)
    write(term_dir / f"sct2_Relationship_Snapshot_{TAG}.txt",
          ["id", "effectiveTime", "active", "moduleId", "sourceId", "destinationId", "relationshipGroup", "typeId",
           "characteristicTypeId", "modifierId"], relationships)
    write(refset_dir / "Language" / f"der2_cRefset_LanguageSnapshot-en_{TAG}.txt",
          ["id", "effectiveTime", "active", "moduleId", "refsetId", "referencedComponentId", "acceptabilityId"],
          language)
    write(refset_dir / "Map" / f"der2_iisssccRefset_ExtendedMapSnapshot_{TAG}.txt",
          ["id", "effectiveTime", "active", "moduleId", "refsetId", "referencedComponentId", "mapGroup", "mapPriority",
           "mapRule", "mapAdvice", "mapTarget", "correlationId", "mapCategoryId"], maps)
    for k, (fsn, *_rest) in CONCEPTS.items():
        print(cid[k], fsn)


if __name__ == "__main__":
    main()
