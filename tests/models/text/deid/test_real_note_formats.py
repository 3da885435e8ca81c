"""The detector on the shapes of real ICU notes: capitals, lower case, telegraphic text.

Every case is hand-written in the style of real nursing notes (no real data): each identifier
format the gate must catch, the clinical look-alikes it must leave alone, and the two policy
profiles.
"""

from __future__ import annotations

import pytest

from models.text.deid.analyzer import PhiDetector
from models.text.deid.types import apply_profile

FOUND = [
    # names in capitals and lower case, by title, relation, signature, initial
    ("PT SEEN BY DR. MAHN THIS AM. DR MAHN AWARE OF K 3.2.", "MAHN", "NAME"),
    ("seen by dr. bob culhane, plan discussed with family.", "bob culhane", "NAME"),
    ("social: mrs. marcela carlson called for update.", "marcela carlson", "NAME"),
    ("husband jim at bedside, very supportive.", "jim", "NAME"),
    ("NEURO RESIDENT DR HANLEY-MCCUE IN TO EVALUATE.", "HANLEY-MCCUE", "NAME"),
    ("LIVES W/ DAUGHTER VERONICA WHO IS PROXY.", "VERONICA", "NAME"),
    ("MET W/ CASEWORKER LEONA LABOWICH TODAY.", "LEONA LABOWICH", "NAME"),
    ("ALBUTEROL MDI'S GIVEN.     EDWARD C. JONES, RRT", "EDWARD C. JONES", "NAME"),
    ("CXR DONE MID AM PER B. KARGAS, PT SOMEWHAT WET.", "B. KARGAS", "NAME"),
    ("Signed: Nakamura, Winifred, MD", "Nakamura, Winifred", "NAME"),
    # month/day dates, joined dates, years
    ("PMH: CAD WITH NQWMI 5/13, HTN.", "5/13", "DATE"),
    ("extubated 10/3 at 9:30am, has remained wheezy", "10/3", "DATE"),
    ("HAD TREATMENTS 10/03/10/04 AND DUE FOR XRT AGAIN", "10/03/10/04", "DATE"),
    ("pmh: cad, s/p cabg '95 (lima to lad)", "95", "DATE"),
    ("CVA 74'. CHOLECYSTECTOMY 77'.", "74", "DATE"),
    ("hx of mi in 1984, cabg '92", "1984", "DATE"),
    ("POSSIBLE MI IN 1980S AFTER OPEN CHOLE.", "1980S", "DATE"),
    # ages over 89 in every written form
    ("a 94-year-old retired teacher with chf", "94", "AGE"),
    ("this 98 yo woman was found down", "98", "AGE"),
    ("patient is ninety-four and lives alone", "ninety-four", "AGE"),
    ("aged 94, admitted from home", "94", "AGE"),
    ("94F with urosepsis", "94", "AGE"),
    ("91 y/o M s/p fall", "91", "AGE"),
    # phone numbers with slashes and spaces, pagers
    ("dtr Frances Baker- 212- 476- 8356.", "212- 476- 8356", "PHONE"),
    ("DAUGHTER KRISSY 301 944-5032 & SON", "301 944-5032", "PHONE"),
    ("he can be reached at beeper number 55037 for consents", "55037", "PHONE"),
    ("Pager # 98765  Time: 1:20-1:35pm", "98765", "PHONE"),
    # hospitals, wards, towns
    ("PT TRANSFERRED TO GH FOR CATH.", "GH", "LOCATION"),
    ("transferred from Quartermain 3 today s/p intubation", "Quartermain 3", "LOCATION"),
    ("plan: transfer to quartermain 2 in am.", "quartermain 2", "LOCATION"),
    ("went to harbor hosp with severe abd pain", "harbor hosp", "LOCATION"),
    ("TAKEN TO LAUREL REGIONAL WHERE CK'S POS.", "LAUREL REGIONAL", "LOCATION"),
    ("Per report from Holy Cross Hospital: 83yo male", "Holy Cross Hospital", "LOCATION"),
    ("sister lives in a town named Bend and calls daily", "Bend", "LOCATION"),
    ("DAUGHTER FLYING IN FROM ROME TOMORROW.", "ROME", "LOCATION"),
    ("PATIENT PRESENTED TO U OF MD MED CENTER ON 9/14", "U OF MD MED CENTER", "LOCATION"),
    # employers, schools and clinics in cased notes
    ("He is employed by Lockheed Martin as an engineer.", "Lockheed Martin", "LOCATION"),
    ("Retired teacher from Lincoln Elementary School.", "Lincoln Elementary School", "LOCATION"),
    ("Followed at Riverside Family Clinic for years.", "Riverside Family Clinic", "LOCATION"),
    # names by label, by a relation after them, by how to reach them
    ("Caller: jacqueline orr (daughter) - on HIPAA release", "jacqueline orr", "NAME"),
    ("ask to page Suzette   Hank Przybylo (son) cell# 450-928-6612", "Hank Przybylo", "NAME"),
    ("Israel C. Limón can be reached at 678-823-7256.", "Israel C. Limón", "NAME"),
    ("official health care proxys: suzette and ank", "ank", "NAME"),
    ("MICU ADDENDUM  Sons Smokey, Morris and Roger in to visit.", "Roger", "NAME"),
    ("PT MAY BE W/U BY GBMC FOR POSSIBLE HEART TRANSPLANT.", "GBMC", "LOCATION"),
    ("radiation planning on North Campus followed by treatment", "North Campus", "LOCATION"),
    ("NO LABS PER NP Wolfe. CONSENT IN CHART.", "Wolfe", "NAME"),
    ("PMHX CVA in 94 and 00 affected (R) side.", "00", "DATE"),
]

