"""What annotators see, per modality: one task of each pushed from ``data_samples/`` to a real
Label Studio, opened in headless Chromium as an annotator would (login form, task list), checked
for what must be visible, and photographed into the screenshot gallery.

One module, one Label Studio (the module fixture), one browser login; each page check is short.
Screenshots go to ``$CLINILOOP_TEST_ARTIFACTS/gallery/`` (default ``var/test-artifacts/gallery``),
pass or fail; ``CLINILOOP_UPDATE_SCREENSHOTS=1`` also copies them to ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cliniloop.connectors.label_studio.client import LabelStudioClient
from cliniloop.connectors.label_studio.server import LocalLabelStudio
from cliniloop.services.core.store import Store
from tests.integration.test_browser_labeling import CHROMIUM_ARGS, TIMEOUT_MS, chromium_path, local_context

pytestmark = [pytest.mark.integration, pytest.mark.browser]

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = REPO_ROOT / "data_samples"
ARTIFACTS = Path(os.environ.get("CLINILOOP_TEST_ARTIFACTS", REPO_ROOT / "var" / "test-artifacts")) / "gallery"
DOCS_SHOTS = REPO_ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1400, "height": 900}


@dataclass
class Gallery:
    """The module's Label Studio projects (one pushed task each) and a logged-in browser page."""

    base: str
    projects: dict[str, int] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    page: Any = None


def _push_all(store: Store, client: LabelStudioClient, tmp: Path, deidentifier: Any) -> tuple[dict[str, int], dict[str, Any]]:
    """One task of each modality from ``data_samples`` ingested, predicted and pushed."""
    from cliniloop.models.ecg.boosted import BoostedBeatClassifier
    from cliniloop.models.ecg.detect import BeatDetector
    from cliniloop.models.text import ClinicalTextAnnotator
    from cliniloop.services.loop.ecg import ECG_MODEL_NAME, ecg_project_config, ecg_window_data, ingest_ecg, predict_ecg
    from cliniloop.services.loop.ecg_train import reference_records
    from cliniloop.services.loop.eeg import EEG_MODEL_NAME, eeg_project_config, eeg_window_data, ingest_eeg, predict_eeg
    from cliniloop.services.loop.image import (
        IMAGE_MODEL_NAME,
        image_task_data,
        ingest_images,
        load_image_models,
        predict_images,
    )
    from cliniloop.services.loop.ingest import ingest_notes
    from cliniloop.services.loop.predict import TEXT_MODEL_NAME, predict_tasks
    from cliniloop.services.loop.push import ensure_text_project, push_tasks

    projects: dict[str, int] = {}
    facts: dict[str, Any] = {}

    notes = tmp / "notes"
    notes.mkdir()
    shutil.copy(SAMPLES / "notes" / "discharge_01.txt", notes / "discharge_01.txt")
    ingest_notes(store, notes, 5 * 1024 * 1024, deidentifier)
    predict_tasks(store, ClinicalTextAnnotator().fit())
    (text_task,) = store.list_tasks("text")
    projects["text"] = ensure_text_project(client, "gallery text")
    push_tasks(store, client, projects["text"], [text_task.id])
    facts["text"] = [r for r in store.latest_predictions(TEXT_MODEL_NAME)[text_task.id].regions if r["kind"] == "span"]

    # codes: the note's mentions in the coders' project, as `cliniloop codes push --budget 5` queues them
    from cliniloop.services.core.settings import Settings
    from cliniloop.services.loop.coding import candidate_generator, coder_items, push_coder_tasks

    coders = push_coder_tasks(store, client, "gallery coders", coder_items(store), candidate_generator(store, Settings(var_dir=tmp)), budget=5)
    projects["codes"] = coders.project_id
    facts["codes"] = coders

    # ECG: beats detected and classified by a small classifier fitted on the sample records
    ecg = tmp / "ecg"
    ecg.mkdir()
    for suffix in ("hea", "dat", "atr"):
        shutil.copy(SAMPLES / "ecg" / f"syn01.{suffix}", ecg / f"syn01.{suffix}")
    ingest_ecg(store, ecg)
    ecg_task = store.list_tasks("ecg")[0]
    classifier = BoostedBeatClassifier(n_members=2, n_estimators=20, min_child_samples=5).fit(reference_records(SAMPLES / "ecg"))
    predict_ecg(store, BeatDetector().fit(), classifier)
    config = ecg_project_config()
    projects["ecg"] = client.ensure_project("gallery ECG", config)
    push_tasks(store, client, projects["ecg"], [ecg_task.id], model_name=ECG_MODEL_NAME, label_config=config, task_data=ecg_window_data)
    facts["ecg"] = (ecg_task, store.latest_predictions(ECG_MODEL_NAME)[ecg_task.id])

    # EEG: the first window with a predicted artifact
    ingest_eeg(store, SAMPLES / "eeg" / "synthetic_seizures.edf")
    predict_eeg(store, None, sleep=False)
    eeg_preds = store.latest_predictions(EEG_MODEL_NAME)
    eeg_task = next(t for t in store.list_tasks("eeg") if any(r["label"] == "artifact" for r in eeg_preds[t.id].regions))
    config = eeg_project_config(eeg_task.data["channels"])
    projects["eeg"] = client.ensure_project("gallery EEG", config)
    push_tasks(store, client, projects["eeg"], [eeg_task.id], model_name=EEG_MODEL_NAME, label_config=config, task_data=eeg_window_data)
    facts["eeg"] = (eeg_task, eeg_preds[eeg_task.id])

    ingest_images(store, SAMPLES / "images" / "JPEGImages" / "smear_01.png")
    predict_images(store, load_image_models(store, tmp / "models"))
    (image_task,) = store.list_tasks("image")
    # the project a push builds: the classes of the box model in use (RBC, WBC, Platelets) and of the labels so far
    from cliniloop.services.core.settings import Settings
    from cliniloop.services.loop.modalities import IMAGE_BOXES

    [part] = IMAGE_BOXES.projects(store, Settings(var_dir=tmp), "gallery images", [image_task])
    config = part.label_config
    assert all(f'value="{c}"' in config for c in ("RBC", "WBC", "Platelets")), "an annotator must be able to draw every class"
    projects["image"] = client.ensure_project("gallery images", config)
    push_tasks(store, client, projects["image"], [image_task.id], model_name=IMAGE_MODEL_NAME, label_config=config, task_data=image_task_data)
    facts["image"] = store.latest_predictions(IMAGE_MODEL_NAME)[image_task.id]
    return projects, facts


