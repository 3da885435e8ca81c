"""Our predicted spans, as an annotator sees them: headless Chromium on Label Studio's labeling page.

One project with our clinical-text label config, one task with a prediction built by our own
converter (spans labelled with their entity and, when not present, their assertion mark). The test logs in through
the login form, opens the task and checks what the browser really rendered:

* each predicted span is a highlighted region (``span.htx-highlight``) over exactly our
  characters (``data-start``/``data-end``) with our label (``data-label="<n>:<label>"``);
* the regions list (outliner) shows each label with its text;
* each span's assertion is drawn on it (absent struck through); selecting a span and clicking a mark
  above the note changes it (``Medication,possible``, wavy underline) and clicking it again clears it;
* the prediction tab carries our ``model_version`` and task score.

Chromium is Debian's ``chromium`` package (``make test`` installs it); Playwright only drives
it, no browser is ever downloaded. Every request that does not go to the Label Studio server on
127.0.0.1 is aborted. A screenshot is written to the test's tmp dir, pass or fail.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cliniloop.connectors.label_studio.client import LabelStudioClient
from cliniloop.connectors.label_studio.config import ASSERTION_ATTRIBUTE, text_label_config
from cliniloop.connectors.label_studio.convert import task_payload
from cliniloop.connectors.label_studio.server import LocalLabelStudio
from cliniloop.services.core.schemas import PredictionIn, TextSpan
from cliniloop.taxonomies.label_schemas import load_label_schema

pytestmark = [pytest.mark.integration, pytest.mark.browser]

#: Debian's chromium (``make chromium``); ``CLINILOOP_CHROMIUM`` overrides it.
CHROMIUM_ENV = "CLINILOOP_CHROMIUM"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TIMEOUT_MS = 60_000
#: Short: the prediction tab shows names over ~14 characters cut in the middle ("browser-...odel@1").
MODEL_VERSION = "browser-m1"

TEXT = "Patient denies chest pain but reports shortness of breath; started metformin 500 mg daily."
#: (span text, label, assertion) of the prediction.
SPANS = [
    ("chest pain", "Problem", "absent"),
    ("shortness of breath", "Problem", "present"),
    ("metformin", "Medication", "present"),
]

# Label Studio 1.23.2 frontend (checked in the DOM of this version):
HIGHLIGHT = ".lsf-richtext span.htx-highlight"  # one per rendered span (data-start/-end/-label)
OUTLINER_ITEM = ".lsf-outliner-item"  # a row of the Regions panel
OUTLINER_LABEL = ".lsf-labels-list"
OUTLINER_TEXT = ".lsf-outliner-item__text"
PREDICTION_TAB = ".lsf-annotation-button"  # annotation and prediction tabs above the editor
PREDICTION_TAB_NAME = ".lsf-annotation-button__name"  # a prediction tab's name is its model_version
SELECTED_REGION_TEXT = '[data-testid="detailed-region"] .lsf-region-meta__content_type_text'  # Info panel


def chromium_path() -> str:
    """The Chromium executable, or fail the test (never skip) with how to install it.

    Called in the test body, not in a fixture, so a missing browser reports the test FAILED
    (a fixture's failure would read as a setup ERROR).
    """
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail("the `playwright` Python package is missing: run `make test` (it installs the test extras)",
                    pytrace=False)  # fmt: skip
    candidate = os.environ.get(CHROMIUM_ENV) or "/usr/bin/chromium"
    found = candidate if os.access(candidate, os.X_OK) else shutil.which("chromium")
    if not found:
        pytest.fail(
            f"Chromium not found at {candidate} (nor `chromium` on PATH): run `make test`, which installs "
            f"Debian's chromium package, or point {CHROMIUM_ENV} at a Chromium executable",
            pytrace=False,
        )
    return found


def local_context(browser: Any, base: str, blocked: list[str], **options: Any) -> Any:
    """A browser context (1400 x 900) whose requests to anything but ``base`` are aborted and noted in ``blocked``."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, **options)
    context.set_default_timeout(TIMEOUT_MS)

    def local_only(route: Any) -> None:
        if route.request.url.startswith(base + "/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", local_only)
    return context


@pytest.fixture
def labeled_task(ls_client: LabelStudioClient) -> Iterator[dict[str, Any]]:
    """A project with our config and one task carrying our prediction; deleted afterwards."""
    schema = load_label_schema("clinical_text")
    label_config = text_label_config(schema)
    spans = []
    for text, label, assertion in SPANS:
        start = TEXT.index(text)
        spans.append(
            TextSpan(label=label, start=start, end=start + len(text), text=text, probability=0.8,
                     attributes={ASSERTION_ATTRIBUTE: assertion})
        )  # fmt: skip
    prediction = PredictionIn(
        task_id="browser-1", model_name="browser-test", model_version=MODEL_VERSION,
        taxonomy_version=schema.taxonomy_version, regions=spans, score=0.42, uncertainty=0.58,
    )  # fmt: skip
    payload = task_payload("browser-1", {"text": TEXT}, prediction)
    # Label Studio imports a prediction that does not fit the config and then silently shows nothing.
    ls_client.validate(label_config, [p["result"] for p in payload["predictions"]])
    project_id = ls_client.ensure_project(f"cliniloop browser test {time.time_ns()}", label_config)
    try:
        (task_id,) = ls_client.import_tasks(project_id, [payload])
        # Only a prediction of the project's model_version pre-fills the editor: set it explicitly.
        ls_client.set_model_version(project_id, MODEL_VERSION)
        assert ls_client.project_model_version(project_id) == MODEL_VERSION
        yield {"project_id": project_id, "task_id": task_id, "spans": spans, "score": prediction.score}
    finally:
        ls_client.sdk.projects.delete(project_id)


def test_predicted_spans_render_in_labeling_page(
    label_studio: LocalLabelStudio, labeled_task: dict[str, Any], tmp_path: Path
) -> None:
    chromium = chromium_path()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    base = label_studio.url.rstrip("/")
    pid = labeled_task["project_id"]
    screenshot = tmp_path / "labeling.png"
    blocked: list[str] = []
    t0 = time.monotonic()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True, timeout=TIMEOUT_MS)
        try:
            context = local_context(browser, base, blocked)
            page = context.new_page()
            try:
                # Log in through the form, as an annotator does.
                page.goto(f"{base}/user/login")
                page.fill('input[name="email"]', label_studio.username)
                page.fill('input[name="password"]', label_studio.password)
                page.click('button[type="submit"]')
                page.wait_for_url(lambda url: "/user/login" not in url and "/user/signup" not in url)

                # Open the task from the project's task list, as an annotator does. (`/tasks/<id>` is a
                # 404 in 1.23.2, and the `?task=<id>` deep link races with the list loading: the
                # editor re-initialises and drops the pre-annotations.)
                page.goto(f"{base}/projects/{pid}/data")
                page.get_by_text(TEXT[:20]).first.click()
                highlights = page.locator(HIGHLIGHT)
                expect(highlights).to_have_count(len(SPANS))

                rendered = highlights.evaluate_all(
                    "els => els.map(e => [e.textContent, +e.dataset.start, +e.dataset.end,"
                    " (e.dataset.label || '').replace(/^\\d+:/, '')])"
                )
                # the label of a span not present carries its assertion mark: "Problem,absent"
                expected = [[s.text, s.start, s.end, s.label + ("" if a == "present" else f",{a}")]
                            for s, (_t, _l, a) in zip(labeled_task["spans"], SPANS, strict=True)]  # fmt: skip
                assert sorted(rendered) == sorted(expected), f"highlighted spans {rendered} != predicted {expected}"

                # Regions panel: one row per span with its label and text.
                rows = page.locator(OUTLINER_ITEM)
                expect(rows).to_have_count(len(SPANS))
                listed = sorted(
                    (row.locator(OUTLINER_LABEL).first.inner_text().split(",")[0].strip(), row.locator(OUTLINER_TEXT).inner_text().strip())
                    for row in rows.all()
                )
                assert listed == sorted((label, text) for text, label, _ in SPANS), f"regions list shows {listed}"

                # The prediction tab is ours: our model_version and task score.
                tab = page.locator(PREDICTION_TAB, has=page.locator(PREDICTION_TAB_NAME, has_text=MODEL_VERSION))
                expect(tab).to_have_count(1)
                expect(tab.locator(f'[title="Prediction score = {labeled_task["score"]}"]')).to_have_count(1)

                # Per-span assertion: drawn on the span (struck through when absent), changed from the
                # labels above the note: select a span, click a mark (again: back to present).
                decoration = "e => getComputedStyle(e).textDecorationLine + ' ' + getComputedStyle(e).textDecorationStyle"
                assert page.locator(f"{HIGHLIGHT}[data-label$=',absent']").evaluate(decoration).startswith("line-through")
                assert page.locator(f"{HIGHLIGHT}[data-label$=':Medication']").evaluate(decoration).startswith("none")
                rows.filter(has=page.locator(OUTLINER_TEXT, has_text="metformin")).first.click()
                expect(page.locator(SELECTED_REGION_TEXT)).to_have_text("metformin")
                page.locator(".lsf-label", has_text="possible").first.click()
                expect(page.locator(f"{HIGHLIGHT}[data-label$=':Medication,possible']")).to_have_count(1)
                assert page.locator(f"{HIGHLIGHT}[data-label$=',possible']").evaluate(decoration) == "underline wavy"
                page.locator(".lsf-label", has_text="possible").first.click()
                expect(page.locator(f"{HIGHLIGHT}[data-label$=':Medication']")).to_have_count(1)
            finally:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()

    print(f"labeling page screenshot: {screenshot} ({time.monotonic() - t0:.1f} s in the browser)")
    if blocked:
        print(f"aborted {len(blocked)} non-local request(s), e.g. {blocked[:3]}")
