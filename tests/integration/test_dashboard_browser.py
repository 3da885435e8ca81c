"""The quality dashboard, as an engineer sees it: headless Chromium on the real API's ``/dashboard``.

A SQLite store is seeded through the store API only (tasks, predictions, pushes, two annotators
with one planted disagreement, a gold answer, two promoted model versions, an adjudication);
the API runs in a child process (no Label Studio needed). The test opens the page through the
browser's password prompt (HTTP Basic, the engineer token) and checks what the browser rendered against figures worked out by hand from
the seed: bars, points, table rows, non-empty chart boxes; every request to another host is
aborted (and none may be made). Without the token the page answers 401.

A full-page screenshot is always written to ``$CLINILOOP_TEST_ARTIFACTS/dashboard.png``
(default ``var/test-artifacts/dashboard.png``), pass or fail.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cliniloop.services.core.schemas import AnnotationIn, PredictionIn, TaskIn, TextSpan
from cliniloop.services.core.store import Store
from tests.integration.test_browser_labeling import CHROMIUM_ARGS, TIMEOUT_MS, chromium_path, local_context

pytestmark = [pytest.mark.integration, pytest.mark.browser]

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CLINILOOP_TEST_ARTIFACTS", REPO_ROOT / "var" / "test-artifacts"))

TOKENS = {
    "engineer": "dash-engineer-token-0123456789ab",  # 32 characters each
    "admin": "dash-admin-token-0123456789abcde",
    "annotator": "dash-annotator-token-0123456789a",
}
WEBHOOK_SECRET = "dash-webhook-secret-0123456789ab"
LOW_AGREEMENT = 0.7  # CLINILOOP_LOW_AGREEMENT_THRESHOLD
GOLD_TARGET = 0.9  # CLINILOOP_GOLD_TARGET
NER = "clinical-ner"
PROJECT = "http://ls/projects/1"

DISPUTED = "Patient denies chest pain. Takes aspirin daily."
GOLD = "History of asthma; takes albuterol at night."
AGREED = "Reports headache; started ibuprofen."
TEXTS = {"t1": DISPUTED, "t2": GOLD, "t3": AGREED, "t4": "Follow-up visit, no complaints.", "t5": "Routine check."}


def span(text: str, word: str, label: str, assertion: str = "present") -> TextSpan:
    start = text.index(word)
    return TextSpan(start=start, end=start + len(word), text=word, label=label, attributes={"assertion": assertion})


def seed(store: Store) -> None:
    """Five text tasks; four predicted and sent; three labelled by alice and bob; t2 is a gold check.

    - t1 (disputed): suggested [chest pain Problem absent, aspirin Medication]; alice keeps both,
      bob marks chest pain *present* and drops aspirin -> agreement 0 -> an open adjudication.
    - t2 (gold): known answer = suggestion = [asthma Problem, albuterol Medication]; alice gives
      it, bob labels asthma a Medication.
    - t3: suggested [headache Problem, ibuprofen Medication]; both keep it.
    """
    from cliniloop.services.quality.adjudication import detect_disagreements

    store.add_tasks([TaskIn(id=tid, modality="text", source_uri=f"mem://{tid}", data={"text": t}) for tid, t in TEXTS.items()])
    suggested = {
        "t1": [span(DISPUTED, "chest pain", "Problem", "absent"), span(DISPUTED, "aspirin", "Medication")],
        "t2": [span(GOLD, "asthma", "Problem"), span(GOLD, "albuterol", "Medication")],
        "t3": [span(AGREED, "headache", "Problem"), span(AGREED, "ibuprofen", "Medication")],
        "t4": [span(TEXTS["t4"], "visit", "Problem")],
    }
    store.add_predictions([
        PredictionIn(task_id=tid, model_name="clinical-text", model_version="m1", taxonomy_version="t1",
                     regions=regions, score=0.6, uncertainty=0.4)
        for tid, regions in suggested.items()
    ])  # fmt: skip
    store.record_pushes(PROJECT, {"t1": 11, "t2": 12, "t3": 13, "t4": 14}, "m1")
    labels = {
        ("t1", "alice"): suggested["t1"],
        ("t1", "bob"): [span(DISPUTED, "chest pain", "Problem", "present")],
        ("t2", "alice"): suggested["t2"],
        ("t2", "bob"): [span(GOLD, "asthma", "Medication"), span(GOLD, "albuterol", "Medication")],
        ("t3", "alice"): suggested["t3"],
        ("t3", "bob"): suggested["t3"],
    }
    for n, ((tid, who), regions) in enumerate(labels.items(), start=1):
        store.upsert_annotation(AnnotationIn(task_id=tid, source_annotation_id=f"1:{10 + n}", annotator=who,
                                             regions=regions, model_version="m1"))  # fmt: skip
    store.set_gold_answer("t2", [r.model_dump(mode="json") for r in suggested["t2"]], "test", "tester")
    store.register_model_version(NER, "v1", metrics={"f1": 0.5}, label_count=10)
    store.register_model_version(NER, "v2", metrics={"f1": 0.7}, label_count=20)
    store.promote(NER, "v1")
    store.promote(NER, "v2")
    detect_disagreements(store, threshold=0.8)


# What the seed gives, by hand (pooled over the one pair alice | bob, tasks t1-t3):
# - queue: 5 tasks, 4 predicted, 4 pushed, 3 annotated, 3 by two annotators, 1 adjudication open
#   (t1; t2 is gold, never adjudicated; t3 agrees), 0 resolved, 1 gold task.
# - span F1 exact = overlap (no partial overlaps), F1 = 2 * matched / (alice's + bob's spans):
#   Problem: matched chest pain, headache (asthma differs in label) -> 2*2/(3+2) = 0.8;
#   Medication: matched albuterol, ibuprofen -> 2*2/(3+3) = 0.667 (low, < 0.7);
#   all labels: 2*4/(6+5) = 0.727.
# - assertion kappa over exact matches: Problem (absent|present, present|present) -> p_o 0.5,
#   p_e 0.5 -> 0.0 (low); Medication: all "present" -> 1.0; all labels: p_o 0.75, p_e 0.75 -> 0.0 (low).
#   -> 9 agreement rows, all with a value: 9 bars, 4 of them low.
# - gold (t2): alice = the answer -> 1.0; bob: 1 of 2 spans right -> 2*1/(2+2) = 0.5 (below 0.9).
# - suggestions m1 (6 annotations): accepted 2+0 (t1) + 2+1 (t2) + 2+2 (t3) = 9; edited: bob's
#   chest pain (assertion) and asthma (label) = 2; deleted: bob's aspirin = 1; missed 0;
#   4 annotations unchanged; 12 suggested (< 20: no flags).
# - learning curve of clinical-ner: (v1, 10 labels, f1 0.5), (v2, 20 labels, f1 0.7).
AGREEMENT = {
    ("all", "span_f1_exact"): 8 / 11, ("Medication", "span_f1_exact"): 2 / 3, ("Problem", "span_f1_exact"): 0.8,
    ("all", "span_f1_overlap"): 8 / 11, ("Medication", "span_f1_overlap"): 2 / 3, ("Problem", "span_f1_overlap"): 0.8,
    ("all", "assertion_kappa"): 0.0, ("Medication", "assertion_kappa"): 1.0, ("Problem", "assertion_kappa"): 0.0,
}  # fmt: skip
QUEUE = {"Tasks": 5, "Predicted": 4, "Sent to Label Studio": 4, "Annotated": 3, "Two or more annotators": 3,
         "Adjudications open": 1, "Adjudications resolved": 0, "Gold checks": 1}  # fmt: skip
SUGGESTIONS = {"accepted": 9, "edited": 2, "deleted": 1}  # missed 0: no segment


def _api_env(tmp_path: Path, url: str) -> dict[str, str]:
    return {
        "CLINILOOP_DATABASE_URL": url,
        "CLINILOOP_VAR_DIR": str(tmp_path / "var"),
        "CLINILOOP_JOB_WORKER": "false",
        "CLINILOOP_API_ENGINEER_TOKEN": TOKENS["engineer"],
        "CLINILOOP_API_ADMIN_TOKEN": TOKENS["admin"],
        "CLINILOOP_API_ANNOTATOR_TOKEN": TOKENS["annotator"],
        "CLINILOOP_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "CLINILOOP_LOW_AGREEMENT_THRESHOLD": str(LOW_AGREEMENT),
        "CLINILOOP_GOLD_TARGET": str(GOLD_TARGET),
    }


def _attrs(locator: Any, *names: str) -> list[tuple[str | None, ...]]:
    """The given attributes of every element of ``locator``."""
    return [tuple(el.get_attribute(n) for n in names) for el in locator.all()]


def _check_page(page: Any) -> None:
    """What the dashboard must show for the seed (see the figures above)."""
    text = page.locator('section.project[data-modality="text"]')
    assert text.count() == 1, "one project section: text"
    assert page.locator("section.project").count() == 1
    queue = {r.locator("td").nth(0).inner_text(): int(r.locator("td").nth(1).inner_text()) for r in text.locator("table.queue tbody tr").all()}
    assert queue == QUEUE, f"queue table {queue}"
    fills = {m: (int(c), int(t)) for m, c, t in _attrs(page.locator('[data-chart="progress-text"] rect.fill'), "data-measure", "data-count", "data-total")}  # type: ignore[arg-type]
    assert fills == {"predicted": (4, 5), "pushed": (4, 5), "annotated": (3, 5)}, f"progress bars {fills}"

    bars = page.locator('[data-chart="agreement-text"] rect.bar')
    drawn = {(lab, mea): float(v) for lab, mea, v in _attrs(bars, "data-label", "data-measure", "data-value")}  # type: ignore[arg-type]
    assert drawn.keys() == AGREEMENT.keys(), f"agreement bars {sorted(drawn)}"
    for key, value in AGREEMENT.items():
        assert drawn[key] == pytest.approx(value, abs=1e-4), f"agreement {key}: {drawn[key]} != {value}"
    low = {(lab, mea) for lab, mea in _attrs(page.locator('[data-chart="agreement-text"] rect.bar.low'), "data-label", "data-measure")}
    assert low == {k for k, v in AGREEMENT.items() if v < LOW_AGREEMENT}, f"low bars {low}"
    assert {"Problem", "Medication"} <= {lab for lab, _ in drawn}, "a bar for each labelled entity label"
    assert text.locator("table.agreement tbody tr").count() == len(AGREEMENT)
    assert text.locator("ul.low-labels li").count() == 4
    assert page.locator('[data-chart="agreement-text"] g.reference').get_attribute("data-value") == str(LOW_AGREEMENT)

    gold = page.locator('[data-chart="gold-accuracy"] rect.bar')
    assert {a: float(v) for a, v in _attrs(gold, "data-annotator", "data-value")} == {"alice": 1.0, "bob": 0.5}  # type: ignore[arg-type]
    assert _attrs(page.locator('[data-chart="gold-accuracy"] rect.bar.low'), "data-annotator") == [("bob",)]
    assert page.locator('[data-chart="gold-accuracy"] g.reference').get_attribute("data-value") == str(GOLD_TARGET)
    rows = [r.locator("td").nth(0).inner_text() for r in page.locator("table.gold tbody tr").all()]
    assert rows == ["alice", "bob"], f"gold table {rows}"

    versions = page.locator('[data-chart="suggestions"] g.version')
    assert _attrs(versions, "data-version") == [("m1",)]
    segs = {str(c).split()[1]: int(n) for c, n in _attrs(versions.first.locator("rect.seg"), "class", "data-count")}  # type: ignore[arg-type]
    assert segs == SUGGESTIONS, f"suggestion segments {segs}"
    cells = [c.inner_text() for c in page.locator("table.suggestions tbody tr").first.locator("td").all()]
    assert cells[:9] == ["m1", "6", "4", "9", "2", "1", "0", "12", "75%"], f"suggestions table {cells}"

    curve = page.locator(f'[data-chart="learning-curve-{NER}"]')
    points = [(v, int(n), float(x)) for v, n, x in _attrs(curve.locator("circle.point"), "data-version", "data-labels", "data-value")]  # type: ignore[arg-type]
    assert points == [("v1", 10, 0.5), ("v2", 20, 0.7)], f"learning curve points {points}"
    assert curve.locator("polyline").count() == 1
    axis_text = " ".join(curve.locator("text").all_text_contents())
    assert "labels" in axis_text and "f1" in axis_text, "both axes are labelled"

    audit = page.locator("table.audit tbody tr")
    assert audit.count() >= 3, "promote v1, promote v2, adjudication_opened"
    actions = {r.locator("td").nth(2).inner_text() for r in audit.all()}
    assert {"promote", "adjudication_opened"} <= actions, f"audit actions {actions}"

    for svg in page.locator("svg.chart").all():
        box = svg.bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0, f"{svg.get_attribute('data-chart')} has an empty box {box}"
        assert svg.locator("title").count() >= 1, f"{svg.get_attribute('data-chart')} has no <title>"
    assert page.locator("svg.chart").count() == 5  # progress, agreement, gold, suggestions, one curve
    assert page.locator("script").count() == 0


def test_dashboard_renders_the_stores_figures(tmp_path: Path) -> None:
    chromium = chromium_path()
    from playwright.sync_api import sync_playwright

    from cliniloop.services.api.server import ApiServer

    url = f"sqlite:///{tmp_path / 'cliniloop.sqlite3'}"
    store = Store(url)
    store.migrate()
    seed(store)
    store.close()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "dashboard.png"
    screenshot.unlink(missing_ok=True)
    blocked: list[str] = []
    t0 = time.monotonic()
    with ApiServer(_api_env(tmp_path, url), tmp_path / "api.log") as api:
        base = api.url
        resp = httpx.get(f"{base}/dashboard", timeout=30.0)
        assert resp.status_code == 401, f"/dashboard without a token answered {resp.status_code}"

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True, timeout=TIMEOUT_MS)
            try:
                # the password prompt, answered as a person does (any user name, the engineer token): Chromium
                # sends Basic credentials only after a Basic challenge it understands (issue 23)
                context = local_context(browser, base, blocked, http_credentials={"username": "engineer", "password": TOKENS["engineer"]})
                page = context.new_page()
                try:
                    answer = page.goto(f"{base}/dashboard")
                    assert answer is not None and answer.status == 200, f"/dashboard answered {answer and answer.status}"
                    assert "text/html" in (answer.headers.get("content-type") or "")
                    page.wait_for_load_state("load")
                    _check_page(page)
                finally:
                    page.screenshot(path=str(screenshot), full_page=True)
            finally:
                browser.close()

    print(f"dashboard screenshot: {screenshot} ({time.monotonic() - t0:.1f} s with the API and browser)")
    assert not blocked, f"the page asked another host for {blocked}"
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000, f"screenshot {screenshot} missing or tiny"