TOKENS = {
    "engineer": "gallery-engineer-token-0123456789",
    "admin": "gallery-admin-token-0123456789abc",
    "annotator": "gallery-annotator-token-012345678",
}


@pytest.fixture(scope="module")
def gallery(label_studio: LocalLabelStudio, ls_client: LabelStudioClient, tmp_path_factory: pytest.TempPathFactory, deidentifier: Any) -> Iterator[Gallery]:
    chromium = chromium_path()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    tmp = tmp_path_factory.mktemp("gallery")
    url = f"sqlite:///{tmp / 'store.sqlite3'}"
    store = Store(url)
    store.migrate()
    t0 = time.monotonic()
    projects, facts = _push_all(store, ls_client, tmp, deidentifier)
    print(f"gallery: one task per modality and five coder tasks pushed in {time.monotonic() - t0:.1f} s")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = label_studio.url.rstrip("/")
    blocked: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True, timeout=TIMEOUT_MS)
        try:
            context = local_context(browser, base, blocked)
            page = context.new_page()
            # log in through the form, as an annotator does
            page.goto(f"{base}/user/login")
            page.fill('input[name="email"]', label_studio.username)
            page.fill('input[name="password"]', label_studio.password)
            page.click('button[type="submit"]')
            page.wait_for_url(lambda u: "/user/login" not in u and "/user/signup" not in u)
            g = Gallery(base, projects, facts, page)
            g.facts["store_url"] = url
            g.facts["tmp"] = tmp
            g.facts["browser"] = browser
            yield g
        finally:
            browser.close()
            store.close()
    assert not blocked, f"pages asked another host for {blocked[:3]}"


