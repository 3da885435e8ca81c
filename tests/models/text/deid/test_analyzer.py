"""The identifier detector on hand-written notes: every identifier kind, and clinical look-alikes left alone."""

from __future__ import annotations

import pytest

from cliniloop.models.text.deid.analyzer import merge_spans
from cliniloop.models.text.deid.types import PhiSpan

CASES = [
    ("Seen by Dr. Alice Wong in clinic.", "Alice Wong", "NAME"),
    ("Patient: SMITH, JOHN A   MRN: 00123456", "SMITH, JOHN A", "NAME"),
    ("Electronically signed by Priya Raman, MD", "Priya Raman", "NAME"),
    ("report called to RN oliver at 14:00", "oliver", "NAME"),
    ("DOB: 03/04/1931", "03/04/1931", "DATE"),
    ("Admitted 4 March 2021 for pneumonia.", "4 March 2021", "DATE"),
    ("Discharged on March 4, 2021.", "March 4, 2021", "DATE"),
    ("Echo done 2021-03-04.", "2021-03-04", "DATE"),
    ("Follow-up appt 05/14 in clinic.", "05/14", "DATE"),
    ("A 92-year-old man with CHF.", "92", "AGE"),
    ("FH: Mother died at 97 (stroke).", "97", "AGE"),
    ("Lives at 12 Elm Street, Apt 4B, Springfield, MA 01103.", "12 Elm Street, Apt 4B", "LOCATION"),
    ("Lives at 12 Elm Street, Apt 4B, Springfield, MA 01103.", "Springfield", "LOCATION"),
    ("Lives at 12 Elm Street, Apt 4B, Springfield, MA 01103.", "01103", "LOCATION"),
    ("Call (617) 555-0134 with questions.", "(617) 555-0134", "PHONE"),
    ("Phone: 617-555-0134   Fax: 617.555.0199", "617.555.0199", "FAX"),
    ("Results faxed to Dr Barnett at 770 896 9663.", "770 896 9663", "FAX"),
    ("E-mail jsmith@gmail.com today.", "jsmith@gmail.com", "EMAIL"),
    ("SSN 123-45-6789 on file.", "123-45-6789", "SSN"),
    ("SSN (last 4): 6789 verified.", "6789", "SSN"),
    ("Acct #: 99887766", "99887766", "ACCOUNT"),
    ("Medicare ID 1EG4-TE5-MK73 on file.", "1EG4-TE5-MK73", "HEALTH_PLAN"),
    ("DEA # AB1234563, NPI 1234567890.", "AB1234563", "LICENSE"),
    ("Pacemaker serial number PJN123456H checked.", "PJN123456H", "DEVICE_ID"),
    ("Dexcom transmitter ID 8GYYAB; sensor changed.", "8GYYAB", "DEVICE_ID"),
    ("He drives a Camry (plate JKR L86).", "JKR L86", "VEHICLE_ID"),
    ("VIN 1HGCM82633A004352 recorded.", "1HGCM82633A004352", "VEHICLE_ID"),
    ("Portal: https://mychart.example.org/x?id=7", "https://mychart.example.org/x?id=7", "URL"),
    ("Login from 172.16.254.1 noted.", "172.16.254.1", "IP_ADDRESS"),
]

NOT_PHI = [
    "BP 120/80, HR 72, pain 5/10, 2/6 systolic murmur.",
    "Take 1/2 tab metoprolol 25 mg bid; Na 138, HbA1c 7.2%.",
    "Parkinson disease, Foley catheter, Glasgow Coma Scale 15, Hodgkin lymphoma.",
    "Bell's palsy improving; Crohn's disease in remission.",
    "A 67-year-old woman; smoked for 20 years; EF 55-60%.",
    "Fever over 101 F at home; temp 38.4 C.",
    "Influenza vaccine given (lot UJ482AC); model W1DR01 pacemaker.",
    "Lab reference range 70-99 mg/dL; Hemoglobin 12.0-16.0 g/dL.",
    "Call 911 for chest pain.",
    "Room 412, bed 2. ICD-10 I10. Glucose 142.",
]


@pytest.mark.parametrize(("text", "identifier", "phi_type"), CASES)
def test_each_identifier_kind_is_found_with_its_type(phi_detector, text: str, identifier: str, phi_type: str) -> None:
    start = text.index(identifier)
    spans = phi_detector.detect(text)
    covering = [s for s in spans if s.start <= start and s.end >= start + len(identifier)]
    assert covering, f"{identifier!r} not found in {[(text[s.start:s.end], s.type) for s in spans]}"
    assert covering[0].type == phi_type


@pytest.mark.parametrize("text", NOT_PHI)
def test_clinical_look_alikes_are_left_alone(phi_detector, text: str) -> None:
    assert [(text[s.start : s.end], s.type) for s in phi_detector.detect(text)] == []


def test_a_name_found_once_is_found_everywhere_in_the_note(phi_detector) -> None:
    text = "Patient: Okafor, Chidi   DOB 1/2/1950\nChidi reports less pain. OKAFOR agrees with the plan."
    found = [text[s.start : s.end] for s in phi_detector.detect(text) if s.type == "NAME"]
    assert found == ["Okafor, Chidi", "Chidi", "OKAFOR"]


def test_titles_and_credentials_stay_outside_name_spans(phi_detector) -> None:
    text = "Discussed with Dr. Mbeki and Anna Lund, RN."
    assert [text[s.start : s.end] for s in phi_detector.detect(text)] == ["Mbeki", "Anna Lund"]


def test_spans_are_sorted_and_disjoint_and_version_is_stable(phi_detector) -> None:
    text = "John Smith (MRN 1234567) seen 03/04/2021 by Dr. Jane Doe; call 617-555-0134."
    spans = phi_detector.detect(text)
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))
    assert phi_detector.version.startswith("deid-") and phi_detector.version == phi_detector.version


def test_merge_spans_takes_the_union_typed_by_the_strongest() -> None:
    merged = merge_spans([PhiSpan(0, 5, "NAME", 0.6), PhiSpan(3, 9, "LOCATION", 0.9), PhiSpan(12, 14, "AGE", 0.8)])
    assert merged == [PhiSpan(0, 9, "LOCATION", 0.9), PhiSpan(12, 14, "AGE", 0.8)]


def test_empty_text_has_no_identifiers(phi_detector) -> None:
    assert phi_detector.detect("   \n") == []


def test_word_lists_keep_yaml_booleans_as_words() -> None:
    # YAML 1.1 reads a bare on / no / yes as a boolean: the word lists must keep them as words
    from cliniloop.models.text.deid.lexicon import context_words

    words = context_words()
    assert "on" in words["facility_generic"] and "no" in words["not_names"] and "true" not in words["not_names"]
