"""The detector on the shapes of real ICU notes: capitals, lower case, telegraphic text.

Every case is hand-written in the style of real nursing notes (no real data): each identifier
format the gate must catch, the clinical look-alikes it must leave alone, and the two policy
profiles.
"""

from __future__ import annotations

import pytest

from cliniloop.models.text.deid.analyzer import PhiDetector
from cliniloop.models.text.deid.types import apply_profile

FOUND = [
    # names in capitals and lower case, by title, relation, signature, initial
    ("PT EXAMINED BY DR. VOSKUIL EARLY. DR VOSKUIL AWARE OF K 3.1.", "VOSKUIL", "NAME"),
    ("evaluated by dr. bob tremont, plan reviewed with family.", "bob tremont", "NAME"),
    ("family: mrs. marisol quennell phoned for news.", "marisol quennell", "NAME"),
    ("husband walt at bedside all evening.", "walt", "NAME"),
    ("NEURO FELLOW DR HOLLIS-MCVEY HERE TO EXAMINE.", "HOLLIS-MCVEY", "NAME"),
    ("STAYS WITH DAUGHTER ROSALIND, HER PROXY.", "ROSALIND", "NAME"),
    ("SEEN BY CASEWORKER NORINE VASHCHUK THIS PM.", "NORINE VASHCHUK", "NAME"),
    ("NEBS GIVEN Q4.     GORDON T. PELLMAN, RRT", "GORDON T. PELLMAN", "NAME"),
    ("FILM READ LATE AM PER D. ZOLTEVIC, LUNGS CLEARER.", "D. ZOLTEVIC", "NAME"),
    ("Signed: Nakamura, Winifred, MD", "Nakamura, Winifred", "NAME"),
    # month/day dates, joined dates, years
    ("PMH: CHF, NSTEMI 6/17, DM2.", "6/17", "DATE"),
    ("weaned off vent 11/4 at 10am, stable since", "11/4", "DATE"),
    ("RECEIVED CHEMO 11/05/11/06, NEXT CYCLE PENDING", "11/05/11/06", "DATE"),
    ("pmh: htn, s/p appy '88, gerd", "88", "DATE"),
    ("TIA 81'. HERNIA REPAIR 79'.", "81", "DATE"),
    ("hx of pe in 1987, stent '99", "1987", "DATE"),
    ("ASTHMA SINCE THE 1970S PER WIFE.", "1970S", "DATE"),
    # ages over 89 in every written form
    ("a 94-year-old retired teacher with chf", "94", "AGE"),
    ("this 98 yo woman was found down", "98", "AGE"),
    ("patient is ninety-four and lives alone", "ninety-four", "AGE"),
    ("aged 94, admitted from home", "94", "AGE"),
    ("94F with urosepsis", "94", "AGE"),
    ("91 y/o M s/p fall", "91", "AGE"),
    # phone numbers with slashes and spaces, pagers
    ("niece Odette Brannock- 617- 555- 0192.", "617- 555- 0192", "PHONE"),
    ("SISTER MAEVE 617 555-0147 & BROTHER", "617 555-0147", "PHONE"),
    ("she can be reached at beeper number 41822 for questions", "41822", "PHONE"),
    ("Pager # 30417  Seen: 2:10-2:40pm", "30417", "PHONE"),
    # hospitals, wards, towns
    ("PT TRANSFERRED TO NWH FOR ANGIO.", "NWH", "LOCATION"),
    ("transferred from Brindlecote 4 today after rapid response", "Brindlecote 4", "LOCATION"),
    ("plan: transfer to brindlecote 5 tomorrow.", "brindlecote 5", "LOCATION"),
    ("went to lakeview hosp with chest pressure", "lakeview hosp", "LOCATION"),
    ("BROUGHT TO ASHGROVE REGIONAL WHERE TROP POS.", "ASHGROVE REGIONAL", "LOCATION"),
    ("Per report from Good Shepherd Hospital: 79yo female", "Good Shepherd Hospital", "LOCATION"),
    ("sister lives in a town named Bend and calls daily", "Bend", "LOCATION"),
    ("SON DRIVING IN FROM TOLEDO TONIGHT.", "TOLEDO", "LOCATION"),
    ("PATIENT SEEN AT U OF VA MED CENTER ON 7/21", "U OF VA MED CENTER", "LOCATION"),
    # employers, schools and clinics in cased notes
    ("He is employed by Lockheed Martin as an engineer.", "Lockheed Martin", "LOCATION"),
    ("Retired teacher from Lincoln Elementary School.", "Lincoln Elementary School", "LOCATION"),
    ("Followed at Riverside Family Clinic for years.", "Riverside Family Clinic", "LOCATION"),
    # names by label, by a relation after them, by how to reach them
    ("Caller: jacqueline orr (daughter) - on HIPAA release", "jacqueline orr", "NAME"),
    ("please page Dorinda   Hal Wojtaszek (son) cell# 617-555-0163", "Hal Wojtaszek", "NAME"),
    ("Israel C. Limón can be reached at 678-823-7256.", "Israel C. Limón", "NAME"),
    ("health care proxies: dorinda and osk", "osk", "NAME"),
    ("CCU NOTE  Daughters Lorna, Bettina and Rosalind in to visit.", "Rosalind", "NAME"),
    ("PT TO BE EVALUATED BY SRMC FOR VAD WORKUP.", "SRMC", "LOCATION"),
    ("simulation scheduled on East Campus before therapy", "East Campus", "LOCATION"),
    ("NO CHANGES PER NP Halvorsen. FAMILY UPDATED.", "Halvorsen", "NAME"),
    ("PMHX TIA in 97 and 03, no residual deficit.", "03", "DATE"),
    # short forms of first names, names before "aware" and joined to a titled name, appositives
    ("TEMP 101.2, NP BABS AWARE. CULTURES SENT.", "BABS", "NAME"),
    ("RUN OF VENT TRIGEMINY FAY BRANE AWARE, MAG GIVEN.", "FAY BRANE", "NAME"),
    ("K REPLETED. IVY DORNE AND DRS ALDEN AND PRUSKI AWARE.", "IVY DORNE", "NAME"),
    ("Family: Brother, Ed, called for an update.", "Ed", "NAME"),
    ("Sister and lawyer (Cissy Quillfeather) aware of the plan.", "Cissy Quillfeather", "NAME"),
    ("chaplain visited; contact made with curtis rowe of ethics dept.", "curtis rowe", "NAME"),
    # dates: a bare two-digit year after an event, a day-range start, equal month/day after a cue
    ("PMH: CAD: NQWMI 07. HTN.", "07", "DATE"),
    ("nursing progress note   3->4 dec, 98  1900-0700", "3", "DATE"),
    ("HCT 27 POST 2/2 TRANSFUSION.", "2/2", "DATE"),
    # hospitals by acronym, big cities written with a capital in a lower-case note
    ('S: "I know I am in KMH and it is winter."', "KMH", "LOCATION"),
    ("neuro: no seizures, Pittsburgh to call back about transfer.", "Pittsburgh", "LOCATION"),
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
    "np will meet with son about the drain this afternoon. sat with dtr for a while.",
    "TALKED WITH THE TEAM AND LABETALOL ON HOLD.",
    # pain scores and ventilator settings are no dates; vent models and charted times are no ids
    "Pt c/o chest pressure 6/10, relieved with NTG. Later CP 3/10.",
    "back discomfort #4/10 at 2200. chest pain (7/10) with nausea.",
    "On bi-pap 10/5, then CPAP .4%, 5/10. IMV 700x10, 50% 8/5. Trialed on 5/5, tolerated well.",
    "MECH VENTED VIA PB7200 VENT, CPAP 5. ****0500-L NECK DSG CHANGED.",
    "order to transfuse 2 additional UPRBC; transfuse 1PRBC when ready from BB.",
    "Amiodarone added, 400 TID. Pt in controlled AF. sats 96% 2l NC. Pt denies SOB.",
    "SINUS BRADY OCCAS PAC. HEMODY STABLE. NEURO: A&O, PLEASANT, MAE.",
    "Glasgow Coma Scale 14; Glasgow-Blatchford score 8.",
    "HPI: PT IN USOH UNTIL YESTERDAY. OOB TO CH WITH PT.",
    "addendum: d/ced fentynal, vent weaned to cpap.",
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
        "family: husband walt at bedside. seen by dr. tremont. transferred to nwh 6/17 from brindlecote 4. "
        "tia '91. dtr dorinda cell 617-555-0188."
    )
    text = case(note)
    found = {text[s.start : s.end].lower() for s in phi_detector.detect(text)}
    for identifier in ("walt", "tremont", "nwh", "6/17", "brindlecote 4", "91", "dorinda", "617-555-0188"):
        assert any(identifier in f for f in found), (identifier, sorted(found))
    assert not any(w in found for w in ("family", "husband", "bedside", "transferred", "cell"))


def test_safe_harbor_keeps_clinicians_years_and_hospitals_the_broad_profile_removes(phi_detector: PhiDetector) -> None:
    text = "Seen by Dr. Tremont. Transferred from Lakeview Hospital. CABG '91. Son Rob, 617-555-0188, 6/17."
    spans = phi_detector.detect(text)
    broad = {text[s.start : s.end] for s in spans}
    safe = {text[s.start : s.end] for s in apply_profile(spans, "safe-harbor")}
    assert {"Tremont", "91", "617-555-0188", "6/17"} <= broad and any("Lakeview" in b for b in broad)
    assert "Tremont" not in safe and "91" not in safe and not any("Lakeview" in s for s in safe)
    assert {"Rob", "617-555-0188", "6/17"} <= safe


def test_the_profile_is_part_of_the_detector_version() -> None:
    assert PhiDetector(profile="broad").version != PhiDetector(profile="safe-harbor").version
    with pytest.raises(ValueError, match="unknown de-identification profile"):
        PhiDetector(profile="loose")