def _shot(page: Any, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("CLINILOOP_UPDATE_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_SHOTS / path.name)
    return path


ROW = "[class*=row-wrapper]"  # a task row of the Data Manager (class names are hashed in 1.23.2)


def _open_task(g: Gallery, modality: str) -> Any:
    """The project's task list, then its one task, as an annotator opens it."""
    page = g.page
    page.goto(f"{g.base}/projects/{g.projects[modality]}/data")
    page.locator(ROW).first.click()
    return page


def test_text_spans_show_their_label_and_assertion(gallery: Gallery) -> None:
    from playwright.sync_api import expect

    page = _open_task(gallery, "text")
    spans = gallery.facts["text"]
    highlights = page.locator(".lsf-richtext span.htx-highlight[data-label]")
    expect(highlights).to_have_count(len(spans))
    # every span reads its label right after it; a span not present also its mark, drawn on the text
    shown = highlights.evaluate_all(
        "els => els.map(e => [e.dataset.label.replace(/^\\d+:/, ''), getComputedStyle(e, '::after').content,"
        " getComputedStyle(e).textDecorationLine])"
    )
    expected = sorted(r["label"] + ("" if r["attributes"].get("assertion", "present") == "present" else "," + r["attributes"]["assertion"]) for r in spans)
    assert sorted(label for label, _, _ in shown) == expected
    assert all(after.strip('"').endswith(label) for label, after, _ in shown), "the label is written after each span"
    marked = [(label, deco) for label, _, deco in shown if "," in label]
    assert marked, "the sample note has negated or family findings"
    assert all(deco != "none" for _, deco in marked) and all(deco == "none" for label, _, deco in shown if "," not in label)
    # the marks are offered above the note, next to the entity labels
    for mark in ("absent", "possible", "hypothetical", "historical", "family"):
        expect(page.locator(".lsf-label", has_text=mark).first).to_be_visible()
    _shot(page, "text")


def test_ecg_leads_are_named_and_a_beat_shows_time_and_probabilities(gallery: Gallery) -> None:
    from playwright.sync_api import expect

    task, prediction = gallery.facts["ecg"]
    page = _open_task(gallery, "ecg")
    for lead in task.data["leads"][:2]:
        expect(page.get_by_text(lead, exact=True).first).to_be_visible()
    expect(page.get_by_text("primary lead")).to_have_count(0)
    # the whole window at once: the time axis reaches its end (10 s + context) without zooming
    expect(page.locator("svg text").filter(has_text=re.compile(r"^10$")).first).to_be_attached()
    page.locator(".lsf-outliner-item").nth(2).click()
    info = page.locator('[data-testid="detailed-region"]')
    expect(info).to_contain_text("beat at ")
    said = float(re.search(r"beat at ([0-9.]+) s", info.inner_text()).group(1))  # type: ignore[union-attr]
    beat = min(prediction.regions, key=lambda r: abs(r["time_s"] - said))
    assert abs(beat["time_s"] - said) < 5e-4, f"the Info panel's time {said} is no predicted beat"
    best = max(beat["attributes"]["probs"], key=beat["attributes"]["probs"].get)
    expect(info).to_contain_text(f"{best} {beat['attributes']['probs'][best]:.2f}")
    _shot(page, "ecg")


def test_eeg_channels_all_visible_and_artifact_on_its_channel(gallery: Gallery) -> None:
    from playwright.sync_api import expect

    task, prediction = gallery.facts["eeg"]
    page = _open_task(gallery, "eeg")
    names = page.locator(".eeg-channel-name")
    expect(names).to_have_count(len(task.data["channels"]))
    for n in names.all():
        expect(n).to_be_visible()
    assert names.all_inner_texts() == list(task.data["channels"])  # in trace order
    for name, box in zip(names.all_inner_texts(), [n.bounding_box() for n in names.all()], strict=True):
        assert box and box["y"] + box["height"] <= VIEWPORT["height"], f"{name} is below the fold: {box}"
    expect(page.locator("svg text").filter(has_text=re.compile(r"^25$")).first).to_be_attached()  # all 30 s
    artifact = next(r for r in prediction.regions if r["label"] == "artifact")
    page.locator(".lsf-outliner-item", has_text="artifact").first.click()
    for name in task.data["channels"]:
        box = page.locator(f'.lsf-choices input[name="{name}"]')
        (expect(box).to_be_checked() if name in artifact["attributes"]["channels"] else expect(box).not_to_be_checked())
    last = names.last.bounding_box()  # with the channel choices shown above, every channel is still on screen
    assert last and last["y"] + last["height"] <= VIEWPORT["height"], f"the last channel name is below the fold: {last}"
    _shot(page, "eeg")


def test_image_boxes_show_class_and_score(gallery: Gallery) -> None:
    from playwright.sync_api import expect

    prediction = gallery.facts["image"]
    page = _open_task(gallery, "image")
    page.locator(".lsf-outliner-item").first.wait_for()
    # "Show region labels" is the editor setting an annotator turns on once (Label Studio keeps it per browser)
    page.get_by_role("button", name="Settings").last.click()
    page.get_by_text("Show region labels").click()
    page.keyboard.press("Escape")
    expect(page.get_by_text("Show region labels")).to_be_hidden()
    texts = page.evaluate("() => window.Konva.stages.flatMap(s => s.find('Text').map(t => t.text()))")
    best = max(prediction.regions, key=lambda r: r["probability"] or 0)
    assert any(t.endswith(f": {best['label']}") for t in texts), f"class names drawn on the image: {texts[:10]}"
    assert f"{best['probability']:.2f}" in texts, f"scores drawn on the image: {texts[:10]}"
    _shot(page, "image")


def test_coders_see_the_mention_marked_in_its_sentence_with_type_and_ranked_candidates(gallery: Gallery) -> None:
    from playwright.sync_api import expect

    assert len(gallery.facts["codes"].created) == 5 and gallery.facts["codes"].round_id, "a budgeted, recorded coders' round"
    page = _open_task(gallery, "codes")
    for verdict in ("accept", "reject all", "needs review"):  # each with its hotkey, e.g. "accept[1]"
        expect(page.locator(".lsf-choices").get_by_text(re.compile(f"^{verdict}")).first).to_be_visible()
    expect(page.locator("mark").first).to_be_visible()  # the mention highlighted in its whole sentence
    expect(page.get_by_text("Type:").first).to_be_visible()
    expect(page.get_by_text("Candidate codes (tick every right one)")).to_be_visible()
    _shot(page, "codes")
    _shot(page, "codes")


def test_data_manager_shows_readable_columns_not_signal_arrays(gallery: Gallery) -> None:
    from playwright.sync_api import expect

    page = gallery.page
    for modality in ("ecg", "eeg"):
        page.goto(f"{gallery.base}/projects/{gallery.projects[modality]}/data")
        page.locator(ROW).first.wait_for()
        expect(page.locator(ROW).first).not_to_contain_text('{"t"')
        text = page.locator("body").inner_text()
        assert '{"t"' not in text and modality not in text.split(), "no raw signal column"
        for column in ("record", "window_start_s", "uncertainty", "Prediction model version"):
            assert column in text, f"no {column!r} column in the {modality} task list"
        if modality == "ecg":
            _shot(page, "ecg-task-list")


def test_dashboard_after_a_basic_auth_login_in_the_browser(gallery: Gallery) -> None:
    """The browser asks for the password (a plain Basic challenge) and shows the page, coders' project included."""
    from playwright.sync_api import expect

    from cliniloop.services.api.server import ApiServer

    tmp = gallery.facts["tmp"]
    env = {
        "CLINILOOP_DATABASE_URL": gallery.facts["store_url"],
        "CLINILOOP_VAR_DIR": str(tmp / "api-var"),
        "CLINILOOP_JOB_WORKER": "false",
        "CLINILOOP_WEBHOOK_SECRET": "gallery-webhook-secret-0123456789",
        **{f"CLINILOOP_API_{role.upper()}_TOKEN": token for role, token in TOKENS.items()},
    }
    with ApiServer(env, tmp / "api.log") as api:
        import httpx

        blocked: list[str] = []
        refused = httpx.get(f"{api.url}/dashboard", timeout=30.0)
        assert refused.status_code == 401
        assert 'Basic realm="cliniloop"' in refused.headers.get_list("www-authenticate"), "a Basic challenge of its own"
        # the password prompt answered with any user name and the engineer token (Chromium sends it
        # only after a Basic challenge it understands)
        context = local_context(gallery.facts["browser"], api.url, blocked, http_credentials={"username": "me", "password": TOKENS["engineer"]})
        page = context.new_page()
        answer = page.goto(f"{api.url}/dashboard")
        assert answer is not None and answer.status == 200
        for modality in ("text", "ecg", "eeg", "image", "codes"):
            expect(page.locator(f'section.project[data-modality="{modality}"]')).to_have_count(1)
        expect(page.get_by_text("Project: codes")).to_be_visible()
        _shot(page, "dashboard")
        context.close()
        assert not blocked