LEFT_ALONE = [
    "RESP: ON AC 600X12 50% FIO2 PEEP 5. WILL CONTINUE TO WEAN AS TOLERATED.",
    "GU: FOLEY DRAINING 1500CC CLEAR YELLOW URINE. I&O +2L.",
    "SHIFT 11P-7A: PT RESTING WITH EYES CLOSED, AND WITH FAMILY FOR THIS SHIFT.",
    "CAREVUE FLOWSHEET FOR VS. IABP 1:1 WITH GOOD AUGMENTATION. REMAINS NPO.",
    "edema.pl noted, ..lu pt.ma resolved",
    "STRENGTH 5/5 BILAT, PAIN 4/10, 1/2 NS AT 100CC/HR, PSV 10/5 FIO2 40%.",
    "LASIX GIVEN AT 2000 WITH GOOD EFFECT; RECHECK LYTES AT 2030.",
    "cont to monitor, mae, oob to chair x2, afebrile, tol tube feeds.",
    "md will talk with son about placement of chest tube today. met with dtr privately.",
    "SPOKE WITH THE TEAM AND HYDRALAZINE ON HOLD.",
]


@pytest.mark.parametrize(("text", "identifier", "phi_type"), FOUND)
def test_real_note_formats_are_found(phi_detector: PhiDetector, text: str, identifier: str, phi_type: str) -> None:
    start = text.index(identifier)
    spans = phi_detector.detect(text)
    covering = [s for s in spans if s.start <= start and s.end >= start + len(identifier)]
    assert covering, f"{identifier!r} not found in {[(text[s.start:s.end], s.type) for s in spans]}"
    assert covering[0].type == phi_type


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_capitals_doses_times_and_shorthand_are_left_alone(phi_detector: PhiDetector, text: str) -> None:
    assert [(text[s.start : s.end], s.type) for s in phi_detector.detect(text)] == []


@pytest.mark.parametrize("case", [str.upper, str.lower])
def test_the_same_note_in_capitals_or_lower_case_loses_the_same_identifiers(phi_detector: PhiDetector, case) -> None:
    note = (
        "social: husband jim at bedside. seen by dr. culhane. transferred to gh 8/23 from quartermain 2. "
        "cva '92. dtr suzette cell 410-322-1419."
    )
    text = case(note)
    found = {text[s.start : s.end].lower() for s in phi_detector.detect(text)}
    for identifier in ("jim", "culhane", "gh", "8/23", "quartermain 2", "92", "suzette", "410-322-1419"):
        assert any(identifier in f for f in found), (identifier, sorted(found))
    assert not any(w in found for w in ("social", "husband", "bedside", "transferred", "cell"))


def test_safe_harbor_keeps_clinicians_years_and_hospitals_the_broad_profile_removes(phi_detector: PhiDetector) -> None:
    text = "Seen by Dr. Culhane. Transferred from Harbor Hospital. CABG '92. Son Rob, 410-322-1419, 8/23."
    spans = phi_detector.detect(text)
    broad = {text[s.start : s.end] for s in spans}
    safe = {text[s.start : s.end] for s in apply_profile(spans, "safe-harbor")}
    assert {"Culhane", "92", "410-322-1419", "8/23"} <= broad and any("Harbor" in b for b in broad)
    assert "Culhane" not in safe and "92" not in safe and not any("Harbor" in s for s in safe)
    assert {"Rob", "410-322-1419", "8/23"} <= safe


def test_the_profile_is_part_of_the_detector_version() -> None:
    assert PhiDetector(profile="broad").version != PhiDetector(profile="safe-harbor").version
    with pytest.raises(ValueError, match="unknown de-identification profile"):
        PhiDetector(profile="loose")
